"""DTLS record framing (RFC 6347 section 4.1): recognising, splitting and packing records
into datagrams; what the DTLS driver needs besides OpenSSL."""

from __future__ import annotations

import struct
from collections.abc import Iterable

DTLS_RECORD_HEADER = 13
CONTENT_CHANGE_CIPHER_SPEC = 20
CONTENT_HANDSHAKE = 22


def is_dtls(data: bytes) -> bool:
    """RFC 7983 demux: first byte 20..63 is DTLS."""
    return len(data) >= DTLS_RECORD_HEADER and 20 <= data[0] <= 63


def split_records(data: bytes) -> list[bytes]:
    """Split concatenated DTLS records; a trailing partial record is returned as is."""
    records = []
    pos = 0
    while pos < len(data):
        if pos + DTLS_RECORD_HEADER > len(data):
            records.append(data[pos:])
            break
        (length,) = struct.unpack_from("!H", data, pos + 11)
        end = pos + DTLS_RECORD_HEADER + length
        records.append(data[pos:end])
        pos = end
    return records


def has_handshake_record(datagram: bytes) -> bool:
    return any(
        len(r) >= DTLS_RECORD_HEADER and r[0] in (CONTENT_CHANGE_CIPHER_SPEC, CONTENT_HANDSHAKE)
        for r in split_records(datagram)
    )


def pack_datagrams(records: Iterable[bytes], mtu: int) -> list[bytes]:
    """Pack whole records into datagrams of at most ``mtu`` bytes (a larger record goes alone)."""
    datagrams: list[bytes] = []
    current = b""
    for record in records:
        if current and len(current) + len(record) > mtu:
            datagrams.append(current)
            current = b""
        current += record
    if current:
        datagrams.append(current)
    return datagrams
