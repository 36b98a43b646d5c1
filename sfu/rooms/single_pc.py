"""Single PeerConnection (/rtc/v1): the client always offers, with recvonly m-lines for what
it receives; the participant's subscriptions are placed on those m-lines (one each), and the
client is asked for more when all are taken.  Mixed into sfu.rooms.participant.Participant.
"""

from __future__ import annotations

import asyncio
import random

from livekit.protocol import rtc

from ..protocol import sdp
from .codec_preference import red_allowed, send_codec
from .peer_transport import PeerTransport
from .layer_selector import select_layer
from .subscriptions import consumer_ext_map, red_codec, request_key_frame, rtx_codec
from .track import Subscription


class SinglePeerConnection:
    """State (set up by Participant): `sends` (mid -> the subscription sent on it), `waiting`
    (subscriptions without an m-line yet) and the client's last offer."""

    identity: str
    closed: bool
    publisher: PeerTransport | None
    sends: dict[str, Subscription]
    waiting: list[Subscription]
    last_offer: sdp.SessionDescription | None
    _sections_requested: bool

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
                                   track_sid=sub.track.sid, ssrc=sub.ssrc, rtx_ssrc=sub.rtx_ssrc or None,
                                   cname=sub.track.participant.sid)
                for mid, sub in self.sends.items() if sub.consumer is not None}

    async def _start_send(self, sub: Subscription, media: sdp.MediaSection) -> bool:
        pub = sub.track
        layer = select_layer(pub.layers.values(), sub.target_quality)
        codec = send_codec(media.codecs(), pub.codec)
        if layer is None or codec is None or self.publisher is None:
            return False
        out_ext = {e.uri: e.id for e in media.extmaps()}
        # our answer accepts the rtx the client offered for the codec (sdp.select_video_codecs)
        rtx = rtx_codec(media.codecs(), codec.pt) if pub.kind == "video" else None
        sub.rtx_ssrc = (sub.rtx_ssrc or random.randint(1, 0xFFFFFFFF)) if rtx is not None else 0
        sub.signaled = True            # the answer we are building names it
        sub.consumer = await self.publisher.t.consume(
            layer.producer, payload_type=codec.pt, paused=sub.forwarding_paused, ssrc=sub.ssrc or None,
            ext_map=consumer_ext_map(pub.extmap, out_ext), rtx_ssrc=sub.rtx_ssrc,
            rtx_payload_type=rtx.pt if rtx is not None else 0)
        sub.layer, sub.ssrc = layer, sub.consumer.ssrc
        # our answer keeps the red the client offered over that Opus (sdp.select_audio_codecs)
        red = red_codec(media.codecs(), codec.pt) if pub.kind == "audio" and red_allowed(pub.info) else None
        sub.red_pt = red.pt if red is not None else 0
        if red is not None:
            await sub.consumer.set_red(red.pt)
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
                await request_key_frame(sub)
