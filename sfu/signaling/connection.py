"""One signal connection: the server end of a `/rtc` WebSocket, the loop that reads its
SignalRequests, and the replies sent on it without a room (pong, leave).

Frames are binary protobuf SignalRequest / SignalResponse (a text frame switches that
connection to protobuf JSON, as LiveKit does).  A malformed frame closes only its own
connection, with a reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

from aiohttp import WSMsgType, web
from google.protobuf import json_format
from livekit.protocol import rtc

from .. import errors
from ..wire import decode_frame
from .prepared_response import Prepared, as_message, wire_bytes
from .rate_limit import TokenBucket

log = logging.getLogger("sfu.signal")


class Connection(Protocol):
    """What a participant session needs of its signal connection: a SignalConnection, or a
    relayed one (sfu.cluster.relay.RelayConnection) for a session another node fronts."""

    remote: str
    closed: bool
    end_reason: str
    messages_in: int
    messages_out: int

    async def send(self, msg: rtc.SignalResponse | Prepared) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    def decode(self, msg: Any) -> rtc.SignalRequest: ...

    def frames(self) -> AsyncIterator[Any]: ...


MAX_QUEUED_BYTES = 8 * 1024 * 1024    # a client this far behind in reading is dropped
CLOSE_FLUSH_TIMEOUT = 2.0             # s close() waits for what is queued (a leave) to go out


class SignalConnection:
    """The server end of one signal WebSocket; owned by a participant session.

    send() only queues: one writer task per connection writes the queue in order, so a
    broadcast to a room never waits for a client that reads slowly; a client whose queue
    passes MAX_QUEUED_BYTES is dropped (the others get every update)."""

    def __init__(self, ws: web.WebSocketResponse, remote: str, transport: asyncio.BaseTransport | None = None) -> None:
        self.ws = ws
        self.remote = remote
        self.transport = transport      # aborted when the client is dropped for reading too slowly
        self.json = False
        self.closed = False
        self.end_reason = "closed"
        self.messages_in = 0
        self.messages_out = 0
        self._queue: deque[bytes | str] = deque()
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task | None = None

    async def frames(self) -> AsyncIterator[Any]:
        """incoming data frames until the socket closes (why: `end_reason`)"""
        try:
            async for msg in self.ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    return
                if msg.type == WSMsgType.ERROR:
                    self.end_reason = f"error: {self.ws.exception()}"
                    return
                yield msg
        finally:
            if self.ws.closed:     # nothing more can be written: the writer ends
                self.closed = True
                self._wake.set()

    async def send(self, msg: rtc.SignalResponse | Prepared) -> None:
        if self.closed or self.ws.closed:
            return
        data: bytes | str = json_format.MessageToJson(as_message(msg), indent=None) if self.json else wire_bytes(msg)
        self._queue.append(data)
        self._queued_bytes += len(data)
        if self._queued_bytes > MAX_QUEUED_BYTES:
            log.warning("signal connection from %s: %d bytes unread, dropping it", self.remote, self._queued_bytes)
            self.end_reason = "too slow reading"
            self.closed = True
            self._queue.clear()
            self._queued_bytes = 0
            if self.transport is not None:
                self.transport.abort()      # its writer may be stuck on the full socket
            return
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        self._wake.set()

    async def _write(self) -> None:
        while True:
            while self._queue:
                data = self._queue.popleft()
                self._queued_bytes -= len(data)
                try:
                    if isinstance(data, str):
                        await self.ws.send_str(data)
                    else:
                        await self.ws.send_bytes(data)
                    self.messages_out += 1
                except (ConnectionError, RuntimeError) as e:
                    log.debug("signal send to %s failed: %s", self.remote, e)
                    self.closed = True
                    self._queue.clear()
                    self._queued_bytes = 0
                    return
            self._wake.clear()
            if self.closed:
                return
            await self._wake.wait()

    async def flush(self, timeout: float = CLOSE_FLUSH_TIMEOUT) -> None:
        """wait until what is queued has been written (at most `timeout` s)"""
        end = asyncio.get_running_loop().time() + timeout
        while self._queue and self._writer is not None and not self._writer.done():
            if asyncio.get_running_loop().time() > end:
                return
            await asyncio.sleep(0.005)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed:
            await self.flush()
        self.closed = True
        self._wake.set()
        if not self.ws.closed:
            try:
                await self.ws.close(code=code, message=reason.encode()[:120])
            except (ConnectionError, RuntimeError):
                pass

    def decode(self, msg: Any) -> rtc.SignalRequest:
        req, self.json = decode_frame(msg, rtc.SignalRequest)
        return req


async def read_requests(conn: Connection, on_request: Callable[[rtc.SignalRequest], Awaitable[None]],
                        on_bad: Callable[[str], Awaitable[None]]) -> str:
    """Feed decoded SignalRequests to `on_request` until the connection
    (a SignalConnection or a relayed one) closes; returns why it ended."""
    bucket = TokenBucket(now=time.monotonic())
    async for msg in conn.frames():
        try:
            req = conn.decode(msg)
        except errors.ProtocolError as e:
            await on_bad(str(e))
            return f"bad message: {e}"
        conn.messages_in += 1
        wait = bucket.take(time.monotonic())
        if wait > 0:
            if bucket.throttled == 1:
                log.warning("signal connection from %s: over %.0f requests/s, throttled", conn.remote, bucket.rate)
            await asyncio.sleep(wait)
        await on_request(req)
    return conn.end_reason


def pong(req: rtc.SignalRequest) -> rtc.SignalResponse | None:
    """answer to ping (int64) and ping_req"""
    now_ms = int(time.time() * 1000)
    which = req.WhichOneof("message")
    if which == "ping":
        return rtc.SignalResponse(pong=now_ms)
    if which == "ping_req":
        return rtc.SignalResponse(pong_resp=rtc.Pong(last_ping_timestamp=req.ping_req.timestamp, timestamp=now_ms))
    return None


def leave_response(reason: int, action: int = rtc.LeaveRequest.DISCONNECT) -> rtc.SignalResponse:
    return rtc.SignalResponse(leave=rtc.LeaveRequest(
        can_reconnect=action != rtc.LeaveRequest.DISCONNECT, reason=reason, action=action))
