"""Bounds on HTTP connections that have not delivered a request yet, so that slow or idle
clients cannot hold every file descriptor (slowloris): a connection must deliver a complete
request head within `header_timeout` seconds of connecting (and of its previous response, on a
keep-alive connection); one source address may hold at most `max_pending_per_ip` connections
that have not; and the server at most `max_connections` in all.  A connection over a bound is
closed at once; the rest of the server never waits for it.

aiohttp has no timeout for reading a request head, so this wraps its protocol factory: the
wrapper counts and times connections, and the application's middleware reports when a request
head arrived (`request_seen`) and when its response was sent (`response_done`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from aiohttp import web

log = logging.getLogger("sfu.http")

HEADER_TIMEOUT = 10.0
MAX_PENDING_PER_IP = 64


class ConnectionGuard:
    def __init__(self, max_connections: int, header_timeout: float = HEADER_TIMEOUT,
                 max_pending_per_ip: int = MAX_PENDING_PER_IP) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.max_pending_per_ip = max_pending_per_ip
        self.open = 0
        self.pending: dict[str, int] = {}                 # source address -> connections waiting for a head
        self._by_transport: dict[int, _Guarded] = {}
        self.refused = {"connections": 0, "pending_per_ip": 0, "header_timeout": 0}

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Guarded(self, inner())

    def request_seen(self, transport: Any) -> None:
        g = self._by_transport.get(id(transport))
        if g is not None:
            g.set_pending(False)

    def response_done(self, transport: Any) -> None:
        g = self._by_transport.get(id(transport))
        if g is not None and not g.closed:
            g.set_pending(True)

    def middleware(self) -> Callable:
        @web.middleware
        async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
            self.request_seen(request.transport)
            try:
                return await handler(request)
            finally:
                self.response_done(request.transport)
        return guard


class _Guarded(asyncio.Protocol):
    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard, self.inner = guard, inner
        self.transport: asyncio.BaseTransport | None = None
        self.ip = ""
        self.pending = False
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        g = self.guard
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.ip = peer[0] if isinstance(peer, tuple) else ""
        why = ("connections" if g.open >= g.max_connections else
               "pending_per_ip" if g.pending.get(self.ip, 0) >= g.max_pending_per_ip else "")
        if why:
            g.refused[why] += 1
            self.closed = True
            transport.abort()
            return
        g.open += 1
        g._by_transport[id(transport)] = self
        self.set_pending(True)
        self.inner.connection_made(transport)

    def set_pending(self, pending: bool) -> None:
        if pending == self.pending:
            return
        self.pending = pending
        g = self.guard
        if pending:
            g.pending[self.ip] = g.pending.get(self.ip, 0) + 1
            self.timer = asyncio.get_running_loop().call_later(g.header_timeout, self._too_slow)
        else:
            n = g.pending.get(self.ip, 0) - 1
            if n > 0:
                g.pending[self.ip] = n
            else:
                g.pending.pop(self.ip, None)
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None

    def _too_slow(self) -> None:
        self.timer = None
        if self.pending and self.transport is not None:
            self.guard.refused["header_timeout"] += 1
            self.transport.abort()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.set_pending(False)
        self.guard.open -= 1
        self.guard._by_transport.pop(id(self.transport), None)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class GuardedSite(web.TCPSite):
    """web.TCPSite whose connections go through a ConnectionGuard"""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard, **kw: Any) -> None:
        super().__init__(runner, host, port, **kw)
        self.guard = guard

    async def start(self) -> None:
        self._runner._reg_site(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.guard.factory(self._runner.server), self._host, self._port,
                                                backlog=self._backlog, reuse_address=self._reuse_address,
                                                reuse_port=self._reuse_port)
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port
