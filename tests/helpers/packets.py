"""Packet builders."""

from __future__ import annotations

import struct


def rtp_packet(seq: int, ts: int, ssrc: int, pt: int = 96, payload: bytes = b"\xab" * 100,
               marker: bool = False) -> bytes:
    """a plain RTP packet: version 2, no CSRC, no extension, no padding"""
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload
