"""Signal endpoints: `/rtc` (v0), `/rtc/v1` and their `validate` twins.

One WebSocket per signal connection (sfu.signaling.connection); a verified
join is handed to the SessionHost (the rooms) for the participant's session.

With a cluster (sfu.cluster), a join for a room another node hosts is
relayed to that node over Redis; the hosting node runs the session with a
RelayConnection (the same send / close / decode / frames interface).
"""

from __future__ import annotations

import logging
from typing import Protocol

from aiohttp import web
from livekit.protocol import models

from .. import auth, errors
from .connection import Connection, SignalConnection, leave_response
from .join import JoinError, JoinParams, parse_v0, parse_v1, verify_token

log = logging.getLogger("sfu.signal")

MAX_SIGNAL_MESSAGE = 2 * 1024 * 1024
WS_HEARTBEAT = 10.0
JOIN_TIMEOUT = 15.0


class SessionHost(Protocol):
    """Where a verified join goes (sfu.rooms.session.Sessions): the signal layer knows
    rooms only through this."""

    def check_join(self, params: JoinParams, placed_here: bool = True) -> None:
        """raise JoinError when the join cannot succeed (validate and WebSocket upgrade);
        placed_here: a room not yet open would start on this node (no cluster placement)"""

    async def run_session(self, params: JoinParams, conn: Connection) -> None:
        """the participant's whole signal session on `conn`"""


class SignalRoute(Protocol):
    """Multi-node: which node hosts a room, and relaying a session there (sfu.cluster.Cluster)."""

    node_id: str

    async def route(self, room: str) -> str: ...

    async def relay(self, host: str, token: str, query: dict[str, str], v1: bool, conn: Connection) -> str: ...


V1_DISABLED = "single peer connection signalling not enabled"


class SignalServer:
    def __init__(self, keys: auth.KeyProvider, sessions: SessionHost, v1_enabled: bool = True) -> None:
        self.keys = keys
        self.sessions = sessions
        self.v1_enabled = v1_enabled
        self.connections = 0
        self.cluster: SignalRoute | None = None        # when running multi-node

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
        self.sessions.check_join(params, placed_here=self.cluster is None)
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
        if not self.v1_enabled:
            # as /rtc/v1 itself: livekit-client asks validate why /rtc/v1 failed and falls back
            # to /rtc on a 404 (unless its text says the room does not exist)
            return web.Response(status=404, text=V1_DISABLED, headers={"Access-Control-Allow-Origin": "*"})
        return await self._validate(request, True)

    # -- connections -----------------------------------------------------------
    async def handle_v0(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, v1=False)

    async def handle_v1(self, request: web.Request) -> web.StreamResponse:
        if not self.v1_enabled:
            # the clients fall back to /rtc on a 404
            return web.Response(status=404, text=V1_DISABLED)
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
        conn = SignalConnection(ws, request.remote or "", request.transport)
        self.connections += 1
        try:
            if host is not None and host != self.cluster.node_id:
                token = auth.bearer(request.headers.get("Authorization"), request.query.get("access_token"))
                why = await self.cluster.relay(host, token, dict(request.query), v1, conn)
                log.debug("relayed session of %s in %s (node %s) ended: %s", params.identity, params.room,
                          host, why)
            else:
                await self.sessions.run_session(params, conn)
        except Exception:
            log.exception("signal session for %s in %s failed", params.identity, params.room)
            await conn.close(1011, "internal error")
        finally:
            self.connections -= 1
        return ws

    async def run_relayed(self, token: str, query: dict[str, str], v1: bool, conn: Connection) -> None:
        """a session another node relays to us (sfu.cluster): the token is verified here again"""
        try:
            claims = verify_token(self.keys, {"Authorization": f"Bearer {token}"}, query)
            params = parse_v1(claims, query) if v1 else parse_v0(claims, query)
            self.sessions.check_join(params)
        except JoinError as e:
            await conn.send(leave_response(models.DisconnectReason.JOIN_FAILURE))
            await conn.close(1008, str(e))
            return
        self.connections += 1
        try:
            await self.sessions.run_session(params, conn)
        finally:
            self.connections -= 1
