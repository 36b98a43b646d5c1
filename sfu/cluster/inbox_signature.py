"""Entries in a node's Redis inbox (relayed sessions, forwarded API calls, agent messages) are
signed by the node that wrote them, with a key every node of the cluster derives from its API
keys (they share them): a node acts only on entries that verify, so whoever can write to Redis
cannot, say, delete a room without holding an API secret.  HMAC-SHA256 over every field (name
and value, length-prefixed) but the signature itself; replays are bounded by the entries' id
(handled once) and age (INBOX_MAX_AGE_MS)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

FIELD = "sig"


def signing_key(keys: dict[str, str]) -> bytes:
    """the same on every node configured with the same API keys"""
    material = "\n".join(f"{k}:{v}" for k, v in sorted(keys.items())).encode()
    return hmac.new(b"sfu cluster inbox", material, hashlib.sha256).digest()


def _as_bytes(v: Any) -> bytes:
    """a field value as Redis stores it"""
    if isinstance(v, bytes):
        return v
    if isinstance(v, bool):
        return b"1" if v else b"0"
    return str(v).encode()


def _digest(fields: dict[bytes, bytes], key: bytes) -> str:
    h = hmac.new(key, digestmod=hashlib.sha256)
    for name in sorted(fields):
        if name == FIELD.encode():
            continue
        value = fields[name]
        h.update(len(name).to_bytes(4, "big") + name + len(value).to_bytes(4, "big") + value)
    return h.hexdigest()


def sign(fields: dict[str, Any], key: bytes) -> dict[str, Any]:
    """the fields with their signature added"""
    as_stored = {k.encode(): _as_bytes(v) for k, v in fields.items()}
    return {**fields, FIELD: _digest(as_stored, key)}


def verify(fields: dict[bytes, bytes], key: bytes) -> bool:
    sig = fields.get(FIELD.encode())
    return sig is not None and hmac.compare_digest(sig, _digest(fields, key).encode())
