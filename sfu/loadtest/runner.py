"""`sfu load-test`: simulated publishers and subscribers against a LiveKit-compatible server.

Set-up (signalling, ICE, DTLS) runs in asyncio; once every transport is up, the sockets and
SRTP sessions go to the C packet engine (:mod:`sfu.loadtest.engine`): one thread generates
every publisher's RTP, `receivers` threads (one per core by default) receive, decrypt and
check the subscribers' sockets, each its share.  The report says how busy they were, and
flags a receiver over RECEIVER_SATURATED of a core or latencies past the histogram's end:
those figures are the tester's limit, not the server's. Python
wakes once a second for the progress line, and every few milliseconds only to answer the
STUN/DTLS datagrams the engine queues.

:class:`MediaRun` is the server-independent half (it also drives the Janus comparison in
``bench/compare_janus.py``); :func:`run` is the LiveKit half.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from .. import auth
from .cli_run import run_report
from .engine import HIST_RANGE_MS, VIDEO_CODECS, Engine, SenderSpec
from . import livekit as lt
from .livekit import Participant, SignalError, TrackPlan
from .peer import Peer, PeerError, local_ip_towards
from .speakers import SpeakerSchedule, detection as speaker_detection, summary as speaker_summary

RESOLUTIONS = {"180p": (320, 180), "360p": (640, 360), "540p": (960, 540), "720p": (1280, 720),
               "1080p": (1920, 1080)}
DEFAULT_VIDEO_BITRATE = {"180p": 150_000, "360p": 500_000, "540p": 900_000, "720p": 1_700_000,
                         "1080p": 3_000_000}
AUDIO_BITRATE = 32_000
AUDIO_PPS = 50.0
CONTROL_POLL = 0.01
RECEIVER_SATURATED = 0.9     # of a core: a receiver this busy may be what limits the figures
TAIL_QUIET = 0.3             # s without a packet after the senders stopped: the tail is in
TAIL_MAX = 3.0               # s the receivers wait for the tail at most
SETUP_CONCURRENCY = 16


@dataclass
class Options:
    url: str = "ws://127.0.0.1:7880"
    api_key: str = "devkey"
    api_secret: str = "secret"
    rooms: int = 1
    room_prefix: str = "load-test"
    video_publishers: int = 1
    audio_publishers: int = 0
    subscribers: int = 1
    duration: float = 30.0
    video_resolution: str = "720p"
    video_bitrate: int = 0            # 0: by resolution
    video_fps: float = 30.0
    simulcast: bool = False
    video_codec: str = "vp8"      # vp8 | vp9 | h264 | av1
    keyframe_interval: float = 2.0
    bind_ip: str = ""
    setup_timeout: float = 30.0
    num_per_second: float = 0.0       # participant starts per second during set-up (0: no limit)
    progress: bool = True
    receivers: int = 0                # receiver threads (0: one per CPU, at most 8)
    simulate_speakers: bool = False   # audio publishers take turns speaking (sfu.loadtest.speakers)


def default_receivers() -> int:
    """one receiver thread per CPU this process may run on, at most 8"""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def parse_resolution(text: str) -> tuple[int, int]:
    text = text.strip().lower()
    if text in RESOLUTIONS:
        return RESOLUTIONS[text]
    w, sep, h = text.partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 16 or int(h) < 16:
        raise ValueError(f"bad resolution {text!r}: use 180p/360p/540p/720p/1080p or WIDTHxHEIGHT")
    return int(w), int(h)


# ---------------------------------------------------------------------- server process


def _is_local(host: str) -> bool:
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(host, None, socket.AF_INET)}
    except OSError:
        return False
    if any(ipaddress.ip_address(a).is_loopback for a in addrs):
        return True
    import psutil
    local = {a.address for nic in psutil.net_if_addrs().values() for a in nic if a.family == socket.AF_INET}
    return bool(addrs & local)


def find_server_process(host: str, port: int) -> Any:
    """The local process listening on the server's HTTP port, or None."""
    import psutil
    if not _is_local(host):
        return None
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            try:
                return psutil.Process(c.pid)
            except psutil.NoSuchProcess:
                return None
    return None


