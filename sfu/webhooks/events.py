"""WebhookEvent messages, named and filled as LiveKit fills them (livekit/protocol webhook,
livekit-server telemetry), and their wire form."""

from __future__ import annotations

import hashlib
import base64
import secrets
import time

from google.protobuf import json_format
from livekit.protocol import models
from livekit.protocol.webhook import WebhookEvent

ROOM_STARTED = "room_started"
ROOM_FINISHED = "room_finished"
PARTICIPANT_JOINED = "participant_joined"          # when it became active, as LiveKit does
PARTICIPANT_LEFT = "participant_left"
PARTICIPANT_CONNECTION_ABORTED = "participant_connection_aborted"   # left before it was active
TRACK_PUBLISHED = "track_published"
TRACK_UNPUBLISHED = "track_unpublished"
EVENTS = (ROOM_STARTED, ROOM_FINISHED, PARTICIPANT_JOINED, PARTICIPANT_LEFT, PARTICIPANT_CONNECTION_ABORTED,
          TRACK_PUBLISHED, TRACK_UNPUBLISHED)

CONTENT_TYPE = "application/webhook+json"

# why a room closed (a DisconnectReason given to Room.close) -> WebhookEvent.room_end_reason
ROOM_END_REASONS = {
    models.DisconnectReason.ROOM_DELETED: models.RoomEndReason.ROOM_END_API_DELETE,
    models.DisconnectReason.ROOM_CLOSED: models.RoomEndReason.ROOM_END_IDLE_TIMEOUT,
    models.DisconnectReason.SERVER_SHUTDOWN: models.RoomEndReason.ROOM_END_SERVER_SHUTDOWN,
}


def event(name: str, room: models.Room, participant: models.ParticipantInfo | None = None,
          track: models.TrackInfo | None = None, room_end_reason: int = 0,
          now: float | None = None) -> WebhookEvent:
    assert name in EVENTS, name
    ev = WebhookEvent(event=name, room=room, id="EV_" + secrets.token_urlsafe(9),
                      created_at=int(time.time() if now is None else now), room_end_reason=room_end_reason)
    if participant is not None:
        ev.participant.CopyFrom(participant)
    if track is not None:
        ev.track.CopyFrom(track)
    return ev


def encode(ev: WebhookEvent) -> bytes:
    """protobuf-JSON (camelCase names, enums by name, 64-bit integers as strings: what Go's
    protojson writes and the SDKs' WebhookReceivers parse)"""
    return json_format.MessageToJson(ev, indent=None).encode()


def body_sha256(body: bytes) -> str:
    """the `sha256` claim of the Authorization token: base64 of the body's SHA-256"""
    return base64.b64encode(hashlib.sha256(body).digest()).decode()
