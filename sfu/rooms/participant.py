"""Participants, their tracks and subscriptions (LiveKit signal semantics).

A participant has a publisher PeerTransport (the client offers) and a
subscriber PeerTransport (we offer); both live on the same media worker.
Tracks are announced with AddTrackRequest, bound to an m-line of the
publisher offer through the track id in `a=msid` (the client's cid), and
become published when their producer exists in the data plane.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError
from livekit.protocol import models, rtc

from .. import auth, errors
from ..media import Consumer, Producer
from ..protocol import sdp
from .peer import PeerTransport
from .room import new_sid

if TYPE_CHECKING:
    from ..signaling.server import SignalConnection
    from .room import Room

log = logging.getLogger("sfu.participant")

QUALITY_BY_RID = {"q": models.VideoQuality.LOW, "h": models.VideoQuality.MEDIUM, "f": models.VideoQuality.HIGH,
                  "": models.VideoQuality.HIGH}
SOURCE_NAMES = {models.TrackSource.CAMERA: "camera", models.TrackSource.MICROPHONE: "microphone",
                models.TrackSource.SCREEN_SHARE: "screen_share",
                models.TrackSource.SCREEN_SHARE_AUDIO: "screen_share_audio"}

# codecs we send to subscribers, by mime (payload types as LiveKit fixes them)
SEND_CODECS = {c.mime.lower(): c for c in (sdp.OPUS, sdp.RED_AUDIO, sdp.VP8, sdp.VP9, sdp.H264, sdp.AV1)}


@dataclass
class Layer:
    rid: str
    quality: int
    producer: Producer
    packets: int = 0           # last packet count seen by the layer tracker
    active: bool = True        # packets arrived within the last tracking period


@dataclass
class TrackPublication:
    sid: str
    cid: str
    kind: str                        # "audio" | "video"
    info: models.TrackInfo
    participant: "Participant"
    mid: str = ""
    codec: sdp.Codec | None = None   # as negotiated with the publisher
    extmap: dict[str, int] = field(default_factory=dict)
    expected_rids: list[str] = field(default_factory=list)
    layers: dict[str, Layer] = field(default_factory=dict)      # rid ("" without simulcast) -> layer
    server_muted: bool = False       # muted through the server API: forwarding paused
    subscriptions: dict[str, "Subscription"] = field(default_factory=dict)   # subscriber identity

    @property
    def published(self) -> bool:
        return bool(self.layers)

    def best_layer(self, quality: int = models.VideoQuality.HIGH) -> Layer | None:
        """the highest active layer not above `quality` (else the lowest active one);
        a publisher may pause layers it cannot encode or send"""
        if not self.layers:
            return None
        ordered = sorted(self.layers.values(), key=lambda x: x.quality)
        active = [x for x in ordered if x.active] or ordered
        fit = [x for x in active if x.quality <= quality]
        return fit[-1] if fit else active[0]


@dataclass
class Subscription:
    track: TrackPublication
    subscriber: "Participant"
    consumer: Consumer | None = None
    layer: Layer | None = None
    ssrc: int = 0
    disabled: bool = False
    quality: int = models.VideoQuality.HIGH
    announced: bool = False


class Participant:
    def __init__(self, room: "Room", params: Any, conn: "SignalConnection") -> None:
        claims: auth.Claims = params.claims
        self.claims = claims
        self.room = room
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
        self.client = params.client
        self.protocol = int(params.client.protocol)
        # /rtc/v1: one PeerConnection; the client always offers and our answers
        # put subscribed tracks on the recvonly m-lines it offered
        self.single_pc = bool(params.single_pc)
        # fixed for the session: which PC carries data does not change with later permission updates
        self._subscriber_primary = self.grants.canSubscribe and self.protocol > 2 and not self.single_pc
        self.sends: dict[str, Subscription] = {}      # single PC: mid -> subscription sent on it
        self.waiting: list[Subscription] = []         # single PC: subscriptions without an m-line yet
        self.last_offer: sdp.SessionDescription | None = None
        self._sections_requested = False
        self.auto_subscribe = params.auto_subscribe
        self.state = models.ParticipantInfo.JOINING
        self.joined_at = time.time()
        self.version = 0
        self.conn: SignalConnection | None = conn
        self.tracks: dict[str, TrackPublication] = {}        # sid -> publication
        self.pending: dict[str, TrackPublication] = {}       # cid -> publication awaiting media
        self.publisher: PeerTransport | None = None
        self.subscriber: PeerTransport | None = None
        self.worker: int | None = None
        self.closed = False
        self.disconnect_reason = models.DisconnectReason.UNKNOWN_REASON
        self.last_ping = time.monotonic()
        self.data_sequence = 0
        self._negotiating = False
        self._lock = asyncio.Lock()

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
        return models.ParticipantInfo(
            sid=self.sid, identity=self.identity, state=self.state, name=self.name, metadata=self.metadata,
            attributes=self.attributes, joined_at=int(self.joined_at), joined_at_ms=int(self.joined_at * 1000),
            version=self.version, permission=self.permission(), kind=self.kind,
            is_publisher=any(t.published for t in self.tracks.values()),
            tracks=[t.info for t in self.tracks.values() if t.published],
            disconnect_reason=self.disconnect_reason, client_protocol=int(self.client.client_protocol))

    def bump(self) -> None:
        self.version += 1

    # -- signalling out ------------------------------------------------------------------
    async def send(self, msg: rtc.SignalResponse) -> None:
        which = msg.WhichOneof("message")
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

    def _on_peer_event(self, peer: PeerTransport | None, event: str, data: dict) -> None:
        if peer is None or self.closed:
            return
        loop = asyncio.get_running_loop()
        if event == "webrtc_state":
            loop.create_task(self._on_peer_state(peer, data["state"], data.get("reason", "")))
        elif event == "data_message":
            loop.create_task(self.room.manager.service.on_data(self, data["label"], base64.b64decode(data["data"])))
        elif event == "unknown_ssrc" and peer is self.publisher:
            loop.create_task(self._on_unknown_ssrc(data))
        elif event == "closed":
            loop.create_task(self.room.manager.service.participant_lost(self, "media worker died"))

    async def _on_peer_state(self, peer: PeerTransport, state: str, reason: str) -> None:
        log.info("%s/%s %s PC %s %s", self.room.name, self.identity, peer.role, state, reason)
        primary = self.subscriber if self.subscriber_primary else self.publisher
        if state == "connected" and peer is primary and self.state != models.ParticipantInfo.ACTIVE:
            self.state = models.ParticipantInfo.ACTIVE
            self.bump()
            await self.room.manager.service.participant_active(self)
        elif state == "failed":
            await self.room.manager.service.participant_lost(self, f"{peer.role} transport failed: {reason}")

    # -- publishing ------------------------------------------------------------------------------
    async def add_track(self, req: rtc.AddTrackRequest) -> None:
        kind = {models.TrackType.AUDIO: "audio", models.TrackType.VIDEO: "video"}.get(req.type)
        if not self.grants.canPublish:
            await self.request_response(rtc.RequestResponse.NOT_ALLOWED, "no permission to publish", add_track=req)
            return
        if kind is None:
            await self.request_response(rtc.RequestResponse.UNSUPPORTED_TYPE, "only audio and video tracks",
                                        add_track=req)
            return
        allowed = self.grants.canPublishSources
        if allowed and SOURCE_NAMES.get(req.source) not in allowed:
            await self.request_response(rtc.RequestResponse.NOT_ALLOWED,
                                        f"no permission to publish {SOURCE_NAMES.get(req.source, 'this source')}",
                                        add_track=req)
            return
        if not req.cid or req.cid in self.pending or len(self.pending) >= 20:
            await self.request_response(rtc.RequestResponse.INVALID_REQUEST, "bad or duplicate cid", add_track=req)
            return
        sid = new_sid("TR_")
        info = models.TrackInfo(sid=sid, type=req.type, name=req.name, muted=req.muted, width=req.width,
                                height=req.height, source=req.source, disable_dtx=req.disable_dtx,
                                stereo=req.stereo, disable_red=req.disable_red, encryption=req.encryption,
                                stream=req.stream)
        layers = list(req.layers) or [layer for c in req.simulcast_codecs for layer in c.layers]
        info.layers.extend(layers)
        info.simulcast = len(layers) > 1
        pub = TrackPublication(sid=sid, cid=req.cid, kind=kind, info=info, participant=self)
        self.pending[req.cid] = pub
        await self.send(rtc.SignalResponse(track_published=rtc.TrackPublishedResponse(cid=req.cid, track=info)))

    async def handle_offer(self, desc: rtc.SessionDescription) -> None:
        if not self.single_pc and not self.grants.canPublish and not self.grants.canPublishData:
            raise errors.ProtocolError("no permission to publish")
        pub_pc = await self.ensure_publisher()
        send_tracks: dict[str, sdp.SendTrack] = {}
        if self.single_pc:
            send_tracks = await self._place_sends(sdp.SessionDescription.parse(desc.sdp))
        answer = await pub_pc.answer_offer(desc.sdp, send_tracks)
        reply = rtc.SessionDescription(type="answer", sdp=answer.sdp.serialize(), id=desc.id)
        for mid, sub in self.sends.items():
            reply.mid_to_track_id[mid] = sub.track.sid
        await self.send(rtc.SignalResponse(answer=reply))
        await self._bind_tracks(answer)
        if self.single_pc:
            self._sections_requested = False
            await self._announce_sends()
            if self.waiting:
                self.request_sections()

    # -- single PC: subscribed tracks on the client's recvonly m-lines -----------------------
    async def _place_sends(self, offer: sdp.SessionDescription) -> dict[str, sdp.SendTrack]:
        """keep or drop what is sent on each offered recvonly m-line, give free
        ones to waiting subscriptions, and describe them for the answer"""
        self.last_offer = offer
        recv_lines = {m.mid: m for m in offer.media if m.mid is not None and m.kind in ("audio", "video")
                      and m.port != 0 and m.direction in ("recvonly", "sendrecv")}
        for mid, sub in list(self.sends.items()):
            if mid not in recv_lines or recv_lines[mid].kind != sub.track.kind:
                del self.sends[mid]
                if sub.consumer is not None:
                    await sub.consumer.close()
                    sub.consumer = None
                if sub.track.subscriptions.get(self.identity) is sub:
                    self.waiting.append(sub)
        for mid, media in recv_lines.items():
            if mid in self.sends:
                continue
            sub = next((w for w in self.waiting if w.track.kind == media.kind), None)
            if sub is None:
                continue
            if await self._start_send(sub, media):
                self.waiting.remove(sub)
                self.sends[mid] = sub
        return {mid: sdp.SendTrack(kind=sub.track.kind, participant_sid=sub.track.participant.sid,
                                   track_sid=sub.track.sid, ssrc=sub.ssrc, cname=sub.track.participant.sid)
                for mid, sub in self.sends.items() if sub.consumer is not None}

    async def _start_send(self, sub: Subscription, media: sdp.MediaSection) -> bool:
        pub = sub.track
        layer = pub.best_layer(sub.quality)
        name = (pub.codec.name if pub.codec else "").lower()
        codec = next((c for c in media.codecs() if c.name.lower() == name), None)
        if layer is None or codec is None or self.publisher is None:
            return False
        out_ext = {e.uri: e.id for e in media.extmaps()}
        sub.consumer = await self.publisher.t.consume(
            layer.producer, payload_type=codec.pt, paused=sub.disabled or pub.server_muted, ssrc=sub.ssrc or None,
            ext_map=_ext_map(pub.extmap, out_ext))
        sub.layer, sub.ssrc = layer, sub.consumer.ssrc
        return True

    def request_sections(self) -> None:
        """ask the client for a new offer; with more m-lines when all are taken"""
        if self._sections_requested or self.closed:
            return
        self._sections_requested = True
        free = {"audio": 0, "video": 0}
        if self.last_offer is not None:
            for m in self.last_offer.media:
                if m.kind in free and m.mid not in self.sends and m.port != 0 and \
                        m.direction in ("recvonly", "sendrecv"):
                    free[m.kind] += 1
        need = {k: max(0, sum(1 for w in self.waiting if w.track.kind == k) - free[k]) for k in free}
        asyncio.get_running_loop().create_task(self.send(rtc.SignalResponse(
            media_sections_requirement=rtc.MediaSectionsRequirement(num_audios=need["audio"],
                                                                    num_videos=need["video"]))))

    async def _announce_sends(self) -> None:
        for sub in self.sends.values():
            if sub.consumer is not None and not sub.announced:
                sub.announced = True
                await sub.track.participant.send(
                    rtc.SignalResponse(track_subscribed=rtc.TrackSubscribed(track_sid=sub.track.sid)))
                await _request_keyframe(sub)

    async def _bind_tracks(self, answer: sdp.Answer) -> None:
        """map offered m-lines to announced tracks and create producers; a bound
        track whose m-line no longer sends is unpublished"""
        for pub in list(self.tracks.values()):
            info = answer.info(pub.mid)
            if info is None or not info.accepted or "recv" not in info.direction:
                await self.unpublish(pub)
        for info in answer.media:
            if not info.accepted or info.kind not in ("audio", "video") or "recv" not in info.direction:
                continue
            if any(t.mid == info.mid for t in self.tracks.values()):
                continue          # already bound (renegotiation)
            track_id = (info.msid or "").split(" ")[-1]
            pub = self.pending.get(track_id)
            if pub is None:      # fall back to the oldest pending track of that kind
                pub = next((p for p in self.pending.values() if p.kind == info.kind and not p.mid), None)
            if pub is None or pub.kind != info.kind:
                continue
            if not self.grants.canPublish:
                continue
            pub.mid = info.mid
            pub.codec = info.codecs[0] if info.codecs else None
            pub.extmap = dict(info.extmaps)
            pub.info.mid = info.mid
            pub.info.mime_type = f"{info.kind}/{pub.codec.name}" if pub.codec else ""
            pub.expected_rids = list(info.rids)
            self.tracks[pub.sid] = pub
            self.pending.pop(pub.cid, None)
            if not info.rids:
                ssrcs = info.ssrcs.media_ssrcs
                if ssrcs:
                    await self._add_layer(pub, "", ssrcs[0])
            # simulcast: layers appear with their first packets (unknown_ssrc + rid)

    async def _on_unknown_ssrc(self, data: dict) -> None:
        mid, rid, ssrc = data.get("mid") or "", data.get("rid") or "", int(data["ssrc"])
        if data.get("rrid"):
            return        # retransmissions of a layer: not forwarded yet
        pub = next((t for t in self.tracks.values() if t.mid == mid), None) if mid else None
        if pub is None or (pub.expected_rids and rid not in pub.expected_rids):
            return
        key = rid if pub.expected_rids else ""
        if key in pub.layers:
            return
        await self._add_layer(pub, key, ssrc)

    async def _add_layer(self, pub: TrackPublication, rid: str, ssrc: int) -> None:
        assert self.publisher is not None
        pt = pub.codec.pt if pub.codec else 96
        try:
            producer = await self.publisher.t.produce(pub.kind, ssrc, pt, pub.codec.name if pub.codec else "")
        except errors.AlreadyExistsError:
            return
        first = not pub.layers
        pub.layers[rid] = Layer(rid, QUALITY_BY_RID.get(rid, models.VideoQuality.HIGH), producer)
        if first:
            self.bump()
            await self.room.manager.service.track_published(self, pub)
        else:
            await self.room.manager.service.layer_added(self, pub)

    async def unpublish(self, pub: TrackPublication) -> None:
        self.tracks.pop(pub.sid, None)
        for layer in pub.layers.values():
            await layer.producer.close()
        self.bump()
        await self.send(rtc.SignalResponse(track_unpublished=rtc.TrackUnpublishedResponse(track_sid=pub.sid)))
        await self.room.manager.service.track_unpublished(self, pub)

    # -- subscribing -------------------------------------------------------------------------------
    async def subscribe(self, pub: TrackPublication) -> None:
        send_pc = self.publisher if self.single_pc else self.subscriber
        if not self.grants.canSubscribe or send_pc is None or self.closed:
            return
        if pub.participant.identity in pub.subscriptions or self.identity in pub.subscriptions:
            return
        sub = Subscription(track=pub, subscriber=self)
        pub.subscriptions[self.identity] = sub
        await self._attach(sub)

    async def _attach(self, sub: Subscription) -> None:
        """create the consumer for the best layer and put it on an m-line"""
        pub = sub.track
        if self.single_pc:
            self.waiting.append(sub)
            self.request_sections()
            return
        layer = pub.best_layer(sub.quality)
        if layer is None or self.subscriber is None:
            return
        codec = SEND_CODECS.get((pub.codec.name if pub.codec else "").lower())
        if codec is None:
            await self.send(rtc.SignalResponse(subscription_response=rtc.SubscriptionResponse(
                track_sid=pub.sid, err=models.SubscriptionError.SE_CODEC_UNSUPPORTED)))
            return
        out_ext = {e.uri: e.id for e in sdp.SUBSCRIBER_EXTMAPS.get(pub.kind, ())}
        consumer = await self.subscriber.t.consume(layer.producer, payload_type=codec.pt,
                                                   paused=sub.disabled or pub.server_muted,
                                                   ssrc=sub.ssrc or None, ext_map=_ext_map(pub.extmap, out_ext))
        sub.consumer, sub.layer, sub.ssrc = consumer, layer, consumer.ssrc
        if not self.subscriber.has_track(pub.sid):
            self.subscriber.add_track(sdp.SendTrack(
                kind=pub.kind, participant_sid=pub.participant.sid, track_sid=pub.sid, ssrc=consumer.ssrc,
                codecs=[codec], cname=pub.participant.sid))
        self.schedule_negotiation()

    async def unsubscribe(self, pub: TrackPublication) -> None:
        sub = pub.subscriptions.pop(self.identity, None)
        if sub is None:
            return
        if sub.consumer is not None:
            await sub.consumer.close()
        if self.single_pc:
            if sub in self.waiting:
                self.waiting.remove(sub)
            for mid in [m for m, x in self.sends.items() if x is sub]:
                del self.sends[mid]
                self.request_sections()    # the client re-offers; the m-line is answered inactive
            return
        if self.subscriber is not None and not self.closed:
            self.subscriber.remove_track(pub.sid)
            self.schedule_negotiation()

    def schedule_negotiation(self) -> None:
        if not self._negotiating and not self.closed:
            asyncio.get_running_loop().create_task(self.negotiate())

    async def negotiate(self) -> None:
        """send a subscriber offer when m-lines changed; one outstanding at a time"""
        peer = self.subscriber
        if peer is None or self._negotiating or self.closed:
            return
        self._negotiating = True
        try:
            while peer.needs_negotiation and not self.closed:
                oid, offer = peer.build_offer()
                await self.send(rtc.SignalResponse(offer=rtc.SessionDescription(type="offer", sdp=offer, id=oid)))
                if not await peer.wait_answer():
                    log.warning("%s: subscriber answer timed out", self.identity)
                    return
                await self._announce_subscriptions()
        finally:
            self._negotiating = False

    async def _announce_subscriptions(self) -> None:
        for pub in list(self.room.all_tracks()):
            sub = pub.subscriptions.get(self.identity)
            if sub is not None and sub.consumer is not None and not sub.announced and \
                    self.subscriber is not None and self.subscriber.has_track(pub.sid):
                sub.announced = True   # tells the publisher someone receives its track
                await pub.participant.send(rtc.SignalResponse(track_subscribed=rtc.TrackSubscribed(track_sid=pub.sid)))
                await _request_keyframe(sub)

    async def handle_answer(self, desc: rtc.SessionDescription) -> None:
        if self.subscriber is None:
            raise errors.ProtocolError("answer without a subscriber offer")
        await self.subscriber.apply_answer(desc.sdp, desc.id)

    async def update_subscription(self, req: rtc.UpdateSubscription) -> None:
        sids = list(req.track_sids) + [s for pt in req.participant_tracks for s in pt.track_sids]
        for sid in sids:
            pub = self.room.find_track(sid)
            if pub is None:
                await self.send(rtc.SignalResponse(subscription_response=rtc.SubscriptionResponse(
                    track_sid=sid, err=models.SubscriptionError.SE_TRACK_NOTFOUND)))
                continue
            if pub.participant is self:
                continue
            if req.subscribe:
                await self.subscribe(pub)
            else:
                await self.unsubscribe(pub)

    async def update_track_settings(self, req: rtc.UpdateTrackSettings) -> None:
        for sid in req.track_sids:
            pub = self.room.find_track(sid)
            sub = pub.subscriptions.get(self.identity) if pub else None
            if sub is None:
                continue
            quality = req.quality
            if req.width or req.height:     # the smallest layer covering the size
                fits = [lay for lay in pub.info.layers if lay.width >= req.width and lay.height >= req.height]
                quality = min((lay.quality for lay in fits), default=models.VideoQuality.HIGH)
            sub.disabled = req.disabled
            if sub.consumer is None:
                continue
            target = pub.best_layer(quality)
            sub.quality = quality
            if target is not None and sub.layer is not None and target.producer is not sub.layer.producer:
                log.info("%s: %s layer %r -> %r", self.identity, pub.sid, sub.layer.rid, target.rid)
                await sub.consumer.set_producer(target.producer)
                sub.layer = target
            paused = req.disabled or pub.server_muted
            if sub.consumer.paused != paused:
                await (sub.consumer.pause() if paused else sub.consumer.resume())

    async def mute_track(self, req: rtc.MuteTrackRequest) -> None:
        pub = self.tracks.get(req.sid)
        if pub is None:
            pub = next((p for p in self.pending.values() if p.sid == req.sid), None)
        if pub is None:
            await self.request_response(rtc.RequestResponse.NOT_FOUND, "no such track", mute=req)
            return
        if not req.muted and pub.server_muted:      # the publisher unmutes after a server mute
            await self._set_forwarding(pub, muted=False)
        if pub.info.muted != req.muted:
            pub.info.muted = req.muted
            self.bump()
            await self.room.manager.service.participant_changed(self)

    async def server_mute(self, pub: TrackPublication, muted: bool) -> None:
        """mute from the server API: tell the publisher (its SDK mutes the track), pause
        or resume forwarding to subscribers, announce the new TrackInfo"""
        await self.send(rtc.SignalResponse(mute=rtc.MuteTrackRequest(sid=pub.sid, muted=muted)))
        await self._set_forwarding(pub, muted)
        if pub.info.muted != muted:
            pub.info.muted = muted
            self.bump()
            await self.room.manager.service.participant_changed(self)

    async def _set_forwarding(self, pub: TrackPublication, muted: bool) -> None:
        pub.server_muted = muted
        for sub in list(pub.subscriptions.values()):
            paused = sub.disabled or muted
            if sub.consumer is not None and not sub.consumer.closed and sub.consumer.paused != paused:
                await (sub.consumer.pause() if paused else sub.consumer.resume())

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
    async def disconnect(self, reason: int, send_leave: bool = True) -> None:
        if self.closed:
            return
        if send_leave and self.conn is not None:
            from ..signaling.server import leave_response
            await self.send(leave_response(reason))
            await self.conn.close(1000, "disconnected")
        await self.room.manager.service.remove_participant(self, reason)

    async def close_transports(self) -> None:
        for peer in (self.publisher, self.subscriber):
            if peer is not None:
                try:
                    await peer.close()
                except errors.SfuError:
                    pass


async def _request_keyframe(sub: "Subscription") -> None:
    """the subscriber can decode from now on (it applied the description naming
    the SSRC): ask the publisher for a key frame (throttled in the data plane)"""
    c = sub.consumer
    if sub.track.kind == "video" and c is not None and not c.closed and not c.paused and not sub.disabled:
        try:
            await c.resume()     # "resuming" a running video consumer requests a key frame
        except errors.SfuError:
            pass


def _ext_map(publisher: dict[str, int], subscriber: dict[str, int]) -> dict[str, int]:
    """publisher's header extension ids -> the subscriber's, for what both negotiated and
    what makes sense end to end (not mid/rid, which name the publisher's m-lines, nor the
    publisher's transport-wide sequence numbers)"""
    skip = (sdp.EXT_MID, sdp.EXT_RID, sdp.EXT_REPAIRED_RID, sdp.EXT_TWCC)
    return {str(in_id): subscriber[uri] for uri, in_id in publisher.items()
            if uri in subscriber and uri not in skip and 1 <= in_id <= 14 and 1 <= subscriber[uri] <= 14}


def decode_data_packet(data: bytes) -> models.DataPacket | None:
    pkt = models.DataPacket()
    try:
        pkt.ParseFromString(data)
    except DecodeError:
        return None
    return pkt
