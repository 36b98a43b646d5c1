"""The subscriber side of a participant: subscribing to a track (a consumer of its best
layer, put on an m-line of the subscriber PC), unsubscribing, the subscriber offer/answer
loop, UpdateSubscription and UpdateTrackSettings.  Mixed into
sfu.rooms.participant.Participant.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from livekit.protocol import models, rtc

from .. import auth, errors
from ..protocol import sdp
from .codec_preference import red_allowed
from .peer_transport import PeerTransport
from .room import Room
from .keyframe_limit import INTERVAL as KEY_FRAME_INTERVAL
from .codec_preference import subscriber_codec
from .layer_selector import layer_to_move_to, select_layer
from .subscription_permission import SubscriptionPermission
from .track import Layer, Subscription, TrackPublication

log = logging.getLogger("sfu.participant")

# codecs we send to subscribers, by mime (payload types as LiveKit fixes them)
SEND_CODECS = {c.mime.lower(): c for c in (sdp.OPUS, sdp.RED_AUDIO, sdp.VP8, sdp.VP9, sdp.H264, sdp.AV1)}


class Subscribing:
    """What a participant receives.  State (set up by Participant): each track's
    `subscriptions` (by subscriber identity) and the subscriber PC."""

    room: Room
    sid: str
    identity: str
    tracks: dict[str, TrackPublication]
    subscription_permission: SubscriptionPermission
    grants: auth.VideoGrant
    single_pc: bool
    closed: bool
    publisher: PeerTransport | None
    subscriber: PeerTransport | None
    waiting: list[Subscription]
    sends: dict[str, Subscription]
    downlink_bps: int | None
    _negotiating: bool

    async def subscribe(self, pub: TrackPublication) -> None:
        send_pc = self.publisher if self.single_pc else self.subscriber
        if not self.grants.canSubscribe or send_pc is None or self.closed:
            return
        if pub.participant.identity in pub.subscriptions or self.identity in pub.subscriptions:
            return
        if not pub.participant.subscription_permission.allows(self.identity, self.sid, pub.sid):
            if self.identity not in pub.refused:      # told once; subscribed if the publisher allows it later
                pub.refused.add(self.identity)
                await self.send(rtc.SignalResponse(subscription_permission_update=rtc.SubscriptionPermissionUpdate(
                    participant_sid=pub.participant.sid, track_sid=pub.sid, allowed=False)))
            return
        sub = Subscription(track=pub, subscriber=self)
        if self.downlink_bps is not None:
            # the stream allocator decides at its next tick; until then the lowest layer, not
            # the top one into a downlink that may not take it
            sub.allocated = models.VideoQuality.LOW
        pub.subscriptions[self.identity] = sub
        await self._attach(sub)

    async def _attach(self, sub: Subscription) -> None:
        """create the consumer for the best layer and put it on an m-line"""
        pub = sub.track
        if self.single_pc:
            self.waiting.append(sub)
            self.request_sections()
            return
        layer = select_layer(pub.layers.values(), sub.target_quality)
        if layer is None or self.subscriber is None:
            return
        codec = SEND_CODECS.get((pub.codec.name if pub.codec else "").lower())
        if codec is not None:
            codec = subscriber_codec(codec, pub.codec)
        if codec is None:
            await self.send(rtc.SignalResponse(subscription_response=rtc.SubscriptionResponse(
                track_sid=pub.sid, err=models.SubscriptionError.SE_CODEC_UNSUPPORTED)))
            return
        out_ext = {e.uri: e.id for e in sdp.SUBSCRIBER_EXTMAPS.get(pub.kind, ())}
        consumer = await self.subscriber.t.consume(layer.producer, payload_type=codec.pt,
                                                   paused=sub.forwarding_paused,
                                                   ssrc=sub.ssrc or None, ext_map=consumer_ext_map(pub.extmap, out_ext))
        sub.consumer, sub.layer, sub.ssrc = consumer, layer, consumer.ssrc
        codecs = [codec]
        if pub.kind == "video":        # offered with rtx; resends use it once the answer accepts it
            codecs.append(sdp.rtx_for(codec))
            sub.rtx_ssrc = sub.rtx_ssrc or random.randint(1, 0xFFFFFFFF)
        if not self.subscriber.has_track(pub.sid):
            self.subscriber.add_track(sdp.SendTrack(
                kind=pub.kind, participant_sid=pub.participant.sid, track_sid=pub.sid, ssrc=consumer.ssrc,
                rtx_ssrc=sub.rtx_ssrc or None, codecs=codecs, cname=pub.participant.sid))
        elif self.subscriber.signaled(pub.sid, consumer.ssrc):
            await self._start_forwarding(sub)
        self.schedule_negotiation()

    def subscriptions(self) -> list[Subscription]:
        """what this participant receives"""
        return [s for pub in self.room.all_tracks() if (s := pub.subscriptions.get(self.identity)) is not None]

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
                await self._use_answered_rtx()
                await self._use_answered_red()
                await self._announce_subscriptions()
        finally:
            self._negotiating = False

    async def _use_answered_rtx(self) -> None:
        """resend as RTX to the subscriptions whose m-line the answer accepted rtx on"""
        assert self.subscriber is not None
        for pub in list(self.room.all_tracks()):
            sub = pub.subscriptions.get(self.identity)
            c = sub.consumer if sub is not None else None
            if c is None or c.closed or not sub.rtx_ssrc:
                continue
            rtx = rtx_codec(self.subscriber.answered_codecs(pub.sid), c.payload_type)
            want = sub.rtx_ssrc if rtx is not None else 0
            if c.rtx_ssrc != want:
                await c.set_rtx(want, rtx.pt if rtx is not None else 0)

    async def _use_answered_red(self) -> None:
        """send RED to the audio subscriptions whose m-line the answer accepted red on for its
        Opus (as LiveKit's RED receiver does for a publisher's plain Opus)"""
        assert self.subscriber is not None
        for pub in list(self.room.all_tracks()):
            sub = pub.subscriptions.get(self.identity)
            c = sub.consumer if sub is not None else None
            if c is None or c.closed or pub.kind != "audio":
                continue
            answered = self.subscriber.answered_codecs(pub.sid)
            red = red_codec(answered, c.payload_type) if red_allowed(pub.info) else None
            want = red.pt if red is not None else 0
            log.debug("%s: %s answered %s: red %s", self.identity, pub.sid,
                      [f"{x.mime}/{x.pt}" for x in answered], want or "no")
            sub.red_pt = want          # the stream allocator may turn it off while the link is narrow
            if c.red_payload_type != want:
                await c.set_red(want)

    async def _announce_subscriptions(self) -> None:
        for pub in list(self.room.all_tracks()):
            sub = pub.subscriptions.get(self.identity)
            if sub is not None and sub.consumer is not None and not sub.announced and \
                    self.subscriber is not None and self.subscriber.signaled(pub.sid, sub.ssrc):
                sub.announced = True   # tells the publisher someone receives its track
                await pub.participant.send(rtc.SignalResponse(track_subscribed=rtc.TrackSubscribed(track_sid=pub.sid)))
                await self._start_forwarding(sub)

    async def _start_forwarding(self, sub: Subscription) -> None:
        """the client knows the subscription's SSRC now: its consumer may forward (resuming
        asks the publisher for a key frame)"""
        sub.signaled = True
        c = sub.consumer
        if c is not None and not c.closed and c.paused and not sub.forwarding_paused:
            await c.resume()
            sub.key_frames.asked(time.monotonic())
        else:
            await request_key_frame(sub)

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
                pub.refused.discard(self.identity)
                await self.unsubscribe(pub)

    async def set_subscription_permission(self, req: rtc.SubscriptionPermission) -> None:
        """who may subscribe to this participant's tracks: subscriptions it no longer allows end
        (the subscriber is told), ones refused before that it allows now are made"""
        self.subscription_permission = perm = SubscriptionPermission.from_proto(req)
        for pub in list(self.tracks.values()):
            for ident, sub in list(pub.subscriptions.items()):
                q = sub.subscriber
                if not perm.allows(ident, q.sid, pub.sid):
                    await q.unsubscribe(pub)
                    pub.refused.add(ident)
                    await q.send(rtc.SignalResponse(subscription_permission_update=rtc.SubscriptionPermissionUpdate(
                        participant_sid=self.sid, track_sid=pub.sid, allowed=False)))
            for ident in list(pub.refused):
                q = self.room.participants.get(ident)
                if q is None or q.closed:
                    pub.refused.discard(ident)
                elif perm.allows(ident, q.sid, pub.sid):
                    pub.refused.discard(ident)
                    await q.send(rtc.SignalResponse(subscription_permission_update=rtc.SubscriptionPermissionUpdate(
                        participant_sid=self.sid, track_sid=pub.sid, allowed=True)))
                    await q.subscribe(pub)

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
            sub.priority = req.priority
            sub.size = req.width * req.height
            if sub.consumer is None:
                continue
            sub.quality = quality
            target = layer_to_move_to(pub.layers.values(), sub.target_quality, sub.layer)
            if target is not None:
                await switch_layer(sub, target, "track settings")
            paused = sub.forwarding_paused
            if sub.consumer.paused != paused:
                await (sub.consumer.pause() if paused else sub.consumer.resume())


def rtx_codec(codecs: list[sdp.Codec], payload_type: int) -> sdp.Codec | None:
    """the rtx codec (RFC 4588) repairing `payload_type` among negotiated codecs"""
    return next((c for c in codecs if c.mime == "rtx" and c.apt == payload_type), None)


def red_codec(codecs: list[sdp.Codec], payload_type: int) -> sdp.Codec | None:
    """the red codec (RFC 2198) whose blocks are `payload_type` (its fmtp "111/111") among
    negotiated codecs"""
    for c in codecs:
        if c.mime == "red" and c.fmtp:
            primaries = [p.strip() for p in c.fmtp.split("/")]
            if primaries and all(p == str(payload_type) for p in primaries):
                return c
    return None


async def switch_layer(sub: Subscription, layer: Layer, why: str, now: float | None = None) -> None:
    """the subscription's consumer follows `layer` from now on (its seq/ts stay continuous;
    the data plane asks the new layer's publisher for a key frame)"""
    if sub.consumer is None or sub.consumer.closed:
        return
    log.info("%s: %s layer %r -> %r (%s)", sub.subscriber.identity, sub.track.sid,
             sub.layer.rid if sub.layer else None, layer.rid, why)
    await sub.consumer.set_producer(layer.producer)
    sub.layer = layer
    sub.key_frames.asked(time.monotonic() if now is None else now)


