"""Transport-cc feedback parser (csrc/rtp/tcc_feedback.c;
draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1): packets
written by hand from the draft (run-length chunks, one-bit and two-bit
status vectors, small and large deltas, padding), the named reason of every
malformed variant, and round trips through the feedback our receive side
builds (csrc/rtc/tcc_server.c) with the arrival times it was given."""

from __future__ import annotations

import random
import struct

import pytest

from sfu._units import ffi, lib

from .tcc_sim import Receiver

CAP = 4096


def reason_name(r: int) -> str:
    return ffi.string(lib.sfu_tcc_feedback_reject_name(r)).decode()


def parse(pkt: bytes, cap: int = CAP):
    """(reason, header dict, [(seq, status, arrival offset us)])"""
    buf = ffi.from_buffer("uint8_t[]", pkt)
    fb = ffi.new("sfu_tcc_feedback_t *")
    pkts = ffi.new("sfu_tcc_feedback_packet_t[]", max(cap, 1))
    r = lib.sfu_tcc_feedback_parse(buf, len(pkt), fb, pkts, cap)
    head = {"base": fb.base_seq, "count": fb.status_count, "ref": fb.reference_time,
            "fb_count": fb.fb_count, "received": fb.received, "sender": fb.sender_ssrc, "media": fb.media_ssrc}
    entries = [(pkts[i].seq, pkts[i].status, pkts[i].arrival_offset_us) for i in range(fb.status_count)] \
        if r == lib.SFU_TCC_FB_OK else []
    return r, head, entries


