"""ICE as SDP carries it (RFC 8445, RFC 8839, RFC 6544): our credentials (ice-ufrag, ice-pwd)
and the host candidate lines we announce.  No STUN: the signalling side uses this without the
connectivity checks (sfu.protocol.ice_lite, which re-exports these names)."""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Sequence

from .common import Addr

# RFC 8445 section 5.3: ice-char = ALPHA / DIGIT / "+" / "/"
ICE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
UFRAG_LENGTH = 16  # RFC: at least 4 characters (24 bits of randomness)
PWD_LENGTH = 32  # RFC: at least 22 characters (128 bits of randomness)
HOST_TYPE_PREFERENCE = 126  # RFC 8445 section 5.1.2.2


def generate_ufrag(length: int = UFRAG_LENGTH) -> str:
    if length < 4:
        raise ValueError("ice-ufrag must be at least 4 characters")
    return "".join(secrets.choice(ICE_CHARS) for _ in range(length))


def generate_pwd(length: int = PWD_LENGTH) -> str:
    if length < 22:
        raise ValueError("ice-pwd must be at least 22 characters")
    return "".join(secrets.choice(ICE_CHARS) for _ in range(length))


def candidate_priority(type_preference: int, local_preference: int, component: int = 1) -> int:
    """RFC 8445 section 5.1.2.1."""
    return (type_preference << 24) + (local_preference << 8) + (256 - component)


def candidate_foundation(candidate_type: str, base_ip: str, protocol: str = "udp") -> str:
    """Same type, base address and protocol give the same foundation (RFC 8445 section 5.1.1.3)."""
    return str(zlib.crc32(f"{candidate_type}|{base_ip}|{protocol}".encode()))


TCP_PASSIVE_DIRECTION_PREFERENCE = 4   # RFC 6544 section 4.2 (host: active 6, passive 4, S-O 2)


def tcp_host_candidates(addresses: Sequence[Addr], component: int = 1) -> list[str]:
    """``candidate:`` values for passive ICE-TCP host candidates (RFC 6544): the peer connects to
    them.  Their local preference (RFC 6544 section 4.2) is below every UDP candidate's, so a
    client pairs with TCP only when UDP does not get through."""
    lines = []
    for index, (ip, port) in enumerate(addresses):
        local = (TCP_PASSIVE_DIRECTION_PREFERENCE << 13) + max(0, 8191 - index)
        priority = candidate_priority(HOST_TYPE_PREFERENCE, local, component)
        foundation = candidate_foundation("host", ip, "tcp")
        lines.append(f"candidate:{foundation} {component} tcp {priority} {ip} {port} typ host tcptype passive")
    return lines


def host_candidates(addresses: Sequence[Addr], component: int = 1) -> list[str]:
    """``candidate:`` attribute values (without ``a=``) for UDP host candidates.

    Earlier addresses get higher local preference. Use the values as ``a=candidate:...`` in
    SDP, or as the ``candidate`` field of a trickled RTCIceCandidateInit.
    """
    lines = []
    for index, (ip, port) in enumerate(addresses):
        priority = candidate_priority(HOST_TYPE_PREFERENCE, 65535 - index, component)
        foundation = candidate_foundation("host", ip)
        lines.append(f"candidate:{foundation} {component} udp {priority} {ip} {port} typ host")
    return lines