async def request_key_frame(sub: Subscription, now: float | None = None) -> None:
    """the subscriber can decode from now on (it applied the description naming
    the SSRC): ask the publisher for a key frame (throttled in the data plane per
    producer, here per subscription)"""
    c = sub.consumer
    if sub.track.kind == "video" and c is not None and not c.closed and not c.paused and not sub.disabled:
        if not sub.key_frames.allow(time.monotonic() if now is None else now):
            log.debug("%s: %s key frame asked less than %.0f s ago", sub.subscriber.identity, sub.track.sid,
                      KEY_FRAME_INTERVAL)
            return
        try:
            await c.request_key_frame()
        except errors.SfuError:
            pass


def consumer_ext_map(publisher: dict[str, int], subscriber: dict[str, int]) -> dict[str, int]:
    """publisher's header extension ids -> the subscriber's, for what both negotiated and
    what makes sense end to end (not mid/rid, which name the publisher's m-lines, nor the
    publisher's transport-wide sequence numbers)"""
    skip = (sdp.EXT_MID, sdp.EXT_RID, sdp.EXT_REPAIRED_RID, sdp.EXT_TWCC)
    return {str(in_id): subscriber[uri] for uri, in_id in publisher.items()
            if uri in subscriber and uri not in skip and 1 <= in_id <= 14 and 1 <= subscriber[uri] <= 14}