class ProcessMeter:
    """CPU seconds and memory of a process and its children (the server's media workers)."""

    def __init__(self, proc: Any) -> None:
        self.proc = proc
        self.pids: list[int] = []
        self.peak_rss = 0
        self.by_pid: dict[int, float] = {}    # CPU seconds of each process at the last read

    def _tree(self) -> list[Any]:
        import psutil
        try:
            return [self.proc] + self.proc.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        import psutil
        total = 0.0
        tree = self._tree()
        self.pids = [p.pid for p in tree]
        rss = 0
        for p in tree:
            try:
                t = p.cpu_times()
                total += t.user + t.system
                self.by_pid[p.pid] = t.user + t.system
                rss += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        self.peak_rss = max(self.peak_rss, rss)
        return total


# ---------------------------------------------------------------------- media phase


@dataclass
class SendEntry:
    """One RTP stream a simulated publisher sends."""

    publisher: str
    track: str
    kind: str
    rid: str
    peer: Peer
    spec: SenderSpec


@dataclass
class RecvEntry:
    """A simulated subscriber's transport and the tracks it expects, by SSRC."""

    subscriber: str
    peer: Peer
    tracks: dict[int, tuple[str, str, str]]   # ssrc -> (track id, kind, publisher)
    clock_rates: dict[int, int] = field(default_factory=dict)   # pt -> clock rate
    codecs: dict[int, str] = field(default_factory=dict)        # pt -> video codec (key frames counted)


def _pct(a: float, b: float) -> float:
    return 100.0 * a / b if b else 0.0


