"""asyncio client for Janus's HTTP API and its videoroom plugin, plus the minimal SDP a
simulated (non-browser) peer exchanges with Janus.

    async with JanusSession(url) as s:            # create session; long-poll + keepalive tasks
        h = await s.attach()                      # janus.plugin.videoroom handle
        await h.create_room(1234)
        answer = await h.publish(1234, offer_sdp)   # join as publisher + publish -> Janus's answer
        feed = h.feed_id
        sub = await s.attach()
        offer = await sub.subscribe(1234, feed)     # join as subscriber -> Janus's offer
        await sub.start(answer_sdp)
        await h.wait_event("webrtcup", 10)

Every request has a bounded timeout; Janus errors raise JanusError with Janus's text.
One session may carry many handles (one per PeerConnection); its single long-poll
(`maxev`) delivers events for all of them.

SDP: build_offer() (publisher), build_answer() (subscriber, answering Janus's offer),
parse_sdp() (what a peer needs from Janus's SDP).
"""

from __future__ import annotations

import asyncio
import random
import string
from dataclasses import dataclass, field

import aiohttp

VIDEOROOM = "janus.plugin.videoroom"


class JanusError(RuntimeError):
    def __init__(self, what: str, code: int | None = None, reason: str = ""):
        super().__init__(f"{what}: Janus error {code}: {reason}" if code is not None else f"{what}: {reason}")
        self.code, self.reason = code, reason


def _tid() -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=12))


