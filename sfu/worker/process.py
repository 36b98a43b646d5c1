"""Spawn and supervise media worker processes.

Like mediasoup's Worker: each worker is a child process with a control
channel (a socketpair) and a ready handshake (version checked); an exit the
pool did not ask for is reported to listeners as `died` (pid, exit code or
signal), every pending request on it fails with WorkerDiedError, and the
worker is started again with the same index, UDP port and rings.  Workers
die with the main process (PR_SET_PDEATHSIG); shared memory is a memfd, so
nothing outlives the processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from .. import errors
from . import messages
from .channel import Channel
from .shm import DEFAULT_RING_SLOTS, SharedRings

log = logging.getLogger("sfu.worker")

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
RESTART_BACKOFF = (0.0, 0.1, 0.5, 1.0, 2.0, 5.0)

EXIT_REASONS = {0: "clean exit", 40: "bad arguments", 41: "native init failed", 42: "UDP bind failed",
                43: "parent gone"}


@dataclass
class WorkerDeath:
    index: int
    pid: int
    returncode: int | None
    reason: str


@dataclass
class WorkerHandle:
    index: int
    port: int
    ip: str = ""
    pid: int = 0
    proc: asyncio.subprocess.Process | None = None
    channel: Channel | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    generation: int = 0
    restarts: int = 0
    started_at: float = 0.0
    handoff: socket.socket | None = None   # ICE-TCP connections go to the worker through it
    ipv6: bool = False                     # its shared port listens on IPv6 too

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None and self.ready.is_set()

    async def request(self, method: str, data: dict | None = None, timeout: float = 10.0) -> dict:
        if self.channel is None or not self.ready.is_set():
            raise errors.WorkerDiedError(f"worker {self.index} is not running")
        return await self.channel.request(method, data, timeout)


class WorkerPool:
    """N media workers sharing one set of rings."""

    def __init__(self, n_workers: int, listen_ip: str = "127.0.0.1", announced_ip: str = "",
                 base_port: int = 0, ring_slots: int = DEFAULT_RING_SLOTS, restart: bool = True,
                 log_level: str = "INFO", ipv6: bool = False) -> None:
        if not 1 <= n_workers <= 64:
            raise ValueError("1..64 workers")
        self.n = n_workers
        self.listen_ip = listen_ip
        self.announced_ip = announced_ip or listen_ip
        self.announced_ips: list[str] = [self.announced_ip]   # every host candidate of a WebRTC transport
        self.base_port = base_port
        self.ring_slots = ring_slots
        self.restart = restart
        self.log_level = log_level
        self.ipv6 = ipv6                    # workers also listen on [::] (IPv6 host candidates are announced)
        self.workers: list[WorkerHandle] = []
        self.rings: SharedRings | None = None
        self.wake_fds: list[int] = []
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        self._died_listeners: list[Callable[[WorkerDeath], None]] = []
        self._ready_listeners: list[Callable[[WorkerHandle], None]] = []
        self._event_listeners: list[Callable[[int, str, dict], None]] = []

    # -- listeners ---------------------------------------------------------
    def on_died(self, fn: Callable[[WorkerDeath], None]) -> None:
        self._died_listeners.append(fn)

    def on_ready(self, fn: Callable[[WorkerHandle], None]) -> None:
        self._ready_listeners.append(fn)

    def on_event(self, fn: Callable[[int, str, dict], None]) -> None:
        self._event_listeners.append(fn)

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        self.rings = SharedRings(self.n, self.ring_slots)
        self.wake_fds = [os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC) for _ in range(self.n)]
        self.workers = [WorkerHandle(index=i, port=(self.base_port + i) if self.base_port else 0)
                        for i in range(self.n)]
        try:
            await asyncio.gather(*(self._spawn(w) for w in self.workers))
        except BaseException:
            await self.stop()
            raise

    async def _spawn(self, w: WorkerHandle) -> None:
        assert self.rings is not None
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # one message per connection: its fd (SCM_RIGHTS) and the bytes read from it
        handoff, child_handoff = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        handoff.setblocking(False)
        pass_fds = [child_sock.fileno(), child_handoff.fileno(), *self.wake_fds]
        if self.rings.fd >= 0:
            pass_fds.append(self.rings.fd)
        argv = [
            sys.executable, "-m", "sfu.worker.main",
            "--worker-id", str(w.index), "--n-workers", str(self.n),
            "--channel-fd", str(child_sock.fileno()), "--handoff-fd", str(child_handoff.fileno()),
            "--shm-fd", str(self.rings.fd), "--shm-size", str(self.rings.size),
            "--ring-slots", str(self.ring_slots),
            "--wake-fds", ",".join(str(fd) for fd in self.wake_fds),
            "--listen-ip", self.listen_ip, "--announced-ip", self.announced_ip,
            "--port", str(w.port), "--parent-pid", str(os.getpid()),
            "--version", str(messages.PROTOCOL_VERSION), "--log-level", self.log_level,
            *(["--ipv6"] if self.ipv6 else []),
        ]
        w.ready = asyncio.Event()
        w.generation += 1
        gen = w.generation
        ready_fut: asyncio.Future = asyncio.get_running_loop().create_future()

        def on_event(event: str, data: dict) -> None:
            if event == "ready":
                if not ready_fut.done():
                    ready_fut.set_result(data)
                return
            for fn in self._event_listeners:
                fn(w.index, event, data)

        # run from the directory holding this very `sfu` package, so that
        # `-m` (which puts the cwd first on sys.path) imports the same code
        try:
            w.proc = await asyncio.create_subprocess_exec(*argv, pass_fds=pass_fds, cwd=_PACKAGE_ROOT)
        finally:
            child_sock.close()
            child_handoff.close()
        if w.handoff is not None:
            w.handoff.close()
        w.handoff = handoff
        w.pid = w.proc.pid
        w.channel = Channel(parent_sock, f"worker-{w.index}", on_event=on_event)
        await w.channel.start()
        waiter = asyncio.get_running_loop().create_task(w.proc.wait())
        try:
            done, _ = await asyncio.wait({ready_fut, waiter}, timeout=READY_TIMEOUT,
                                         return_when=asyncio.FIRST_COMPLETED)
            if ready_fut not in done:
                code = w.proc.returncode
                if code is None:
                    w.proc.kill()
                    await w.proc.wait()
                raise errors.WorkerDiedError(
                    f"worker {w.index} did not become ready: {EXIT_REASONS.get(code or 0, code)}")
        except BaseException:
            waiter.cancel()
            await w.channel.close()
            raise
        data = ready_fut.result()
        if data.get("version") != messages.PROTOCOL_VERSION:
            w.proc.kill()
            raise errors.WorkerDiedError(f"worker {w.index} speaks protocol {data.get('version')}")
        w.port = int(data["port"])  # keep the port across restarts
        w.ip = str(data["ip"])
        w.ipv6 = bool(data.get("ipv6"))
        w.started_at = time.monotonic()
        w.ready.set()
        log.info("worker %d ready: pid %d, udp %s:%d", w.index, w.pid, w.ip, w.port)
        t = asyncio.get_running_loop().create_task(self._watch(w, gen, waiter))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        for fn in self._ready_listeners:
            fn(w)

    async def _watch(self, w: WorkerHandle, gen: int, waiter: asyncio.Task) -> None:
        code = await waiter
        if gen != w.generation:
            return
        w.ready.clear()
        if w.channel is not None:
            await w.channel.close()
        if self._stopping:
            return
        reason = (f"killed by signal {signal.Signals(-code).name}" if code < 0
                  else EXIT_REASONS.get(code, f"exit code {code}"))
        log.error("worker %d (pid %d) died: %s", w.index, w.pid, reason)
        death = WorkerDeath(w.index, w.pid, code, reason)
        for fn in self._died_listeners:
            try:
                fn(death)
            except Exception:
                log.exception("died listener failed")
        if not self.restart:
            return
        # restart with backoff; a worker that keeps dying quickly waits longer
        if time.monotonic() - w.started_at > 60:
            w.restarts = 0
        delay = RESTART_BACKOFF[min(w.restarts, len(RESTART_BACKOFF) - 1)]
        w.restarts += 1
        await asyncio.sleep(delay)
        while not self._stopping:
            try:
                await self._spawn(w)
                return
            except errors.WorkerDiedError as e:
                log.error("worker %d restart failed: %s", w.index, e)
                await asyncio.sleep(RESTART_BACKOFF[-1])

    async def stop(self) -> None:
        self._stopping = True
        for t in list(self._tasks):
            t.cancel()
        for w in self.workers:
            if w.channel is not None and w.proc is not None and w.proc.returncode is None:
                try:
                    await w.channel.request("WORKER_SHUTDOWN", timeout=1.0)
                except errors.SfuError:
                    pass
                except asyncio.TimeoutError:
                    pass
        for w in self.workers:
            if w.proc is None:
                continue
            try:
                await asyncio.wait_for(w.proc.wait(), STOP_TIMEOUT)
            except asyncio.TimeoutError:
                w.proc.kill()
                await w.proc.wait()
            if w.channel is not None:
                await w.channel.close()
            if w.handoff is not None:
                w.handoff.close()
                w.handoff = None
        for fd in self.wake_fds:
            os.close(fd)
        self.wake_fds = []
        if self.rings is not None:
            self.rings.close()
            self.rings = None

    # -- helpers ---------------------------------------------------------------
    def worker(self, index: int) -> WorkerHandle:
        return self.workers[index]

    def hand_off_tcp(self, index: int, sock: socket.socket, data: bytes) -> bool:
        """give an accepted ICE-TCP connection, and the bytes read from it, to worker `index`
        (its C loop owns it from then on; the caller closes its own copy); False when the
        worker cannot take it now"""
        w = self.workers[index] if 0 <= index < len(self.workers) else None
        if w is None or not w.alive or w.handoff is None:
            return False
        try:
            socket.send_fds(w.handoff, [data], [sock.fileno()])
        except OSError:        # full (the worker is stuck) or gone
            return False
        return True

    async def stats(self) -> list[dict]:
        out = []
        for w in self.workers:
            try:
                out.append(await w.request("WORKER_STATS"))
            except errors.SfuError as e:
                out.append({"worker": w.index, "error": str(e)})
        return out
