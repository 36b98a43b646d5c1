"""The delay-based estimate (csrc/rtc/bwe_delay.c) and the loss limit
(csrc/rtc/bwe_loss.c) of send-side bandwidth estimation, fed packet
timings and loss fractions directly: the detector's usage for constant,
growing and shrinking queueing delay, the AIMD answers (0.85 x acked on
overuse, 8 %/s far from a known capacity, the 1.5 x acked cap), the loss
bands of libwebrtc's classic estimator."""

from __future__ import annotations

import pytest

from sfu._units import ffi, lib

MS = 1000
NORMAL, UNDER, OVER = lib.SFU_BWE_USAGE_NORMAL, lib.SFU_BWE_USAGE_UNDERUSING, lib.SFU_BWE_USAGE_OVERUSING


class Delay:
    def __init__(self, start=1_000_000, lo=30_000, hi=10_000_000) -> None:
        self.d = ffi.new("sfu_bwe_delay_t *")
        lib.sfu_bwe_delay_init(self.d, start, lo, hi)

    def feed(self, groups: int, send_gap_ms: float, extra_ms: float, t0_us: int = 0, a0_us: int = 5_000_000):
        """one packet per group, `send_gap_ms` apart; each arrives `extra_ms` later than the
        send spacing says (queue growing > 0, draining < 0); returns the usage after each"""
        out = []
        for i in range(groups):
            send = t0_us + int(i * send_gap_ms * MS)
            arrival = a0_us + int(i * (send_gap_ms + extra_ms) * MS)
            lib.sfu_bwe_delay_on_packet(self.d, send, arrival, 1200, arrival)
            out.append(self.d.usage)
        return out


def test_constant_delay_is_normal():
    assert set(Delay().feed(200, 10, 0)) == {NORMAL}


def test_growing_delay_is_overuse_soon():
    """1 ms more per 10 ms group (a queue filling at 10 % over capacity): overuse once the
    trendline window has its 20 points and the threshold is crossed for > 10 ms"""
    usage = Delay().feed(60, 10, 1.0)
    assert OVER in usage
    first = usage.index(OVER)
    assert 20 <= first <= 40
    assert NORMAL not in usage[first:]          # stays while the queue keeps growing


def test_draining_queue_is_underuse():
    d = Delay()
    d.feed(40, 10, 1.0)                         # fill
    usage = d.feed(60, 10, -1.0, t0_us=400 * MS, a0_us=5_000_000 + 440 * MS)
    assert UNDER in usage


def test_jitter_without_trend_stays_normal():
    d = Delay()
    jitter = [0, 3, -2, 1, -3, 2, 0, -1] * 40
    out = []
    for i, j in enumerate(jitter):
        lib.sfu_bwe_delay_on_packet(d.d, i * 10 * MS, 5_000_000 + i * 10 * MS + j * MS, 1200, 0)
        out.append(d.d.usage)
    assert OVER not in out[40:]                 # the adaptive threshold settles above the noise


def test_packets_of_one_burst_are_one_group():
    """packets sent within 5 ms form one group: no delta until the next group"""
    d = Delay()
    for k in range(5):
        lib.sfu_bwe_delay_on_packet(d.d, k * 1000, 1_000_000 + k * 1000, 1200, 0)
    assert d.d.num_deltas == 0
    lib.sfu_bwe_delay_on_packet(d.d, 20_000, 1_020_000, 1200, 0)     # starts group 2: group 1 complete
    lib.sfu_bwe_delay_on_packet(d.d, 40_000, 1_040_000, 1200, 0)     # completes group 2: one delta
    assert d.d.num_deltas == 1


def test_overuse_decreases_to_085_of_acked():
    d = Delay(start=2_000_000)
    d.feed(60, 10, 1.0)
    assert d.d.usage == OVER
    assert lib.sfu_bwe_delay_update(d.d, 1_000_000, 50 * MS, 10_000_000) == 850_000
    # another overuse right away (within the RTT) does not reduce again
    assert lib.sfu_bwe_delay_update(d.d, 900_000, 50 * MS, 10_000_000 + 20 * MS) == 850_000


def test_increase_is_8_percent_a_second_while_capacity_unknown():
    d = Delay(start=1_000_000)
    now = 10_000_000
    lib.sfu_bwe_delay_update(d.d, 1_000_000, 50 * MS, now)          # hold -> increase
    for _ in range(10):
        now += 100 * MS
        lib.sfu_bwe_delay_update(d.d, 1_000_000, 50 * MS, now)      # acked keeps up
    assert d.d.bps == pytest.approx(1_000_000 * 1.08, rel=0.01)


