"""RTX packets (csrc/rtp/rtx.c, RFC 4588 4): unwrapping a publisher's retransmission into the
packet it repairs (in place, every field checked), padding-only and short ones refused, and
wrapping a cached packet for a subscriber; a round trip gives the original back."""

from __future__ import annotations

import struct

import pytest

from sfu._units import ffi, lib

from .test_parsers import one_byte, rtp_pkt

MEDIA_SSRC, MEDIA_PT, RTX_SSRC, RTX_PT = 0x11111111, 96, 0x22222222, 97


def parse(data: bytes):
    buf = ffi.new("uint8_t[]", data)
    rtp = ffi.new("sfu_rtp_t *")
    assert lib.sfu_rtp_parse(buf, len(data), rtp) == 0
    return buf, rtp


def unwrap(pkt: bytes):
    buf, rtp = parse(pkt)
    n = ffi.new("uint32_t *", len(pkt))
    out = ffi.new("sfu_rtp_t *")
    rc = lib.sfu_rtx_unwrap(buf, n, rtp, MEDIA_SSRC, MEDIA_PT, out)
    return rc, bytes(ffi.buffer(buf, n[0])), out


def wrap(pkt: bytes, osn: int, seq: int, cap: int = 1500) -> bytes:
    src, rtp = parse(pkt)
    dst = ffi.new("uint8_t[]", 1600)
    n = lib.sfu_rtx_wrap(dst, cap, src, rtp, osn, RTX_SSRC, RTX_PT, seq)
    return bytes(ffi.buffer(dst, n))


EXT = one_byte([(3, b"\x01\x02\x03")])
UNWRAPPED = [
    # (name, RTX packet fields, payload after the OSN)
    ("plain", dict(), b"\xab" * 40),
    ("marker and extension", dict(marker=True, ext=EXT), b"\x10\x20\x30"),
    ("csrcs", dict(csrcs=(5, 6)), b"\x01"),
    ("padded", dict(pad=4), b"\x99" * 7),
]


@pytest.mark.parametrize("name,fields,payload", UNWRAPPED, ids=[u[0] for u in UNWRAPPED])
def test_unwrap_restores_the_original(name, fields, payload):
    osn = 0xFFF0
    rtx = rtp_pkt(pt=RTX_PT, seq=7, ts=123456, ssrc=RTX_SSRC, payload=struct.pack("!H", osn) + payload, **fields)
    rc, pkt, out = unwrap(rtx)
    assert rc == 0
    want = rtp_pkt(pt=MEDIA_PT, seq=osn, ts=123456, ssrc=MEDIA_SSRC, payload=payload, **fields)
    assert pkt == want
    assert (out.seq, out.ssrc, out.payload_type, out.payload_len, out.marker) == \
        (osn, MEDIA_SSRC, MEDIA_PT, len(payload), 1 if fields.get("marker") else 0)


REFUSED = [
    ("padding only (the sender's probe)", rtp_pkt(pt=RTX_PT, ssrc=RTX_SSRC, pad=200), lib.SFU_DROP_RTX_PADDING),
    ("empty", rtp_pkt(pt=RTX_PT, ssrc=RTX_SSRC), lib.SFU_DROP_RTX_PADDING),
    ("an OSN and nothing else", rtp_pkt(pt=RTX_PT, ssrc=RTX_SSRC, payload=b"\x00\x05"), lib.SFU_DROP_RTX_PADDING),
    ("an OSN and padding", rtp_pkt(pt=RTX_PT, ssrc=RTX_SSRC, payload=b"\x00\x05", pad=8), lib.SFU_DROP_RTX_PADDING),
    ("half an OSN", rtp_pkt(pt=RTX_PT, ssrc=RTX_SSRC, payload=b"\x00"), lib.SFU_DROP_BAD_RTX),
]


@pytest.mark.parametrize("name,pkt,reason", REFUSED, ids=[r[0] for r in REFUSED])
def test_unwrap_refuses_and_leaves_the_packet(name, pkt, reason):
    rc, after, _ = unwrap(pkt)
    assert rc == reason
    assert after == pkt


def test_wrap_for_a_subscriber():
    orig = rtp_pkt(pt=MEDIA_PT, seq=500, ts=9000, ssrc=MEDIA_SSRC, payload=b"\x55" * 30, marker=True, ext=EXT)
    rtx = wrap(orig, osn=0x1234, seq=0xFFFF)
    assert rtx == rtp_pkt(pt=RTX_PT, seq=0xFFFF, ts=9000, ssrc=RTX_SSRC, marker=True, ext=EXT,
                          payload=b"\x12\x34" + b"\x55" * 30)


def test_wrap_drops_the_originals_padding():
    orig = rtp_pkt(pt=MEDIA_PT, seq=1, ssrc=MEDIA_SSRC, payload=b"\x01\x02", pad=6)
    assert wrap(orig, osn=1, seq=2) == rtp_pkt(pt=RTX_PT, seq=2, ssrc=RTX_SSRC, payload=b"\x00\x01\x01\x02")


def test_wrap_checks_the_room():
    orig = rtp_pkt(pt=MEDIA_PT, ssrc=MEDIA_SSRC, payload=bytes(100))
    assert len(wrap(orig, 1, 1, cap=len(orig) + 2)) == len(orig) + 2
    assert wrap(orig, 1, 1, cap=len(orig) + 1) == b""


def test_round_trip():
    orig = rtp_pkt(pt=MEDIA_PT, seq=4242, ts=77, ssrc=MEDIA_SSRC, payload=bytes(range(200)), csrcs=(9,), ext=EXT)
    rc, back, _ = unwrap(wrap(orig, osn=4242, seq=1))
    assert rc == 0 and back == orig
