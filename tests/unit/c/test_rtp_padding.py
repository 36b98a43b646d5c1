"""Padding-only RTP packets (csrc/rtp/rtp_padding.c), the probes' packets:
P bit set, marker clear, all of the payload padding with its count last,
and the transport-wide sequence number stamped on them like on media."""

from __future__ import annotations

import struct

import pytest

from sfu._units import ffi, lib


def build(pad_len: int, cap: int = 1500, pt: int = 96, seq: int = 0xFFFE, ts: int = 0xDEADBEEF,
          ssrc: int = 0x01020304) -> bytes | None:
    buf = ffi.new("uint8_t[]", max(cap, 1))
    n = lib.sfu_rtp_build_padding(buf, cap, pt, seq, ts, ssrc, pad_len)
    return bytes(ffi.buffer(buf, n)) if n else None


def parse(pkt: bytes):
    rtp = ffi.new("sfu_rtp_t *")
    assert lib.sfu_rtp_parse(ffi.from_buffer("uint8_t[]", pkt), len(pkt), rtp) == lib.SFU_DROP_NONE
    return rtp


@pytest.mark.parametrize("pad_len", [1, 2, 100, lib.SFU_RTP_PADDING_MAX])
def test_the_payload_is_all_padding(pad_len):
    pkt = build(pad_len)
    assert len(pkt) == 12 + pad_len
    rtp = parse(pkt)
    assert (rtp.payload_len, rtp.pad_len, rtp.marker, rtp.payload_type) == (0, pad_len, 0, 96)
    assert (rtp.seq, rtp.ts, rtp.ssrc) == (0xFFFE, 0xDEADBEEF, 0x01020304)
    assert pkt[0] == 0xA0 and pkt[-1] == pad_len and pkt[12:-1] == bytes(pad_len - 1)


@pytest.mark.parametrize("pad_len,cap", [(0, 1500), (256, 1500), (100, 111), (1, 12)])
def test_refused(pad_len, cap):
    assert build(pad_len, cap) is None


def test_exact_room():
    assert build(100, 112) is not None


def test_the_payload_type_loses_a_marker_bit():
    assert parse(build(10, pt=0xE0)).payload_type == 0x60 and build(10, pt=0xE0)[1] == 0x60


def test_stamping_the_transport_wide_number_keeps_it_padding():
    pkt = build(lib.SFU_RTP_PADDING_MAX)
    buf = ffi.new("uint8_t[]", 1500)
    ffi.memmove(buf, pkt, len(pkt))
    n = lib.sfu_tcc_seq_stamp(buf, len(pkt), 1500, parse(pkt), 3, 0x1234)
    assert n == len(pkt) + 8                       # a one-byte block of one element
    out = bytes(ffi.buffer(buf, n))
    rtp = parse(out)
    assert rtp.has_extension and (rtp.payload_len, rtp.pad_len) == (0, lib.SFU_RTP_PADDING_MAX)
    off = ffi.new("uint16_t *")
    assert lib.sfu_rtp_find_ext(ffi.from_buffer("uint8_t[]", out), rtp, 3, off) == 2
    assert struct.unpack("!H", out[off[0]:off[0] + 2])[0] == 0x1234
