"""A participant: who it is (token, grants, kind), its ParticipantInfo, the signal messages it
is sent, its two PeerTransports (publisher: the client offers; subscriber: we offer; both on
one media worker), its permissions and its departure.

What it publishes, what it receives and the single-PeerConnection placement are in
publisher.py, subscriptions.py and single_pc.py (mixins of this class); what happens to it is
reported to the room service through `events` (sfu.rooms.events).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any

from livekit.protocol import models, rtc

from .. import auth, errors
from ..ids import new_sid
from ..protocol import sdp
from ..signaling.connection import Connection, leave_response
from ..signaling.prepared_response import Prepared
from ..signaling.join import JoinParams
from .connection_quality import LinkState, UplinkLoss
from .data_identity import StreamsOnBehalf
from .data_inbox import DataInbox
from .events import ParticipantEvents
from .peer_transport import PeerTransport
from .publisher import Publishing
from .room import Room
from .single_pc import SinglePeerConnection
from .subscription_permission import SubscriptionPermission
from .subscriptions import Subscribing
from .track import SOURCE_NAMES, Subscription, TrackPublication

log = logging.getLogger("sfu.participant")
WORKER_DIED = "media worker died"   # why a participant is lost when its transports' worker died


class Participant(Publishing, Subscribing, SinglePeerConnection):
    """One participant of a room, from its join to its departure."""

    def __init__(self, room: Room, params: JoinParams, conn: Connection, events: ParticipantEvents) -> None:
        claims: auth.Claims = params.claims
        self.claims = claims
        self.room = room
        self.events = events      # what happens to this participant goes to the room service
        self.sid = new_sid("PA_")
        self.identity = params.identity
        self.name = claims.name
        self.metadata = params.metadata or claims.metadata
        self.attributes = {**claims.attributes, **params.attributes}
        self.grants = claims.video
        self.kind = {"agent": models.ParticipantInfo.AGENT, "egress": models.ParticipantInfo.EGRESS,
                     "ingress": models.ParticipantInfo.INGRESS, "sip": models.ParticipantInfo.SIP}.get(
                         claims.kind, models.ParticipantInfo.STANDARD)
        if self.grants.agent:
            self.kind = models.ParticipantInfo.AGENT
        self.streams_on_behalf = StreamsOnBehalf()   # an agent's text streams for someone else
        self.client = params.client
        self.protocol = int(params.client.protocol)
        # /rtc/v1: one PeerConnection; the client always offers and our answers
        # put subscribed tracks on the recvonly m-lines it offered
        self.single_pc = bool(params.single_pc)
        # fixed for the session: which PC carries data does not change with later permission updates
        self._subscriber_primary = self.grants.canSubscribe and self.protocol > 2 and not self.single_pc
        self.sends: dict[str, Subscription] = {}      # single PC: mid -> subscription sent on it
        self.waiting: list[Subscription] = []         # single PC: subscriptions without an m-line yet
        self.subscription_permission = SubscriptionPermission()   # who may subscribe to its tracks
        self.last_offer: sdp.SessionDescription | None = None
        self._sections_requested = False
        self.auto_subscribe = params.auto_subscribe
        self.state = models.ParticipantInfo.JOINING
        self.joined_at = time.time()
        self.version = 0
        self.conn: Connection | None = conn
        self.tracks: dict[str, TrackPublication] = {}        # sid -> publication
        self.pending: dict[str, TrackPublication] = {}       # cid -> publication awaiting media
        self.publisher: PeerTransport | None = None
        self.subscriber: PeerTransport | None = None
        self.worker: int | None = None
        self.closed = False
        self.disconnect_reason = models.DisconnectReason.UNKNOWN_REASON
        self.last_ping = time.monotonic()
        self._negotiating = False
        self.downlink_bps: int | None = None   # the data plane's estimate of what it can receive
        self.downlink_loss: float | None = None      # and the loss and RTT it measured on the way
        self.uplink_loss: float | None = None        # what it publishes lost on the way to us (last interval)
        self.uplink = UplinkLoss()
        self.downlink_rtt_ms: float | None = None
        self.data_inbox = DataInbox(lambda label, payload: self.events.on_data(self, label, payload))
        self._info_cache = models.ParticipantInfo()     # to_proto, and what it was built from
        self._info_bytes = b""
        self._info_cache_key: tuple | None = None

    # -- views -----------------------------------------------------------------------------
    @property
    def hidden(self) -> bool:
        return bool(self.grants.hidden)

    @property
    def dependent(self) -> bool:
        """agents and egress do not keep a room open"""
        return self.kind in (models.ParticipantInfo.AGENT, models.ParticipantInfo.EGRESS)

    @property
    def subscriber_primary(self) -> bool:
        return self._subscriber_primary

    @property
    def data_pc(self) -> PeerTransport | None:
        """where data for this participant goes"""
        return self.subscriber if self.subscriber_primary else self.publisher

    def permission(self) -> models.ParticipantPermission:
        g = self.grants
        perm = models.ParticipantPermission(
            can_subscribe=g.canSubscribe, can_publish=g.canPublish, can_publish_data=bool(g.canPublishData),
            hidden=g.hidden, recorder=g.recorder, can_update_metadata=g.canUpdateOwnMetadata, agent=g.agent,
            can_subscribe_metrics=g.canSubscribeMetrics, can_manage_agent_session=g.canManageAgentSession)
        for name in g.canPublishSources:
            src = {v: k for k, v in SOURCE_NAMES.items()}.get(name)
            if src is not None:
                perm.can_publish_sources.append(src)
        return perm

    def to_proto(self) -> models.ParticipantInfo:
        """this participant's ParticipantInfo (a copy: the caller may change it).  Built once
        per change of what it holds: a JoinResponse into a room of 1,000 lists 1,000 of
        them, and building one costs ~10x copying it."""
        self._refresh_info()
        out = models.ParticipantInfo()
        out.CopyFrom(self._info_cache)
        return out

    def encoded_info(self) -> bytes:
        """to_proto() serialized (built with it, once per change): a JoinResponse's
        other_participants are assembled from these"""
        self._refresh_info()
        return self._info_bytes

    def _refresh_info(self) -> None:
        key = self._info_key()
        if key != self._info_cache_key:
            self._info_cache = models.ParticipantInfo(
                sid=self.sid, identity=self.identity, state=self.state, name=self.name, metadata=self.metadata,
                attributes=self.attributes, joined_at=int(self.joined_at), joined_at_ms=int(self.joined_at * 1000),
                version=self.version, permission=self.permission(), kind=self.kind,
                is_publisher=any(t.published for t in self.tracks.values()),
                tracks=[t.info for t in self.tracks.values() if t.published],
                disconnect_reason=self.disconnect_reason, client_protocol=int(self.client.client_protocol))
            self._info_bytes = self._info_cache.SerializeToString()
            self._info_cache_key = key

    def _info_key(self) -> tuple:
        """everything to_proto reads that can change (track infos are changed in place, so
        their content is part of it; only publishers have any)"""
        g = self.grants
        return (self.version, self.state, self.disconnect_reason, self.name, self.metadata,
                tuple(self.attributes.items()),
                (g.canSubscribe, g.canPublish, g.canPublishData, g.hidden, g.recorder, g.canUpdateOwnMetadata,
                 g.agent, g.canSubscribeMetrics, g.canManageAgentSession, tuple(g.canPublishSources)),
                tuple((t.published, t.info.SerializeToString()) for t in self.tracks.values()) if self.tracks else ())

    def bump(self) -> None:
        self.version += 1

    # -- signalling out ------------------------------------------------------------------
    async def send(self, msg: rtc.SignalResponse | Prepared) -> None:
        which = msg.which if isinstance(msg, Prepared) else msg.WhichOneof("message")
        if which not in ("pong", "pong_resp"):
            log.debug("%s/%s > %s", self.room.name, self.identity, which)
        if self.conn is not None:
            await self.conn.send(msg)

    async def send_participant_update(self, infos: list[models.ParticipantInfo]) -> None:
        if infos:
            await self.send(rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=infos)))

    async def request_response(self, reason: int, message: str, **kw: Any) -> None:
        await self.send(rtc.SignalResponse(request_response=rtc.RequestResponse(reason=reason, message=message,
                                                                                **kw)))

    # -- transports ------------------------------------------------------------------------
    async def setup_transports(self) -> None:
        svc = self.room.router.service
        self.worker = svc.pick_worker().index
        if self.single_pc:
            await self.ensure_publisher()
            return
        self.subscriber = await PeerTransport.create("subscriber", self.room.router, self.worker)
        self.subscriber.on_event = lambda e, d: self._on_peer_event(self.subscriber, e, d)

    async def ensure_publisher(self) -> PeerTransport:
        if self.publisher is None:
            self.publisher = await PeerTransport.create("publisher", self.room.router, self.worker)
            self.publisher.on_event = lambda e, d: self._on_peer_event(self.publisher, e, d)
        return self.publisher

    async def set_wanted_bitrate(self, bitrate: int) -> None:
        """what the stream allocator would send to this participant (bit/s): its downlink
        transport is paced and probed toward it (sfu.rooms.allocator)"""
        peer = self.publisher if self.single_pc else self.subscriber
        if peer is not None and not peer.t.closed:
            await peer.t.set_wanted_bitrate(bitrate)

    def _on_peer_event(self, peer: PeerTransport | None, event: str, data: dict) -> None:
        if peer is None or self.closed:
            return
        loop = asyncio.get_running_loop()
        if event == "webrtc_state":
            loop.create_task(self._on_peer_state(peer, data["state"], data.get("reason", "")))
        elif event == "data_message":
            self.data_inbox.push(data["label"], base64.b64decode(data["data"]))
        elif event == "unknown_ssrc" and peer is self.publisher:
            loop.create_task(self._on_unknown_ssrc(data))
        elif event in ("producer_inactive", "producer_active") and peer is self.publisher:
            pid = int(data["producer_id"])
            pub = next((t for t in self.tracks.values() if t.layer_of_producer(pid) is not None), None)
            if pub is not None and len(pub.layers) > 1:
                loop.create_task(self.events.layer_activity(self, pub, pid, event == "producer_active"))
        elif event == "transport_bwe" and peer is (self.publisher if self.single_pc else self.subscriber):
            bitrate = int(data.get("estimate_bps") or 0)
            self.downlink_bps = bitrate or None
            self.downlink_loss = float(data["loss"]) if data.get("loss") is not None else None
            rtt_us = int(data.get("rtt_us") or 0)
            self.downlink_rtt_ms = rtt_us / 1000 if rtt_us > 0 else None
            log.debug("%s: downlink estimate %s bps (limited by %s, acked %s bps)", self.identity, bitrate,
                      data.get("limited_by"), data.get("acked_bps"))
            self.events.downlink_estimate(self, self.downlink_bps)
        elif event == "closed":
            loop.create_task(self.events.participant_lost(self, WORKER_DIED))

    async def _on_peer_state(self, peer: PeerTransport, state: str, reason: str) -> None:
        log.info("%s/%s %s PC %s %s", self.room.name, self.identity, peer.role, state, reason)
        primary = self.subscriber if self.subscriber_primary else self.publisher
        if state == "connected" and peer is primary and self.state != models.ParticipantInfo.ACTIVE:
            self.state = models.ParticipantInfo.ACTIVE
            self.bump()
            await self.events.participant_active(self)
        elif state == "failed":
            await self.events.participant_lost(self, f"{peer.role} transport failed: {reason}")

    def link_state(self) -> LinkState:
        """what its connection quality is rated from (sfu.rooms.connection_quality)"""
        primary = self.subscriber if self.subscriber_primary else self.publisher
        connected = (not self.closed and self.state == models.ParticipantInfo.ACTIVE and primary is not None
                     and primary.state == "connected")
        losses = [x for x in (self.downlink_loss, self.uplink_loss) if x is not None]
        return LinkState(connected, max(losses) if losses else None, self.downlink_rtt_ms)

    async def measure_uplink(self) -> None:
        """the loss of what it publishes over the last interval, from its producers' counters"""
        counters: dict[int, tuple[int, int]] = {}
        for pub in list(self.tracks.values()):
            for layer in list(pub.layers.values()):
                try:
                    st = await layer.producer.stats()
                except errors.SfuError:
                    continue
                counters[layer.producer.id] = (int(st.get("expected", 0)), int(st.get("received", 0)))
        self.uplink_loss = self.uplink.update(counters) if counters else None

    # -- permissions ---------------------------------------------------------------------------
    async def set_permission(self, perm: models.ParticipantPermission) -> None:
        """apply a ParticipantPermission from the server API to this participant's grants;
        tracks it may no longer publish are unpublished, and without can_subscribe its
        subscriptions end"""
        g = self.grants
        had_subscribe = g.canSubscribe
        g.canSubscribe = perm.can_subscribe
        g.canPublish = perm.can_publish
        g.canPublishData = perm.can_publish_data
        g.canPublishSources = [SOURCE_NAMES[s] for s in perm.can_publish_sources if s in SOURCE_NAMES]
        g.hidden = perm.hidden
        g.recorder = perm.recorder
        g.canUpdateOwnMetadata = perm.can_update_metadata
        g.canSubscribeMetrics = perm.can_subscribe_metrics
        self.claims.raw["video"] = g.to_claim()
        for pub in list(self.tracks.values()):
            source_ok = not g.canPublishSources or SOURCE_NAMES.get(pub.info.source) in g.canPublishSources
            if not g.canPublish or not source_ok:
                await self.unpublish(pub)
        if not g.canPublish:
            self.pending.clear()
        if had_subscribe and not g.canSubscribe:
            for pub in list(self.room.all_tracks()):
                if self.identity in pub.subscriptions:
                    await self.unsubscribe(pub)

    # -- lifecycle ----------------------------------------------------------------------------------
    async def disconnect(self, reason: int, send_leave: bool = True,
                         action: int = rtc.LeaveRequest.DISCONNECT) -> None:
        """leave the room; with action RECONNECT the client is asked to join again at once
        (the SDKs' full reconnect: new session, new PeerConnections, its tracks republished)"""
        if self.closed:
            return
        if send_leave and self.conn is not None:
            await self.send(leave_response(reason, action))
            await self.conn.close(1000, "disconnected")
        await self.events.remove_participant(self, reason)

    async def close_transports(self) -> None:
        for peer in (self.publisher, self.subscriber):
            if peer is not None:
                try:
                    await peer.close()
                except errors.SfuError:
                    pass
