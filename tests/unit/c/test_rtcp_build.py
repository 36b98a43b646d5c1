"""The RTCP packets the data plane builds (csrc/rtp/rtcp_build.c): sender
report, receiver report, PLI, generic NACK and NTP time, byte for byte against RFC 3550
6.4 / RFC 4585 6.3.1 and 6.2.1, then walked with the RTCP parser."""

from __future__ import annotations

import struct

import pytest

from sfu._units import ffi, lib


def built(fn, *args) -> bytes:
    buf = ffi.new("uint8_t[64]")
    n = fn(buf, *args)
    return bytes(ffi.buffer(buf, n))


def parsed(pkt: bytes) -> tuple:
    buf = ffi.new("uint8_t[]", pkt)
    assert lib.sfu_rtcp_validate(buf, len(pkt)) == 0
    off = ffi.new("size_t *")
    p = ffi.new("sfu_rtcp_t *")
    assert lib.sfu_rtcp_next(buf, len(pkt), off, p) == 1 and off[0] == len(pkt)
    return p.pt, p.count, p.len, p.sender_ssrc, p.media_ssrc


def test_sender_report():
    pkt = built(lib.sfu_rtcp_build_sr, 0xAABBCCDD, 0x0102030405060708, 90000, 21, 882)
    assert pkt == (bytes([0x80, 200, 0, 6]) + struct.pack("!IIIIII", 0xAABBCCDD, 0x01020304, 0x05060708,
                                                          90000, 21, 882))
    assert len(pkt) == lib.SFU_RTCP_SR_LEN
    assert parsed(pkt) == (200, 0, 28, 0xAABBCCDD, 0)


def test_receiver_report_with_one_block():
    block = bytes(range(24))
    pkt = built(lib.sfu_rtcp_build_rr, 1, ffi.new("uint8_t[24]", block))
    assert pkt == bytes([0x81, 201, 0, 7]) + struct.pack("!I", 1) + block
    assert len(pkt) == lib.SFU_RTCP_RR_LEN
    assert parsed(pkt) == (201, 1, 32, 1, 0)


def test_picture_loss_indication():
    pkt = built(lib.sfu_rtcp_build_pli, 1, 0x12345678)
    assert pkt == bytes([0x81, 206, 0, 2]) + struct.pack("!II", 1, 0x12345678)
    assert len(pkt) == lib.SFU_RTCP_PLI_LEN
    assert parsed(pkt) == (206, 1, 12, 1, 0x12345678)


def test_ntp_time():
    """seconds since 1900 in the high word (RFC 5905), the fraction in 2^-32 s"""
    assert lib.sfu_ntp_from_unix_ns(0) == 2208988800 << 32
    assert lib.sfu_ntp_from_unix_ns(1_500_000_000) == ((2208988800 + 1) << 32) | (1 << 31)
    assert lib.sfu_ntp_from_unix_ns(250_000_000) & 0xFFFFFFFF == 1 << 30


def nack_built(seqs, cap=1500):
    buf = ffi.new("uint8_t[]", max(cap, 16))
    arr = ffi.new("uint16_t[]", list(seqs) or [0])
    used = ffi.new("uint32_t *")
    n = lib.sfu_rtcp_build_nack(buf, cap, 1, 0xCAFEBABE, arr, len(seqs), used)
    return bytes(ffi.buffer(buf, n)), used[0]


def nack_expanded(pkt: bytes) -> list[int]:
    buf = ffi.new("uint8_t[]", pkt)
    off = ffi.new("size_t *")
    p = ffi.new("sfu_rtcp_t *")
    assert lib.sfu_rtcp_validate(buf, len(pkt)) == 0
    assert lib.sfu_rtcp_next(buf, len(pkt), off, p) == 1 and off[0] == len(pkt)
    assert (p.pt, p.count, p.sender_ssrc, p.media_ssrc) == (205, 1, 1, 0xCAFEBABE)
    out = ffi.new("uint16_t[]", 4096)
    k = lib.sfu_rtcp_nack_seqs(buf, p, out, 4096)
    return [out[i] for i in range(k)]


NACKS = [
    # (name, sequence numbers, the PID/BLP pairs)
    ("one", [100], [(100, 0)]),
    ("a run of 17 fits one pair", list(range(100, 117)), [(100, 0xFFFF)]),
    ("the 18th starts a pair", list(range(100, 118)), [(100, 0xFFFF), (117, 0)]),
    ("sparse in one pair", [10, 12, 26], [(10, 0x8002)]),
    ("across the wrap", [65534, 65535, 0, 3], [(65534, 0b10011)]),
    ("out of order starts a pair", [10, 9], [(10, 0), (9, 0)]),
    ("a duplicate starts a pair", [10, 12, 12], [(10, 2), (12, 0)]),
]


@pytest.mark.parametrize("name,seqs,pairs", NACKS, ids=[n[0] for n in NACKS])
def test_generic_nack(name, seqs, pairs):
    pkt, used = nack_built(seqs)
    assert used == len(seqs)
    want = bytes([0x81, 205]) + struct.pack("!HII", 2 + len(pairs), 1, 0xCAFEBABE)
    assert pkt == want + b"".join(struct.pack("!HH", pid, blp) for pid, blp in pairs)
    assert nack_expanded(pkt) == seqs


def test_generic_nack_stops_at_cap():
    seqs = list(range(0, 200, 20))                    # one pair each
    pkt, used = nack_built(seqs, cap=12 + 4 * 3 + 3)
    assert len(pkt) == 24 and used == 3 and nack_expanded(pkt) == seqs[:3]
    assert nack_built(seqs, cap=15) == (b"", 0)
    assert nack_built([], cap=100) == (b"", 0)
