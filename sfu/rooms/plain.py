"""A room's tracks to and from plain transports (RTP without WebRTC: ffmpeg, gstreamer).

Out: `track_source()`, the producer and codec a plain consumer of a track takes.  In: an
`IngressParticipant`, a participant without a signal connection or PeerConnection whose
tracks are producers of plain transports (sfu.media) the caller created; the room's clients
see it as a LiveKit participant of kind INGRESS and subscribe to its tracks like to any other.
"""

from __future__ import annotations

import dataclasses
import time

from livekit.protocol import models

from .. import auth, errors
from ..ids import new_sid
from ..media import Producer, Transport
from ..protocol import sdp
from ..signaling.join import JoinParams
from .connection_quality import LinkState
from .events import ParticipantEvents
from .layer_activity import LayerActivity
from .participant import Participant
from .room import Room
from .layer_selector import select_layer
from .track import Layer, TrackPublication

# the codecs a plain producer may be published as, by name (the payload type is the producer's)
CODECS = {"opus": sdp.OPUS, "vp8": sdp.VP8, "vp9": sdp.VP9, "h264": sdp.H264, "av1": sdp.AV1}


class IngressParticipant(Participant):
    """An INGRESS participant of `room`: active at once, publishes what it is given, never
    subscribes; when it leaves, the plain transports it was given are closed."""

    def __init__(self, room: Room, identity: str, events: ParticipantEvents, name: str = "",
                 metadata: str = "") -> None:
        grant = auth.VideoGrant(roomJoin=True, room=room.name, canPublish=True, canSubscribe=False,
                                canPublishData=False)
        claims = auth.Claims(api_key="", identity=identity, name=name, video=grant, metadata=metadata,
                             kind="ingress")
        super().__init__(room, JoinParams(claims=claims, room=room.name, identity=identity,
                                          client=models.ClientInfo(), auto_subscribe=False), None, events)
        self.transports: list[Transport] = []

    def link_state(self) -> LinkState:
        """connected while in the room (there is no downlink to measure): its connection
        quality is not reported as lost to the others"""
        return LinkState(not self.closed)

    async def close_transports(self) -> None:
        for t in self.transports:
            try:
                await t.close()
            except errors.SfuError:
                pass


def check_unpublished(room: Room, producer: Producer) -> None:
    """one track per producer"""
    if any(pub.layer_of_producer(producer.id) for q in room.participants.values() for pub in q.tracks.values()):
        raise errors.AlreadyExistsError(f"producer {producer.id} is published already")


async def join(room: Room, identity: str, events: ParticipantEvents, name: str = "",
               metadata: str = "") -> IngressParticipant:
    """add an ingress participant to `room` (an existing one of that identity is replaced)"""
    room.check_can_join(identity)
    old = room.participants.get(identity)
    if old is not None:
        await old.disconnect(models.DisconnectReason.DUPLICATE_IDENTITY)
    p = IngressParticipant(room, identity, events, name=name, metadata=metadata)
    room.add(p)
    p.state = models.ParticipantInfo.ACTIVE
    p.bump()
    await events.participant_active(p)
    return p


async def publish(p: IngressParticipant, producer: Producer, codec: str, name: str = "",
                  source: int = models.TrackSource.UNKNOWN, width: int = 0, height: int = 0) -> TrackPublication:
    """publish a plain transport's producer as one of `p`'s tracks (announced to the room's
    clients, auto-subscribed like any track); returns its publication (`.sid` is the track sid)"""
    base = CODECS.get(codec.lower())
    if base is None:
        raise errors.ProtocolError(f"codec must be one of {', '.join(sorted(CODECS))}")
    if (base.clock_rate == 90000) != (producer.kind == "video"):
        raise errors.ProtocolError(f"a {producer.kind} producer cannot be published as {codec}")
    check_unpublished(p.room, producer)
    if producer.transport not in p.transports:
        p.transports.append(producer.transport)
    sid = new_sid("TR_")
    kind_type = models.TrackType.VIDEO if producer.kind == "video" else models.TrackType.AUDIO
    if source == models.TrackSource.UNKNOWN:
        source = models.TrackSource.CAMERA if producer.kind == "video" else models.TrackSource.MICROPHONE
    info = models.TrackInfo(sid=sid, type=kind_type, name=name or producer.kind, source=source, width=width,
                            height=height, mime_type=f"{producer.kind}/{base.name}")
    pub = TrackPublication(sid=sid, cid=sid, kind=producer.kind, info=info, participant=p,
                           codec=dataclasses.replace(base, pt=producer.payload_type))
    pub.layers[""] = Layer("", models.VideoQuality.HIGH, producer, activity=LayerActivity(born=time.monotonic()))
    p.tracks[sid] = pub
    p.bump()
    await p.events.track_published(p, pub)
    return pub


def track_source(room: Room, sid: str) -> tuple[Producer, sdp.Codec | None]:
    """the producer a plain consumer of track `sid` takes (a simulcast track's top layer)
    and the codec it was published with (its payload type is the one to send)"""
    pub = room.find_track(sid)
    layer = select_layer(pub.layers.values(), models.VideoQuality.HIGH) if pub is not None else None
    if pub is None or layer is None:
        raise errors.NotFoundError(f"no published track {sid} in room {room.name}")
    return layer.producer, pub.codec