class MediaRun:
    """Runs the C engine over connected peers for a duration, with live progress."""

    def __init__(self, sends: list[SendEntry], recvs: list[RecvEntry], *, meter: ProcessMeter | None = None,
                 progress: Callable[[str], None] | None = None, control_peers: list[Peer] | None = None,
                 receivers: int = 0) -> None:
        self.sends = sends
        self.recvs = recvs
        self.meter = meter
        self.progress = progress
        self.engine = Engine(receivers or default_receivers())
        self._send_idx: list[int] = []
        self._recv_idx: list[int] = []
        self._peers: list[Peer] = []
        seen: set[int] = set()
        for r in recvs:
            self._recv_idx.append(self.engine.add_socket(r.peer.sock.fileno(), r.peer.rx, r.peer.on_control,
                                                         clock_rates=r.clock_rates, label=r.subscriber,
                                                         codecs=r.codecs))
            seen.add(id(r.peer))
            self._peers.append(r.peer)
        for peer in [s.peer for s in sends] + list(control_peers or []):
            if id(peer) not in seen:
                seen.add(id(peer))
                self.engine.add_socket(peer.sock.fileno(), peer.rx, peer.on_control, label="publisher")
                self._peers.append(peer)
        for s in sends:
            self._send_idx.append(self.engine.add_sender(s.spec))
        self.cpu = 0.0
        self.wall = 0.0
        self.duration = 0.0
        self.receiver_cpu: list[float] = []
        self.cpu_by_pid: dict[int, float] = {}
        self.ended = 0.0          # monotonic time the media phase ended

    def _totals(self) -> tuple[int, int, int, int]:
        sent = sum(self.engine.sender_stats(i)["packets"] for i in self._send_idx)
        got = lost = expected = 0
        for j in self._recv_idx:
            for st in self.engine.socket_stats(j)["streams"]:
                got += st["packets"]
                lost += max(0, st["lost"])
                expected += st["expected"]
        return sent, got, lost, expected

    async def run(self, duration: float, speakers: list[SpeakerSchedule] | None = None) -> None:
        """the media phase; with `speakers`, each schedule's publishers take turns speaking
        (their audio senders' RFC 6464 level loud or silent)"""
        speakers = speakers or []
        audio = [(s.publisher, i) for s, i in zip(self.sends, self._send_idx) if s.kind == "audio"]
        for peer in self._peers:
            peer.detach()
            peer.start_consent()
        cpu0 = self.meter.cpu_seconds() if self.meter else 0.0
        by_pid0 = dict(self.meter.by_pid) if self.meter else {}
        t0 = time.monotonic()
        self.duration = duration
        self.engine.start(duration, recv_grace=TAIL_MAX + 0.5)
        last = (t0, 0, 0)
        next_tick = t0 + 1.0
        try:
            while time.monotonic() < t0 + duration:
                for sched in speakers:
                    if sched.step(time.monotonic()) is not None:
                        for who, i in audio:
                            if who in sched.speakers:
                                self.engine.set_audio_level(i, sched.level(who))
                self.engine.drain_control()
                await asyncio.sleep(CONTROL_POLL)
                now = time.monotonic()
                if now >= next_tick:
                    next_tick += 1.0
                    if self.progress is not None:
                        sent, got, lost, expected = self._totals()
                        dt = now - last[0]
                        cpu = ""
                        if self.meter:
                            c = self.meter.cpu_seconds()
                            cpu = f"  server cpu {100 * (c - cpu0) / (now - t0):5.1f}%"
                        busy = max(self.engine.receiver_cpu(), default=0.0) / (now - t0)
                        self.progress(f"[{now - t0:5.1f}s] sent {(sent - last[1]) / dt:9.0f} pkt/s  "
                                      f"received {(got - last[2]) / dt:9.0f} pkt/s  "
                                      f"loss {_pct(lost, expected):5.2f}%{cpu}  tester rx {100 * busy:3.0f}%"
                                      + ("  (receivers saturated)" if busy > RECEIVER_SATURATED else ""))
                        last = (now, sent, got)
            self.ended = time.monotonic()
            # packets in flight when the generator stops: read until nothing more arrives
            # (a loaded server may still be working off its queues), at most TAIL_MAX
            got = -1
            while time.monotonic() < self.ended + TAIL_MAX:
                await asyncio.sleep(TAIL_QUIET)
                self.engine.drain_control()
                now_got = self._totals()[1]
                if now_got == got:
                    break
                got = now_got
        finally:
            self.wall = time.monotonic() - t0
            if self.meter:
                self.cpu = self.meter.cpu_seconds() - cpu0
                self.cpu_by_pid = {pid: c - by_pid0.get(pid, 0.0) for pid, c in self.meter.by_pid.items()}
            self.receiver_cpu = self.engine.receiver_cpu()
            self.engine.stop()

    def report(self) -> dict[str, Any]:
        wall = max(self.wall, 1e-9)
        sending = max(min(self.wall, self.duration), 1e-9)     # the generator's time
        tracks = []
        for s, i in zip(self.sends, self._send_idx):
            st = self.engine.sender_stats(i)
            tracks.append({"publisher": s.publisher, "track": s.track, "kind": s.kind, "rid": s.rid,
                           "ssrc": s.spec.ssrc, "packets": st["packets"], "frames": st["frames"],
                           "keyframes": st["keyframes"], "bitrate_kbps": round(st["bytes"] * 8 / sending / 1000, 1),
                           "send_errors": st["errors"]})
        # an audio track reaches every subscriber whole (every one was connected before the
        # first packet): what its publisher sent is what each should get, so packets never
        # read (lost, or still queued when the tester stopped) count as lost.  Video starts at
        # a key frame and simulcast switches layers: there the loss is the gaps in what arrived
        audio_sent = {t["track"]: t["packets"] for t in tracks if t["kind"] == "audio"}
        subs = []
        for r, j in zip(self.recvs, self._recv_idx):
            ss = self.engine.socket_stats(j)
            for st in ss["streams"]:
                track, kind, pub = r.tracks.get(st["ssrc"], ("?", "?", "?"))
                span = max((st["last_ns"] - st["first_ns"]) / 1e9, 1e-9) if st["packets"] > 1 else wall
                lat = st["latency_ms"]
                expected = st["expected"]
                if kind == "audio" and track in audio_sent:
                    expected = max(expected, audio_sent[track])
                lost = max(0, expected - st["packets"])
                subs.append({"subscriber": r.subscriber, "publisher": pub, "track": track, "kind": kind,
                             "ssrc": st["ssrc"], "packets": st["packets"], "expected": expected,
                             "lost": lost, "loss_pct": round(_pct(lost, expected), 3),
                             "bitrate_kbps": round(st["bytes"] * 8 / span / 1000, 1),
                             "jitter_ms": round(st["jitter_ms"], 3), "frames": st["frames"],
                             "keyframes": st["keyframes"],
                             "latency_ms": {k: round(v, 3) for k, v in lat.items() if k != "count"},
                             "latency_over_range": st["latency_over_range"], "bad": ss["bad"]})
            expected_ssrcs = set(r.tracks)
            got = {st["ssrc"] for st in ss["streams"]}
            for ssrc in sorted(expected_ssrcs - got):
                track, kind, pub = r.tracks[ssrc]
                missed = audio_sent.get(track, 0) if kind == "audio" else 0
                subs.append({"subscriber": r.subscriber, "publisher": pub, "track": track, "kind": kind,
                             "ssrc": ssrc, "packets": 0, "expected": missed, "lost": missed, "loss_pct": 100.0,
                             "bitrate_kbps": 0.0, "jitter_ms": 0.0, "frames": 0, "keyframes": 0,
                             "latency_ms": {}, "latency_over_range": 0, "bad": ss["bad"]})
        sent = sum(t["packets"] for t in tracks)
        got = sum(s["packets"] for s in subs)
        lost = sum(s["lost"] for s in subs)
        expected = sum(s["expected"] for s in subs)
        lats = [s["latency_ms"].get("p50", 0.0) for s in subs if s["packets"]]
        over = sum(s["latency_over_range"] for s in subs)
        rx_busy = [round(c / wall, 3) for c in self.receiver_cpu]
        tester = {"receivers": len(rx_busy), "receiver_busy": rx_busy,
                  "receivers_saturated": any(b > RECEIVER_SATURATED for b in rx_busy),
                  "latency_over_range": over, "latency_range_ms": HIST_RANGE_MS,
                  "latency_saturated": got > 0 and over > 0.01 * got}
        summary = {"duration_s": round(wall, 3), "packets_sent": sent, "packets_received": got,
                   "received_pps": round(got / wall, 1), "lost": lost, "loss_pct": round(_pct(lost, expected), 3),
                   "latency_p50_ms_median": round(sorted(lats)[len(lats) // 2], 3) if lats else None,
                   "subscriber_streams": len(subs),
                   "streams_without_packets": sum(1 for s in subs if not s["packets"])}
        out: dict[str, Any] = {"summary": summary, "tracks": tracks, "subscribers": subs, "tester": tester}
        if self.meter:
            out["server"] = {"pids": self.meter.pids, "cpu_seconds": round(self.cpu, 3),
                             "cpu_percent": round(100 * self.cpu / wall, 1),
                             "rss_mb": round(self.meter.peak_rss / 2**20, 1),
                             "cpu_us_per_received_packet": round(1e6 * self.cpu / got, 3) if got else None,
                             # the busiest server process (a media worker at ~100 % is the server's limit)
                             "busiest_process_percent": round(100 * max(self.cpu_by_pid.values(), default=0.0)
                                                              / wall, 1)}
        return out

    def close(self) -> None:
        for peer in self._peers:
            peer.close()
            peer.release_srtp()


def format_report(rep: dict[str, Any]) -> str:
    lines = ["", "Published tracks:",
             f"  {'publisher':<14} {'track':<18} {'kind':<5} {'rid':<3} {'packets':>9} {'kbps':>8} {'keyframes':>9}"]
    for t in rep["tracks"]:
        lines.append(f"  {t['publisher']:<14} {t['track']:<18} {t['kind']:<5} {t['rid'] or '-':<3} "
                     f"{t['packets']:>9} {t['bitrate_kbps']:>8.1f} {t['keyframes']:>9}")
    lines += ["", "Subscribers:",
              f"  {'subscriber':<14} {'track':<18} {'kind':<5} {'packets':>9} {'kbps':>8} {'loss%':>6} "
              f"{'jitter ms':>9} {'lat p50':>8} {'lat p99':>8} {'lat max':>8}"]
    for s in rep["subscribers"]:
        lat = s["latency_ms"]
        lines.append(f"  {s['subscriber']:<14} {s['track']:<18} {s['kind']:<5} {s['packets']:>9} "
                     f"{s['bitrate_kbps']:>8.1f} {s['loss_pct']:>6.2f} {s['jitter_ms']:>9.3f} "
                     f"{lat.get('p50', float('nan')):>8.2f} {lat.get('p99', float('nan')):>8.2f} "
                     f"{lat.get('max', float('nan')):>8.2f}")
    sm = rep["summary"]
    lines += ["", f"Total: sent {sm['packets_sent']} packets, subscribers received {sm['packets_received']} "
                  f"({sm['received_pps']:.0f}/s), loss {sm['loss_pct']:.3f}%, "
                  f"{sm['streams_without_packets']} of {sm['subscriber_streams']} subscriber streams without packets"]
    if "server" in rep:
        sv = rep["server"]
        lines.append(f"Server (pids {', '.join(map(str, sv['pids']))}): {sv['cpu_seconds']:.2f} CPU-s "
                     f"({sv['cpu_percent']:.1f}% of one core), peak RSS {sv['rss_mb']:.1f} MB, "
                     f"{sv['cpu_us_per_received_packet']} CPU-us per received packet")
    tr = rep.get("tester")
    if tr:
        lines.append(f"Load tester: {tr['receivers']} receiver thread(s), busy "
                     + "/".join(f"{100 * b:.0f}%" for b in tr["receiver_busy"]) + " of a core")
        if tr["receivers_saturated"]:
            lines.append(f"  WARNING: a receiver was over {100 * RECEIVER_SATURATED:.0f}% busy: latency and loss "
                         "may be the tester's, not the server's (use --receivers, or another machine)")
        if tr["latency_over_range"]:
            lines.append(f"  {'WARNING: ' if tr['latency_saturated'] else ''}{tr['latency_over_range']} packets "
                         f"arrived {tr['latency_range_ms']:.0f} ms or more after they were sent (the latency "
                         "histogram's end): a p99 there is the maximum")
    if rep.get("speakers"):
        sp = rep["speakers"]
        lines.append(f"Speakers: {sp['turns']} simulated speaker changes, seen by {sp['observers']} subscriber(s): "
                     f"{sp['detected']} reported, {sp['missed']} not; SpeakersChanged after "
                     f"p50 {sp['delay_ms_p50']} ms, p99 {sp['delay_ms_p99']} ms")
    if rep.get("setup"):
        st = rep["setup"]
        lines.append(f"Set-up: {st['participants']} participants in {st['seconds']:.2f} s; "
                     f"join p50 {st['join_ms_p50']:.0f} ms, transport p50 {st['transport_ms_p50']:.0f} ms")
    return "\n".join(lines)


# ---------------------------------------------------------------------- LiveKit


def _token(opts: Options, room: str, identity: str, publish: bool, subscribe: bool) -> str:
    grant = auth.VideoGrant(room=room, roomJoin=True, canPublish=publish, canSubscribe=subscribe,
                            canPublishData=False)
    return auth.KeyProvider({opts.api_key: opts.api_secret}).create(opts.api_key, identity=identity,
                                                                   video=grant, ttl=3600)


class _Pacer:
    """At most ``rate`` participant starts per second (0: no limit), shared by all set-up tasks."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        at = max(now, self.next)
        self.next = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)


async def _gather_limited(coros: list, limit: int, pacer: _Pacer) -> list:
    sem = asyncio.Semaphore(limit)

    async def one(c):
        async with sem:
            await pacer.wait()
            return await c
    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2] if xs else 0.0


async def run(opts: Options, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Set up every participant, run the media for ``opts.duration``, return the report."""
    parts = urllib.parse.urlsplit(opts.url if "://" in opts.url else f"ws://{opts.url}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
    bind_ip = opts.bind_ip or local_ip_towards(host)
    width, height = parse_resolution(opts.video_resolution)
    vbitrate = opts.video_bitrate or DEFAULT_VIDEO_BITRATE.get(opts.video_resolution.lower(), 1_000_000)
    proc = find_server_process(host, port)
    meter = ProcessMeter(proc) if proc is not None else None

    subs: list[Participant] = []
    pubs: list[Participant] = []
    room_of: dict[str, int] = {}        # identity -> room index
    for r in range(opts.rooms):
        room = f"{opts.room_prefix}-{r}" if opts.rooms > 1 else opts.room_prefix
        for i in range(opts.subscribers):
            ident = f"sub-{r}-{i}"
            room_of[ident] = r
            subs.append(Participant(opts.url, _token(opts, room, ident, False, True), ident, bind_ip,
                                    auto_subscribe=True))
        for i in range(opts.video_publishers):
            ident = f"vpub-{r}-{i}"
            plan = [TrackPlan("video", vbitrate, width, height, opts.video_fps, opts.simulcast,
                              codec=opts.video_codec)]
            pubs.append(Participant(opts.url, _token(opts, room, ident, True, False), ident, bind_ip,
                                    auto_subscribe=False, publish=plan))
        for i in range(opts.audio_publishers):
            ident = f"apub-{r}-{i}"
            room_of[ident] = r
            pubs.append(Participant(opts.url, _token(opts, room, ident, True, False), ident, bind_ip,
                                    auto_subscribe=False, publish=[TrackPlan("audio", AUDIO_BITRATE)]))
    everyone = subs + pubs
    run_: MediaRun | None = None
    t_setup = time.monotonic()
    try:
        out(f"setting up {len(subs)} subscribers and {len(pubs)} publishers in {opts.rooms} room(s) "
            f"on {opts.url} (local address {bind_ip}; video {opts.video_codec})")

        async def sub_up(p: Participant) -> None:
            await p.connect()
            await p.subscriber_connected(opts.setup_timeout)

        async def pub_up(p: Participant) -> None:
            await p.connect()
            await p.publish()

        pacer = _Pacer(opts.num_per_second)
        errs = [e for e in await _gather_limited([sub_up(p) for p in subs], SETUP_CONCURRENCY, pacer) if e]
        errs += [e for e in await _gather_limited([pub_up(p) for p in pubs], SETUP_CONCURRENCY, pacer) if e]
        if errs:
            raise SignalError(f"{len(errs)} participant(s) failed to set up; first: {errs[0]!r}")
        # every subscriber must have been offered every track of its room (a simulcast track
        # becomes subscribable with its first packets: those offers arrive once media flows)
        per_room = opts.audio_publishers + (0 if opts.simulcast else opts.video_publishers)
        deadline = time.monotonic() + opts.setup_timeout
        while time.monotonic() < deadline and any(len(p.recv) < per_room for p in subs):
            await asyncio.sleep(0.05)
        short = [p.identity for p in subs if len(p.recv) < per_room]
        if short:
            out(f"warning: {len(short)} subscriber(s) were not offered all {per_room} tracks: {short[:5]}")
        setup_s = time.monotonic() - t_setup
        owner = {layer.track_sid: (p.identity, layer.track.kind) for p in pubs for layer in p.layers}
        sends = []
        for p in pubs:
            assert p.publisher is not None and p.publisher.selected is not None
            for layer in p.layers:
                t = layer.track
                sends.append(SendEntry(p.identity, layer.track_sid, t.kind, layer.rid, p.publisher, SenderSpec(
                    fd=p.publisher.sock.fileno(), addr=p.publisher.selected, srtp=p.publisher.tx,
                    ssrc=layer.ssrc, pt=layer.pt, kind=t.kind, codec=t.codec if t.kind == "video" else "opus",
                    clock_rate=90000 if t.kind == "video" else 48000, bitrate=layer.bitrate,
                    fps=t.fps if t.kind == "video" else AUDIO_PPS, keyframe_interval=opts.keyframe_interval,
                    mid_ext_id=layer.mid_ext_id, mid=layer.mid, rid_ext_id=layer.rid_ext_id, rid=layer.rid,
                    audio_level_ext_id=layer.audio_level_ext_id)))

        def offered(p: Participant) -> dict[int, tuple[str, str, str]]:
            return {ssrc: (rt.track_sid, rt.kind, owner.get(rt.track_sid, ("?", rt.kind))[0])
                    for ssrc, rt in p.recv.items()}

        recvs = []
        for p in subs:
            assert p.subscriber is not None
            rates = {lt.OPUS_PT: 48000, lt.VP8_PT: 90000}
            rates.update({rt.pt: rt.clock_rate for rt in p.recv.values()})
            codecs = {rt.pt: rt.codec for rt in p.recv.values() if rt.kind == "video" and rt.codec in VIDEO_CODECS}
            recvs.append(RecvEntry(p.identity, p.subscriber, offered(p), rates, codecs))
        run_ = MediaRun(sends, recvs, meter=meter, progress=out if opts.progress else None,
                        control_peers=[p.publisher for p in pubs if p.publisher is not None],
                        receivers=opts.receivers)
        schedules: list[SpeakerSchedule] = []
        if opts.simulate_speakers and opts.audio_publishers:
            for r in range(opts.rooms):
                schedules.append(SpeakerSchedule([p.identity for p in pubs if room_of.get(p.identity) == r
                                                  and any(x.track.kind == "audio" for x in p.layers)]))
        out(f"set-up done in {setup_s:.2f} s; sending for {opts.duration:g} s")
        await run_.run(opts.duration, speakers=schedules)
        for entry, p in zip(recvs, subs):
            entry.tracks = offered(p)          # what later offers added (simulcast layers)
        rep = run_.report()
        rep["options"] = asdict(opts)
        rep["options"].pop("api_secret", None)
        rep["setup"] = {"participants": len(everyone), "seconds": round(setup_s, 3),
                        "join_ms_p50": round(_median([p.join_ms for p in everyone]), 1),
                        "transport_ms_p50": round(_median([x.stats.setup_ms for p in everyone
                                                           for x in (p.publisher, p.subscriber) if x]), 1),
                        "srtp_profiles": sorted({x.profile for p in everyone
                                                 for x in (p.publisher, p.subscriber) if x and x.profile})}
        if schedules:
            sid_of = {p.identity: p.join.participant.sid for p in pubs if p.join is not None}
            delays: list[float] = []
            missed = turns = observers = 0
            for r, sched in enumerate(schedules):
                seen = {p.identity: p.speakers for p in subs if room_of.get(p.identity) == r}
                d, m = speaker_detection(sched.turns, seen, sid_of, run_.ended)
                delays += d
                missed += m
                turns += len(sched.turns)
                observers += len(seen)
            rep["speakers"] = speaker_summary(turns, observers, delays, missed)
        left = [p.identity for p in everyone if p.left]
        if left:
            rep["summary"]["disconnected"] = left
        return rep
    finally:
        await asyncio.gather(*(p.close() for p in everyone), return_exceptions=True)
        if run_ is not None:
            run_.close()


def main(opts: Options, json_path: str | None) -> int:
    rep = run_report("sfu load-test", lambda out: run(opts, out=out), format_report, json_path,
                     (SignalError, PeerError, OSError, asyncio.TimeoutError))
    return 0 if rep is not None and rep["summary"]["packets_received"] > 0 else 1
