"""The server side of one client PeerConnection (publisher or subscriber).

Wraps a WebRTC media transport (ICE-lite + DTLS + SCTP in its worker, media
in the C loop) and its SDP negotiation:
  - publisher PC: the client offers, we answer (we are DTLS client,
    `a=setup:active`, as LiveKit);
  - subscriber PC: we offer `actpass` (the client answers active, we are
    the DTLS server); m-lines are never removed, only made inactive and reused,
    and negotiations are serialised (one offer outstanding at a time).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Callable

from .. import errors
from ..media import Router, Transport
from ..protocol import sdp
from ..protocol.dtls_setup import answer_setup, parse_fingerprint, role_for_local_setup, role_from_answer
from ..protocol.ice_candidates import generate_pwd, generate_ufrag, host_candidates, tcp_host_candidates
from .early_data import EarlyData

log = logging.getLogger("sfu.peer")

# the data channels the server opens on the subscriber PC (server -> client)
SERVER_CHANNELS = [
    {"label": "_reliable", "ordered": True, "max_retransmits": None},
    {"label": "_lossy", "ordered": False, "max_retransmits": 0},
]
NEGOTIATION_TIMEOUT = 15.0


@dataclass
class Slot:
    """one m-line of the subscriber PC"""
    mid: str
    kind: str
    track: sdp.SendTrack | None = None     # None: inactive, free for reuse


class PeerTransport:
    def __init__(self, role: str, transport: Transport, ice_ufrag: str, ice_pwd: str) -> None:
        assert role in ("publisher", "subscriber")
        self.role = role
        self.t = transport
        self.ice_ufrag = ice_ufrag
        self.ice_pwd = ice_pwd
        self.remote_ufrag = ""
        self.remote_pwd = ""
        self.state = "new"
        self.connected = asyncio.Event()
        self.remote_set = False
        self.on_event: Callable[[str, dict], None] | None = None
        # publisher: what the last answer accepted, by mid
        self.answer: sdp.Answer | None = None
        # subscriber
        self.slots: list[Slot] = []
        self.remote_answer: sdp.SessionDescription | None = None   # the client's last answer
        self._mids = itertools.count()
        self._offer_ids = itertools.count(1)
        self.version = 0
        self.pending_offer_id: int | None = None
        # (track sid, ssrc) of the outstanding offer's tracks, and of the last answered one's
        self._offered: set[tuple[str, int]] = set()
        self._signaled: set[tuple[str, int]] = set()
        self._answered: asyncio.Future | None = None
        self.needs_negotiation = False
        self.session_id = secrets.randbits(62)   # o= line: one session across renegotiations
        # data channels the worker reported open, and what waits for one to open
        self.open_labels: set[str] = set()
        self.early = EarlyData()
        self._flushing: set[str] = set()
        self.closed = False
        transport.listeners.append(self._on_transport_event)

    @classmethod
    async def create(cls, role: str, router: Router, worker: int | None) -> "PeerTransport":
        ufrag, pwd = generate_ufrag(), generate_pwd()
        t = await router.create_webrtc_transport(ufrag, pwd, worker=worker)
        return cls(role, t, ufrag, pwd)

    # -- events from the worker ------------------------------------------------------
    def _on_transport_event(self, event: str, data: dict) -> None:
        if event == "webrtc_state":
            self.state = data["state"]
            if self.state == "connected":
                self.connected.set()
        elif event == "data_channel":
            label = str(data["label"])
            self.open_labels.add(label)
            if self.early.pending(label) and label not in self._flushing:
                self._flushing.add(label)
                asyncio.get_running_loop().create_task(self._flush(label))
        if self.on_event is not None:
            self.on_event(event, data)

    def params(self, setup: str) -> sdp.TransportParams:
        return sdp.TransportParams(ice_ufrag=self.ice_ufrag, ice_pwd=self.ice_pwd, fingerprint=self.t.fingerprint,
                                   setup=setup, candidates=self.candidates())

    def candidates(self) -> list[str]:
        """our host candidates: UDP on the worker's port, then passive TCP on the node's ICE-TCP
        port (when it has one) on the same addresses"""
        out = host_candidates([(ip, self.t.port) for ip in self.t.ips])
        if self.t.tcp_port:
            out += tcp_host_candidates([(ip, self.t.tcp_port) for ip in self.t.ips])
        return out

    async def _set_remote(self, desc: sdp.SessionDescription, dtls_role: str, sctp: bool,
                          extmap: dict[str, int]) -> None:
        ufrag = desc.transport_attribute("ice-ufrag")
        pwd = desc.transport_attribute("ice-pwd")
        fps = desc.fingerprints()
        if not ufrag or not pwd or not fps:
            raise sdp.SdpError("remote description lacks ice-ufrag, ice-pwd or fingerprint")
        for fp in fps:      # here, so a bad one is this request's error, not the media worker's
            parse_fingerprint(fp)
        self.remote_ufrag, self.remote_pwd = ufrag, pwd
        await self.t.worker.request("TRANSPORT_SET_REMOTE_PARAMS", {
            "id": self.t.id, "ice_ufrag": ufrag, "ice_pwd": pwd, "fingerprints": fps, "dtls_role": dtls_role,
            "sctp": sctp, "open_channels": SERVER_CHANNELS if (sctp and self.role == "subscriber") else [],
            "extmap": extmap})
        self.remote_set = True

    async def restart_ice(self, remote_ufrag: str = "", remote_pwd: str = "") -> None:
        """new local ICE credentials (the peer restarted ICE, or we offer a restart)"""
        ufrag, pwd = generate_ufrag(), generate_pwd()
        await self.t.worker.request("TRANSPORT_ICE_RESTART", {
            "id": self.t.id, "ice_ufrag": ufrag, "ice_pwd": pwd, "remote_ufrag": remote_ufrag,
            "remote_pwd": remote_pwd})
        self.ice_ufrag, self.ice_pwd = ufrag, pwd
        self.t.set_ice_ufrag(ufrag)
        self.remote_ufrag, self.remote_pwd = remote_ufrag, remote_pwd

    # -- publisher: answer the client's offer ------------------------------------------
    async def answer_offer(self, offer_text: str, send_tracks: dict[str, sdp.SendTrack] | None = None,
                           video_codecs: dict[str, str] | None = None, red_mids: set[str] | None = None) -> sdp.Answer:
        """`video_codecs`: mid -> the codec its track asked for (first in the answer); `red_mids`:
        audio m-lines where red goes first"""
        offer = sdp.SessionDescription.parse(offer_text)
        ufrag, pwd = offer.transport_attribute("ice-ufrag") or "", offer.transport_attribute("ice-pwd") or ""
        if self.remote_set and (ufrag, pwd) != (self.remote_ufrag, self.remote_pwd):
            await self.restart_ice(ufrag, pwd)    # the client restarted ICE
        setup = answer_setup(offer.transport_attribute("setup") or "actpass", "active")
        answer = sdp.build_answer(offer, self.params(setup), send_tracks=send_tracks,
                                  preferred_video_codecs=video_codecs, prefer_red_mids=red_mids or ())
        # every offer's parameters apply: a renegotiation may add the data channel m-line (media
        # first, then data) or header extensions
        extmap: dict[str, int] = {}
        for m in answer.media:
            extmap.update(m.extmaps)
        sctp = any(m.accepted and m.kind == "application" for m in answer.media)
        await self._set_remote(offer, role_for_local_setup(setup).value, sctp, extmap)
        self.answer = answer
        return answer

    # -- subscriber: offers -----------------------------------------------------------
    def add_track(self, track: sdp.SendTrack) -> str:
        """place a track on a free m-line of its kind (or a new one); returns the mid"""
        for s in self.slots:
            if s.track is None and s.kind == track.kind:
                s.track = track
                track.mid = s.mid
                self.needs_negotiation = True
                return s.mid
        mid = str(next(self._mids))
        track.mid = mid
        self.slots.append(Slot(mid, track.kind, track))
        self.needs_negotiation = True
        return mid

    def remove_track(self, track_sid: str) -> None:
        for s in self.slots:
            if s.track is not None and s.track.track_sid == track_sid:
                s.track = None
                self.needs_negotiation = True

    def answered_codecs(self, track_sid: str) -> list[sdp.Codec]:
        """the codecs the client's last answer accepted on the track's m-line"""
        slot = next((s for s in self.slots if s.track is not None and s.track.track_sid == track_sid), None)
        media = next((m for m in self.remote_answer.media if m.mid == slot.mid), None) \
            if slot is not None and self.remote_answer is not None else None
        return media.codecs() if media is not None and media.port != 0 else []

    def _mid_of(self, track_sid: str) -> str | None:
        return next((s.mid for s in self.slots if s.track is not None and s.track.track_sid == track_sid), None)

    def signaled(self, track_sid: str, ssrc: int) -> bool:
        """the client applied a description that names the track with this SSRC: packets on it
        reach that track (before, libwebrtc sees an unsignaled SSRC, which it may bind to a
        default stream that no track of the SDK reads)"""
        return (track_sid, ssrc) in self._signaled

    def has_track(self, track_sid: str) -> bool:
        return any(s.track is not None and s.track.track_sid == track_sid for s in self.slots)

    def build_offer(self) -> tuple[int, str]:
        tracks = []
        for s in self.slots:
            if s.track is not None:
                tracks.append(s.track)
            else:  # keep the m-line, inactive
                tracks.append(sdp.SendTrack(kind=s.kind, participant_sid="-", track_sid="-", ssrc=0,
                                            mid=s.mid, active=False))
        self.version += 1
        self._offered = {(t.track_sid, t.ssrc) for t in tracks if t.active}
        desc = sdp.build_subscriber_offer(tracks, self.params("actpass"), data_channel=True,
                                          data_channel_mid="data", data_channel_first=True,
                                          session_id=self.session_id, version=self.version)
        oid = next(self._offer_ids)
        self.pending_offer_id = oid
        self.needs_negotiation = False
        self._answered = asyncio.get_running_loop().create_future()
        return oid, desc.serialize()

    async def apply_answer(self, answer_text: str, offer_id: int) -> None:
        if self.pending_offer_id is None:
            raise errors.ProtocolError("answer without an outstanding offer")
        if offer_id and offer_id != self.pending_offer_id:
            raise errors.ProtocolError(f"answer for offer {offer_id}, expected {self.pending_offer_id}")
        answer = sdp.SessionDescription.parse(answer_text)
        self.remote_answer = answer
        # the ids the client answered with: its transport-cc id numbers what we send it, for the
        # send-side estimate (every answer: a renegotiation may add the extension)
        extmap = {e.uri: e.id for m in answer.media for e in m.extmaps()}
        if not self.remote_set:
            setup = answer.transport_attribute("setup") or "active"
            await self._set_remote(answer, role_from_answer(setup).value, True, extmap)
        else:
            ufrag, pwd = answer.transport_attribute("ice-ufrag") or "", answer.transport_attribute("ice-pwd") or ""
            if ufrag and (ufrag, pwd) != (self.remote_ufrag, self.remote_pwd):
                await self.t.worker.request("TRANSPORT_SET_REMOTE_ICE", {"id": self.t.id, "ice_ufrag": ufrag,
                                                                         "ice_pwd": pwd})
                self.remote_ufrag, self.remote_pwd = ufrag, pwd
            if extmap:
                await self.t.set_header_extensions(extmap)
        self.pending_offer_id = None
        self._signaled = {(sid, ssrc) for sid, ssrc in self._offered
                          if any(m.port != 0 for m in answer.media if m.mid == self._mid_of(sid))}
        if self._answered is not None and not self._answered.done():
            self._answered.set_result(True)

    async def wait_answer(self, timeout: float = NEGOTIATION_TIMEOUT) -> bool:
        fut = self._answered
        if fut is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    # -- data -----------------------------------------------------------------------
    async def send_data(self, label: str, data: bytes) -> bool:
        """send on a data channel; before the channel first opened (and while what waited for
        it goes out), the packet waits for it (sfu.rooms.early_data)"""
        return await send_data_to_many([self], label, data) == 1

    def _kept_for_later(self, label: str, data: bytes) -> bool | None:
        """None: the channel is open, send now; else whether the packet was kept for when it opens"""
        if label not in self.open_labels or label in self._flushing:
            if self.closed:
                return False
            return self.early.push(label, data, time.monotonic())
        return None

    async def _flush(self, label: str) -> None:
        try:
            while (data := self.early.pop(label, time.monotonic())) is not None:
                await send_now(self.t.worker, [self], label, data)
        finally:
            self._flushing.discard(label)

    async def close(self) -> None:
        self.closed = True
        if self._answered is not None and not self._answered.done():
            self._answered.cancel()
        await self.t.close()


async def send_data_to_many(peers: list[PeerTransport], label: str, data: bytes) -> int:
    """send one payload on the `label` channel of every peer: one worker request per worker
    for all the peers whose channel is open there (a chat message to 1,000 costs as many
    requests as there are workers, not 1,000), the others keep it until theirs opens.
    Returns how many took it."""
    taken = 0
    by_worker: dict[int, tuple[object, list[PeerTransport]]] = {}
    for peer in peers:
        kept = peer._kept_for_later(label, data)
        if kept is None:
            by_worker.setdefault(id(peer.t.worker), (peer.t.worker, []))[1].append(peer)
        else:
            taken += kept
    if by_worker:
        sent = await asyncio.gather(*(send_now(w, ps, label, data) for w, ps in by_worker.values()))
        taken += sum(sent)
    return taken


async def send_now(worker, peers: list[PeerTransport], label: str, data: bytes) -> int:
    """one TRANSPORT_SEND_DATA for the connected peers of one worker; how many channels took it"""
    ids = [p.t.id for p in peers if p.state == "connected"]
    if not ids:
        return 0
    try:
        r = await worker.request("TRANSPORT_SEND_DATA", {"ids": ids, "label": label,
                                                         "data": base64.b64encode(data).decode()})
    except errors.SfuError as e:
        log.warning("data for %d transports not sent: %s", len(ids), e)
        return 0
    return len(r.get("sent") or ())
