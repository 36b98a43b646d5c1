"""The retransmission buffer (csrc/rtc/rtp_retransmission_buffer.c): the
producer's packet cache, the consumer's send history, and the resend policy
that answers a NACK (at most 3 resends per packet, 100 ms apart)."""

from __future__ import annotations

import pytest

from sfu._units import ffi, lib

MS = 1_000_000
T0 = 9_000 * MS


def test_policy_limits():
    assert (lib.SFU_RESEND_MAX, lib.SFU_RESEND_MIN_GAP_NS) == (3, 100 * MS)


POLICY_CASES = [
    # (name, NACK times in ms after the original send at T0, which are resent)
    ("the first NACK is answered at once", [0], [1]),
    ("a repeat inside 100 ms is not", [0, 50, 99], [1, 0, 0]),
    ("100 ms after the last resend", [0, 100], [1, 1]),
    ("refused NACKs do not move the gap", [0, 60, 100, 150, 200], [1, 0, 1, 0, 1]),
    ("at most three resends", [0, 100, 200, 300, 1000, 5000], [1, 1, 1, 0, 0, 0]),
]


@pytest.mark.parametrize("name,times,want", POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_resend_policy(name, times, want):
    h = ffi.new("sfu_send_history_t *")
    lib.sfu_send_history_put(h, 1000, 77, 123456, 5)
    got = []
    for t in times:
        e = lib.sfu_send_history_get(h, 1000)
        ok = lib.sfu_resend_allowed(e, T0 + t * MS)
        if ok:
            lib.sfu_resend_done(e, T0 + t * MS)
        got.append(ok)
    assert got == want


def test_unknown_packet_is_not_resent():
    h = ffi.new("sfu_send_history_t *")
    assert lib.sfu_send_history_get(h, 5) == ffi.NULL
    assert lib.sfu_resend_allowed(ffi.NULL, T0) == 0


def test_send_history_maps_output_to_source():
    h = ffi.new("sfu_send_history_t *")
    lib.sfu_send_history_put(h, 65535, 10, 90000, 42)
    e = lib.sfu_send_history_get(h, 65535)
    assert (e.in_seq, e.out_ts, e.producer_id, e.resends, e.last_ns) == (10, 90000, 42, 0, 0)
    # a slot is reused SFU_SEND_HISTORY_SLOTS sequence numbers later: the old entry is gone
    slots = lib.SFU_SEND_HISTORY_SLOTS
    lib.sfu_send_history_put(h, (65535 + slots) & 0xFFFF, 11, 1, 42)
    assert lib.sfu_send_history_get(h, 65535) == ffi.NULL
    assert lib.sfu_send_history_get(h, (65535 + slots) & 0xFFFF).in_seq == 11


def test_sending_again_resets_the_resend_count():
    h = ffi.new("sfu_send_history_t *")
    lib.sfu_send_history_put(h, 7, 1, 0, 1)
    e = lib.sfu_send_history_get(h, 7)
    for _ in range(3):
        lib.sfu_resend_done(e, T0)
    assert not lib.sfu_resend_allowed(e, T0 + 1000 * MS)
    lib.sfu_send_history_put(h, 7, 2, 0, 1)        # the sequence number came round again
    assert lib.sfu_resend_allowed(lib.sfu_send_history_get(h, 7), T0)


@pytest.fixture
def cache():
    c = ffi.new("sfu_packet_cache_t *")
    assert lib.sfu_packet_cache_init(c, 8) == lib.SFU_OK
    yield c
    lib.sfu_packet_cache_free(c)


def get(c, seq):
    n = ffi.new("uint32_t *")
    p = lib.sfu_packet_cache_get(c, seq, n)
    return None if p == ffi.NULL else bytes(ffi.buffer(p, n[0]))


def test_cache_stores_by_sequence_number(cache):
    for seq in (65534, 65535, 0, 1):
        lib.sfu_packet_cache_put(cache, seq, bytes([seq & 0xFF]) * (10 + seq % 7), 10 + seq % 7)
    assert get(cache, 65535) == bytes([0xFF]) * (10 + 65535 % 7)
    assert get(cache, 0) == bytes([0]) * 10
    assert get(cache, 2) is None                     # never stored
    lib.sfu_packet_cache_put(cache, 8, b"new", 3)    # same slot as 0 (8 slots)
    assert get(cache, 0) is None and get(cache, 8) == b"new"


def test_cache_keeps_at_most_an_mtu(cache):
    lib.sfu_packet_cache_put(cache, 3, b"x" * (lib.SFU_MTU + 1), lib.SFU_MTU + 1)
    assert get(cache, 3) is None
    lib.sfu_packet_cache_put(cache, 3, b"y" * lib.SFU_MTU, lib.SFU_MTU)
    assert get(cache, 3) == b"y" * lib.SFU_MTU


@pytest.mark.parametrize("slots,rc", [(0, "SFU_EINVAL"), (1, "SFU_EINVAL"), (12, "SFU_EINVAL"), (2, "SFU_OK"),
                                      (512, "SFU_OK")])
def test_cache_size_is_a_power_of_two(slots, rc):
    c = ffi.new("sfu_packet_cache_t *")
    assert lib.sfu_packet_cache_init(c, slots) == getattr(lib, rc)
    lib.sfu_packet_cache_free(c)
    assert get(c, 0) is None                         # a freed cache holds nothing
