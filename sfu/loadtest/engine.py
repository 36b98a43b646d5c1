"""Python side of the load-test packet engine (csrc/tools/loadtest.c, the
extension module sfu.loadtest._engine).

One `Engine` owns the cffi arrays of senders (simulated publishers'
streams) and receiver sockets (every UDP socket a simulated peer owns) and
runs its threads: the sender thread paces every stream, `receivers`
receiver threads read the sockets (each its own contiguous share of them,
with its own control queue: a receiver that cannot keep up with a large
room is the tester's limit, so the work is spread over cores).  All are C
calls that release the GIL.  STUN and DTLS datagrams arriving on the
sockets are queued by C and handed to Python by `drain_control()`, which
the asyncio loop calls periodically.

The receiver threads own reading every added socket: Python must not read
them itself (sending STUN/DTLS with sock.sendto from Python is fine).
`receiver_cpu()` says how busy each was: a receiver near 100 % means the
figures (latency above all) are the tester's, not the server's.

Statistics are read live from the C structs (aligned 64-bit counters; a
snapshot may mix values from two adjacent packets).
"""

from __future__ import annotations

import os
import threading
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from .. import srtp
from ..native import addr_from_c, addr_to_c
from ._engine import ffi, lib

if TYPE_CHECKING:
    from ..srtp import Session

srtp.bind(lib)   # this module's own copy of the SRTP glue needs libsrtp's entry points too

ControlCallback = Callable[[bytes, "tuple[str, int]"], None]

_KINDS = {"audio": lib.SFU_LT_AUDIO, "video": lib.SFU_LT_VIDEO}
_CODECS = {"vp8": lib.SFU_CODEC_VP8, "vp9": lib.SFU_CODEC_VP9, "h264": lib.SFU_CODEC_H264,
           "av1": lib.SFU_CODEC_AV1, "opus": lib.SFU_CODEC_OTHER}
VIDEO_CODECS = ("vp8", "vp9", "h264", "av1")
HIST_BUCKETS = lib.SFU_LT_HIST_BUCKETS
HIST_MS = lib.SFU_LT_HIST_US / 1000.0
HIST_RANGE_MS = (HIST_BUCKETS - 1) * HIST_MS     # latencies at or past this share the last bucket


@dataclass
class SenderSpec:
    fd: int
    addr: tuple[str, int]
    srtp: "Session | None"
    ssrc: int
    pt: int
    kind: str  # "audio" | "video"
    codec: str = "vp8"  # video: one of VIDEO_CODECS (its payload descriptors); audio: "opus"
    clock_rate: int = 90000
    bitrate: int = 500_000
    fps: float = 30.0  # video frames/s; audio packets/s
    keyframe_interval: float = 2.0  # seconds, video
    mid_ext_id: int = 0
    mid: str = ""
    rid_ext_id: int = 0
    rid: str = ""
    audio_level_ext_id: int = 0  # RFC 6464 extension id (audio), 0 = not sent
    audio_level: int = 127       # -dBov it carries (127: silence); set_audio_level changes it


@dataclass
class _SocketSpec:
    fd: int
    srtp: "Session | None"
    on_control: ControlCallback | None
    clock_rates: dict[int, int]
    label: str
    codecs: dict[int, str]


def _ext(ext_id: int, value: str, what: str) -> bytes:
    if not 0 <= ext_id <= 14:
        raise ValueError(f"{what}_ext_id must be 0..14 (one-byte header extension), got {ext_id}")
    raw = value.encode()
    if ext_id and not 1 <= len(raw) <= lib.SFU_LT_EXT_STR:
        raise ValueError(f"{what} must be 1..{lib.SFU_LT_EXT_STR} bytes when {what}_ext_id is set")
    return raw


def _percentile(hist: array, count: int, q: float, lo: float, hi: float) -> float:
    """value at quantile q from the 100 us histogram, clamped to [lo, hi]"""
    if count <= 0:
        return 0.0
    want = q * count
    cum = 0
    for i, c in enumerate(hist):
        if not c:
            continue
        cum += c
        if cum >= want:
            v = (i + 0.5) * HIST_MS if i < HIST_BUCKETS - 1 else hi
            return min(max(v, lo), hi)
    return hi