def test_increase_is_capped_by_what_arrives():
    d = Delay(start=1_000_000)
    now = 10_000_000
    for _ in range(100):
        now += 100 * MS
        lib.sfu_bwe_delay_update(d.d, 400_000, 50 * MS, now)        # the sender sends only 400 kbit/s
    assert d.d.bps == 1_000_000                                     # above 1.5 x 400k + 10k: no increase
    d2 = Delay(start=300_000)
    for _ in range(200):
        now += 100 * MS
        lib.sfu_bwe_delay_update(d2.d, 300_000, 50 * MS, now)
    assert d2.d.bps == 1.5 * 300_000 + 10_000


def test_after_a_decrease_the_increase_is_additive():
    d = Delay(start=2_000_000)
    d.feed(60, 10, 1.0)
    lib.sfu_bwe_delay_update(d.d, 1_000_000, 100 * MS, 10_000_000)  # 850k, capacity ~1 Mbit/s known
    d.feed(150, 10, 0, t0_us=1_000 * MS, a0_us=9_000_000)           # back to normal
    assert d.d.usage == NORMAL
    now = 10_000_000
    for _ in range(10):
        now += 100 * MS
        lib.sfu_bwe_delay_update(d.d, 850_000, 100 * MS, now)
    # about one packet per response time (RTT + 100 ms): 850k/30 fps per frame in 3 packets,
    # ~9.4 kbit / 0.2 s = 47 kbit/s per second, far less than 8 % (68 kbit/s)
    assert 850_000 + 20_000 < d.d.bps < 850_000 + 60_000


def test_probe_raises_never_lowers():
    d = Delay(start=500_000)
    lib.sfu_bwe_delay_on_probe(d.d, 2_000_000, 0)
    assert d.d.bps == 2_000_000
    lib.sfu_bwe_delay_on_probe(d.d, 1_000_000, 0)
    assert d.d.bps == 2_000_000
    lib.sfu_bwe_delay_on_probe(d.d, 50_000_000, 0)
    assert d.d.bps == 10_000_000                                    # max


# ------------------------------------------------------------------- loss


class Loss:
    def __init__(self, start=1_000_000) -> None:
        self.l = ffi.new("sfu_bwe_loss_t *")
        lib.sfu_bwe_loss_init(self.l, start, 30_000, 10_000_000)

    def update(self, loss: float, other: int, now: int, rtt: int = 50 * MS, sending: int = 0) -> int:
        return lib.sfu_bwe_loss_update(self.l, loss, sending, other, rtt, now)


def test_low_and_middle_loss_do_not_limit():
    lo = Loss()
    assert lo.update(0.01, 1_000_000, 1_000_000) == 10_000_000      # not limiting: the max
    assert lo.update(0.07, 1_000_000, 2_000_000) == 10_000_000


def test_high_loss_cuts_by_half_the_loss():
    lo = Loss()
    assert lo.update(0.20, 1_000_000, 1_000_000) == 900_000         # x (1 - 0.1)
    assert lo.update(0.20, 1_000_000, 1_200_000) == 900_000         # within 300 ms + RTT: once
    assert lo.update(0.20, 1_000_000, 1_400_000) == 810_000
    assert lo.update(0.05, 1_000_000, 2_400_000) == 810_000         # 2..10 %: hold


def test_cut_from_what_is_sent_when_below_the_estimate():
    lo = Loss()
    assert lo.update(0.20, 3_000_000, 1_000_000, sending=1_000_000) == 900_000


def test_limit_grows_back_and_stops_limiting():
    lo = Loss()
    lo.update(0.5, 1_000_000, 1_000_000)                            # 750k
    now, got = 1_000_000, []
    for _ in range(6):
        now += 1_000_000
        got.append(lo.update(0.0, 1_000_000, now))
    assert got[0] == int(750_000 * 1.08 + 1000)
    assert got[-1] == 10_000_000                                    # reached 1 Mbit/s: no limit any more


def test_probe_lifts_the_limit_unless_the_loss_is_still_high():
    lo = Loss()
    lo.update(0.5, 1_000_000, 1_000_000)                            # 750k, loss 50 % last seen
    lib.sfu_bwe_loss_on_probe(lo.l, 900_000, 1_000_000)
    assert lo.l.bps == 750_000 and lo.l.limiting
    lo.update(0.0, 1_000_000, 1_100_000)                            # the loss is gone
    lib.sfu_bwe_loss_on_probe(lo.l, 900_000, 1_000_000)
    assert lo.l.bps == 900_000 and lo.l.limiting
    lib.sfu_bwe_loss_on_probe(lo.l, 1_200_000, 1_000_000)           # above the delay-based: no limit
    assert not lo.l.limiting
