"""The publisher side of a participant: AddTrack, the publisher offer and its answer, binding
announced tracks to offered m-lines, one producer per (simulcast) layer, unpublishing and
muting.  Mixed into sfu.rooms.participant.Participant.
"""

from __future__ import annotations

import time

from livekit.protocol import models, rtc

from .. import auth, errors
from ..ids import new_sid
from ..protocol import sdp
from .codec_preference import VIDEO_MIMES, preferred_codecs, red_allowed, requested_codec
from .events import ParticipantEvents
from .layer_activity import LayerActivity
from .peer_transport import PeerTransport
from .track import QUALITY_BY_RID, SOURCE_NAMES, Layer, Subscription, TrackPublication


class Publishing:
    """What a participant publishes.  State (set up by Participant): `tracks` (sid -> bound
    publication) and `pending` (cid -> announced, not yet bound); the publisher PC."""

    identity: str
    grants: auth.VideoGrant
    single_pc: bool
    tracks: dict[str, TrackPublication]
    pending: dict[str, TrackPublication]
    publisher: PeerTransport | None
    sends: dict[str, Subscription]
    waiting: list[Subscription]
    events: ParticipantEvents

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
        codec = requested_codec(req.simulcast_codecs[0].codec) if kind == "video" and req.simulcast_codecs else None
        if codec is not None:     # the client reads its codec back here (and falls back if it differs)
            pub.requested_codec = codec
            info.codecs.append(models.SimulcastCodecInfo(mime_type=VIDEO_MIMES[codec], cid=req.cid, layers=layers))
        self.pending[req.cid] = pub
        await self.send(rtc.SignalResponse(track_published=rtc.TrackPublishedResponse(cid=req.cid, track=info)))

    async def handle_offer(self, desc: rtc.SessionDescription) -> None:
        if not self.single_pc and not self.grants.canPublish and not self.grants.canPublishData:
            raise errors.ProtocolError("no permission to publish")
        pub_pc = await self.ensure_publisher()
        send_tracks: dict[str, sdp.SendTrack] = {}
        if self.single_pc:
            send_tracks = await self._place_sends(sdp.SessionDescription.parse(desc.sdp))
        answer = await pub_pc.answer_offer(desc.sdp, send_tracks, self._codec_preferences(desc.sdp),
                                           self._red_mids(desc.sdp))
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

    def _codec_preferences(self, offer_text: str) -> dict[str, str]:
        """mid -> the video codec its track uses (bound tracks, renegotiated) or asked for"""
        wanted = {p.cid: p.codec.mime for p in self.tracks.values() if p.kind == "video" and p.codec}
        wanted.update({p.cid: p.requested_codec for p in self.pending.values() if p.requested_codec})
        if not wanted:
            return {}
        return preferred_codecs(sdp.SessionDescription.parse(offer_text), wanted)

    def _red_mids(self, offer_text: str) -> set[str]:
        """the offer's audio m-lines whose track may send RED, as LiveKit prefers it: not when
        the AddTrackRequest disabled red or the track is end-to-end encrypted (its RED payload
        would be one encrypted frame the server cannot unwrap)"""
        tracks = [*self.pending.values(), *self.tracks.values()]
        wanted = {p.cid for p in tracks if p.kind == "audio" and red_allowed(p.info)}
        if not wanted:
            return set()
        offer = sdp.SessionDescription.parse(offer_text)
        return {mid for mid, name in preferred_codecs(offer, {cid: "red" for cid in wanted}, kind="audio").items()}

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
            if pub.codec is not None and pub.codec.mime == "red":
                # it sends RED: the data plane unwraps it to its primary, Opus
                pub.red_pt = pub.codec.pt
                pub.codec = next((c for c in info.codecs if c.mime == "opus"), None)
            pub.rtx_pt = next((c.pt for c in info.codecs if pub.codec and c.mime == "rtx" and c.apt == pub.codec.pt),
                              0)
            pub.rtx_ssrcs = dict(info.ssrcs.rtx)
            pub.extmap = dict(info.extmaps)
            pub.info.mid = info.mid
            pub.info.mime_type = f"{info.kind}/{pub.codec.name}" if pub.codec else ""
            if pub.info.codecs:
                pub.info.codecs[0].mime_type, pub.info.codecs[0].mid = pub.info.mime_type, info.mid
            pub.expected_rids = list(info.rids)
            pub.declared_ssrcs = set(info.ssrcs.ssrcs)
            self.tracks[pub.sid] = pub
            self.pending.pop(pub.cid, None)
            if not info.rids:
                ssrcs = info.ssrcs.media_ssrcs
                if ssrcs:
                    await self._add_layer(pub, "", ssrcs[0])
            # simulcast: layers appear with their first packets (unknown_ssrc + rid)

    async def _on_unknown_ssrc(self, data: dict) -> None:
        mid, rid, ssrc = data.get("mid") or "", data.get("rid") or "", int(data["ssrc"])
        pub = next((t for t in self.tracks.values() if t.mid == mid), None) if mid else None
        if data.get("rrid"):
            await self._add_layer_rtx(pub, data["rrid"], ssrc, int(data["payload_type"]))
            return
        if pub is None or (pub.expected_rids and rid not in pub.expected_rids):
            return
        if not pub.expected_rids and pub.declared_ssrcs:
            # the offer named this m-line's SSRCs: its layer comes from there, and an SSRC it
            # named that is not yet mapped is its RTX stream (probing padding arrives early)
            return
        key = rid if pub.expected_rids else ""
        if key in pub.layers or key in pub.adding:
            return
        await self._add_layer(pub, key, ssrc)

    async def _add_layer(self, pub: TrackPublication, rid: str, ssrc: int) -> None:
        assert self.publisher is not None
        pt = pub.codec.pt if pub.codec else 96
        rtx_ssrc = pub.rtx_ssrcs.get(ssrc, 0) if pub.rtx_pt else 0
        pub.adding.add(rid)     # an unknown_ssrc event may arrive while the producer is created
        try:
            producer = await self.publisher.t.produce(pub.kind, ssrc, pt, pub.codec.name if pub.codec else "",
                                                      rtx_ssrc=rtx_ssrc, rtx_payload_type=pub.rtx_pt,
                                                      red_payload_type=pub.red_pt,
                                                      dd_ext_id=dependency_descriptor_id(pub))
        except errors.AlreadyExistsError:
            return
        finally:
            pub.adding.discard(rid)
        first = not pub.layers
        pub.layers[rid] = Layer(rid, QUALITY_BY_RID.get(rid, models.VideoQuality.HIGH), producer,
                                activity=LayerActivity(born=time.monotonic()))
        if first:
            self.bump()
            await self.events.track_published(self, pub)
        else:
            await self.events.layer_added(self, pub)

    async def _add_layer_rtx(self, pub: TrackPublication | None, rrid: str, ssrc: int, payload_type: int) -> None:
        """a layer's RTX stream, named by its repaired rid (rid-based simulcast declares no FID
        groups): its producer unwraps the retransmissions from now on"""
        layer = pub.layers.get(rrid) if pub is not None else None
        if layer is None or not pub.rtx_pt or payload_type != pub.rtx_pt or layer.producer.rtx_ssrc:
            return        # its media first (the SSRC is reported again), or not an rtx we negotiated
        try:
            await layer.producer.set_rtx(ssrc, payload_type)
        except (errors.AlreadyExistsError, errors.NotFoundError):
            pass

    async def unpublish(self, pub: TrackPublication) -> None:
        self.tracks.pop(pub.sid, None)
        for layer in pub.layers.values():
            await layer.producer.close()
        self.bump()
        await self.send(rtc.SignalResponse(track_unpublished=rtc.TrackUnpublishedResponse(track_sid=pub.sid)))
        await self.events.track_unpublished(self, pub)

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
            await self.events.participant_changed(self)

    async def server_mute(self, pub: TrackPublication, muted: bool) -> None:
        """mute from the server API: tell the publisher (its SDK mutes the track), pause
        or resume forwarding to subscribers, announce the new TrackInfo"""
        await self.send(rtc.SignalResponse(mute=rtc.MuteTrackRequest(sid=pub.sid, muted=muted)))
        await self._set_forwarding(pub, muted)
        if pub.info.muted != muted:
            pub.info.muted = muted
            self.bump()
            await self.events.participant_changed(self)

    async def _set_forwarding(self, pub: TrackPublication, muted: bool) -> None:
        pub.server_muted = muted
        for sub in list(pub.subscriptions.values()):
            paused = sub.forwarding_paused
            if sub.consumer is not None and not sub.consumer.closed and sub.consumer.paused != paused:
                await (sub.consumer.pause() if paused else sub.consumer.resume())


def dependency_descriptor_id(pub: TrackPublication) -> int:
    """the header extension id of a video track's dependency descriptor, where the data plane
    reads a scalable stream's layers (0: not negotiated, or a two-byte id it does not read)"""
    eid = int(pub.extmap.get(sdp.EXT_DEPENDENCY_DESCRIPTOR, 0)) if pub.kind == "video" else 0
    return eid if 1 <= eid <= 14 else 0
