"""WebhookEvent building and its wire form (sfu.webhooks.events)."""

from __future__ import annotations

import base64
import hashlib
import json

from google.protobuf import json_format
from livekit.protocol import models
from livekit.protocol.webhook import WebhookEvent

from sfu.webhooks import events


def test_an_event_as_json_parses_back_and_names_fields_as_protojson_does():
    ev = events.event(events.TRACK_PUBLISHED, models.Room(sid="RM_x", name="r", creation_time=1700000000),
                      participant=models.ParticipantInfo(sid="PA_y", identity="bob"),
                      track=models.TrackInfo(sid="TR_z", type=models.TrackType.VIDEO), now=1700000001.5)
    body = events.encode(ev)
    d = json.loads(body)
    assert d["event"] == "track_published" and d["createdAt"] == "1700000001"    # int64 as a string
    assert d["room"]["creationTime"] == "1700000000" and d["track"]["type"] == "VIDEO"
    assert d["id"].startswith("EV_")
    back = json_format.Parse(body, WebhookEvent())
    assert back == ev


def test_room_end_reason_from_why_the_room_closed():
    ev = events.event(events.ROOM_FINISHED, models.Room(name="r"),
                      room_end_reason=events.ROOM_END_REASONS[models.DisconnectReason.ROOM_CLOSED])
    assert json.loads(events.encode(ev))["roomEndReason"] == "ROOM_END_IDLE_TIMEOUT"


def test_body_hash_is_base64_sha256():
    assert base64.b64decode(events.body_sha256(b"abc")) == hashlib.sha256(b"abc").digest()


def test_two_events_have_different_ids():
    a, b = (events.event(events.ROOM_STARTED, models.Room(name="r")) for _ in range(2))
    assert a.id != b.id
