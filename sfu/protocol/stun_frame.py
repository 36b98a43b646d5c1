"""STUN framing checked without a STUN stack (RFC 5389 section 6, 15): the layout of a
message's attributes, and the local ufrag a Binding request's USERNAME names (the ICE-TCP
acceptor in the main process routes a new connection by it).  sfu.protocol.ice_lite parses
the rest with aioice and re-exports these names."""

from __future__ import annotations

import struct

from .common import ProtocolError

STUN_HEADER = 20
STUN_COOKIE = 0x2112A442
ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_FINGERPRINT = 0x8028
BINDING_REQUEST = 0x0001


class StunError(ProtocolError):
    """A datagram that is not a well-formed STUN message."""


def _walk_attributes(data: bytes) -> list[tuple[int, int, int]]:
    """Return (type, value offset, value length) for each attribute; raise StunError on bad framing."""
    if len(data) < STUN_HEADER:
        raise StunError(f"truncated STUN header: {len(data)} bytes, need {STUN_HEADER}")
    msg_type, length, cookie = struct.unpack_from("!HHI", data, 0)
    if msg_type & 0xC000:
        raise StunError("not STUN: the two leading bits of the message type are not zero")
    if cookie != STUN_COOKIE:
        raise StunError(f"not STUN: magic cookie is {cookie:#010x}")
    if length % 4:
        raise StunError(f"STUN body length {length} is not a multiple of 4")
    if len(data) != STUN_HEADER + length:
        raise StunError(
            f"STUN length mismatch: header says {length} body bytes, datagram has {len(data) - STUN_HEADER}"
        )
    attrs = []
    pos = STUN_HEADER
    while pos < len(data):
        if pos + 4 > len(data):
            raise StunError(f"truncated attribute header at offset {pos}")
        attr_type, attr_len = struct.unpack_from("!HH", data, pos)
        padded = (attr_len + 3) & ~3
        if pos + 4 + padded > len(data):
            raise StunError(f"attribute {attr_type:#06x} at offset {pos} overruns the message")
        attrs.append((attr_type, pos + 4, attr_len))
        pos += 4 + padded
    for i, (attr_type, _, _) in enumerate(attrs):
        if attr_type == ATTR_FINGERPRINT and i != len(attrs) - 1:
            raise StunError("FINGERPRINT is not the last attribute")
    return attrs


def extract_local_ufrag(data: bytes) -> str | None:
    """Return the local (first) part of USERNAME in a Binding request, else ``None``.

    For routing the first datagram from an unknown address to the session that owns the ufrag.
    Integrity is NOT checked here; the session's agent does that. Never raises.
    """
    try:
        attrs = _walk_attributes(data)
    except StunError:
        return None
    if struct.unpack_from("!H", data, 0)[0] != BINDING_REQUEST:
        return None
    for attr_type, offset, length in attrs:
        if attr_type == ATTR_USERNAME:
            try:
                username = data[offset : offset + length].decode("utf-8")
            except UnicodeDecodeError:
                return None
            local, sep, _ = username.partition(":")
            return local if sep and local else None
    return None