class JanusSession:
    """A Janus session over plain HTTP: POSTs for requests, one long-poll GET loop for events."""

    def __init__(self, url: str, timeout: float = 10.0, keepalive: float = 25.0, maxev: int = 16,
                 http: aiohttp.ClientSession | None = None):
        self.url = url.rstrip("/")
        self.timeout, self.keepalive_s, self.maxev = timeout, keepalive, maxev
        self._own_http = http is None
        self.http = http
        self.id: int | None = None
        self.handles: dict[int, JanusHandle] = {}
        self._pending: dict[str, asyncio.Future] = {}   # transaction -> future of the async event
        self._tasks: list[asyncio.Task] = []
        self.closed = False
        self.poll_error: BaseException | None = None

    async def __aenter__(self) -> "JanusSession":
        return await self.create()

    async def __aexit__(self, *exc) -> None:
        await self.destroy()

    async def _post(self, path: str, body: dict, what: str) -> dict:
        body = dict(body, transaction=body.get("transaction") or _tid())
        try:
            async with self.http.post(self.url + path, json=body,
                                      timeout=aiohttp.ClientTimeout(total=self.timeout)) as r:
                if r.status != 200:
                    raise JanusError(what, r.status, (await r.text())[:500])
                reply = await r.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise JanusError(what, None, f"HTTP {type(e).__name__}: {e}") from e
        if reply.get("janus") == "error":
            err = reply.get("error", {})
            raise JanusError(what, err.get("code"), err.get("reason", str(reply)))
        return reply

    async def create(self) -> "JanusSession":
        if self.http is None:
            self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        reply = await self._post("", {"janus": "create"}, "create session")
        self.id = reply["data"]["id"]
        self._tasks = [asyncio.create_task(self._poll()), asyncio.create_task(self._keepalive())]
        return self

    async def attach(self, plugin: str = VIDEOROOM) -> "JanusHandle":
        reply = await self._post(f"/{self.id}", {"janus": "attach", "plugin": plugin}, f"attach {plugin}")
        h = JanusHandle(self, reply["data"]["id"])
        self.handles[h.id] = h
        return h

    async def _keepalive(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.keepalive_s)
            try:
                await self._post(f"/{self.id}", {"janus": "keepalive"}, "keepalive")
            except JanusError:
                if self.closed:
                    return

    async def _poll(self) -> None:
        """Long-poll GET /janus/<session>?maxev=N (Janus answers within ~30 s, with a keepalive
        when idle) and route each event to its transaction's future and its handle's queue."""
        url = f"{self.url}/{self.id}?maxev={self.maxev}"
        fails = 0
        while not self.closed:
            try:
                async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=45)) as r:
                    data = await r.json(content_type=None)
                fails = 0
            except asyncio.CancelledError:
                raise
            except Exception as e:   # noqa: BLE001 - report to every waiter after a few tries
                fails += 1
                if fails >= 3 or self.closed:
                    self.poll_error = e
                    for fut in self._pending.values():
                        if not fut.done():
                            fut.set_exception(JanusError("event poll", None, repr(e)))
                    return
                await asyncio.sleep(0.2)
                continue
            for ev in data if isinstance(data, list) else [data]:
                self._dispatch(ev)

    def _dispatch(self, ev: dict) -> None:
        kind = ev.get("janus")
        if kind == "keepalive":
            return
        tid = ev.get("transaction")
        fut = self._pending.get(tid) if tid else None
        if fut is not None and kind in ("event", "success", "error") and not fut.done():
            fut.set_result(ev)
            self._pending.pop(tid, None)
            return
        h = self.handles.get(ev.get("sender"))
        if h is not None:
            h.events.append(ev)
            h._changed.set()

    async def destroy(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.id is not None:
                await self._post(f"/{self.id}", {"janus": "destroy"}, "destroy session")
        except JanusError:
            pass
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._own_http and self.http is not None:
            await self.http.close()


@dataclass
class JanusHandle:
    """A plugin handle: one PeerConnection on Janus's side."""

    session: JanusSession
    id: int
    events: list = field(default_factory=list)       # asynchronous events not tied to a request
    feed_id: int | None = None                       # our publisher id once joined
    jsep: dict | None = None                         # the last JSEP Janus sent us
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def path(self) -> str:
        return f"/{self.session.id}/{self.id}"

    async def request(self, body: dict, jsep: dict | None = None, timeout: float | None = None) -> dict:
        """A plugin message. Synchronous plugin requests (create, list, ...) answer in the POST;
        asynchronous ones (join, publish, start, ...) are acked and answered by an event."""
        what = f"videoroom {body.get('request')}"
        tid = _tid()
        msg = {"janus": "message", "body": body, "transaction": tid}
        if jsep is not None:
            msg["jsep"] = jsep
        fut = asyncio.get_running_loop().create_future()
        self.session._pending[tid] = fut
        try:
            reply = await self.session._post(self.path, msg, what)
            if reply.get("janus") == "ack":
                reply = await asyncio.wait_for(fut, timeout or self.session.timeout)
        except asyncio.TimeoutError:
            raise JanusError(what, None, f"no event within {timeout or self.session.timeout} s") from None
        finally:
            self.session._pending.pop(tid, None)
        if reply.get("janus") == "error":
            err = reply.get("error", {})
            raise JanusError(what, err.get("code"), err.get("reason", ""))
        data = reply.get("plugindata", {}).get("data", {})
        if data.get("videoroom") == "event" and "error" in data:
            raise JanusError(what, data.get("error_code"), data["error"])
        if reply.get("jsep"):
            self.jsep = reply["jsep"]
        return reply

    async def trickle_completed(self) -> None:
        await self.session._post(self.path, {"janus": "trickle", "candidate": {"completed": True}}, "trickle")

    async def wait_event(self, kind: str, timeout: float = 10.0) -> dict:
        """Wait for an asynchronous Janus event of this handle ("webrtcup", "media", "hangup", ...)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = 0
        while True:
            for ev in self.events[seen:]:
                if ev.get("janus") == kind:
                    return ev
                if ev.get("janus") == "hangup" and kind != "hangup":
                    raise JanusError(f"waiting for {kind}", None, f"hangup: {ev.get('reason')}")
            seen = len(self.events)
            left = deadline - loop.time()
            if left <= 0:
                raise JanusError(f"waiting for {kind}", None, f"not within {timeout} s; got "
                                 f"{[e.get('janus') for e in self.events]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    # --- videoroom ---------------------------------------------------------------------------
    async def create_room(self, room: int, publishers: int = 1, **opts) -> dict:
        """A temporary room: VP8 + Opus, no bitrate cap (bitrate 0), no periodic PLI/FIR
        (fir_freq 0), no joining notifications. opts override or add create parameters."""
        body = {"request": "create", "room": room, "publishers": publishers, "permanent": False,
                "videocodec": "vp8", "audiocodec": "opus", "bitrate": 0, "bitrate_cap": False,
                "fir_freq": 0, "notify_joining": False, "is_private": False}
        body.update(opts)
        reply = await self.request(body)
        return reply["plugindata"]["data"]

    async def destroy_room(self, room: int) -> None:
        await self.request({"request": "destroy", "room": room})

    async def publish(self, room: int, offer_sdp: str, display: str = "pub", timeout: float = 10.0,
                      **opts) -> str:
        """Join room as a publisher, then publish with our offer; returns Janus's SDP answer."""
        reply = await self.request({"request": "join", "ptype": "publisher", "room": room,
                                    "display": display}, timeout=timeout)
        self.feed_id = reply["plugindata"]["data"]["id"]
        body = {"request": "publish", "audio": True, "video": True}
        body.update(opts)
        reply = await self.request(body, jsep={"type": "offer", "sdp": offer_sdp}, timeout=timeout)
        jsep = reply.get("jsep")
        if not jsep or jsep.get("type") != "answer":
            raise JanusError("videoroom publish", None, f"no JSEP answer in {reply}")
        return jsep["sdp"]

    async def subscribe(self, room: int, feed: int, timeout: float = 10.0, **opts) -> str:
        """Join room as a subscriber to feed; returns Janus's SDP offer."""
        body = {"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed}]}
        body.update(opts)
        reply = await self.request(body, timeout=timeout)
        jsep = reply.get("jsep")
        if not jsep or jsep.get("type") != "offer":
            raise JanusError("videoroom subscribe", None, f"no JSEP offer in {reply}")
        return jsep["sdp"]

    async def start(self, answer_sdp: str, timeout: float = 10.0) -> dict:
        """Send our SDP answer to the subscriber handle's offer."""
        return await self.request({"request": "start"}, jsep={"type": "answer", "sdp": answer_sdp},
                                  timeout=timeout)

    async def leave(self) -> None:
        await self.request({"request": "leave"})

    async def detach(self) -> None:
        await self.session._post(self.path, {"janus": "detach"}, "detach")
        self.session.handles.pop(self.id, None)


# --- SDP ---------------------------------------------------------------------------------------

@dataclass
class Candidate:
    foundation: str
    component: int
    transport: str
    priority: int
    ip: str
    port: int
    typ: str


@dataclass
class MediaDesc:
    kind: str                      # "audio" / "video" / "application"
    port: int
    mid: str | None = None
    direction: str | None = None
    payloads: dict = field(default_factory=dict)      # pt -> "VP8/90000"
    fmtp: dict = field(default_factory=dict)          # pt -> "apt=96" etc.
    rtcp_fb: dict = field(default_factory=dict)       # pt -> ["nack", "nack pli", ...]
    extmap: dict = field(default_factory=dict)        # id -> uri
    ssrcs: list = field(default_factory=list)         # in order of appearance
    ssrc_groups: list = field(default_factory=list)   # [("FID", [a, b])]
    ssrc_attrs: dict = field(default_factory=dict)    # ssrc -> {"cname": .., "msid": ..}
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    fingerprint: str | None = None
    setup: str | None = None
    candidates: list = field(default_factory=list)
    rtcp_mux: bool = False

    def pt(self, codec: str) -> int | None:
        """The payload type for a codec name (e.g. "VP8", "opus")."""
        for p, enc in self.payloads.items():
            if enc.split("/")[0].lower() == codec.lower():
                return p
        return None

    def rtx_pt(self, pt: int) -> int | None:
        for p, enc in self.payloads.items():
            if enc.split("/")[0].lower() == "rtx" and self.fmtp.get(p, "") == f"apt={pt}":
                return p
        return None

    @property
    def media_ssrc(self) -> int | None:
        """The primary SSRC (the first of a FID group, otherwise the first listed)."""
        for sem, ss in self.ssrc_groups:
            if sem == "FID":
                return ss[0]
        return self.ssrcs[0] if self.ssrcs else None


@dataclass
class SessionDesc:
    media: list
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    fingerprint: str | None = None
    setup: str | None = None
    ice_lite: bool = False
    bundle: list = field(default_factory=list)

    def ice(self, m: MediaDesc | None = None) -> tuple[str, str]:
        m = m or self.media[0]
        return (m.ice_ufrag or self.ice_ufrag, m.ice_pwd or self.ice_pwd)

    @property
    def all_fingerprint(self) -> str | None:
        return self.fingerprint or next((m.fingerprint for m in self.media if m.fingerprint), None)

    @property
    def all_setup(self) -> str | None:
        return self.setup or next((m.setup for m in self.media if m.setup), None)

    @property
    def candidates(self) -> list:
        return [c for m in self.media for c in m.candidates]

    def by_kind(self, kind: str) -> MediaDesc | None:
        return next((m for m in self.media if m.kind == kind), None)


def parse_candidate(value: str) -> Candidate:
    """'1 1 udp 2015363327 10.98.0.1 20123 typ host' (without the 'candidate:' prefix too)."""
    f = value.split(":", 1)[1].split() if value.startswith("candidate:") else value.split()
    return Candidate(f[0], int(f[1]), f[2].lower(), int(f[3]), f[4], int(f[5]), f[7] if len(f) > 7 else "host")


def parse_sdp(sdp: str) -> SessionDesc:
    """What a simulated peer needs from Janus's SDP: ICE credentials, candidates, fingerprint,
    DTLS setup role, payload types, extensions and the SSRCs Janus sends from."""
    sess = SessionDesc(media=[])
    cur: MediaDesc | None = None
    for line in sdp.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if line.startswith("m="):
            f = line[2:].split()
            cur = MediaDesc(kind=f[0], port=int(f[1]))
            sess.media.append(cur)
            continue
        if not line.startswith("a="):
            continue
        key, _, val = line[2:].partition(":")
        tgt = cur if cur is not None else sess
        if key == "ice-ufrag":
            tgt.ice_ufrag = val
        elif key == "ice-pwd":
            tgt.ice_pwd = val
        elif key == "fingerprint":
            tgt.fingerprint = val
        elif key == "setup":
            tgt.setup = val
        elif key == "ice-lite":
            sess.ice_lite = True
        elif key == "group" and val.startswith("BUNDLE"):
            sess.bundle = val.split()[1:]
        elif cur is None:
            continue
        elif key == "mid":
            cur.mid = val
        elif key in ("sendrecv", "sendonly", "recvonly", "inactive"):
            cur.direction = key
        elif key == "rtpmap":
            pt, enc = val.split(None, 1)
            cur.payloads[int(pt)] = enc
        elif key == "fmtp":
            pt, params = val.split(None, 1)
            cur.fmtp[int(pt)] = params
        elif key == "rtcp-fb":
            pt, fb = val.split(None, 1)
            if pt != "*":
                cur.rtcp_fb.setdefault(int(pt), []).append(fb)
        elif key == "extmap":
            i, uri = val.split(None, 1)
            cur.extmap[int(i.split("/")[0])] = uri.split()[0]
        elif key == "rtcp-mux":
            cur.rtcp_mux = True
        elif key == "candidate":
            cur.candidates.append(parse_candidate(val))
        elif key == "ssrc-group":
            f = val.split()
            cur.ssrc_groups.append((f[0], [int(x) for x in f[1:]]))
        elif key == "ssrc":
            s, _, attr = val.partition(" ")
            s = int(s)
            if s not in cur.ssrcs:
                cur.ssrcs.append(s)
            name, _, v = attr.partition(":")
            cur.ssrc_attrs.setdefault(s, {})[name] = v
    return sess


VP8_FB = ("nack", "nack pli", "ccm fir", "goog-remb")


def _candidate_line(ip: str, port: int, priority: int = 2130706431, foundation: str = "1") -> str:
    return f"a=candidate:{foundation} 1 udp {priority} {ip} {port} typ host"


def _fmt(lines: list) -> str:
    return "\r\n".join(lines) + "\r\n"


def build_offer(ufrag: str, pwd: str, fingerprint: str, ip: str, port: int, video_ssrc: int,
                audio_ssrc: int | None = None, setup: str = "actpass", cname: str = "loadpeer",
                stream: str = "stream0", session_id: int | None = None, video_pt: int = 96,
                audio_pt: int = 111, extmap: dict | None = None) -> str:
    """A publisher's offer to Janus: one sendonly VP8 video m-line (mid 0) and optionally a
    sendonly Opus audio m-line (mid 1), BUNDLEd, rtcp-mux, one host candidate plus
    end-of-candidates. fingerprint is 'sha-256 AB:CD:...' (or just the hex, then sha-256 is
    assumed). extmap: {id: uri} header extensions offered on both m-lines (default none)."""
    if " " not in fingerprint:
        fingerprint = "sha-256 " + fingerprint
    sid = session_id if session_id is not None else random.randint(1, 2**62)
    mids = ["0"] + (["1"] if audio_ssrc is not None else [])
    lines = ["v=0", f"o=- {sid} 2 IN IP4 {ip}", "s=-", "t=0 0", f"a=group:BUNDLE {' '.join(mids)}",
             f"a=msid-semantic: WMS {stream}"]

    def common(mid: str) -> list:
        out = [f"c=IN IP4 {ip}", f"a=rtcp:{port} IN IP4 {ip}", f"a=ice-ufrag:{ufrag}", f"a=ice-pwd:{pwd}",
               f"a=fingerprint:{fingerprint}", f"a=setup:{setup}", f"a=mid:{mid}"]
        out += [f"a=extmap:{i} {uri}" for i, uri in sorted((extmap or {}).items())]
        return out + ["a=sendonly", "a=rtcp-mux"]

    lines += [f"m=video {port} UDP/TLS/RTP/SAVPF {video_pt}"] + common("0")
    lines += [f"a=rtpmap:{video_pt} VP8/90000"] + [f"a=rtcp-fb:{video_pt} {fb}" for fb in VP8_FB]
    lines += [f"a=ssrc:{video_ssrc} cname:{cname}", f"a=ssrc:{video_ssrc} msid:{stream} {stream}-video"]
    lines += [_candidate_line(ip, port), "a=end-of-candidates"]
    if audio_ssrc is not None:
        lines += [f"m=audio {port} UDP/TLS/RTP/SAVPF {audio_pt}"] + common("1")
        lines += [f"a=rtpmap:{audio_pt} opus/48000/2", f"a=fmtp:{audio_pt} minptime=10;useinbandfec=1"]
        lines += [f"a=ssrc:{audio_ssrc} cname:{cname}", f"a=ssrc:{audio_ssrc} msid:{stream} {stream}-audio"]
        lines += [_candidate_line(ip, port), "a=end-of-candidates"]
    return _fmt(lines)


def build_answer(offer: str | SessionDesc, ufrag: str, pwd: str, fingerprint: str, ip: str, port: int,
                 setup: str | None = None, cname: str = "loadsub", rtcp_ssrc: int | None = None,
                 keep_extmap: bool = False) -> str:
    """A subscriber's answer to Janus's offer: every offered audio/video m-line accepted
    recvonly with only its primary codec (VP8 / opus, same PT as offered; no RTX/FEC),
    data channels rejected (port 0), BUNDLE of the accepted mids, one host candidate +
    end-of-candidates. setup defaults to 'active' for an 'actpass' offer (the opposite role
    otherwise). rtcp_ssrc: an a=ssrc line so Janus knows our receiver-report SSRC."""
    o = parse_sdp(offer) if isinstance(offer, str) else offer
    if " " not in fingerprint:
        fingerprint = "sha-256 " + fingerprint
    if setup is None:
        their = o.all_setup or "actpass"
        setup = {"actpass": "active", "active": "passive", "passive": "active"}[their]
    codec_of = {"video": "VP8", "audio": "opus"}
    accepted = [m.mid for m in o.media if m.kind in codec_of and m.port != 0 and m.mid is not None
                and m.pt(codec_of[m.kind]) is not None]
    lines = ["v=0", f"o=- {random.randint(1, 2**62)} 2 IN IP4 {ip}", "s=-", "t=0 0"]
    if accepted:
        lines.append(f"a=group:BUNDLE {' '.join(accepted)}")
    first = True
    for m in o.media:
        codec = codec_of.get(m.kind)
        pt = m.pt(codec) if codec else None
        if m.mid not in accepted or pt is None:
            proto = "UDP/DTLS/SCTP webrtc-datachannel" if m.kind == "application" else "UDP/TLS/RTP/SAVPF 0"
            lines += [f"m={m.kind} 0 {proto}", "c=IN IP4 0.0.0.0"]
            if m.mid is not None:
                lines.append(f"a=mid:{m.mid}")
            if m.kind != "application":
                lines.append("a=inactive")
            continue
        lines += [f"m={m.kind} {port} UDP/TLS/RTP/SAVPF {pt}", f"c=IN IP4 {ip}", f"a=rtcp:{port} IN IP4 {ip}",
                  f"a=ice-ufrag:{ufrag}", f"a=ice-pwd:{pwd}", f"a=fingerprint:{fingerprint}",
                  f"a=setup:{setup}", f"a=mid:{m.mid}"]
        if keep_extmap:
            lines += [f"a=extmap:{i} {uri}" for i, uri in sorted(m.extmap.items())]
        lines += ["a=recvonly", "a=rtcp-mux", f"a=rtpmap:{pt} {m.payloads[pt]}"]
        if pt in m.fmtp:
            lines.append(f"a=fmtp:{pt} {m.fmtp[pt]}")
        lines += [f"a=rtcp-fb:{pt} {fb}" for fb in m.rtcp_fb.get(pt, []) if fb != "transport-cc" or keep_extmap]
        if rtcp_ssrc is not None:
            lines.append(f"a=ssrc:{rtcp_ssrc + (0 if first else 1)} cname:{cname}")
        lines += [_candidate_line(ip, port), "a=end-of-candidates"]
        first = False
    return _fmt(lines)
