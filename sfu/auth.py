"""Access tokens: LiveKit-compatible JWTs (HS256, API key as issuer).

Claims follow LiveKit's: `iss` = API key, `sub` = identity, `nbf`/`exp`,
`name`, `metadata`, `attributes`, `kind`, `roomConfig`, and the `video`
grant object with camelCase keys (roomJoin, room, canPublish ...).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field, fields
from typing import Any, Iterator

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from . import errors



@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """short secrets (the dev key's "secret") are the operator's choice; the
    config check reports them once at start-up instead of on every token"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        yield

LEEWAY_SECONDS = 60
DEFAULT_TTL = 6 * 3600
DEFAULT_REFRESH_TTL = 10 * 60


class AuthError(errors.SfuError):
    """The token is missing, malformed, expired or lacks a grant (HTTP 401/403)."""

    def __init__(self, msg: str, status: int = 401) -> None:
        super().__init__(msg)
        self.status = status


@dataclass
class VideoGrant:
    roomCreate: bool = False
    roomList: bool = False
    roomRecord: bool = False
    roomAdmin: bool = False
    roomJoin: bool = False
    room: str = ""
    destinationRoom: str = ""
    canPublish: bool = True
    canSubscribe: bool = True
    canPublishData: bool | None = None     # defaults to canPublish
    canPublishSources: list[str] = field(default_factory=list)
    canUpdateOwnMetadata: bool = False
    ingressAdmin: bool = False
    hidden: bool = False
    recorder: bool = False
    agent: bool = False
    canSubscribeMetrics: bool = False
    canManageAgentSession: bool = False

    @classmethod
    def from_claim(cls, d: Any) -> "VideoGrant":
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise AuthError("video grant must be an object")
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in d and d[f.name] is not None:
                kw[f.name] = d[f.name]
        g = cls(**kw)
        for f in fields(cls):
            v = getattr(g, f.name)
            if f.name == "canPublishSources":
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise AuthError("canPublishSources must be a list of strings")
            elif f.name in ("room", "destinationRoom"):
                if not isinstance(v, str):
                    raise AuthError(f"{f.name} must be a string")
            elif v is not None and not isinstance(v, bool):
                raise AuthError(f"{f.name} must be a boolean")
        if g.canPublishData is None:
            g.canPublishData = g.canPublish
        return g

    def to_claim(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v in (None, "", []):
                continue
            if isinstance(v, bool) and not v and f.name not in ("canPublish", "canSubscribe", "canPublishData"):
                continue
            out[f.name] = v
        return out


@dataclass
class Claims:
    api_key: str
    identity: str
    name: str
    video: VideoGrant
    metadata: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    kind: str = ""
    room_config: dict | None = None
    expires_at: float = 0.0
    raw: dict = field(default_factory=dict)


class KeyProvider:
    """API key -> secret."""

    def __init__(self, keys: dict[str, str]) -> None:
        if not keys:
            raise ValueError("at least one API key is required")
        self.keys = dict(keys)

    def secret(self, key: str) -> str | None:
        return self.keys.get(key)

    def verify(self, token: str) -> Claims:
        if not token:
            raise AuthError("no access token")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as e:
            raise AuthError(f"malformed access token: {e}") from None
        if header.get("alg") != "HS256":
            raise AuthError("access token must be signed with HS256")
        iss = unverified.get("iss")
        secret = self.secret(iss) if isinstance(iss, str) else None
        if secret is None:
            raise AuthError("unknown API key")
        try:
            with _quiet():
                claims = jwt.decode(token, secret, algorithms=["HS256"], leeway=LEEWAY_SECONDS,
                                    options={"require": ["exp"], "verify_aud": False})
        except jwt.ExpiredSignatureError:
            raise AuthError("access token expired") from None
        except jwt.PyJWTError as e:
            raise AuthError(f"invalid access token: {e}") from None
        identity = claims.get("sub") or claims.get("jti") or ""
        attrs = claims.get("attributes") or {}
        if not isinstance(identity, str) or not isinstance(attrs, dict):
            raise AuthError("invalid identity or attributes claim")
        return Claims(
            api_key=iss, identity=identity, name=str(claims.get("name") or ""),
            video=VideoGrant.from_claim(claims.get("video")), metadata=str(claims.get("metadata") or ""),
            attributes={str(k): str(v) for k, v in attrs.items()}, kind=str(claims.get("kind") or ""),
            room_config=claims.get("roomConfig"), expires_at=float(claims["exp"]), raw=claims)

    def create(self, api_key: str, identity: str = "", video: VideoGrant | None = None,
               ttl: float = DEFAULT_TTL, name: str = "", **extra: Any) -> str:
        secret = self.secret(api_key)
        if secret is None:
            raise AuthError("unknown API key")
        now = int(time.time())
        claims: dict[str, Any] = {"iss": api_key, "sub": identity, "nbf": now, "exp": now + int(ttl),
                                  "video": (video or VideoGrant()).to_claim()}
        if name:
            claims["name"] = name
        claims.update({k: v for k, v in extra.items() if v not in (None, "", {})})
        with _quiet():
            return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})


def refreshed(keys: KeyProvider, claims: Claims, ttl: float = DEFAULT_REFRESH_TTL) -> str:
    """the same claims and grants, signed again with a new validity window"""
    secret = keys.secret(claims.api_key)
    if secret is None:
        raise AuthError("unknown API key")
    now = int(time.time())
    body = dict(claims.raw)
    body.update(nbf=now, exp=now + int(ttl))
    with _quiet():
        return jwt.encode(body, secret, algorithm="HS256", headers={"typ": "JWT"})


def bearer(header: str | None, query_token: str | None = None) -> str:
    """the token from `Authorization: Bearer ...`, else the access_token query"""
    if header:
        parts = header.split(None, 1)
        if len(parts) == 2 and parts[0].lower() == "bearer":
            return parts[1].strip()
        raise AuthError("Authorization header must be 'Bearer <token>'")
    return query_token or ""
