"""Parsing a join: the token, the query of `/rtc` (v0) and the
`join_request` of `/rtc/v1` (a base64url WrappedJoinRequest, maybe gzip).

Sans-IO: takes the request's headers and query, returns a JoinParams or
raises JoinError carrying the HTTP status the client should see.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import Mapping

from google.protobuf.message import DecodeError
from livekit.protocol import models, rtc

from .. import auth

MAX_JOIN_REQUEST = 1 << 20     # decompressed bytes
MAX_IDENTITY_BYTES = 256
SDKS = {name.lower(): value for name, value in models.ClientInfo.SDK.items()}
SDKS.update({"reactnative": models.ClientInfo.REACT_NATIVE, "unityweb": models.ClientInfo.UNITY_WEB})


class JoinError(Exception):
    def __init__(self, status: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status


@dataclass
class JoinParams:
    claims: auth.Claims
    room: str
    identity: str
    client: models.ClientInfo
    auto_subscribe: bool = True
    adaptive_stream: bool = False
    reconnect: bool = False
    reconnect_reason: int = 0
    participant_sid: str = ""
    metadata: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    publisher_offer: rtc.SessionDescription | None = None
    add_tracks: list[rtc.AddTrackRequest] = field(default_factory=list)
    sync_state: rtc.SyncState | None = None
    single_pc: bool = False           # /rtc/v1


def _bool(v: str | None, default: bool) -> bool:
    if v is None or v == "":
        return default
    return v.lower() in ("1", "true")


def verify_token(keys: auth.KeyProvider, headers: Mapping[str, str], query: Mapping[str, str]) -> auth.Claims:
    try:
        claims = keys.verify(auth.bearer(headers.get("Authorization"), query.get("access_token")))
    except auth.AuthError as e:
        raise JoinError(401, str(e)) from None
    if not claims.video.roomJoin:
        raise JoinError(401, "token has no roomJoin grant")
    if not claims.video.room:
        raise JoinError(401, "token names no room")
    if not claims.identity:
        raise JoinError(400, "token has no identity")
    if len(claims.identity.encode()) > MAX_IDENTITY_BYTES or len(claims.video.room.encode()) > MAX_IDENTITY_BYTES:
        raise JoinError(400, "identity or room name too long")
    return claims


def parse_v0(claims: auth.Claims, query: Mapping[str, str]) -> JoinParams:
    ci = models.ClientInfo()
    sdk = (query.get("sdk") or "").lower()
    ci.sdk = SDKS.get(sdk, models.ClientInfo.UNKNOWN)
    for name in ("version", "os", "os_version", "browser", "browser_version", "device_model", "network"):
        if query.get(name):
            setattr(ci, name, query[name][:256])
    try:
        ci.protocol = int(query.get("protocol") or 0)
        ci.client_protocol = int(query.get("client_protocol") or 0)
        reconnect_reason = int(query.get("reconnect_reason") or 0)
    except ValueError:
        raise JoinError(400, "protocol, client_protocol and reconnect_reason must be integers") from None
    attributes: dict[str, str] = {}
    if query.get("attributes"):
        try:
            raw = base64.urlsafe_b64decode(query["attributes"] + "=" * (-len(query["attributes"]) % 4))
            attributes = {str(k): str(v) for k, v in json.loads(raw).items()}
        except (ValueError, binascii.Error, AttributeError):
            raise JoinError(400, "attributes must be base64url JSON of a string map") from None
    return JoinParams(
        claims=claims, room=claims.video.room, identity=claims.identity, client=ci,
        auto_subscribe=_bool(query.get("auto_subscribe"), True),
        adaptive_stream=_bool(query.get("adaptive_stream"), False),
        reconnect=_bool(query.get("reconnect"), False), reconnect_reason=reconnect_reason,
        participant_sid=query.get("sid") or "", attributes=attributes)


def decode_join_request(value: str) -> rtc.JoinRequest:
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise JoinError(400, "join_request is not base64url") from None
    wrapped = rtc.WrappedJoinRequest()
    try:
        wrapped.ParseFromString(raw)
    except DecodeError:
        raise JoinError(400, "join_request is not a WrappedJoinRequest") from None
    body = wrapped.join_request
    if wrapped.compression == rtc.WrappedJoinRequest.GZIP:
        try:
            d = zlib.decompressobj(wbits=31)
            body = d.decompress(body, MAX_JOIN_REQUEST + 1)
            if len(body) > MAX_JOIN_REQUEST or d.unconsumed_tail:
                raise JoinError(400, "join_request too large")
        except (zlib.error, gzip.BadGzipFile, EOFError):
            raise JoinError(400, "join_request gzip data is corrupt") from None
    elif wrapped.compression != rtc.WrappedJoinRequest.NONE:
        raise JoinError(400, "unknown join_request compression")
    jr = rtc.JoinRequest()
    try:
        jr.ParseFromString(body)
    except DecodeError:
        raise JoinError(400, "join_request holds no valid JoinRequest") from None
    return jr


def parse_v1(claims: auth.Claims, query: Mapping[str, str]) -> JoinParams:
    value = query.get("join_request")
    if not value:
        raise JoinError(400, "join_request is required")
    jr = decode_join_request(value)
    p = JoinParams(
        claims=claims, room=claims.video.room, identity=claims.identity, client=jr.client_info,
        auto_subscribe=jr.connection_settings.auto_subscribe if jr.HasField("connection_settings") else True,
        adaptive_stream=jr.connection_settings.adaptive_stream,
        reconnect=jr.reconnect, reconnect_reason=int(jr.reconnect_reason), participant_sid=jr.participant_sid,
        metadata=jr.metadata, attributes=dict(jr.participant_attributes), single_pc=True,
        add_tracks=list(jr.add_track_requests))
    if jr.HasField("publisher_offer"):
        p.publisher_offer = jr.publisher_offer
    if jr.HasField("sync_state"):
        p.sync_state = jr.sync_state
    return p