class Engine:
    """Senders and receiver sockets of one load-test run."""

    def __init__(self, receivers: int = 1) -> None:
        if not 1 <= receivers <= 64:
            raise ValueError(f"receivers must be 1..64, got {receivers}")
        self.receivers = receivers
        self._sender_specs: list[SenderSpec] = []
        self._socket_specs: list[_SocketSpec] = []
        self._senders: Any = None
        self._socks: Any = None
        self._ctls = ffi.new("sfu_lt_ctl_queue_t[]", receivers)     # one per receiver thread
        self._shares: list[tuple[int, int]] = []                    # (first socket, count) per receiver
        self._recv_tids: list[int] = []                             # their native thread ids
        self._slot = ffi.new("sfu_lt_ctl_slot_t *")
        self._stop = ffi.new("int *")
        self._keep: list[Any] = []           # srtp sessions the C side points at
        self._threads: list[threading.Thread] = []
        self._send_thread: threading.Thread | None = None
        self._started = False
        self.results: dict[str, int] = {}

    # -- configuration (before start) ------------------------------------
    def add_sender(self, spec: SenderSpec) -> int:
        self._check_not_started()
        if spec.kind not in _KINDS:
            raise ValueError(f"kind must be 'audio' or 'video', got {spec.kind!r}")
        if spec.codec not in _CODECS:
            raise ValueError(f"codec must be one of {sorted(_CODECS)}, got {spec.codec!r}")
        if (spec.kind == "video") != (spec.codec in VIDEO_CODECS):
            raise ValueError(f"a {spec.kind} sender's codec cannot be {spec.codec!r}")
        if not (0 < spec.fps <= 1000) or spec.bitrate <= 0 or spec.clock_rate <= 0:
            raise ValueError("fps, bitrate and clock_rate must be positive (fps <= 1000)")
        if not 0 <= spec.pt <= 127:
            raise ValueError(f"payload type {spec.pt} out of range")
        _ext(spec.mid_ext_id, spec.mid, "mid")
        _ext(spec.rid_ext_id, spec.rid, "rid")
        if spec.mid_ext_id and spec.mid_ext_id == spec.rid_ext_id:
            raise ValueError("mid and rid need different extension ids")
        if spec.audio_level_ext_id:
            if spec.kind != "audio" or not 1 <= spec.audio_level_ext_id <= 14 or \
                    spec.audio_level_ext_id in (spec.mid_ext_id, spec.rid_ext_id):
                raise ValueError("audio_level_ext_id: 1..14, audio only, not the mid/rid id")
        if not 0 <= spec.audio_level <= 127:
            raise ValueError(f"audio_level is -dBov 0..127, got {spec.audio_level}")
        per_frame = spec.bitrate / 8 / spec.fps
        limit = lib.SFU_LT_MAX_PAYLOAD * (64 if spec.kind == "video" else 1)
        if per_frame > limit:
            raise ValueError(f"{spec.bitrate} bps at {spec.fps}/s is {per_frame:.0f} B per frame (max {limit})")
        self._sender_specs.append(spec)
        return len(self._sender_specs) - 1

    def add_socket(self, fd: int, srtp_rx: "Session | None", on_control: ControlCallback | None = None,
                   clock_rates: dict[int, int] | None = None, label: str = "",
                   codecs: dict[int, str] | None = None) -> int:
        """codecs: the video codec of each payload type (its key frames are counted), VP8 by default"""
        self._check_not_started()
        if any(s.fd == fd for s in self._socket_specs):
            raise ValueError(f"fd {fd} is already added")
        rates = dict(clock_rates or {})
        for pt, rate in rates.items():
            if not 0 <= pt <= 127 or rate <= 0:
                raise ValueError(f"bad clock rate entry {pt}: {rate}")
        for pt, name in (codecs or {}).items():
            if not 0 <= pt <= 127 or name not in VIDEO_CODECS:
                raise ValueError(f"bad codec entry {pt}: {name!r}")
        self._socket_specs.append(_SocketSpec(fd, srtp_rx, on_control, rates, label, dict(codecs or {})))
        return len(self._socket_specs) - 1

    def _check_not_started(self) -> None:
        if self._started:
            raise RuntimeError("Engine already started: add senders and sockets before start()")

    def _build(self) -> None:
        ns, nk = len(self._sender_specs), len(self._socket_specs)
        self._senders = ffi.new("sfu_lt_sender_t[]", max(ns, 1))
        for c, spec in zip(self._senders, self._sender_specs):
            c.fd = spec.fd
            addr_to_c(spec.addr[0], spec.addr[1], ffi.addressof(c, "dest"), ffi=ffi)
            c.srtp = self._session(spec.srtp)
            c.ssrc = spec.ssrc & 0xFFFFFFFF
            c.pt = spec.pt
            c.kind = _KINDS[spec.kind]
            c.codec = _CODECS[spec.codec]
            c.clock_rate = spec.clock_rate
            c.bitrate_bps = spec.bitrate
            c.fps = spec.fps
            c.keyframe_interval_ms = int(spec.keyframe_interval * 1000) if spec.kind == "video" else 0
            c.audio_level_ext_id = spec.audio_level_ext_id
            c.audio_level = spec.audio_level
            for name in ("mid", "rid"):
                ext_id = getattr(spec, f"{name}_ext_id")
                raw = _ext(ext_id, getattr(spec, name), name)
                if ext_id:
                    setattr(c, f"{name}_ext_id", ext_id)
                    setattr(c, f"{name}_len", len(raw))
                    ffi.memmove(getattr(c, name), raw, len(raw))
        self._socks = ffi.new("sfu_lt_socket_t[]", max(nk, 1))
        for c, spec in zip(self._socks, self._socket_specs):
            c.fd = spec.fd
            c.srtp = self._session(spec.srtp)
            for pt, rate in spec.clock_rates.items():
                c.clock_rates[pt] = rate
            for pt, name in spec.codecs.items():
                c.codecs[pt] = _CODECS[name]

    def _session(self, s: "Session | None") -> Any:
        if s is None:
            return ffi.NULL
        self._keep.append(s)
        return ffi.cast("void *", s.pointer)

    # -- running ----------------------------------------------------------
    def start(self, duration: float, recv_grace: float = 1.0) -> None:
        """Start the sender thread (`duration` seconds) and the receiver
        thread (`duration + recv_grace` seconds, so the tail arrives);
        stop() ends both earlier.  May be called once."""
        self._check_not_started()
        self._started = True
        self._build()
        ns, nk = len(self._sender_specs), len(self._socket_specs)
        if ns:
            self._send_thread = threading.Thread(
                target=self._run, args=("send", lib.sfu_lt_send_run, self._senders, ns, duration, self._stop),
                name="lt-send", daemon=True)
            self._threads.append(self._send_thread)
        k = min(self.receivers, nk)
        for r in range(k):
            first, last = nk * r // k, nk * (r + 1) // k
            self._shares.append((first, last - first))
            self._threads.append(threading.Thread(
                target=self._run,
                args=(f"recv{r}", lib.sfu_lt_recv_run, self._socks + first, last - first, self._senders, ns,
                      self._ctls + r, duration + recv_grace, self._stop),
                name=f"lt-recv{r}", daemon=True))
        for t in self._threads:
            t.start()

    def _run(self, name: str, fn: Any, *args: Any) -> None:
        if name.startswith("recv"):
            self._recv_tids.append(threading.get_native_id())
        self.results[name] = int(fn(*args))

    def receiver_cpu(self) -> list[float]:
        """CPU seconds each receiver thread has used so far (from /proc; [] before start)"""
        out = []
        tick = os.sysconf("SC_CLK_TCK")
        for tid in list(self._recv_tids):
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                out.append((int(fields[11]) + int(fields[12])) / tick)     # utime + stime
            except (OSError, IndexError, ValueError):
                out.append(0.0)
        return out

    def wait_senders(self, timeout: float | None = None) -> bool:
        """Wait for the sender thread to finish its duration; True when done."""
        if self._send_thread is not None:
            self._send_thread.join(timeout)
            return not self._send_thread.is_alive()
        return True

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        """Set the stop flag and join both threads."""
        self._stop[0] = 1
        for t in self._threads:
            t.join()
        for name, rc in self.results.items():
            if rc != lib.SFU_OK:
                raise RuntimeError(f"load-test {name} thread failed: error {rc}")

    def drain_control(self) -> int:
        """Hand queued STUN/DTLS datagrams to their socket's on_control;
        returns how many were popped.  Call from one thread only."""
        n = 0
        slot = self._slot
        for r, (first, _) in enumerate(self._shares):
            while lib.sfu_lt_ctl_pop(self._ctls + r, slot):
                n += 1
                idx = first + int(slot.sock)       # the queue names its receiver's share
                if idx >= len(self._socket_specs):
                    continue
                cb = self._socket_specs[idx].on_control
                if cb is not None:
                    cb(bytes(ffi.buffer(slot.data, slot.len)), addr_from_c(ffi.addressof(slot, "from")))
        return n

    # -- statistics ---------------------------------------------------------
    @property
    def n_senders(self) -> int:
        return len(self._sender_specs)

    @property
    def n_sockets(self) -> int:
        return len(self._socket_specs)

    def sender_stats(self, i: int) -> dict[str, Any]:
        spec = self._sender_specs[i]
        out = {"ssrc": spec.ssrc, "kind": spec.kind, "packets": 0, "bytes": 0, "frames": 0, "keyframes": 0,
               "errors": 0, "keyframe_requests": 0, "late_frames": 0}
        if self._senders is not None:
            c = self._senders[i]
            out.update(packets=int(c.packets), bytes=int(c.bytes), frames=int(c.frames),
                       keyframes=int(c.keyframes), errors=int(c.send_errors),
                       keyframe_requests=int(c.keyframe_requests), late_frames=int(c.late_frames))
        return out

    def set_audio_level(self, i: int, level: int) -> None:
        """the -dBov (0 loud .. 127 silence) sender i's audio-level extension carries from now on"""
        if not 0 <= level <= 127:
            raise ValueError(f"audio level is -dBov 0..127, got {level}")
        self._sender_specs[i].audio_level = level
        if self._senders is not None:
            self._senders[i].audio_level = level

    def request_keyframe(self, i: int) -> None:
        """make sender i's next frame a key frame (as a PLI would)"""
        if self._senders is not None:
            self._senders[i].keyframe_request = 1

    def socket_stats(self, j: int) -> dict[str, Any]:
        spec = self._socket_specs[j]
        out: dict[str, Any] = {"label": spec.label, "datagrams": 0, "rx_bytes": 0, "bad": 0, "rtcp": 0,
                               "plis": 0, "firs": 0, "nacks": 0, "control": 0, "control_dropped": 0,
                               "streams_full": 0, "streams": []}
        if self._socks is None:
            return out
        c = self._socks[j]
        for k in ("datagrams", "rx_bytes", "bad", "rtcp", "plis", "firs", "nacks", "control",
                  "control_dropped", "streams_full"):
            out[k] = int(getattr(c, k))
        n = min(int(c.n_streams), lib.SFU_LT_STREAMS_MAX)
        out["streams"] = [_stream_dict(c.streams[k]) for k in range(n)]
        return out

    def control_dropped(self) -> int:
        """datagrams the control queue had no room for (all sockets)"""
        return sum(int(self._ctls[r].dropped) for r in range(self.receivers))


