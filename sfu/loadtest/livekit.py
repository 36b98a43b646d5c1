"""Simulated LiveKit participants: the signalling half of `sfu load-test`.

Each participant speaks LiveKit's signal protocol (protobuf over WebSocket, ``/rtc`` with one
PeerConnection per direction, as every LiveKit SDK falls back to) and owns up to two
:class:`~sfu.loadtest.peer.Peer` transports: the publisher PC, which it offers, and the
subscriber PC, which the server offers.  Media itself is generated and checked by the C
packet engine; this module only tells it which sockets, keys and SSRCs to use.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable

import aiohttp
from livekit.protocol import models
from livekit.protocol import rtc as lk

from ..protocol import sdp as sdpmod
from ..protocol.dtls import answer_setup
from ..protocol.sdp.extensions import EXT_AUDIO_LEVEL, EXT_MID, EXT_RID
from .peer import Peer, PeerError, RemoteTransport

log = logging.getLogger("sfu.loadtest.livekit")

MID_EXT_ID = 4
RID_EXT_ID = 10
AUDIO_LEVEL_EXT_ID = 1
VP8_PT = 96
OPUS_PT = 111
PROTOCOL_VERSION = 15
SIGNAL_TIMEOUT = 10.0

# simulcast layers as LiveKit clients send them: rid, quality, scale-down, share of the bitrate
SIMULCAST_LAYERS = (("q", models.VideoQuality.LOW, 4, 0.1),
                    ("h", models.VideoQuality.MEDIUM, 2, 0.3),
                    ("f", models.VideoQuality.HIGH, 1, 0.6))


class SignalError(Exception):
    """The server refused or broke the signalling session."""


@dataclass
class TrackPlan:
    """One track a simulated publisher sends."""

    kind: str                 # "audio" | "video"
    bitrate: int              # bits/s (all layers together with simulcast)
    width: int = 0
    height: int = 0
    fps: float = 30.0
    simulcast: bool = False
    cid: str = field(default_factory=lambda: f"lt-{random.getrandbits(48):012x}")
    codec: str = "vp8"        # video: vp8 | vp9 | h264 | av1 (the engine writes its payload descriptors)


@dataclass
class SendLayer:
    """What the engine needs to send one RTP stream of a published track."""

    track: TrackPlan
    track_sid: str
    ssrc: int
    pt: int
    rid: str
    bitrate: int
    mid: str
    mid_ext_id: int
    rid_ext_id: int
    audio_level_ext_id: int = 0


@dataclass
class RecvTrack:
    """A track the server offered to a subscriber."""

    track_sid: str
    kind: str
    ssrc: int
    pt: int
    clock_rate: int
    codec: str = ""           # the codec name, lower case


# a video codec's payload type and a=rtpmap / a=fmtp in a publisher offer (as Chromium offers them)
VIDEO_OFFER = {
    "vp8": (VP8_PT, "VP8/90000", None),
    "vp9": (98, "VP9/90000", "profile-id=0"),
    "h264": (102, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
    "av1": (45, "AV1/90000", None),
}


def build_publisher_offer(peer: Peer, tracks: list[TrackPlan], ssrcs: dict[str, list[int]]) -> str:
    """A publisher offer as a browser makes it: BUNDLE, rtcp-mux, one m-line per track."""
    lines = ["v=0", f"o=- {random.getrandbits(62)} 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
             "a=group:BUNDLE " + " ".join(str(i) for i in range(len(tracks))),
             "a=extmap-allow-mixed", "a=msid-semantic: WMS *"]
    for mid, t in enumerate(tracks):
        pt, rtpmap, fmtp = VIDEO_OFFER[t.codec] if t.kind == "video" else (OPUS_PT, "opus/48000/2", None)
        lines += [f"m={t.kind} 9 UDP/TLS/RTP/SAVPF {pt}", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0"]
        lines += peer.transport_lines("actpass")
        lines += [f"a=mid:{mid}", f"a=extmap:{MID_EXT_ID} {EXT_MID}"]
        if t.simulcast:
            lines.append(f"a=extmap:{RID_EXT_ID} {EXT_RID}")
        if t.kind == "audio":          # as browsers send it: the server's active-speaker input
            lines.append(f"a=extmap:{AUDIO_LEVEL_EXT_ID} {EXT_AUDIO_LEVEL}")
        lines += ["a=sendonly", f"a=msid:lt-stream {t.cid}", "a=rtcp-mux", "a=rtcp-rsize"]
        if t.kind == "video":
            lines += [f"a=rtpmap:{pt} {rtpmap}"] + ([f"a=fmtp:{pt} {fmtp}"] if fmtp else [])
            lines += [f"a=rtcp-fb:{pt} nack", f"a=rtcp-fb:{pt} nack pli", f"a=rtcp-fb:{pt} ccm fir"]
        else:
            lines += [f"a=rtpmap:{pt} opus/48000/2", f"a=fmtp:{pt} minptime=10;useinbandfec=1"]
        if t.simulcast:
            lines += [f"a=rid:{rid} send" for rid, *_ in SIMULCAST_LAYERS]
            lines.append("a=simulcast:send " + ";".join(rid for rid, *_ in SIMULCAST_LAYERS))
        else:
            ssrc = ssrcs[t.cid][0]
            lines += [f"a=ssrc:{ssrc} cname:lt", f"a=ssrc:{ssrc} msid:lt-stream {t.cid}"]
    return "\r\n".join(lines) + "\r\n"


def build_subscriber_answer(peer: Peer, offer_text: str) -> tuple[str, list[RecvTrack]]:
    """Answer a subscriber offer: every audio/video line recvonly with its first codec, the
    data channel accepted (the server's SCTP association is left alone)."""
    offer = sdpmod.SessionDescription.parse(offer_text)
    setup = answer_setup(offer.transport_attribute("setup") or "actpass")
    mids = [m.mid or str(i) for i, m in enumerate(offer.media)]
    lines = ["v=0", f"o=- {random.getrandbits(62)} 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
             "a=group:BUNDLE " + " ".join(mids), "a=msid-semantic: WMS"]
    recv: list[RecvTrack] = []
    for mid, media in zip(mids, offer.media):
        if media.kind == "application":
            lines += ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0"]
            lines += peer.transport_lines(setup)
            lines += [f"a=mid:{mid}", "a=sctp-port:5000", "a=max-message-size:262144"]
            continue
        codecs = media.codecs()
        if media.rejected or not codecs or media.direction in ("inactive", "recvonly"):
            lines += [f"m={media.kind} 0 UDP/TLS/RTP/SAVPF {codecs[0].pt if codecs else 0}",
                      "c=IN IP4 0.0.0.0", f"a=mid:{mid}", "a=inactive"]
            continue
        c = codecs[0]
        lines += [f"m={media.kind} 9 UDP/TLS/RTP/SAVPF {c.pt}", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0"]
        lines += peer.transport_lines(setup)
        lines += [f"a=mid:{mid}", "a=recvonly", "a=rtcp-mux", "a=rtcp-rsize", f"a=rtpmap:{c.rtpmap()}"]
        lines += [f"a=rtcp-fb:{c.pt} nack", f"a=rtcp-fb:{c.pt} nack pli"] if media.kind == "video" else []
        ssrcs = media.ssrcs().media_ssrcs
        msid = media.attribute("msid") or ""
        track_sid = msid.split(" ")[-1] if msid else ""
        if not track_sid:
            attrs = media.ssrcs().attributes
            if ssrcs and "msid" in attrs.get(ssrcs[0], {}):
                track_sid = attrs[ssrcs[0]]["msid"].split(" ")[-1]
        if ssrcs:
            recv.append(RecvTrack(track_sid, media.kind, ssrcs[0], c.pt, c.clock_rate, c.name.lower()))
    return "\r\n".join(lines) + "\r\n", recv


class Participant:
    """One simulated participant: a signal WebSocket and its PeerConnections."""

    def __init__(self, url: str, token: str, identity: str, bind_ip: str, *,
                 auto_subscribe: bool, publish: list[TrackPlan] | None = None,
                 on_data: Callable[[str, bytes], None] | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.identity = identity
        self.bind_ip = bind_ip
        self.auto_subscribe = auto_subscribe
        self.publish_plan = publish or []
        self.on_data = on_data          # data channel messages on the subscriber PC (label, DataPacket bytes)
        self.join: lk.JoinResponse | None = None
        self.publisher: Peer | None = None
        self.subscriber: Peer | None = None
        self.layers: list[SendLayer] = []
        self.recv: dict[int, RecvTrack] = {}      # ssrc -> track offered to us
        self.speakers: list[tuple[float, set[str]]] = []   # SpeakersChanged: (monotonic s, active sids)
        self.others: dict[str, models.ParticipantInfo] = {}  # the room's other participants, by identity
        self.others_changed = asyncio.Event()              # set at each ParticipantUpdate
        self.join_ms = 0.0
        self.errors: list[str] = []
        self.left: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None
        self._pinger: asyncio.Task | None = None
        self._waiters: dict[str, asyncio.Future] = {}
        self._sub_ready = asyncio.Event()
        self._offers: asyncio.Queue[lk.SessionDescription] = asyncio.Queue()
        self._offer_task: asyncio.Task | None = None
        self.tracks_changed = asyncio.Event()

    # ------------------------------------------------------------------ signalling

    async def connect(self) -> None:
        t0 = time.monotonic()
        scheme = {"http": "ws", "https": "wss"}
        parts = urllib.parse.urlsplit(self.url)
        base = f"{scheme.get(parts.scheme, parts.scheme)}://{parts.netloc}{parts.path}"
        q = urllib.parse.urlencode({"access_token": self.token, "protocol": PROTOCOL_VERSION, "sdk": "go",
                                    "version": "loadtest", "auto_subscribe": int(self.auto_subscribe)})
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(f"{base}/rtc?{q}", timeout=SIGNAL_TIMEOUT,
                                                      max_msg_size=8 * 1024 * 1024)
        except aiohttp.WSServerHandshakeError as exc:
            raise SignalError(f"{self.identity}: join refused: HTTP {exc.status} {exc.message}") from None
        fut = self._expect("join")
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self._offer_task = asyncio.get_running_loop().create_task(self._answer_offers())
        self.join = (await asyncio.wait_for(fut, SIGNAL_TIMEOUT)).join
        self.join_ms = (time.monotonic() - t0) * 1000
        self._pinger = asyncio.get_running_loop().create_task(self._ping(self.join.ping_interval or 5))

    def _expect(self, key: str) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._waiters[key] = fut
        return fut

    async def send(self, req: lk.SignalRequest) -> None:
        assert self._ws is not None
        await self._ws.send_bytes(req.SerializeToString())

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    continue
                res = lk.SignalResponse.FromString(msg.data)
                which = res.WhichOneof("message")
                key = which
                if which == "track_published":
                    key = f"track_published:{res.track_published.cid}"
                elif which == "offer":
                    self._offers.put_nowait(res.offer)
                    continue
                elif which == "leave":
                    self.left = models.DisconnectReason.Name(res.leave.reason)
                elif which == "join":
                    self._note_others(res.join.other_participants)
                elif which == "update":
                    self._note_others(res.update.participants)
                    continue
                elif which == "speakers_changed":
                    self.speakers.append((time.monotonic(),
                                          {s.sid for s in res.speakers_changed.speakers if s.active}))
                    continue
                fut = self._waiters.pop(key, None)
                if fut is not None and not fut.done():
                    fut.set_result(res)
        except Exception as exc:        # the socket died: fail whoever waits
            self.errors.append(f"signal: {exc!r}")
        finally:
            why = self.left or "signal connection closed"
            for fut in self._waiters.values():
                if not fut.done():
                    fut.set_exception(SignalError(f"{self.identity}: {why}"))
            self._waiters.clear()

    def _note_others(self, infos) -> None:
        for info in infos:
            if info.identity == self.identity:
                continue
            if info.state == models.ParticipantInfo.DISCONNECTED:
                self.others.pop(info.identity, None)
            else:
                self.others[info.identity] = info
        self.others_changed.set()

    async def _ping(self, interval: int) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.send(lk.SignalRequest(ping_req=lk.Ping(timestamp=int(time.time() * 1000))))
            except Exception:
                return

    # ------------------------------------------------------------------ subscriber PC

    async def _answer_offers(self) -> None:
        while True:
            offer = await self._offers.get()
            try:
                await self._on_offer(offer)
            except (PeerError, sdpmod.SdpError, ValueError) as exc:
                self.errors.append(f"subscriber: {exc}")
                self._sub_ready.set()

    async def _on_offer(self, offer: lk.SessionDescription) -> None:
        first = self.subscriber is None
        if first:
            self.subscriber = Peer(self.bind_ip)
            self.subscriber.on_data = self.on_data
        answer, recv = build_subscriber_answer(self.subscriber, offer.sdp)
        await self.send(lk.SignalRequest(answer=lk.SessionDescription(type="answer", sdp=answer, id=offer.id)))
        for r in recv:
            self.recv[r.ssrc] = r
        self.tracks_changed.set()
        if first:
            remote = RemoteTransport.from_sdp(offer.sdp)
            local_setup = answer_setup(remote.setup)
            await self.subscriber.connect(remote, local_setup=local_setup, controlling=True)
            self._sub_ready.set()

    async def subscriber_connected(self, timeout: float = SIGNAL_TIMEOUT) -> Peer:
        await asyncio.wait_for(self._sub_ready.wait(), timeout)
        if self.subscriber is None or self.subscriber.tx is None:
            raise SignalError(f"{self.identity}: subscriber transport failed: {'; '.join(self.errors)}")
        return self.subscriber

    # ------------------------------------------------------------------ publisher PC

    async def publish(self) -> None:
        """AddTrack each planned track, offer, connect; fills ``layers``."""
        if not self.publish_plan:
            return
        sids: dict[str, str] = {}
        for t in self.publish_plan:
            req = lk.AddTrackRequest(cid=t.cid, name=f"{t.kind}-{t.cid[-4:]}",
                                     type=models.TrackType.VIDEO if t.kind == "video" else models.TrackType.AUDIO,
                                     source=models.TrackSource.CAMERA if t.kind == "video"
                                     else models.TrackSource.MICROPHONE,
                                     width=t.width, height=t.height)
            if t.kind == "video":
                for _rid, quality, scale, share in (SIMULCAST_LAYERS if t.simulcast else (("", models.VideoQuality.HIGH, 1, 1.0),)):
                    req.layers.append(models.VideoLayer(quality=quality, width=t.width // scale,
                                                        height=t.height // scale, bitrate=int(t.bitrate * share)))
                if t.simulcast or t.codec != "vp8":
                    req.simulcast_codecs.append(lk.SimulcastCodec(codec=t.codec, cid=t.cid))
            fut = self._expect(f"track_published:{t.cid}")
            await self.send(lk.SignalRequest(add_track=req))
            res = await asyncio.wait_for(fut, SIGNAL_TIMEOUT)
            sids[t.cid] = res.track_published.track.sid
        peer = self.publisher = Peer(self.bind_ip)
        ssrcs = {t.cid: [random.getrandbits(31) | 1 for _ in (SIMULCAST_LAYERS if t.simulcast else (0,))]
                 for t in self.publish_plan}
        offer = build_publisher_offer(peer, self.publish_plan, ssrcs)
        fut = self._expect("answer")
        await self.send(lk.SignalRequest(offer=lk.SessionDescription(type="offer", sdp=offer, id=1)))
        answer = (await asyncio.wait_for(fut, SIGNAL_TIMEOUT)).answer
        desc = sdpmod.SessionDescription.parse(answer.sdp)
        remote = RemoteTransport.from_sdp(answer.sdp)
        local_setup = "active" if remote.setup == "passive" else "passive"
        await peer.connect(remote, local_setup=local_setup, controlling=True)
        for mid, t in enumerate(self.publish_plan):
            media = desc.media_by_mid(str(mid))
            if media is None or media.rejected:
                raise SignalError(f"{self.identity}: the server rejected the {t.kind} track")
            codecs = media.codecs()
            pt = codecs[0].pt if codecs else (VIDEO_OFFER[t.codec][0] if t.kind == "video" else OPUS_PT)
            exts = {e.uri: e.id for e in media.extmaps()}
            mid_id, rid_id = exts.get(EXT_MID, 0), exts.get(EXT_RID, 0)
            if t.simulcast:
                for (rid, _q, _s, share), ssrc in zip(SIMULCAST_LAYERS, ssrcs[t.cid]):
                    self.layers.append(SendLayer(t, sids[t.cid], ssrc, pt, rid, int(t.bitrate * share),
                                                 str(mid), mid_id, rid_id))
            else:
                self.layers.append(SendLayer(t, sids[t.cid], ssrcs[t.cid][0], pt, "", t.bitrate, str(mid), mid_id, 0,
                                             exts.get(EXT_AUDIO_LEVEL, 0) if t.kind == "audio" else 0))

    # ------------------------------------------------------------------ teardown

    async def close(self) -> None:
        for task in (self._pinger, self._offer_task):
            if task is not None:
                task.cancel()
        if self._ws is not None and not self._ws.closed:
            try:
                await self.send(lk.SignalRequest(leave=lk.LeaveRequest(reason=models.DisconnectReason.CLIENT_INITIATED)))
            except Exception:
                pass
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
        if self._session is not None:
            await self._session.close()
        for peer in (self.publisher, self.subscriber):
            if peer is not None:
                peer.close()
