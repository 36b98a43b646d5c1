"""ICE over TCP (RFC 6544): the node's passive TCP candidate port, and the hand-off of each
connection to the media worker whose transport it is for.

libwebrtc clients pair our passive TCP candidates beside the UDP ones and use them when UDP
does not get through (a network that drops UDP, or lets only outbound TCP out).  One port
serves every worker, as `rtc.tcp_port` does in LiveKit, so a firewall needs one rule.

The acceptor reads the first RFC 4571 frame of each connection: a STUN Binding request whose
USERNAME starts with one of our ICE ufrags.  It hands the socket and the bytes it read to the
worker that holds that transport (WorkerPool.hand_off_tcp, fd passing); from then on that
worker's C loop reads and writes the connection (csrc/loop/tcp_conn.c) and the ICE agent
there checks the request's integrity.  The main process never sees a media packet.

A connection that does not deliver such a frame within FIRST_FRAME_TIMEOUT, sends anything
else, names no ufrag of ours, or arrives while PENDING_MAX others wait, is closed and
counted by reason (`stats`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Callable

from ..protocol.stun_frame import extract_local_ufrag

log = logging.getLogger("sfu.ice_tcp")

FIRST_FRAME_TIMEOUT = 5.0      # s from accept to a whole first frame
PENDING_MAX = 256              # connections waiting for their first frame
FRAME_MAX = 2048               # the largest frame the data plane takes (SFU_TCP_FRAME_MAX)
READ_MAX = 4100                # what a worker takes with the connection (SFU_TCP_OPEN_DATA_MAX)
ACCEPTS_PER_WAKEUP = 64

CLOSE_REASONS = ("pending_full", "timeout", "closed", "error", "bad_frame", "not_stun", "unknown_ufrag",
                 "worker_unavailable")


class _Pending:
    __slots__ = ("sock", "peer", "buf", "timer")

    def __init__(self, sock: socket.socket, peer: tuple) -> None:
        self.sock = sock
        self.peer = peer
        self.buf = bytearray()
        self.timer: asyncio.TimerHandle | None = None


class IceTcpAcceptor:
    """`worker_for_ufrag(ufrag)`: the index of the worker holding the transport with that ICE
    ufrag, or None; `hand_off(index, sock, data)`: give it the connection (True when taken)."""

    def __init__(self, worker_for_ufrag: Callable[[str], int | None],
                 hand_off: Callable[[int, socket.socket, bytes], bool], *,
                 first_frame_timeout: float = FIRST_FRAME_TIMEOUT, pending_max: int = PENDING_MAX) -> None:
        self._worker_for_ufrag = worker_for_ufrag
        self._hand_off = hand_off
        self._timeout = first_frame_timeout
        self._pending_max = pending_max
        self._pending: dict[int, _Pending] = {}
        self._listeners: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self.handed_off = 0
        self.closed: dict[str, int] = dict.fromkeys(CLOSE_REASONS, 0)

    @property
    def stats(self) -> dict:
        return {"port": self.port, "handed_off": self.handed_off, "pending": len(self._pending),
                "closed": dict(self.closed)}

    def start(self, host: str, port: int) -> None:
        """listen on host:port (port 0: any free one; `self.port` says which); called again for
        another address family on the same port"""
        self._loop = asyncio.get_running_loop()
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:       # beside an IPv4 listener on the same port
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((host, port))
            s.listen(512)
            s.setblocking(False)
        except OSError:
            s.close()
            raise
        self.port = s.getsockname()[1]
        self._listeners.append(s)
        self._loop.add_reader(s.fileno(), self._accept, s)

    def close(self) -> None:
        for s in self._listeners:
            if self._loop is not None:
                self._loop.remove_reader(s.fileno())
            s.close()
        self._listeners.clear()
        for p in list(self._pending.values()):
            self._drop(p, None)

    # -- internals --------------------------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        assert self._loop is not None
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:       # out of descriptors, ...: try again on the next wake-up
                log.warning("ICE-TCP accept: %s", e)
                return
            if len(self._pending) >= self._pending_max:
                self.closed["pending_full"] += 1
                sock.close()
                continue
            sock.setblocking(False)
            p = _Pending(sock, peer)
            self._pending[sock.fileno()] = p
            p.timer = self._loop.call_later(self._timeout, self._drop, p, "timeout")
            self._loop.add_reader(sock.fileno(), self._read, p)

    def _drop(self, p: _Pending, reason: str | None) -> None:
        """stop waiting for p; close it unless it was handed off (reason None: handed off or
        shutting down)"""
        if self._pending.pop(p.sock.fileno(), None) is None:
            return
        if p.timer is not None:
            p.timer.cancel()
        if self._loop is not None:
            self._loop.remove_reader(p.sock.fileno())
        if reason is not None:
            self.closed[reason] += 1
        p.sock.close()      # a handed-off connection lives on in the worker's copy of the fd

    def _read(self, p: _Pending) -> None:
        try:
            data = p.sock.recv(READ_MAX - len(p.buf))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(p, "error")
            return
        if not data:
            self._drop(p, "closed")
            return
        p.buf += data
        if len(p.buf) < 2:
            return
        n = int.from_bytes(p.buf[:2], "big")
        if n < 20 or n > FRAME_MAX:        # a STUN message has a 20-byte header
            self._drop(p, "bad_frame")
            return
        if len(p.buf) < 2 + n:
            return
        ufrag = extract_local_ufrag(bytes(p.buf[2:2 + n]))
        if ufrag is None:
            self._drop(p, "not_stun")
            return
        worker = self._worker_for_ufrag(ufrag)
        if worker is None:
            self._drop(p, "unknown_ufrag")
            return
        if not self._hand_off(worker, p.sock, bytes(p.buf)):
            self._drop(p, "worker_unavailable")
            return
        self.handed_off += 1
        self._drop(p, None)
