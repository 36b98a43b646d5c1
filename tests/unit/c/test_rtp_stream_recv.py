"""Receive statistics and the RFC 3550 report block (csrc/rtc/rtp_stream_recv.c):
fraction lost per interval, cumulative loss, extended highest sequence
number, interarrival jitter (A.8), LSR/DLSR (6.4.1); each block is parsed
back from a receiver report built around it with the RTCP parser."""

from __future__ import annotations

import struct

import pytest

from sfu._units import ffi, lib

SEC = 1_000_000_000
T0 = 1000 * SEC          # whole seconds: arrival times convert to exact 90 kHz ticks
SSRC = 0xCAFE0001


class Recv:
    def __init__(self, clock: int = 90000) -> None:
        self.s = ffi.new("sfu_rtp_stream_recv_t *")
        lib.sfu_rtp_stream_recv_init(self.s, clock)

    def packet(self, seq: int, ts: int = 0, arrival_ns: int = T0) -> None:
        lib.sfu_rtp_stream_recv_update(self.s, seq & 0xFFFF, ts & 0xFFFFFFFF, arrival_ns)

    def block(self, now: int = T0) -> dict | None:
        out = ffi.new("uint8_t[24]")
        n = lib.sfu_rtp_stream_recv_report_block(self.s, SSRC, now, out)
        if n == 0:
            return None
        assert n == lib.SFU_REPORT_BLOCK_LEN == 24
        raw = bytes(out)
        ssrc, frac_lost, ext_max, jitter, lsr, dlsr = struct.unpack("!IIIIII", raw)
        lost = frac_lost & 0xFFFFFF
        return {"ssrc": ssrc, "fraction": frac_lost >> 24, "lost": lost - (1 << 24) if lost & 0x800000 else lost,
                "ext_max": ext_max, "jitter": jitter, "lsr": lsr, "dlsr": dlsr, "raw": raw}


def test_no_block_before_the_first_packet():
    assert Recv().block() is None


LOSS_CASES = [
    # (name, sequence numbers received, fraction (1/256), cumulative lost, extended highest)
    ("all received", list(range(100, 110)), 0, 0, 109),
    ("a quarter lost", [s for s in range(100, 120) if s % 4 != 1], 64, 5, 119),
    ("one of two lost", [100, 102], 85, 1, 102),        # 1 of 3 expected: 256 / 3 = 85
    ("duplicates: negative loss, fraction 0", [100, 101, 101, 102, 102], 0, -2, 102),
    ("wrap: cycles count", [65533, 65534, 65535, 0, 1, 2], 0, 0, (1 << 16) + 2),
    ("reordering is not loss", [100, 102, 101, 103], 0, 0, 103),
]


@pytest.mark.parametrize("name,seqs,fraction,lost,ext_max", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss(name, seqs, fraction, lost, ext_max):
    r = Recv()
    for s in seqs:
        r.packet(s)
    b = r.block()
    assert (b["ssrc"], b["fraction"], b["lost"], b["ext_max"]) == (SSRC, fraction, lost, ext_max)


def test_fraction_is_per_interval_and_loss_cumulative():
    r = Recv()
    for s in [s for s in range(0, 20) if s not in (3, 4, 5, 6, 7)]:   # 15 of 20
        r.packet(s)
    first = r.block()
    assert (first["fraction"], first["lost"]) == (5 * 256 // 20, 5)
    for s in range(20, 30):                                          # all 10
        r.packet(s)
    second = r.block()
    assert (second["fraction"], second["lost"], second["ext_max"]) == (0, 5, 29)
    for s in (30, 39):                                               # 2 of 10
        r.packet(s)
    third = r.block()
    assert (third["fraction"], third["lost"]) == (8 * 256 // 10, 13)


def test_cumulative_loss_is_24_bit_signed_and_clamped():
    r = Recv()
    r.packet(0)
    r.s.received = 0xFFFFFFF0          # far more received than expected (forced state)
    assert r.block()["raw"][5:8] == b"\x80\x00\x00"    # clamped to -2^23


def test_big_jump_restarts_after_two_sequential_packets():
    """RFC 3550 A.1: a jump of 3000 or more is believed when the next packet follows it"""
    r = Recv()
    for s in range(100, 105):
        r.packet(s)
    r.packet(9000)                      # not believed yet
    assert r.block()["ext_max"] == 104
    r.packet(9001)                      # follows: the stream restarted there
    b = r.block()
    assert (b["ext_max"], b["lost"]) == (9001, 0)


def ticks(n: int) -> int:
    """the first ns at which n 90 kHz ticks have passed"""
    return -(-n * SEC // 90000)


def test_jitter():
    """A.8: J += (|D| - J) / 16, kept as 16 J in integers; D in timestamp units"""
    r = Recv()
    r.packet(1, 0, T0)
    assert r.block()["jitter"] == 0
    r.packet(2, 3000, T0 + ticks(3000 + 162))   # arrives 162 ticks late: 16 J = 162
    assert r.block()["jitter"] == 162 // 16
    r.packet(3, 6000, T0 + ticks(6000 + 162))   # same transit: 16 J = 162 - (162 + 8) // 16 = 152
    assert r.block()["jitter"] == 152 // 16
    r.packet(4, 9000, T0 + ticks(9000))         # 162 early: 16 J = 152 + 162 - 10 = 304
    assert r.block()["jitter"] == 304 // 16


def test_no_jitter_for_a_steady_stream():
    r = Recv(48000)
    for i in range(50):
        r.packet(i, 960 * i, T0 + i * 20_000_000)
    assert r.block()["jitter"] == 0


def test_lsr_and_dlsr():
    r = Recv()
    r.packet(1)
    assert (r.block()["lsr"], r.block()["dlsr"]) == (0, 0)          # no SR yet
    lib.sfu_rtp_stream_recv_on_sr(r.s, 0x12345678, 0x9ABCDEF0, T0 + 2 * SEC)
    b = r.block(T0 + 2 * SEC + 1_500_000_000)                       # 1.5 s after the SR
    assert (b["lsr"], b["dlsr"]) == (0x56789ABC, 3 * 65536 // 2)
    assert r.block(T0 + 2 * SEC)["dlsr"] == 0


def test_block_in_a_receiver_report_parses():
    r = Recv()
    for s in (10, 11, 13):
        r.packet(s)
    block = ffi.new("uint8_t[24]")
    lib.sfu_rtp_stream_recv_report_block(r.s, SSRC, T0, block)
    rr = ffi.new("uint8_t[64]")
    n = lib.sfu_rtcp_build_rr(rr, 1, block)
    assert n == lib.SFU_RTCP_RR_LEN and lib.sfu_rtcp_validate(rr, n) == 0
    off = ffi.new("size_t *")
    pkt = ffi.new("sfu_rtcp_t *")
    assert lib.sfu_rtcp_next(rr, n, off, pkt) == 1
    assert (pkt.pt, pkt.count, pkt.len, pkt.sender_ssrc) == (201, 1, 32, 1)
    assert bytes(ffi.buffer(rr, n))[8:32] == bytes(block)
    assert struct.unpack("!I", bytes(block)[4:8])[0] >> 24 == 256 // 4   # 1 of 4 lost


def test_jitter_of_a_half_range_transit_step():
    """a transit difference of exactly -2^31 ticks counts as 2^31 (|D| computed without overflow)"""
    r = Recv()
    r.packet(1, 0, T0)
    r.packet(2, 1 << 31, T0)            # same arrival, timestamp half the range later: D = -2^31
    assert r.s.jitter16 == 1 << 31 and r.block()["jitter"] == 1 << 27
