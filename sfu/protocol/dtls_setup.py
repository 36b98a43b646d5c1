"""DTLS as SDP negotiates it (RFC 5763, RFC 8842, RFC 8122): which side is the DTLS client from
the a=setup attributes, and a=fingerprint values parsed.  No OpenSSL: the signalling side uses
this without the DTLS machinery (sfu.protocol.dtls, which re-exports these names)."""

from __future__ import annotations

import enum
import hashlib

from .common import ProtocolError

# the fingerprint hash functions RFC 8122 names that we accept
HASHES = {
    "sha-1": hashlib.sha1,
    "sha-224": hashlib.sha224,
    "sha-256": hashlib.sha256,
    "sha-384": hashlib.sha384,
    "sha-512": hashlib.sha512,
}


class DtlsError(ProtocolError):
    pass


class DtlsRole(enum.Enum):
    CLIENT = "client"  # a=setup:active
    SERVER = "server"  # a=setup:passive



def answer_setup(offer_setup: str, prefer: str = "active") -> str:
    """Our a=setup in an answer, given the offer's (RFC 5763 section 5, RFC 8842).

    ``actpass`` lets the answerer choose; the SFU prefers ``active`` (DTLS client), as LiveKit
    does, so the handshake starts as soon as ICE connects.
    """
    if prefer not in ("active", "passive"):
        raise ValueError("prefer must be 'active' or 'passive'")
    table = {"actpass": prefer, "active": "passive", "passive": "active"}
    try:
        return table[offer_setup.strip().lower()]
    except KeyError:
        raise DtlsError(f"unusable a=setup:{offer_setup} in offer") from None


# the DTLS role that a=setup value gives the side that sent it (RFC 5763 section 5)
_ROLE_OF_SETUP = {"active": DtlsRole.CLIENT, "passive": DtlsRole.SERVER}
_OTHER_ROLE = {DtlsRole.CLIENT: DtlsRole.SERVER, DtlsRole.SERVER: DtlsRole.CLIENT}


def role_for_local_setup(setup: str) -> DtlsRole:
    """DTLS role from our own final setup value (``active`` or ``passive``)."""
    setup = setup.strip().lower()
    if setup not in _ROLE_OF_SETUP:
        raise DtlsError(f"a=setup:{setup} does not fix a DTLS role")
    return _ROLE_OF_SETUP[setup]


def role_from_answer(remote_answer_setup: str) -> DtlsRole:
    """Our role after we offered ``actpass`` and the peer answered ``remote_answer_setup``."""
    setup = remote_answer_setup.strip().lower()
    if setup not in _ROLE_OF_SETUP:
        raise DtlsError(f"answer has a=setup:{setup}; expected active or passive")
    return _OTHER_ROLE[_ROLE_OF_SETUP[setup]]


def parse_fingerprint(value: str) -> tuple[str, bytes]:
    """``"sha-256 AB:CD:..."`` (the a=fingerprint value) -> ``("sha-256", digest)``."""
    try:
        algorithm, hex_value = value.split(None, 1)
        digest = bytes.fromhex(hex_value.strip().replace(":", ""))
    except ValueError:
        raise DtlsError(f"malformed fingerprint {value!r}") from None
    algorithm = algorithm.lower()
    if algorithm not in HASHES:
        raise DtlsError(f"unsupported fingerprint hash {algorithm!r}")
    if len(digest) != HASHES[algorithm]().digest_size:
        raise DtlsError(f"fingerprint length does not match {algorithm}")
    return algorithm, digest
