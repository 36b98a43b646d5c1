"""Fan-out benchmark: forwarded RTP packets/s per worker core, C data plane vs pure Python.

One publisher -> N subscribers (N = 10, 100, 1000), packets of 200 B and 1200 B,
plain RTP and SRTP (AEAD_AES_128_GCM), with 1 and 2 media workers.

What runs
---------
* The SFU under test is the real product: a `WorkerPool` of 1 or 2 media worker
  processes (each a C forwarding loop thread) driven through `MediaService` /
  `Router` exactly like the signalling layer does.  The publisher is a plain
  transport on worker 0; subscribers are plain transports on the workers' shared
  UDP port (round-robin over the workers, so with 2 workers half of them are on
  worker 1 and are fed through the shared ring 0 -> 1, the product's design).
  SRTP: every transport gets its own random keys (`set_srtp`), the generator
  encrypts with a session matching the publisher's receive key.
* Subscribers are connected to sink sockets in this process with a small receive
  buffer that is never read during the run: the kernel queues the first few
  packets and drops the rest at the socket (the method of
  shared/research/dataplane-limits.md).  After each point the per-socket kernel
  drop counters (/proc/net/udp) plus the queued packets must add up to the
  workers' own `tx_packets`, every subscriber must have received packets, and a
  sample subscriber per worker is decrypted and checked (SSRC, PT, first
  sequence number == consumer seq_start, then increasing sequence numbers).
* Load: `lib.sfu_gen_rtp` (C, sendmmsg, optional SRTP) in a thread of this
  process (cffi releases the GIL) at a fixed offered rate above the forwarding
  capacity, so the output is limited by the forwarder: 1 worker (and Python):
  1.3 x the one-core sender ceiling measured first (below) in output packets/s,
  i.e. that / N input packets/s; 2 workers: 2.2 x the 1-worker pps per core.
  What the forwarder cannot take is dropped by the kernel at its socket
  (reported as offered vs accepted input).
* Ceiling reference: `sfu_gen_rtp` flat out on cpu0 to one never-read sink
  (build packet, encrypt, sendmmsg 32): the per-sent-datagram work of the loop
  without its bookkeeping, i.e. what one core can send at all on this machine.
* Modes `rtp+cc` / `srtp+cc` (C only): the same with congestion control on every
  subscriber transport -- a pacer in front of each (passing through: plain subscribers
  give no transport-cc feedback, so there is no rate) and the loop's 1 ms pacing timer;
  against `rtp` / `srtp` in the same run, the cost of the congestion-control path itself
  (bench_pacer.py has the per-packet cost of the pacer's budget and queue in a C loop).
* Python baseline: for every (N, size, mode) the same load is sent to a pure
  Python asyncio + uvloop `DatagramProtocol` forwarder (a subprocess of this
  script) that does what the C loop does per packet: look up the transport by
  source address and the producer by SSRC, decrypt once (pylibsrtp), then per
  subscriber copy the packet, rewrite PT/seq/ts/SSRC, encrypt (pylibsrtp, one
  session per subscriber) and sendto() the subscriber's sink.  One process = one
  core; its per-core rate is compared with both the 1- and 2-worker C rates.

CPU accounting
--------------
After a warm-up, a steady window (default 2 s) is measured between two
snapshots of: the workers' C counters (`await pool.stats()`), each forwarding
process's CPU time and /proc/stat.

    pps per worker core = forwarded packets / (sum of worker processes' CPU seconds)

CPU seconds are the scheduler's exact runtime of all threads of the process
(/proc/PID/task/*/schedstat); psutil's user+system is recorded next to it
(`cpu_s_psutil`).  Both agree on an idle machine, but psutil's is sampled at
the 250 Hz tick and is biased when a CPU is time-shared with other processes.
This kernel has no IRQ time accounting, so softirq work done in the worker's
context -- on loopback that is the receive path of every datagram it sends, up
to the sink's socket drop -- is charged to the worker (as it should be: a NIC
would cost driver time instead).  The receive path of the *incoming*
datagrams runs in the generator's context (loopback), at most ~1/N of the
work with N >= 10.  ksoftirqd time is reported separately.
Pinning: with 1 worker (and the Python forwarder) the forwarder is pinned to
cpu0, the generator and this process to cpu1.  With 2 workers, worker i is
pinned to cpu i and the generator floats: it takes CPU from the workers, so the
wall-clock 2-worker/1-worker scaling is reported next to a CPU-normalised one
(2 x pps per worker core at 2 workers / pps per worker core at 1 worker).
The machine may be shared: "other CPU" is the busy time (/proc/stat) not spent
by the forwarders, this process or ksoftirqd, in CPUs; before each point the
bench waits (bounded) for it to drop below --quiet-max, re-runs a point whose
window was noisy (bounded, --retry-noisy) and marks what stayed noisy.
Loopback means part of what a NIC driver would do is replaced by loopback rx
in the sender's context: treat absolute numbers as "this VM, this kernel".
Compare ratios within one run.

Usage
-----
    PYTHONPATH=. python bench/bench_fanout.py                 # full matrix: ~5 min idle, <= ~12 min busy
    PYTHONPATH=. python bench/bench_fanout.py --quick         # ~50 s idle
    PYTHONPATH=. python bench/bench_fanout.py --json out.json
    PYTHONPATH=. python bench/bench_fanout.py --n 100 --sizes 1200 --modes srtp --workers 1,2 --reps 3

(On a busy machine the waits for quiet, bounded by --quiet-wait per point and
--max-minutes overall, make it longer; --quiet-wait 0 --retry-noisy 0 never waits.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mmap
import os
import platform
import resource
import shlex
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:  # the installed package, with its C extension ...
    import sfu._native  # noqa: F401
    SOURCE_PATH = ""
except ImportError:  # ... or the source tree with an in-place build (python build_ext.py)
    sys.path.insert(0, ROOT)
    SOURCE_PATH = ROOT

# ---------------------------------------------------------------------------
# constants

PROFILE = "SRTP_AEAD_AES_128_GCM"      # sfu.srtp.AEAD_AES_128_GCM
KEY_LEN = 28                           # AES-128 key + 12-byte salt
PUB_SSRC = 0x1234ABCD
PUB_PT = 96
OFFER_OVER_CEILING = 1.3               # 1 worker / Python: offered output = 1.3 x one-core sender ceiling
OFFER_1W_DEFAULT = 900_000             # ... when the ceiling is not measured (--no-ceiling)
OFFER_2W_OVER_1W = 2.2                 # 2 workers: offered output = 2.2 x the 1-worker pps per core
# drops that mean "more offered than forwarded" (overload), not a fault: a full ring to the other
# worker.  Every other worker drop reason during a point is unexpected.
OVERLOAD_DROPS = {"ring_full"}
CAL_OVER = 1.15                        # measured run offered at 1.15 x the capacity a calibration run found
CAL_WARMUP, CAL_WINDOW = 0.3, 0.5
SINK_RCVBUF = 16384                    # kernel doubles it: ~14 x 1200 B packets queue, the rest drops
TARGET_SRTP_1200_PPS = 300_000
TARGET_RATIO = 2.0
# mode suffix: every subscriber transport gets congestion control (TRANSPORT_SET_WANTED_BITRATE):
# its pacer exists and the loop's pacing timer walks it every millisecond; plain subscribers send
# no transport-cc feedback, so the pacer has no rate and lets every packet through
CC_SUFFIX = "+cc"
CC_WANTED_BPS = 5_000_000
TARGET_SCALING = 1.7
PYFWD_MAX_SECONDS = 120.0              # hard bound for a Python forwarder subprocess


@dataclass
class Point:
    impl: str                # "C" or "Py"
    n: int
    size: int
    mode: str                # "rtp" or "srtp"
    workers: int             # 1, 2 (Python: 1 process)
    offered_in_pps: float = 0.0
    gen_sent_pps: float = 0.0
    accepted_in_pps: float = 0.0
    fwd_pps: float = 0.0     # forwarded (sent) packets/s, wall clock
    cpu_s: float = 0.0       # forwarder CPU seconds in the window (sum over workers), scheduler runtime
    cpu_s_psutil: float = 0.0  # the same from psutil user+system (tick-sampled)
    window_s: float = 0.0
    pps_per_core: float = 0.0
    cpu0_busy: float | None = None
    cpu1_busy: float | None = None
    gen_cpu_s: float = 0.0   # this process (generator thread) CPU seconds in the window
    ksoftirqd_cpu_s: float = 0.0  # ksoftirqd threads, CPU seconds in the window
    foreign_cpu_s: float = 0.0    # busy CPU seconds in the window not spent by any of our processes
    per_worker: list[dict] = field(default_factory=list)
    worker_drops: dict[str, int] = field(default_factory=dict)
    unexpected_drops: dict[str, int] = field(default_factory=dict)
    attempts: int = 1
    rep: int = 0
    input_capacity_pps: float = 0.0  # input packets the input process took per CPU second of its own
    calibration_in_pps: float = 0.0  # input capacity found by the calibration run (0: none)
    subscribers_received: int = 0
    delivered_total: int = 0  # sinks: kernel drops + queued, whole point
    sent_total: int = 0       # forwarder's own counter, whole point
    to_publisher: int = 0     # of those, RTCP the forwarder sent back to the publisher (RR, NACK, PLI)
    backlog_drops: int = 0    # machine-wide: packets the kernel dropped before any socket (softnet), whole point
    verified: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple:
        return (self.n, self.size, self.mode)


# ---------------------------------------------------------------------------
# system helpers

def cpu_jiffies() -> dict[int, tuple[int, int]]:
    """cpu -> (busy, total) jiffies from /proc/stat"""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                parts = line.split()
                v = [int(x) for x in parts[1:]]
                idle = v[3] + v[4]
                out[int(parts[0][3:])] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


def busy_between(a: dict, b: dict) -> dict[int, float]:
    return {c: (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in a if c in b}


def softnet_dropped() -> int:
    """packets the kernel dropped from its per-CPU input backlog (loopback delivers through it), all CPUs.
    Those never reach a socket, so no sink counts them: the one loss the sinks cannot see."""
    try:
        with open("/proc/net/softnet_stat") as f:
            return sum(int(line.split()[1], 16) for line in f if line.strip())
    except OSError:
        return 0


def udp_table() -> dict[int, tuple[int, int]]:
    """local port -> (rx_queue bytes, drops) for IPv4 UDP sockets on 127.0.0.1"""
    out = {}
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            p = line.split()
            laddr, port = p[1].split(":")
            if laddr != "0100007F":
                continue
            rxq = int(p[4].split(":")[1], 16)
            out[int(port, 16)] = (rxq, int(p[12]))
    return out


USER_HZ = os.sysconf("SC_CLK_TCK")


def ksoftirqd_procs() -> list:
    import psutil
    out = []
    for p in psutil.process_iter(["name"]):
        if (p.info["name"] or "").startswith("ksoftirqd/"):
            out.append(p)
    return out


def proc_cpu(procs: list) -> float:
    """psutil user + system: tick-sampled (HZ) utime/stime"""
    t = 0.0
    for p in procs:
        try:
            c = p.cpu_times()
            t += c.user + c.system
        except Exception:
            pass
    return t


def sched_cpu(pid: int) -> float:
    """CPU seconds the scheduler ran all threads of pid (/proc/PID/task/*/schedstat, ns-exact;
    includes softirq work done in the thread's context, as this kernel has no IRQ time accounting)"""
    t = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                t += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return t / 1e9


def total_busy_s(a: dict, b: dict) -> float:
    return sum(b[c][0] - a[c][0] for c in a if c in b) / USER_HZ


def foreign_load(seconds: float = 0.5, ours: list | None = None) -> float:
    """CPUs' worth of busy time over `seconds` not spent by this process or `ours`"""
    pids = [os.getpid()] + (ours or []) + [p.pid for p in ksoftirqd_procs()]
    j0, c0, t0 = cpu_jiffies(), sum(sched_cpu(p) for p in pids), time.monotonic()
    time.sleep(seconds)
    j1, c1, t1 = cpu_jiffies(), sum(sched_cpu(p) for p in pids), time.monotonic()
    return max(0.0, total_busy_s(j0, j1) - (c1 - c0)) / (t1 - t0)


def pin_all_threads(pid: int, cpus: set[int]) -> None:
    """sched_setaffinity applies to one thread: pin every thread of pid"""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except (ProcessLookupError, PermissionError):
            pass


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(need, soft), hard), hard))


def machine_info() -> str:
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import cffi
    import pylibsrtp
    import uvloop
    return (f"{model}, {os.cpu_count()} vCPU, kernel {platform.release()}, Python {platform.python_version()}, "
            f"uvloop {uvloop.__version__}, pylibsrtp {pylibsrtp.__version__}, cffi {cffi.__version__}")


# ---------------------------------------------------------------------------
# sinks

class Sinks:
    """N never-read UDP sockets with a small receive buffer."""

    def __init__(self, n: int) -> None:
        self.socks: list[socket.socket] = []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SINK_RCVBUF)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            self.socks.append(s)
        self.ports = [s.getsockname()[1] for s in self.socks]

    def drain(self, k: int) -> list[int]:
        """read and discard everything queued on the first k sinks; packets read per sink"""
        got = []
        for s in self.socks[:k]:
            c = 0
            while True:
                try:
                    s.recv(4096)
                    c += 1
                except BlockingIOError:
                    break
            got.append(c)
        return got

    def read_all(self, i: int) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.socks[i].recv(4096))
            except BlockingIOError:
                return out

    def drops(self, k: int) -> list[int]:
        t = udp_table()
        return [t.get(p, (0, 0))[1] for p in self.ports[:k]]

    def close(self) -> None:
        for s in self.socks:
            s.close()


# ---------------------------------------------------------------------------
# generator

class Generator(threading.Thread):
    """lib.sfu_gen_rtp in a thread (the GIL is released during the call)."""

    def __init__(self, to: tuple[str, int], size: int, in_pps: float, seconds: float,
                 key: bytes | None, cpus: set[int] | None, sock: socket.socket) -> None:
        super().__init__(name="sfu-gen", daemon=True)
        self.to, self.size, self.in_pps, self.seconds = to, size, in_pps, seconds
        self.key, self.cpus, self.sock = key, cpus, sock
        self.sent = 0
        self.elapsed = 0.0
        self.cpu = 0.0           # CPU seconds of this thread during the call
        self.foreign = 0.0       # busy CPU seconds of everything else meanwhile
        self.error: str | None = None

    def run(self) -> None:
        from sfu import srtp
        from sfu.loadtest.engine import ffi, lib
        from sfu.native import addr_to_c
        try:
            if self.cpus:
                os.sched_setaffinity(0, self.cpus)
            sess = srtp.Session(PROFILE, self.key, outbound=True) if self.key else None
            to = addr_to_c(*self.to, ffi=ffi)
            batch = int(max(1, min(32, self.in_pps / 2000)))   # ~0.5 ms between bursts
            count = int(self.in_pps * self.seconds) + batch
            if self.in_pps <= 0:            # as fast as possible
                batch, count = 32, 0
            t0, c0, j0 = time.monotonic(), time.thread_time(), cpu_jiffies()
            r = lib.sfu_gen_rtp(self.sock.fileno(), to, PUB_SSRC, PUB_PT, self.size, count, self.in_pps,
                                batch, self.seconds, sess.as_c(ffi) if sess else ffi.NULL)
            self.elapsed, self.cpu = time.monotonic() - t0, time.thread_time() - c0
            self.foreign = max(0.0, total_busy_s(j0, cpu_jiffies()) - self.cpu)
            if r < 0:
                self.error = f"sfu_gen_rtp returned {r}"
            else:
                self.sent = int(r)
            if sess is not None:
                sess.close()
        except Exception as e:  # reported with the point
            self.error = repr(e)


def drain_count(s: socket.socket) -> int:
    """datagrams queued on s, read away without changing its blocking mode (the generator
    thread sends on it)"""
    n = 0
    while True:
        try:
            s.recv(65536, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return n
        n += 1


def gen_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    return s


# ---------------------------------------------------------------------------
# verification of what a subscriber received

def verify_sample(pkts: list[bytes], key: bytes | None, ssrc: int, pt: int, seq_start: int, size: int) -> dict:
    import pylibsrtp
    res = {"packets": len(pkts), "ok": False, "why": ""}
    if not pkts:
        res["why"] = "nothing queued"
        return res
    sess = None
    if key is not None:
        pol = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                               srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM)
        pol.window_size = 1024
        sess = pylibsrtp.Session(pol)
    prev = None
    for i, p in enumerate(pkts):
        if sess is not None:
            try:
                p = sess.unprotect(p)
            except pylibsrtp.Error as e:
                res["why"] = f"packet {i}: unprotect failed: {e}"
                return res
        if len(p) != size:
            res["why"] = f"packet {i}: {len(p)} bytes, want {size}"
            return res
        b0, b1, seq, _ts, s = struct.unpack_from("!BBHII", p)
        if b0 != 0x80 or (b1 & 0x7F) != pt or s != ssrc:
            res["why"] = f"packet {i}: header {b0:#x} pt {b1 & 0x7f} ssrc {s:#x}"
            return res
        if i == 0 and seq != seq_start:
            res["why"] = f"first seq {seq}, consumer seq_start {seq_start}"
            return res
        # consecutive while the sink's buffer had room; a later packet may follow a gap
        # (the kernel dropped the ones in between), never go backwards
        if prev is not None and not 0 < (seq - prev) & 0xFFFF < 0x8000:
            res["why"] = f"packet {i}: seq {seq} after {prev}"
            return res
        if i == 1 and seq != (prev + 1) & 0xFFFF:
            res["why"] = f"packet 1: seq {seq} after {prev}"
            return res
        if p[20:] != bytes([p[20]]) * (size - 20):
            res["why"] = f"packet {i}: payload pattern broken"
            return res
        prev = seq
    res["ok"] = True
    return res


# ---------------------------------------------------------------------------
# C data plane point

class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pools: dict[int, Any] = {}
        self.services: dict[int, Any] = {}
        self.sinks: Sinks | None = None
        self.rooms = 0
        self.ksoft: list = []

    async def start(self, worker_counts: list[int], max_n: int) -> None:
        from sfu.media import MediaService
        from sfu.worker.process import WorkerPool
        raise_nofile(2 * max_n + 512)
        self.ksoft = ksoftirqd_procs()
        self.sinks = Sinks(max_n)
        for w in worker_counts:
            pool = WorkerPool(w, log_level="WARNING", restart=False)
            await pool.start()
            self.pools[w] = pool
            self.services[w] = MediaService(pool)
            # worker i on cpu i (all threads: the loop thread already exists)
            for h in pool.workers:
                pin_all_threads(h.pid, {h.index % os.cpu_count()})

    async def stop(self) -> None:
        for pool in self.pools.values():
            await pool.stop()
        if self.sinks:
            self.sinks.close()

    async def _snapshot(self, pool, procs) -> dict:
        st = await pool.stats()
        t = time.monotonic()
        return {"t": t, "stats": st, "cpu": [sched_cpu(p.pid) for p in procs], "cpu_ps": [proc_cpu([p]) for p in procs],
                "jiffies": cpu_jiffies(), "me": sched_cpu(os.getpid()),
                "ksoft": sum(sched_cpu(p.pid) for p in self.ksoft)}

    async def wait_quiet(self) -> float:
        """wait (bounded by --quiet-wait) until other processes use < --quiet-max CPUs"""
        ours = [h.pid for pool in self.pools.values() for h in pool.workers]
        deadline = time.monotonic() + self.args.quiet_wait
        warned = False
        while True:
            load = await asyncio.get_running_loop().run_in_executor(None, foreign_load, 0.5, ours)
            if load <= self.args.quiet_max or time.monotonic() >= deadline:
                if load > self.args.quiet_max:
                    print(f"  (machine busy: other processes use {load:.2f} CPUs; measuring anyway)", flush=True)
                return load
            if not warned:
                print(f"  (other processes use {load:.2f} CPUs: waiting up to {self.args.quiet_wait:.0f} s "
                      "for a quiet machine)", flush=True)
                warned = True

    async def run_c(self, n: int, size: int, mode: str, workers: int, in_pps: float,
                    warmup: float | None = None, window: float | None = None) -> Point:
        import psutil
        warmup = self.args.warmup if warmup is None else warmup
        window = self.args.window if window is None else window
        pt = Point("C", n, size, mode, workers, offered_in_pps=in_pps)
        svc, pool = self.services[workers], self.pools[workers]
        sinks = self.sinks
        assert sinks is not None
        self.rooms += 1
        room = svc.router(f"bench-{self.rooms}")
        gsock = gen_socket()
        srtp_on = base_mode(mode) == "srtp"
        cc_on = mode.endswith(CC_SUFFIX)
        pub_key = os.urandom(KEY_LEN) if srtp_on else None
        try:
            tp = await room.create_plain_transport(worker=0)
            await tp.connect(*gsock.getsockname())
            if srtp_on:
                await tp.set_srtp(PROFILE, pub_key, os.urandom(KEY_LEN))
            prod = await tp.produce("video", PUB_SSRC, PUB_PT)
            sub_keys = [os.urandom(KEY_LEN) if srtp_on else None for _ in range(n)]

            async def subscribe(i: int):
                t = await room.create_plain_transport(worker=i % workers)
                await t.connect("127.0.0.1", sinks.ports[i])
                if srtp_on:
                    await t.set_srtp(PROFILE, os.urandom(KEY_LEN), sub_keys[i])
                if cc_on:
                    await t.set_wanted_bitrate(CC_WANTED_BPS)
                return await t.consume(prod)

            consumers = await asyncio.gather(*(subscribe(i) for i in range(n)))
            await self.wait_quiet()
            sinks.drain(n)
            drain_count(gsock)
            drops0 = sinks.drops(n)
            backlog0 = softnet_dropped()
            procs = [psutil.Process(h.pid) for h in pool.workers]
            if workers == 1:
                os.sched_setaffinity(0, {1})
                gen_cpus = {1}
            else:
                os.sched_setaffinity(0, set(range(os.cpu_count())))
                gen_cpus = None
            before = await self._snapshot(pool, procs)
            gen = Generator((tp.ip, tp.port), size, in_pps, warmup + window + 0.3, pub_key, gen_cpus, gsock)
            gen.start()
            await asyncio.sleep(warmup)
            s0 = await self._snapshot(pool, procs)
            await asyncio.sleep(window)
            s1 = await self._snapshot(pool, procs)
            await asyncio.get_running_loop().run_in_executor(None, gen.join, 30.0)
            # the workers may still be working off their socket backlog / the ring: wait until
            # their counters stop moving (bounded), so the totals compare with the sinks
            after = await self._snapshot(pool, procs)
            for _ in range(50):
                await asyncio.sleep(0.1)
                prev, after = after, await self._snapshot(pool, procs)
                if [w["stats"]["tx_packets"] for w in prev["stats"]] == [w["stats"]["tx_packets"] for w in after["stats"]]:
                    break
            if gen.error:
                pt.errors.append("generator: " + gen.error)
            self._fill(pt, s0, s1, before, after, gen)
            # what the subscribers got: kernel drops + queued = everything sent to them.  A packet
            # counted as sent may still be in the kernel's loopback backlog and be dropped at its
            # sink after we read the drop counters: let that settle first
            await asyncio.sleep(0.1)
            drops1 = sinks.drops(n)
            samples: dict[int, list[bytes]] = {}
            for w in range(workers):
                for i in (w, n - workers + w):           # first and last subscriber of each worker
                    if i % workers == w and i not in samples:
                        samples[i] = sinks.read_all(i)
            queued = sinks.drain(n)
            # the workers' tx_packets also count the receiver reports (and any NACK/PLI) they sent
            # the publisher: those arrive at the generator's socket, not at a sink
            pt.to_publisher = drain_count(gsock)
            for i, pk in samples.items():
                queued[i] += len(pk)
            per_sub = [drops1[i] - drops0[i] + queued[i] for i in range(n)]
            pt.subscribers_received = sum(1 for x in per_sub if x > 0)
            pt.delivered_total = sum(per_sub)
            pt.backlog_drops = softnet_dropped() - backlog0
            for i, pk in sorted(samples.items()):
                c = consumers[i]
                v = verify_sample(pk, sub_keys[i], c.ssrc, c.payload_type, c.seq_start, size)
                v["subscriber"] = i
                v["worker"] = i % workers
                pt.verified.append(v)
        finally:
            os.sched_setaffinity(0, set(range(os.cpu_count())))
            await room.close()
            gsock.close()
        return pt

    def _fill(self, pt: Point, s0: dict, s1: dict, before: dict, after: dict, gen: Generator) -> None:
        dt = s1["t"] - s0["t"]
        pt.window_s = dt
        tx = sum(w["stats"]["tx_packets"] for w in s1["stats"]) - sum(w["stats"]["tx_packets"] for w in s0["stats"])
        rx = sum(w["stats"]["rx_packets"] for w in s1["stats"]) - sum(w["stats"]["rx_packets"] for w in s0["stats"])
        cpu = sum(s1["cpu"]) - sum(s0["cpu"])
        pt.fwd_pps = tx / dt
        pt.accepted_in_pps = rx / dt
        pt.cpu_s = cpu
        pt.cpu_s_psutil = sum(s1["cpu_ps"]) - sum(s0["cpu_ps"])
        pt.pps_per_core = tx / cpu if cpu > 0 else 0.0
        pt.gen_sent_pps = gen.sent / gen.elapsed if gen.elapsed else 0.0
        pt.gen_cpu_s = s1["me"] - s0["me"]
        busy = busy_between(s0["jiffies"], s1["jiffies"])
        pt.cpu0_busy, pt.cpu1_busy = busy.get(0), busy.get(1)
        pt.ksoftirqd_cpu_s = s1["ksoft"] - s0["ksoft"]
        pt.foreign_cpu_s = max(0.0, total_busy_s(s0["jiffies"], s1["jiffies"]) - cpu - pt.gen_cpu_s - pt.ksoftirqd_cpu_s)
        for i, (w0, w1) in enumerate(zip(s0["stats"], s1["stats"])):
            c = s1["cpu"][i] - s0["cpu"][i]
            d = {"cpu_s_psutil": round(s1["cpu_ps"][i] - s0["cpu_ps"][i], 3)}
            d.update({k: w1["stats"][k] - w0["stats"][k] for k in ("tx_packets", "rx_packets", "ring_tx", "ring_rx",
                                                               "tx_batches", "rx_batches", "iterations", "wakeups")})
            d.update(worker=i, cpu_s=round(c, 3), cpu_frac=round(c / dt, 3))
            d["drops_whole_point"] = {k: v - before["stats"][i]["stats"]["drops"].get(k, 0)
                                      for k, v in after["stats"][i]["stats"]["drops"].items()
                                      if v != before["stats"][i]["stats"]["drops"].get(k, 0)}
            pt.per_worker.append(d)
        # drops over the whole point (generator start .. drained)
        drops: dict[str, int] = {}
        for w0, w1 in zip(before["stats"], after["stats"]):
            for k, v in w1["stats"]["drops"].items():
                dv = v - w0["stats"]["drops"].get(k, 0)
                if dv:
                    drops[k] = drops.get(k, 0) + dv
        pt.worker_drops = drops
        w0 = pt.per_worker[0]
        pt.input_capacity_pps = w0["rx_packets"] / w0["cpu_s"] if w0["cpu_s"] > 0 else 0.0
        pt.unexpected_drops = {k: v for k, v in drops.items() if k not in OVERLOAD_DROPS}
        pt.sent_total = (sum(w["stats"]["tx_packets"] for w in after["stats"]) -
                         sum(w["stats"]["tx_packets"] for w in before["stats"]))

    # -----------------------------------------------------------------------
    # reference: one C sender core

    async def run_ceiling(self, size: int, mode: str) -> Point:
        """sfu_gen_rtp as fast as possible on cpu0 to one never-read sink: build + (encrypt) +
        sendmmsg(32) per datagram, i.e. the per-subscriber work of the loop without the fan-out
        bookkeeping.  The sending core pays the loopback receive + socket drop, as in the loop."""
        pt = Point("ceil", 1, size, mode, 1)
        sinks = self.sinks
        assert sinks is not None
        await self.wait_quiet()
        gsock = gen_socket()
        key = os.urandom(KEY_LEN) if base_mode(mode) == "srtp" else None
        try:
            os.sched_setaffinity(0, {1})
            gen = Generator(("127.0.0.1", sinks.ports[0]), size, 0, self.args.window, key, {0}, gsock)
            gen.start()
            await asyncio.get_running_loop().run_in_executor(None, gen.join, 30.0)
            if gen.error:
                pt.errors.append("generator: " + gen.error)
            pt.window_s = gen.elapsed
            pt.fwd_pps = gen.sent / gen.elapsed if gen.elapsed else 0.0
            pt.cpu_s = gen.cpu
            pt.pps_per_core = gen.sent / gen.cpu if gen.cpu else 0.0
            pt.subscribers_received = 1
            pt.foreign_cpu_s = gen.foreign
            sinks.drain(1)
        finally:
            os.sched_setaffinity(0, set(range(os.cpu_count())))
            gsock.close()
        return pt

    # -----------------------------------------------------------------------
    # Python baseline point

    async def run_py(self, n: int, size: int, mode: str, in_pps: float,
                     warmup: float | None = None, window: float | None = None) -> Point:
        import psutil
        warmup = self.args.warmup if warmup is None else warmup
        window = self.args.window if window is None else window
        pt = Point("Py", n, size, mode, 1, offered_in_pps=in_pps)
        sinks = self.sinks
        assert sinks is not None
        srtp_on = mode == "srtp"
        gsock = gen_socket()
        pub_key = os.urandom(KEY_LEN) if srtp_on else None
        subs = []
        for i in range(n):
            subs.append({"port": sinks.ports[i], "ssrc": (0x10000 + i * 7) & 0xFFFFFFFF, "pt": 100,
                         "seq_off": (i * 977) & 0xFFFF, "ts_off": (i * 104729) & 0xFFFFFFFF,
                         "key": os.urandom(KEY_LEN).hex() if srtp_on else None})
        cfg = {"pub_addr": list(gsock.getsockname()), "pub_ssrc": PUB_SSRC, "pub_key": pub_key.hex() if pub_key else None,
               "subs": subs, "cpus": [0]}
        memfd = os.memfd_create("pyfwd-counter", os.MFD_CLOEXEC)
        os.ftruncate(memfd, 4096)
        counter = mmap.mmap(memfd, 4096)
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "_pyfwd", str(memfd)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=[memfd],
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                    x for x in (SOURCE_PATH, os.environ.get("PYTHONPATH", "")) if x)})
        try:
            assert proc.stdin and proc.stdout
            proc.stdin.write(json.dumps(cfg).encode() + b"\n")
            proc.stdin.flush()
            line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
            if not line.startswith(b"READY "):
                raise RuntimeError(f"python forwarder did not start: {line!r}")
            port = int(line.split()[1])
            pp = psutil.Process(proc.pid)
            await self.wait_quiet()
            sinks.drain(n)
            drops0 = sinks.drops(n)
            backlog0 = softnet_dropped()
            os.sched_setaffinity(0, {1})

            def snap() -> dict:
                cnt, rx, bad = struct.unpack_from("QQQ", counter, 0)
                return {"t": time.monotonic(), "tx": cnt, "rx": rx, "bad": bad, "cpu": sched_cpu(proc.pid),
                        "cpu_ps": proc_cpu([pp]), "jiffies": cpu_jiffies(), "me": sched_cpu(os.getpid()),
                        "ksoft": sum(sched_cpu(p.pid) for p in self.ksoft)}

            gen = Generator(("127.0.0.1", port), size, in_pps, warmup + window + 0.3, pub_key, {1}, gsock)
            before = snap()
            gen.start()
            await asyncio.sleep(warmup)
            s0 = snap()
            await asyncio.sleep(window)
            s1 = snap()
            await asyncio.get_running_loop().run_in_executor(None, gen.join, 30.0)
            after = snap()
            for _ in range(50):      # until the forwarder has worked off its backlog (bounded)
                await asyncio.sleep(0.1)
                prev, after = after, snap()
                if prev["tx"] == after["tx"]:
                    break
            if gen.error:
                pt.errors.append("generator: " + gen.error)
            dt = s1["t"] - s0["t"]
            pt.window_s = dt
            pt.fwd_pps = (s1["tx"] - s0["tx"]) / dt
            pt.accepted_in_pps = (s1["rx"] - s0["rx"]) / dt
            pt.cpu_s = s1["cpu"] - s0["cpu"]
            pt.cpu_s_psutil = s1["cpu_ps"] - s0["cpu_ps"]
            pt.input_capacity_pps = (s1["rx"] - s0["rx"]) / pt.cpu_s if pt.cpu_s > 0 else 0.0
            pt.pps_per_core = (s1["tx"] - s0["tx"]) / pt.cpu_s if pt.cpu_s > 0 else 0.0
            pt.gen_sent_pps = gen.sent / gen.elapsed if gen.elapsed else 0.0
            pt.gen_cpu_s = s1["me"] - s0["me"]
            busy = busy_between(s0["jiffies"], s1["jiffies"])
            pt.cpu0_busy, pt.cpu1_busy = busy.get(0), busy.get(1)
            pt.ksoftirqd_cpu_s = s1["ksoft"] - s0["ksoft"]
            pt.foreign_cpu_s = max(0.0, total_busy_s(s0["jiffies"], s1["jiffies"]) - pt.cpu_s - pt.gen_cpu_s
                                   - pt.ksoftirqd_cpu_s)
            pt.sent_total = after["tx"] - before["tx"]
            if after["bad"] - before["bad"]:
                pt.worker_drops = pt.unexpected_drops = {"bad input": after["bad"] - before["bad"]}
            await asyncio.sleep(0.1)          # as for C: what is in the loopback backlog settles
            drops1 = sinks.drops(n)
            queued = sinks.drain(n)
            per_sub = [drops1[i] - drops0[i] + queued[i] for i in range(n)]
            pt.subscribers_received = sum(1 for x in per_sub if x > 0)
            pt.delivered_total = sum(per_sub)
            pt.backlog_drops = softnet_dropped() - backlog0
        finally:
            os.sched_setaffinity(0, set(range(os.cpu_count())))
            if proc.stdin:
                proc.stdin.close()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            counter.close()
            os.close(memfd)
            gsock.close()
        return pt


# ---------------------------------------------------------------------------
# the pure-Python forwarder (runs as `bench_fanout.py _pyfwd <memfd>`)

def pyfwd_main(memfd: int) -> None:
    cfg = json.loads(sys.stdin.readline())
    os.sched_setaffinity(0, set(cfg["cpus"]))
    import pylibsrtp
    import uvloop

    counter = mmap.mmap(memfd, 4096)
    pack_into, unpack_from = struct.pack_into, struct.unpack_from
    hdr = struct.Struct("!BHII")
    srtp_on = cfg["pub_key"] is not None
    GCM = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM

    def session(key_hex: str, outbound: bool) -> Any:
        pol = pylibsrtp.Policy(key=bytes.fromhex(key_hex),
                               ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound
                               else pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=GCM)
        pol.window_size = 1024
        pol.allow_repeat_tx = True
        return pylibsrtp.Session(pol)

    # transport by source address, producer by SSRC, consumers as tuples
    consumers = [(("127.0.0.1", s["port"]), s["pt"], s["seq_off"], s["ts_off"], s["ssrc"],
                  session(s["key"], True).protect if srtp_on else None) for s in cfg["subs"]]
    pub_unprotect = session(cfg["pub_key"], False).unprotect if srtp_on else None
    producers = {cfg["pub_ssrc"]: consumers}
    transports = {tuple(cfg["pub_addr"]): (pub_unprotect, producers)}
    state = [0, 0, 0]   # sent, received, bad
    SrtpError = pylibsrtp.Error

    class Forwarder(asyncio.DatagramProtocol):
        def connection_made(self, tr: Any) -> None:
            self.sendto = tr.sendto

        def datagram_received(self, data: bytes, addr: Any) -> None:
            state[1] += 1
            t = transports.get(addr)
            if t is None or len(data) < 12 or not 128 <= data[0] < 192 or 192 <= data[1] <= 223:
                state[2] += 1          # unknown source / not RTP
                return
            unprotect, prods = t
            if unprotect is not None:
                try:
                    data = unprotect(data)
                except SrtpError:
                    state[2] += 1
                    return
            cons = prods.get(unpack_from("!I", data, 8)[0])
            if cons is None:
                state[2] += 1
                return
            m = data[1] & 0x80
            seq, ts = unpack_from("!HI", data, 2)
            buf = bytearray(data)
            sendto = self.sendto
            for addr_, cpt, seq_off, ts_off, ssrc, protect in cons:
                hdr.pack_into(buf, 1, m | cpt, (seq + seq_off) & 0xFFFF, (ts + ts_off) & 0xFFFFFFFF, ssrc)
                out = bytes(buf)
                if protect is not None:
                    out = protect(out)
                sendto(out, addr_)
            state[0] += len(cons)
            pack_into("QQQ", counter, 0, state[0], state[1], state[2])

    async def main() -> None:
        loop = asyncio.get_running_loop()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        tr, _ = await loop.create_datagram_endpoint(Forwarder, sock=s)
        done = asyncio.Event()
        loop.add_reader(sys.stdin.fileno(), lambda: done.set() if not os.read(sys.stdin.fileno(), 4096) else None)
        sys.stdout.write(f"READY {s.getsockname()[1]}\n")
        sys.stdout.flush()
        try:
            await asyncio.wait_for(done.wait(), PYFWD_MAX_SECONDS)
        except asyncio.TimeoutError:
            pass
        tr.close()

    uvloop.run(main())


# ---------------------------------------------------------------------------
# matrix, report

def fmt_k(x: float) -> str:
    return f"{x / 1000:.1f}k"


HEADER = """\
Method: 1 publisher -> N subscribers through the real WorkerPool/Router; sinks are never-read sockets
(kernel drops at the socket; their drop counters + queues must equal the workers' tx_packets; sample
subscribers are decrypted and checked).  Load: lib.sfu_gen_rtp in a thread, offered above capacity
(1 worker/Python: 1.3 x the one-core sender ceiling; 2 workers: 2.2 x the 1-worker pps/core).
Per core = forwarded packets / forwarder CPU seconds in a steady window (scheduler runtime of all its
threads; includes the loopback softirq done in its context).  1 worker and Python: forwarder on cpu0,
generator on cpu1; 2 workers: worker i on cpu i, generator floats.  Python baseline = uvloop
DatagramProtocol doing the same per-packet work (addr/SSRC lookup, pylibsrtp decrypt once, per
subscriber copy + rewrite + pylibsrtp encrypt + sendto), 1 process = 1 core; it is the C/Py
denominator for 1 and 2 workers.  Scaling = fwd pps 2w / 1w wall clock (cpu-normalised:
2 x pps/core 2w / pps/core 1w).  'other CPU' = CPUs used by unrelated processes during the window.
Targets: SRTP 1200 B >= 300k pps/core, C/Py >= 2x, 2 workers >= 1.7x 1 worker."""


def _md_table(head: tuple, rows: list[tuple]) -> str:
    widths = [max([len(head[i])] + [len(r[i]) for r in rows]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(r)) + " |"
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def point_ok(p: Point) -> bool:
    return (p.subscribers_received == p.n and not p.errors and all(v["ok"] for v in p.verified)
            and not p.unexpected_drops and (p.impl == "ceil" or delivery_accounted(p)))


def delivery_accounted(p: Point) -> bool:
    """every packet the forwarder sent reached a sink, except at most those the kernel dropped
    from its input backlog during the point (machine-wide, so an upper bound on ours)"""
    return 0 <= p.sent_total - p.to_publisher - p.delivered_total <= p.backlog_drops


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    if not xs:
        return 0.0
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def aggregate(points: list[Point]) -> list[dict]:
    """one row per (impl, workers, N, size, mode): medians over repetitions; C/Py and the
    2w/1w scaling are medians of ratios between runs of the same repetition (adjacent in time)"""
    groups: dict[tuple, list[Point]] = {}
    for p in points:
        if p.impl in ("C", "Py"):
            groups.setdefault((p.impl, p.workers) + p.key, []).append(p)
    py = {k[2:]: g for k, g in groups.items() if k[0] == "Py"}
    c1 = {k[2:]: g for k, g in groups.items() if k[0] == "C" and k[1] == 1}

    def paired(a: list[Point], b: list[Point], f) -> list[float]:
        bb = {p.rep: p for p in b}
        return [f(p, bb[p.rep]) for p in a if p.rep in bb and f(p, bb[p.rep]) is not None]

    rows = []
    for (impl, workers, n, size, mode), g in groups.items():
        key = (n, size, mode)
        r = {"impl": impl, "workers": workers, "n": n, "size": size, "mode": mode, "reps": len(g),
             "offered_out_pps": _median([p.offered_in_pps * p.n for p in g]),
             "fwd_pps": _median([p.fwd_pps for p in g]), "cpu_s": _median([p.cpu_s for p in g]),
             "pps_per_core": _median([p.pps_per_core for p in g]),
             "other_cpus": max(p.foreign_cpu_s / p.window_s if p.window_s else 0.0 for p in g),
             "ok": all(point_ok(p) for p in g), "py_pps_per_core": None, "ratio": None,
             "scaling_wall": None, "scaling_cpu": None}
        if key in py:
            r["py_pps_per_core"] = _median([p.pps_per_core for p in py[key]])
            if impl == "C":
                rs = paired(g, py[key], lambda a, b: a.pps_per_core / b.pps_per_core if b.pps_per_core else None)
                r["ratio"] = _median(rs) if rs else None
        if impl == "C" and workers > 1 and key in c1:
            sw = paired(g, c1[key], lambda a, b: a.fwd_pps / b.fwd_pps if b.fwd_pps else None)
            sc = paired(g, c1[key], lambda a, b: a.workers * a.pps_per_core / b.pps_per_core
                        if b.pps_per_core else None)
            r["scaling_wall"] = _median(sw) if sw else None
            r["scaling_cpu"] = _median(sc) if sc else None
        targets = {}
        if impl == "C":
            if mode == "srtp" and size == 1200:
                targets["300k"] = r["pps_per_core"] >= TARGET_SRTP_1200_PPS
            if r["ratio"] is not None:
                targets["2x"] = r["ratio"] >= TARGET_RATIO
            if r["scaling_wall"] is not None:
                targets["1.7x"] = r["scaling_wall"] >= TARGET_SCALING
        r["targets"] = targets
        rows.append(r)
    order = {"C": 0, "Py": 1}
    rows.sort(key=lambda r: (order[r["impl"]], r["n"], r["mode"], r["size"], r["workers"]))
    return rows


def results_table(points: list[Point]) -> str:
    rows = []
    head = ("config", "N", "size", "mode", "offered", "fwd pps", "CPU-s", "pps/core", "Py pps/core", "C/Py",
            "scaling wall (cpu)", "other CPU", "targets")
    for r in aggregate(points):
        marks = [k if ok else f"{k} MISS" for k, ok in r["targets"].items()]
        if not r["ok"]:
            marks.append("CHECK FAILED")
        if r["other_cpus"] > 0.1:
            marks.append("NOISY")
        scaling = (f"{r['scaling_wall']:.2f} ({r['scaling_cpu']:.2f})" if r["scaling_wall"] is not None else "")
        rows.append((f"{r['impl']} {r['workers']}{'w' if r['impl'] == 'C' else 'p'}", str(r["n"]), str(r["size"]),
                     r["mode"], fmt_k(r["offered_out_pps"]), fmt_k(r["fwd_pps"]), f"{r['cpu_s']:.2f}",
                     fmt_k(r["pps_per_core"]),
                     fmt_k(r["py_pps_per_core"]) if r["py_pps_per_core"] is not None else "-",
                     f"{r['ratio']:.2f}" if r["ratio"] is not None else ("1.00" if r["impl"] == "Py" else "-"),
                     scaling, f"{r['other_cpus']:.2f}", " ".join(marks)))
    out = _md_table(head, rows)
    ceil = [p for p in points if p.impl == "ceil"]
    if ceil:
        crow = [(f"{p.size}", p.mode, fmt_k(p.fwd_pps), f"{p.cpu_s:.2f}", fmt_k(p.pps_per_core),
                 f"{p.foreign_cpu_s / p.window_s if p.window_s else 0:.2f}") for p in ceil]
        out += ("\n\nReference, one C sender core (sfu_gen_rtp flat out, sendmmsg 32, to one never-read sink):\n"
                + _md_table(("size", "mode", "sent pps", "CPU-s", "pps/core", "other CPU"), crow))
    return out


def point_line(p: Point) -> str:
    extra = ""
    if p.impl == "C":
        extra = " per-worker cpu " + "/".join(f"{w['cpu_frac']:.2f}" for w in p.per_worker)
        extra += f" drops {p.worker_drops or '{}'}"
        extra += " verify " + ",".join("ok" if v["ok"] else f"FAIL({v['why']})" for v in p.verified)
    return (f"  {p.impl:2} {p.workers}w N={p.n:<4} {p.size:>4}B {p.mode:4}: offered {fmt_k(p.offered_in_pps)} in "
            f"(gen sent {fmt_k(p.gen_sent_pps)}), accepted {fmt_k(p.accepted_in_pps)} in, "
            f"fwd {fmt_k(p.fwd_pps)}/s, cpu {p.cpu_s:.2f}s (psutil {p.cpu_s_psutil:.2f}s)/{p.window_s:.2f}s -> {fmt_k(p.pps_per_core)}/core, "
            f"gen cpu {p.gen_cpu_s:.2f}s, ksoftirqd {p.ksoftirqd_cpu_s:.2f}s, other procs {p.foreign_cpu_s:.2f}s, subs rx {p.subscribers_received}/{p.n}, "
            f"sinks {p.delivered_total} vs sent {p.sent_total} - {p.to_publisher} to the publisher (kernel backlog drops {p.backlog_drops}){extra}"
            + (f" ERRORS {p.errors}" if p.errors else ""))


async def run_matrix(args: argparse.Namespace) -> list[Point]:
    b = Bench(args)
    await b.start(args.workers, max(args.n))
    points: list[Point] = []
    deadline = time.monotonic() + 60 * args.max_minutes

    async def measured(fn, *a) -> Point:
        """run a point; re-run it (bounded) when other processes were busy during its window"""
        best = None
        for attempt in range(1 + args.retry_noisy):
            p = await fn(*a)
            p.attempts = attempt + 1
            noise = p.foreign_cpu_s / p.window_s if p.window_s else 0.0
            if best is None or noise < best.foreign_cpu_s / max(best.window_s, 1e-9):
                best = p
            if noise <= 2 * args.quiet_max or time.monotonic() > deadline:
                break
            print(f"  (other processes used {noise:.2f} CPUs during the window: measuring again)", flush=True)
        assert best is not None
        if time.monotonic() > deadline and args.quiet_wait:
            print("  (time budget spent: no more waiting for a quiet machine)", flush=True)
            args.quiet_wait, args.retry_noisy = 0.0, 0
        return best

    async def calibrated(kind: str, n: int, size: int, mode: str, w: int, high_in: float) -> Point:
        """a short run at `high_in` finds the input rate the forwarder takes with a full core;
        the measured run is offered CAL_OVER x that (less overload: less generator CPU and
        less contention on the forwarder's socket than offering far above capacity)"""
        if kind == "Py":
            async def run(n, size, mode, w, rate, **kw):
                return await b.run_py(n, size, mode, rate, **kw)
        else:
            run = b.run_c
        rate, cap = high_in, 0.0
        if args.calibrate:
            cal = await run(n, size, mode, w, high_in, warmup=CAL_WARMUP, window=CAL_WINDOW)
            cap = cal.input_capacity_pps
            if cap > 0:
                rate = min(high_in, CAL_OVER * cap)
        p = await measured(run, n, size, mode, w, rate)
        p.calibration_in_pps = cap
        return p

    try:
        ceilings: dict[tuple, float] = {}
        if args.ceiling:
            for mode in dict.fromkeys(base_mode(m) for m in args.modes):
                for size in args.sizes:
                    p = await measured(b.run_ceiling, size, mode)
                    points.append(p)
                    ceilings[(size, mode)] = p.pps_per_core
                    print(f"  ceiling {size}B {mode}: {fmt_k(p.fwd_pps)}/s, cpu {p.cpu_s:.2f}s/{p.window_s:.2f}s "
                          f"-> {fmt_k(p.pps_per_core)}/core, other procs {p.foreign_cpu_s:.2f}s"
                          + (f" ERRORS {p.errors}" if p.errors else ""), flush=True)
        for n in args.n:
            for mode in args.modes:
                for size in args.sizes:
                    for rep in range(args.reps):
                        ceiling = ceilings.get((size, base_mode(mode)))
                        offer_1w = OFFER_OVER_CEILING * ceiling if ceiling else OFFER_1W_DEFAULT
                        c1 = None
                        if 1 in args.workers:
                            c1 = await calibrated("C", n, size, mode, 1, offer_1w / n)
                            c1.rep = rep
                            points.append(c1)
                            print(point_line(c1), flush=True)
                        if args.python and mode == base_mode(mode):
                            p = await calibrated("Py", n, size, mode, 1, offer_1w / n)
                            p.rep = rep
                            points.append(p)
                            print(point_line(p), flush=True)
                        for w in args.workers:
                            if w == 1:
                                continue
                            out = (OFFER_2W_OVER_1W * c1.pps_per_core if c1 and c1.pps_per_core
                                   else w * offer_1w)
                            out = min(out, w * offer_1w)
                            c = await calibrated("C", n, size, mode, w, out / n)
                            c.rep = rep
                            points.append(c)
                            print(point_line(c), flush=True)
    finally:
        await b.stop()
    return points


def summary(points: list[Point]) -> dict:
    res: dict[str, Any] = {"srtp_1200_pps_per_core": [], "ratio": [], "scaling": [], "checks_failed": [],
                           "noisy": []}
    for p in points:
        tag = f"{p.impl} {p.workers}{'w' if p.impl == 'C' else 'p'} N={p.n} {p.size}B {p.mode} rep {p.rep}"
        if not point_ok(p):
            res["checks_failed"].append(tag)
        if p.window_s and p.foreign_cpu_s > 0.1 * p.window_s:
            res["noisy"].append(tag)
    for r in aggregate(points):
        if r["impl"] != "C":
            continue
        tag = f"{r['workers']}w N={r['n']} {r['size']}B {r['mode']}"
        if "300k" in r["targets"]:
            res["srtp_1200_pps_per_core"].append((tag, round(r["pps_per_core"]), r["targets"]["300k"]))
        if r["ratio"] is not None:
            res["ratio"].append((tag, round(r["ratio"], 3), r["targets"]["2x"]))
        if r["scaling_wall"] is not None:
            res["scaling"].append((tag, round(r["scaling_wall"], 3), round(r["scaling_cpu"], 3),
                                   r["targets"]["1.7x"]))
    return res


def base_mode(mode: str) -> str:
    """rtp or srtp, without the congestion-control suffix"""
    return mode[:-len(CC_SUFFIX)] if mode.endswith(CC_SUFFIX) else mode


def parse_list(s: str, typ=int) -> list:
    return [typ(x) for x in s.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_pyfwd":
        pyfwd_main(int(argv[1]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N=10,100, 1200 B, rtp+srtp, 1 s windows (~50 s)")
    ap.add_argument("--smoke", action="store_true",
                    help="N=10, 1200 B, srtp, 1 s windows, no ceiling/calibration (tests, ~15 s)")
    ap.add_argument("--n", type=parse_list, default=None, help="subscriber counts, e.g. 10,100,1000")
    ap.add_argument("--sizes", type=parse_list, default=None, help="packet sizes in bytes, e.g. 200,1200")
    ap.add_argument("--modes", type=lambda s: parse_list(s, str), default=None,
                    help="rtp,srtp; rtp+cc / srtp+cc: subscribers with congestion control on (C only)")
    ap.add_argument("--workers", type=parse_list, default=None, help="worker counts, e.g. 1,2")
    ap.add_argument("--window", type=float, default=None, help="steady window seconds (default 2)")
    ap.add_argument("--warmup", type=float, default=None, help="warm-up seconds (default 0.8)")
    ap.add_argument("--reps", type=int, default=1,
                    help="repetitions per configuration: medians, and C/Py and scaling as medians of ratios "
                         "between runs of the same repetition")
    ap.add_argument("--quiet-wait", type=float, default=None,
                    help="before each point wait up to this many seconds for other processes to go idle "
                         "(default 30; --quick 5, --smoke 2)")
    ap.add_argument("--quiet-max", type=float, default=0.10,
                    help="CPUs other processes may use for the machine to count as quiet")
    ap.add_argument("--retry-noisy", type=int, default=None,
                    help="re-run a point up to this many times when other processes were busy during it "
                         "(default 2; --quick/--smoke 0)")
    ap.add_argument("--max-minutes", type=float, default=9.0,
                    help="after this long stop waiting for quiet / retrying (the matrix still completes)")
    ap.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                    help="offer the fixed high rate instead of 1.15 x a calibration run's capacity")
    ap.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                    help="skip the one-core C sender reference (sfu_gen_rtp flat out)")
    ap.add_argument("--no-python", dest="python", action="store_false", help="skip the Python baseline")
    ap.add_argument("--json", default=None, help="write all points and the summary to this file")
    args = ap.parse_args(argv)
    if args.quick:
        d = dict(n=[10, 100], sizes=[1200], modes=["rtp", "srtp"], workers=[1, 2], window=1.0, warmup=0.5,
                 quiet_wait=5.0, retry_noisy=0)
    elif args.smoke:
        d = dict(n=[10], sizes=[1200], modes=["srtp"], workers=[1, 2], window=1.0, warmup=0.5, ceiling=False,
                 calibrate=False, quiet_wait=2.0, retry_noisy=0)
    else:
        d = dict(n=[10, 100, 1000], sizes=[200, 1200], modes=["rtp", "srtp"], workers=[1, 2], window=2.0,
                 warmup=0.8, quiet_wait=30.0, retry_noisy=2)
    for k, v in d.items():
        if getattr(args, k, None) is None or k in ("ceiling", "calibrate"):
            setattr(args, k, v)
    if 1 not in args.workers and any(w > 1 for w in args.workers):
        print("note: without a 1-worker run the 2-worker offered rate is OFFER_2W/N", file=sys.stderr)
    for m in args.modes:
        if base_mode(m) not in ("rtp", "srtp") or m not in (base_mode(m), base_mode(m) + CC_SUFFIX):
            ap.error(f"mode {m!r}: rtp or srtp, optionally with {CC_SUFFIX}")
    if (os.cpu_count() or 1) < 2:
        ap.error("needs 2 CPUs (forwarder on cpu0, generator on cpu1)")

    cmd = "PYTHONPATH=" + os.environ.get("PYTHONPATH", "") + " " + shlex.join([sys.executable] + sys.argv)
    print(f"command: {cmd}")
    print(f"machine: {machine_info()}")
    print(f"started: {time.strftime('%Y-%m-%d %H:%M:%S')}, window {args.window} s, warm-up {args.warmup} s, "
          f"reps {args.reps}")
    print(HEADER)
    print(flush=True)
    t0 = time.monotonic()
    import uvloop
    points = uvloop.run(run_matrix(args))
    print()
    print(results_table(points))
    s = summary(points)
    print()
    for tag, v, ok in s["srtp_1200_pps_per_core"]:
        print(f"target SRTP-GCM 1200 B >= 300k pps/core: {tag}: {v / 1000:.1f}k {'met' if ok else 'MISSED'}")
    for tag, v, ok in s["ratio"]:
        print(f"target C/Py >= 2x: {tag}: {v:.2f}x {'met' if ok else 'MISSED'}")
    for tag, v, vc, ok in s["scaling"]:
        print(f"target 2w >= 1.7x 1w: {tag}: {v:.2f}x wall ({vc:.2f}x cpu-normalised) {'met' if ok else 'MISSED'}")
    if s["checks_failed"]:
        print(f"CHECKS FAILED: {s['checks_failed']}")
    if s["noisy"]:
        print(f"{len(s['noisy'])} of {len(points)} runs had other processes using > 0.1 CPU in their window")
    print(f"total time {time.monotonic() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": cmd, "machine": machine_info(), "args": vars(args),
                       "points": [asdict(p) for p in points], "rows": aggregate(points), "summary": s}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