def _stream_dict(st: Any) -> dict[str, Any]:
    packets = int(st.packets)
    expected = int(st.max_ext_seq) - int(st.base_ext_seq) + 1 if packets else 0
    rate = int(st.clock_rate) or 90000
    count = int(st.lat_count)
    lat: dict[str, float] = {"min": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0, "count": count}
    over = 0
    if count:
        hist = array("I", bytes(ffi.buffer(st.hist)))
        over = hist[HIST_BUCKETS - 1]
        lo, hi = int(st.lat_min_ns) / 1e6, int(st.lat_max_ns) / 1e6
        lat.update(min=lo, max=hi, mean=int(st.lat_sum_ns) / count / 1e6,
                   p50=_percentile(hist, count, 0.50, lo, hi), p99=_percentile(hist, count, 0.99, lo, hi))
    return {
        "ssrc": int(st.ssrc), "pt": int(st.pt), "clock_rate": rate,
        "packets": packets, "bytes": int(st.bytes),
        "expected": expected, "lost": expected - packets, "duplicates": int(st.duplicates),
        "jitter_ms": float(st.jitter) / rate * 1000.0,
        "frames": int(st.frames), "keyframes": int(st.keyframes),
        "latency_ms": lat,
        "latency_over_range": over,      # packets at or past HIST_RANGE_MS
        "first_ns": int(st.first_ns), "last_ns": int(st.last_ns),
    }
