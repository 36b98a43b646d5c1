"""Signal endpoints: `/rtc` (v0), `/rtc/v1` and their `validate` twins.

One WebSocket per signal connection; frames are binary protobuf
SignalRequest / SignalResponse (a text frame switches that connection to
protobuf JSON, as LiveKit does).  A malformed frame closes only its own
connection, with a reason.

With a cluster (sfu.cluster), a join for a room another node hosts is
relayed to that node over Redis; the hosting node runs the session with a
RelayConnection (the same send / close / decode / frames interface).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, AsyncIterator

from aiohttp import WSMsgType, web
from google.protobuf import json_format
from livekit.protocol import models, rtc

from .. import auth, errors
from ..wire import decode_frame
from .join import JoinError, JoinParams, parse_v0, parse_v1, verify_token

if TYPE_CHECKING:
    from ..rooms.service import RoomService

log = logging.getLogger("sfu.signal")

MAX_SIGNAL_MESSAGE = 2 * 1024 * 1024
WS_HEARTBEAT = 10.0
JOIN_TIMEOUT = 15.0


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


class SignalServer:
    def __init__(self, keys: auth.KeyProvider, rooms: "RoomService", v1_enabled: bool = True) -> None:
        self.keys = keys
        self.rooms = rooms
        self.v1_enabled = v1_enabled
        self.connections = 0
        self.cluster: Any = None        # sfu.cluster.Cluster when running multi-node

    def install(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/rtc", self.handle_v0)
        r.add_get("/rtc/v1", self.handle_v1)
        r.add_get("/rtc/validate", self.validate_v0)
        r.add_get("/rtc/v1/validate", self.validate_v1)

    # -- validation ------------------------------------------------------------
    def _params(self, request: web.Request, v1: bool) -> JoinParams:
        claims = verify_token(self.keys, request.headers, request.query)
        params = parse_v1(claims, request.query) if v1 else parse_v0(claims, request.query)
        self.rooms.check_join(params)
        return params

    async def _validate(self, request: web.Request, v1: bool) -> web.Response:
        headers = {"Access-Control-Allow-Origin": "*"}
        try:
            self._params(request, v1)
        except JoinError as e:
            return web.Response(status=e.status, text=str(e), headers=headers)
        return web.Response(text="success", headers=headers)

    async def validate_v0(self, request: web.Request) -> web.Response:
        return await self._validate(request, False)

    async def validate_v1(self, request: web.Request) -> web.Response:
        return await self._validate(request, True)

    # -- connections -----------------------------------------------------------
    async def handle_v0(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, v1=False)

    async def handle_v1(self, request: web.Request) -> web.StreamResponse:
        if not self.v1_enabled:
            # the clients fall back to /rtc on a 404
            return web.Response(status=404, text="single peer connection signalling not enabled")
        return await self._handle(request, v1=True)

    async def _handle(self, request: web.Request, v1: bool) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(status=404, text="WebSocket upgrade required")
        try:
            params = self._params(request, v1)
        except JoinError as e:
            return web.Response(status=e.status, text=str(e))
        host = None
        if self.cluster is not None:
            try:
                host = await self.cluster.route(params.room)
            except errors.SfuError as e:      # ClusterUnavailable: Redis down, room not here
                return web.Response(status=503, text=str(e))
        ws = web.WebSocketResponse(heartbeat=WS_HEARTBEAT, max_msg_size=MAX_SIGNAL_MESSAGE, compress=True)
        await ws.prepare(request)
        conn = SignalConnection(ws, request.remote or "")
        self.connections += 1
        try:
            if host is not None and host != self.cluster.node_id:
                token = auth.bearer(request.headers.get("Authorization"), request.query.get("access_token"))
                why = await self.cluster.relay(host, token, dict(request.query), v1, conn)
                log.debug("relayed session of %s in %s (node %s) ended: %s", params.identity, params.room,
                          host, why)
            else:
                await self.rooms.run_session(params, conn)
        except Exception:
            log.exception("signal session for %s in %s failed", params.identity, params.room)
            await conn.close(1011, "internal error")
        finally:
            self.connections -= 1
        return ws


    async def run_relayed(self, token: str, query: dict[str, str], v1: bool, conn: Any) -> None:
        """a session another node relays to us (sfu.cluster): the token is verified here again"""
        try:
            claims = verify_token(self.keys, {"Authorization": f"Bearer {token}"}, query)
            params = parse_v1(claims, query) if v1 else parse_v0(claims, query)
            self.rooms.check_join(params)
        except JoinError as e:
            await conn.send(leave_response(models.DisconnectReason.JOIN_FAILURE))
            await conn.close(1008, str(e))
            return
        self.connections += 1
        try:
            await self.rooms.run_session(params, conn)
        finally:
            self.connections -= 1


async def read_requests(conn: Any, on_request: Any, on_bad: Any) -> str:
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


