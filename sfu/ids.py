"""LiveKit-style ids: a type prefix and 12 base62 characters."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_sid(prefix: str) -> str:
    """RM_ (room), PA_ (participant), TR_ (track), AD_ (agent dispatch), AJ_ (agent job),
    AW_ (agent worker) + 12 base62 chars"""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(12))