def feedback(base: int, count: int, ref: int, body: bytes, fb_count: int = 0, pad: int = 0) -> bytes:
    """an RTPFB FMT=15 packet around `body` (chunks + deltas), zero-aligned to 4 bytes, optional padding"""
    body += bytes(-len(body) % 4)
    if pad:
        body += bytes(pad - 1) + bytes([pad])
    head = struct.pack("!HH", base, count) + ref.to_bytes(3, "big") + bytes([fb_count])
    payload = struct.pack("!II", 1, 0x11223344) + head + body
    return bytes([0x80 | (0x20 if pad else 0) | 15, 205]) + struct.pack("!H", len(payload) // 4) + payload


def run_chunk(symbol: int, length: int) -> bytes:
    return struct.pack("!H", (symbol << 13) | length)


def vector1(bits: list[int]) -> bytes:
    v = 0x8000
    for i, b in enumerate(bits):
        v |= b << (13 - i)
    return struct.pack("!H", v)


def vector2(syms: list[int]) -> bytes:
    v = 0xC000
    for i, s in enumerate(syms):
        v |= s << (12 - 2 * i)
    return struct.pack("!H", v)


REF = 0x123456   # any 24-bit value

GOOD = [
    # (name, packet, expected entries (seq, status, offset us))
    ("run of received, small deltas",
     feedback(100, 3, REF, run_chunk(1, 3) + bytes([4, 1, 0])),
     [(100, 1, 1000), (101, 1, 1250), (102, 1, 1250)]),
    ("run of not received: no deltas",
     feedback(7, 5, REF, run_chunk(0, 5)),
     [(7 + i, 0, 0) for i in range(5)]),
    ("run longer than the count: the rest is ignored",
     feedback(7, 2, REF, run_chunk(1, 100) + bytes([1, 1])),
     [(7, 1, 250), (8, 1, 500)]),
    ("one-bit vector of 14",
     feedback(65530, 14, REF, vector1([1, 0] * 7) + bytes([2] * 7)),
     [((65530 + i) & 0xFFFF, 1 - i % 2, 500 * (i // 2 + 1) if i % 2 == 0 else 0) for i in range(14)]),
    ("two-bit vector: small, large negative, not received, large positive",
     feedback(0, 4, REF, vector2([1, 2, 0, 2]) + bytes([200]) + struct.pack("!hh", -300, 1000)),
     [(0, 1, 50000), (1, 2, 50000 - 75000), (2, 0, 0), (3, 2, 50000 - 75000 + 250000)]),
    ("mixed chunks across a sequence wrap",
     feedback(65534, 5, REF, run_chunk(0, 2) + vector2([1, 1, 2]) + bytes([0, 4]) + struct.pack("!h", 8)),
     [(65534, 0, 0), (65535, 0, 0), (0, 1, 0), (1, 1, 1000), (2, 2, 3000)]),
    ("RTCP padding after the deltas",
     feedback(9, 1, REF, run_chunk(1, 1) + bytes([3]), pad=8),
     [(9, 1, 750)]),
    ("the deltas start right after the chunks the count needs",
     feedback(1, 1, REF, run_chunk(1, 1) + run_chunk(3, 4) + bytes([1])),
     [(1, 1, 0x60 * 250)]),
]


@pytest.mark.parametrize("name,pkt,want", GOOD, ids=[c[0] for c in GOOD])
def test_parse_by_hand(name, pkt, want):
    r, head, entries = parse(pkt)
    assert r == lib.SFU_TCC_FB_OK, reason_name(r)
    assert head["base"] == want[0][0] and head["count"] == len(want) and head["ref"] == REF
    assert head["sender"] == 1 and head["media"] == 0x11223344
    assert entries == want
    assert head["received"] == sum(1 for e in want if e[1])


def _good() -> bytes:
    return feedback(100, 3, REF, run_chunk(1, 3) + bytes([4, 1, 0]))


def _with_len_field(pkt: bytes, words: int) -> bytes:
    return pkt[:2] + struct.pack("!H", words) + pkt[4:]


BAD = [
    ("empty", b"", "too_short"),
    ("three bytes", b"\x8f\xcd\x00", "too_short"),
    ("version 1", bytes([0x4F]) + _good()[1:], "not_tcc"),
    ("generic NACK (FMT 1)", bytes([0x81]) + _good()[1:], "not_tcc"),
    ("PSFB (206)", _good()[:1] + bytes([206]) + _good()[2:], "not_tcc"),
    ("length field past the buffer", _good()[:-4], "too_short"),
    ("header without a chunk", _with_len_field(_good()[:20], 4), "too_short"),
    ("padding count 0", feedback(9, 1, REF, run_chunk(1, 1) + bytes([3]), pad=4)[:-1] + b"\x00",
     "bad_padding"),
    ("padding eats the header", feedback(9, 1, REF, run_chunk(1, 1) + bytes([3]), pad=4)[:-1] + b"\xf0",
     "bad_padding"),
    ("status count 0", feedback(9, 0, REF, run_chunk(1, 1)), "no_packets"),
    ("chunks end early", feedback(9, 20, REF, vector2([0] * 7)), "chunks_truncated"),
    ("padding hides the chunks", feedback(9, 1, REF, b"", pad=4), "chunks_truncated"),
    ("reserved symbol in a vector", feedback(9, 2, REF, vector2([1, 3]) + bytes([1, 1])), "bad_symbol"),
    ("reserved symbol in a run", feedback(9, 2, REF, run_chunk(3, 2) + bytes([1, 1])), "bad_symbol"),
    ("a small delta missing", feedback(9, 6, REF, run_chunk(1, 6) + bytes([1, 1])), "deltas_truncated"),
    ("half a large delta", feedback(9, 4, REF, vector2([2, 2, 2, 2]) + bytes(6)), "deltas_truncated"),
]


@pytest.mark.parametrize("name,pkt,reason", BAD, ids=[c[0] for c in BAD])
def test_rejects_with_a_named_reason(name, pkt, reason):
    r, _, _ = parse(pkt)
    assert reason_name(r) == reason


def test_count_above_cap_is_too_many():
    pkt = feedback(0, 300, REF, run_chunk(0, 300))
    assert parse(pkt, cap=300)[0] == lib.SFU_TCC_FB_OK
    assert parse(pkt, cap=299)[0] == lib.SFU_TCC_FB_TOO_MANY


def test_reject_names_are_distinct():
    names = [reason_name(i) for i in range(lib.SFU_TCC_FB__COUNT)]
    assert len(set(names)) == len(names) and "invalid" not in names
    assert reason_name(lib.SFU_TCC_FB__COUNT) == "invalid"


# ------------------------------------------------- round trip through tcc_server


def test_round_trip_with_tcc_server():
    """random arrivals (loss, reordering, large gaps, a sequence wrap) come back as recorded:
    each received packet's reference time + offset is its arrival to 250 us, the lost ones are
    not received"""
    rng = random.Random(7)
    rx = Receiver()
    arrivals: dict[int, int] = {}
    now = 5_000_000
    seq = 65000
    packets = []
    for i in range(3000):
        if i % 100 == 99:                             # feedback every 100 packets, as on a timer
            packets.append(rx.build())
        now += rng.choice((100, 300, 1000, 5000, 70000)) if rng.random() < 0.1 else rng.randint(0, 2000)
        s = seq & 0xFFFF
        seq += 1
        if rng.random() < 0.05:
            continue                                  # lost
        rx.record(s, now)
        arrivals[s] = now
    seen: dict[int, int] = {}
    lost: set[int] = set()
    while pkt := rx.build():
        packets.append(pkt)
    for pkt in filter(None, packets):
        r, head, entries = parse(pkt)
        assert r == lib.SFU_TCC_FB_OK
        ref_us = head["ref"] * lib.SFU_TCC_REFERENCE_UNIT_US
        for s, status, off in entries:
            if status:
                seen[s] = ref_us + off
            else:
                lost.add(s)
    # tcc_server quantises each delta from the previous reported arrival, so errors do not add up
    assert seen.keys() == arrivals.keys()
    for s, at in seen.items():
        assert 0 <= arrivals[s] - at < 250
    assert not lost & arrivals.keys()
    assert len(lost) > 50       # the dropped ones were reported as not received


def test_round_trip_small_caps():
    rx = Receiver()
    for i in range(200):
        rx.record(i, 1_000_000 + 400 * i)
    covered = []
    while pkt := rx.build(64):
        r, head, entries = parse(pkt)
        assert r == lib.SFU_TCC_FB_OK and len(pkt) <= 64
        covered += [s for s, st, _ in entries if st]
    assert covered == list(range(200))
