"""The RFC 6464 audio level byte of an RTP packet (csrc/rtp/audio_level.c)."""

from __future__ import annotations

import pytest

from sfu._native import lib

from .test_parsers import cbuf, one_byte, rtp_parse, rtp_pkt, two_byte


def level(pkt: bytes, ext_id: int) -> int:
    rc, out = rtp_parse(pkt)
    assert rc == lib.SFU_DROP_NONE
    return lib.sfu_rtp_audio_level(cbuf(pkt), out, ext_id)


@pytest.mark.parametrize("pkt,ext_id,want", [
    (rtp_pkt(ext=one_byte([(1, b"\x8a")]), payload=b"op"), 1, 0x8a),             # voice, -10 dBov
    (rtp_pkt(ext=one_byte([(3, b"\x01\x02"), (1, b"\x7f")]), payload=b"op"), 1, 0x7f),   # silence
    (rtp_pkt(ext=two_byte([(1, b"\x85\x00")]), payload=b"op"), 1, 0x85),        # two-byte form
    (rtp_pkt(ext=two_byte([(1, b"")]), payload=b"op"), 1, -1),                  # empty element
    (rtp_pkt(ext=one_byte([(2, b"\x8a")]), payload=b"op"), 1, -1),              # another id
    (rtp_pkt(payload=b"op"), 1, -1),                                            # no extension
    (rtp_pkt(ext=one_byte([(1, b"\x8a")]), payload=b"op"), 0, -1),              # not negotiated
])
def test_audio_level(pkt, ext_id, want):
    assert level(pkt, ext_id) == want
