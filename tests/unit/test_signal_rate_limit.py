"""The signal connection's token bucket (sfu.signaling.rate_limit)."""

from __future__ import annotations

import pytest

from sfu.signaling.rate_limit import TokenBucket


def test_a_burst_goes_at_once_then_the_rate_holds():
    b = TokenBucket(rate=10, burst=5, now=0.0)
    assert [b.take(0.0) for _ in range(5)] == [0.0] * 5
    assert b.take(0.0) == pytest.approx(0.1)          # the 6th waits one token's time
    assert b.throttled == 1


def test_a_steady_client_under_the_rate_never_waits():
    b = TokenBucket(rate=10, burst=5, now=0.0)
    assert all(b.take(t * 0.2) == 0.0 for t in range(100))     # 5/s against 10/s


def test_a_flood_is_spread_at_the_rate():
    b = TokenBucket(rate=100, burst=10, now=0.0)
    now, handled = 0.0, 0
    while now < 2.0:              # a client that sends as soon as it is read
        now += b.take(now)
        handled += 1
    assert 200 <= handled <= 212                      # 2 s x 100/s + the burst


def test_tokens_refill_up_to_the_burst_only():
    b = TokenBucket(rate=10, burst=3, now=0.0)
    for _ in range(3):
        b.take(0.0)
    assert [b.take(100.0) for _ in range(3)] == [0.0] * 3 and b.take(100.0) > 0
