"""Transport-cc feedback (csrc/rtc/tcc_server.c;
draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1): packets
built from recorded arrivals, compared byte for byte with packets written
out by hand from the draft, and walked with the RTCP parser.

The builder writes two-bit status vector chunks only (T=1, S=1: 7 symbols
of 00 not received, 01 small delta, 10 large delta), never run-length
chunks; receive deltas are in 250 us units from the reference time (64 ms
units, from the first packet received)."""

from __future__ import annotations

import struct

import pytest

from sfu._units import ffi, lib

SENDER, MEDIA = 1, 0x11223344
CAP = lib.SFU_MTU - lib.SFU_SRTP_TRAILER_MAX


class Tcc:
    def __init__(self) -> None:
        self.t = ffi.new("sfu_tcc_server_t *")
        lib.sfu_tcc_server_init(self.t)

    def record(self, seq: int, arrival_us: int) -> None:
        lib.sfu_tcc_server_record(self.t, seq & 0xFFFF, arrival_us)

    def build(self, cap: int = CAP) -> bytes:
        buf = ffi.new("uint8_t[]", max(cap, 1))
        n = lib.sfu_tcc_server_build(self.t, SENDER, MEDIA, buf, cap)
        return bytes(ffi.buffer(buf, n))


def header(length_words: int, base: int, count: int, ref: int, fb: int) -> bytes:
    """V=2 FMT=15, PT=205, length, sender and media SSRC, base seq, status count, 24-bit ref, fb count"""
    return (bytes([0x8F, 205]) + struct.pack("!HIIHH", length_words, SENDER, MEDIA, base, count)
            + ref.to_bytes(3, "big") + bytes([fb]))


def walk(pkt: bytes) -> dict:
    """the RTCP parser's view of one feedback packet"""
    buf = ffi.new("uint8_t[]", pkt)
    assert lib.sfu_rtcp_validate(buf, len(pkt)) == 0
    off = ffi.new("size_t *")
    p = ffi.new("sfu_rtcp_t *")
    assert lib.sfu_rtcp_next(buf, len(pkt), off, p) == 1
    assert lib.sfu_rtcp_next(buf, len(pkt), off, p) == 0      # exactly one packet
    p = ffi.new("sfu_rtcp_t *")
    off[0] = 0
    lib.sfu_rtcp_next(buf, len(pkt), off, p)
    return {"pt": p.pt, "fmt": p.count, "len": p.len, "sender": p.sender_ssrc, "media": p.media_ssrc}


def test_nothing_to_report():
    t = Tcc()
    assert t.build() == b""
    t.record(5, 1_000_000)
    assert t.build(63) == b""                 # too small for any feedback
    assert len(t.build(64)) > 0
    assert t.build() == b""                   # reported already


HAND_CASES = [
    # (name, [(seq, arrival us)], expected packet)
    ("three packets, small deltas",
     [(100, 1_000_000), (101, 1_000_250), (102, 1_001_000)],
     # ref = 1000000 // 64000 = 15 (960 ms); deltas (40000, 250, 750 us) / 250 = 160, 1, 3
     header(6, 100, 3, 15, 0) + bytes([0xD5, 0x00, 160, 1, 3, 0, 0, 0])),
    ("a gap: not received in the vector, no delta",
     [(100, 1_000_000), (103, 1_002_500)],
     # symbols 01 00 00 01 -> 0b11 01 00 00 01 00 00 00 = 0xD040; deltas 160, 10 (24 bytes, no padding)
     header(5, 100, 4, 15, 0) + bytes([0xD0, 0x40, 160, 10])),
    ("a large delta: more than 63.75 ms",
     [(7, 64_000), (8, 164_000)],
     # ref 1 (64 ms): first delta 0; second 100 ms = 400 units > 255: symbol 10, 16 bits
     header(6, 7, 2, 1, 0) + bytes([0xD8, 0x00, 0x00, 0x01, 0x90, 0, 0, 0])),
    ("a negative delta: arrived before its predecessor",
     [(7, 128_500), (8, 128_000)],
     # ref 2 (128 ms): 500 us = 2; then -500 us = -2 as int16 0xFFFE, symbol 10
     header(6, 7, 2, 2, 0) + bytes([0xD8, 0x00, 0x02, 0xFF, 0xFE, 0, 0, 0])),
    ("eight packets: two chunks",
     [(i, 64_000 + 250 * i) for i in range(8)],
     # 7 symbols of 01 = 0xD555; then one 01 = 0xD000; deltas 0, 1 x 7
     header(7, 0, 8, 1, 0) + bytes([0xD5, 0x55, 0xD0, 0x00, 0, 1, 1, 1, 1, 1, 1, 1])),
    ("sequence numbers wrap",
     [(65534, 640_000), (65535, 640_250), (0, 640_500), (1, 640_750)],
     header(6, 65534, 4, 10, 0) + bytes([0xD5, 0x40, 0, 1, 1, 1, 0, 0])),
    ("a delta beyond 16 bits is reported as not received",
     [(1, 64_000), (2, 64_000 + 250 * 40000)],
     header(5, 1, 2, 1, 0) + bytes([0xD0, 0x00, 0x00, 0x00])),
    ("arrival 0 counts as received",
     [(9, 0)],
     header(5, 9, 1, 0, 0) + bytes([0xD0, 0x00, 0x00, 0x00])),
]


