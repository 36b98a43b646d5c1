"""Packet builders."""

from __future__ import annotations

import struct


def rtp_packet(seq: int, ts: int, ssrc: int, pt: int = 96, payload: bytes = b"\xab" * 100,
               marker: bool = False) -> bytes:
    """a plain RTP packet: version 2, no CSRC, no extension, no padding"""
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def rtx_packet(osn: int, seq: int, ts: int, ssrc: int, pt: int, payload: bytes = b"", pad: int = 0,
               marker: bool = False) -> bytes:
    """an RTX packet (RFC 4588): the original sequence number, then the original payload;
    `pad` bytes of RTP padding (with neither OSN nor payload: a sender's padding-only probe)"""
    body = (struct.pack("!H", osn & 0xFFFF) + payload) if (payload or not pad) else b""
    if pad:
        body += bytes(pad - 1) + bytes([pad])
    b0 = 0x80 | (0x20 if pad else 0)
    return struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + body


def rtcp_packets(data: bytes) -> list[tuple[int, int, bytes]]:
    """(packet type, count/FMT, whole packet) of each packet of an RTCP compound"""
    out, off = [], 0
    while off + 4 <= len(data):
        n = (struct.unpack("!H", data[off + 2:off + 4])[0] + 1) * 4
        out.append((data[off + 1], data[off] & 0x1F, data[off:off + n]))
        off += n
    return out


def generic_nack(pkt: bytes) -> tuple[int, list[int]]:
    """(media SSRC, sequence numbers) of a generic NACK (RFC 4585 6.2.1)"""
    media = struct.unpack("!I", pkt[8:12])[0]
    seqs = []
    for off in range(12, len(pkt), 4):
        pid, blp = struct.unpack("!HH", pkt[off:off + 4])
        seqs += [pid] + [(pid + i + 1) & 0xFFFF for i in range(16) if blp >> i & 1]
    return media, seqs


def vp9_layer_payload(sid: int, tid: int, key: bool, picture: int) -> bytes:
    """a VP9 payload (RFC 9628) of one layer frame in one packet: I, P (not key), L, F (flexible:
    no TL0PICIDX), B, E; a 15-bit picture id; TID/U/SID/D; then 60 bytes"""
    b0 = 0x80 | (0 if key else 0x40) | 0x20 | 0x10 | 0x08 | 0x04
    return bytes([b0, 0x80 | (picture >> 8) & 0x7F, picture & 0xFF, (tid << 5) | (sid << 1)]) + b"\x00" * 60
