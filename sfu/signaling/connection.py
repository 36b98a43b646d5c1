"""One signal connection: the server end of a `/rtc` WebSocket, the loop that reads its
SignalRequests, and the replies sent on it without a room (pong, leave).

Frames are binary protobuf SignalRequest / SignalResponse (a text frame switches that
connection to protobuf JSON, as LiveKit does).  A malformed frame closes only its own
connection, with a reason.
"""

from __future__ import annotations

import logging
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

from aiohttp import WSMsgType, web
from google.protobuf import json_format
from livekit.protocol import rtc

from .. import errors
from ..wire import decode_frame

log = logging.getLogger("sfu.signal")


class Connection(Protocol):
    """What a participant session needs of its signal connection: a SignalConnection, or a
    relayed one (sfu.cluster.relay.RelayConnection) for a session another node fronts."""

    remote: str
    closed: bool
    end_reason: str
    messages_in: int
    messages_out: int

    async def send(self, msg: rtc.SignalResponse) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    def decode(self, msg: Any) -> rtc.SignalRequest: ...

    def frames(self) -> AsyncIterator[Any]: ...


class SignalConnection:
    """The server end of one signal WebSocket; owned by a participant session."""

    def __init__(self, ws: web.WebSocketResponse, remote: str) -> None:
        self.ws = ws
        self.remote = remote
        self.json = False
        self.closed = False
        self.end_reason = "closed"
        self.messages_in = 0
        self.messages_out = 0

    async def frames(self) -> AsyncIterator[Any]:
        """incoming data frames until the socket closes (why: `end_reason`)"""
        async for msg in self.ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if msg.type == WSMsgType.ERROR:
                self.end_reason = f"error: {self.ws.exception()}"
                return
            yield msg

    async def send(self, msg: rtc.SignalResponse) -> None:
        if self.closed or self.ws.closed:
            return
        try:
            if self.json:
                await self.ws.send_str(json_format.MessageToJson(msg, indent=None))
            else:
                await self.ws.send_bytes(msg.SerializeToString())
            self.messages_out += 1
        except (ConnectionError, RuntimeError) as e:
            log.debug("signal send to %s failed: %s", self.remote, e)
            self.closed = True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True
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
    async for msg in conn.frames():
        try:
            req = conn.decode(msg)
        except errors.ProtocolError as e:
            await on_bad(str(e))
            return f"bad message: {e}"
        conn.messages_in += 1
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