@pytest.mark.parametrize("name,arrivals,want", HAND_CASES, ids=[c[0] for c in HAND_CASES])
def test_feedback_by_hand(name, arrivals, want):
    t = Tcc()
    for seq, at in arrivals:
        t.record(seq, at)
    got = t.build()
    assert got.hex() == want.hex()
    assert walk(got) == {"pt": 205, "fmt": 15, "len": len(want), "sender": SENDER, "media": MEDIA}


def statuses(pkt: bytes) -> tuple[int, list[int]]:
    """base sequence number and the symbol of each packet, read from status vector chunks"""
    base, count = struct.unpack("!HH", pkt[12:16])
    syms: list[int] = []
    off = 20
    while len(syms) < count:
        chunk = struct.unpack("!H", pkt[off:off + 2])[0]
        assert chunk & 0xC000 == 0xC000, "two-bit status vector chunk"
        syms += [(chunk >> (12 - 2 * i)) & 3 for i in range(7)]
        off += 2
    return base, syms[:count]


def test_feedback_counts_and_continues():
    t = Tcc()
    for s in (10, 11):
        t.record(s, 1_000_000)
    first = t.build()
    t.record(12, 1_100_000)
    t.record(11, 1_100_500)       # already reported: ignored
    second = t.build()
    assert first[19] == 0 and second[19] == 1                     # feedback packet count
    assert statuses(first) == (10, [1, 1]) and statuses(second) == (12, [1])
    assert second[16:19] == (1_100_000 // 64000).to_bytes(3, "big")
    assert t.build() == b""


def test_big_range_needs_several_feedback_packets():
    """at cap 64: 20 header bytes + chunks + deltas fit 31 small-delta packets"""
    t = Tcc()
    for i in range(50):
        t.record(1000 + i, 64_000 + 250 * i)
    one, two = t.build(64), t.build(64)
    assert len(one) <= 64 and len(two) <= 64 and t.build(64) == b""
    assert statuses(one) == (1000, [1] * 31)
    assert statuses(two) == (1031, [1] * 19)
    assert (one[19], two[19]) == (0, 1)
    # the second one's deltas start from its own reference time
    assert two[16:19] == ((64_000 + 250 * 31) // 64000).to_bytes(3, "big")
    walk(one)
    walk(two)


def test_large_deltas_fill_a_full_packet_sooner():
    t = Tcc()
    for i in range(900):
        t.record(i, 64_000 + 100_000 * i)          # 100 ms apart: every delta is 16 bits
    sizes, covered = [], 0
    while True:
        fb = t.build()
        if not fb:
            break
        assert len(fb) <= CAP
        base, syms = statuses(fb)
        # each packet's first delta is from its reference time (< 64 ms): small; the rest 100 ms: large
        assert base == covered and syms[0] == 1 and set(syms[1:]) == {2}
        covered += len(syms)
        sizes.append(len(fb))
    assert covered == 900 and len(sizes) == 2


def test_far_ahead_starts_a_new_window():
    t = Tcc()
    t.record(0, 64_000)
    t.record(1, 64_250)
    t.record(2000, 128_000)        # 2000 > 1024 slots ahead of the window: the first two are dropped
    base, syms = statuses(t.build())
    assert (base, syms) == (2000, [1])


def test_window_holds_1024_sequence_numbers():
    assert lib.SFU_TCC_SLOTS == 1024
    t = Tcc()
    t.record(0, 64_000)
    t.record(1023, 64_250)         # the last slot of the window: kept
    base, syms = statuses(t.build())
    assert base == 0 and len(syms) == 1024 and syms[0] == 1 and syms[-1] == 1 and set(syms[1:-1]) == {0}
