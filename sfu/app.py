"""Wiring: the one module that knows every layer.

Starts the worker pool, the media service and the HTTP server (health,
plain-transport API; signalling and the server API mount here too).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from . import auth, errors
from .api.twirp import TwirpServer
from .agents import AgentService
from .config import Settings
from .media import MediaService, Transport
from .rooms.room import RoomOptions
from .rooms.service import RoomService
from .signaling.server import SignalServer
from .worker import messages
from .worker.process import WorkerPool

if TYPE_CHECKING:
    from .cluster import Cluster

log = logging.getLogger("sfu.app")

MAX_BODY = 10 * 1024 * 1024


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, code: str, msg: str) -> web.Response:
    return json_response({"code": code, "msg": msg}, status)


class Server:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = auth.KeyProvider(settings.keys)
        self.pool = WorkerPool(settings.workers, listen_ip=settings.rtc_bind or settings.node_ip or "0.0.0.0",
                               announced_ip=settings.node_ip or _default_ip(settings),
                               base_port=settings.udp_port, ring_slots=settings.ring_slots,
                               log_level=settings.log_level)
        self.media = MediaService(self.pool)
        room_cfg = settings.room
        self.rooms = RoomService(self.media, keys=self.keys, auto_create=bool(room_cfg.get("auto_create", True)),
                                 congestion_control=settings.congestion_control,
                                 defaults=RoomOptions(
                                     empty_timeout=int(room_cfg.get("empty_timeout", 300)),
                                     departure_timeout=int(room_cfg.get("departure_timeout", 20)),
                                     max_participants=int(room_cfg.get("max_participants", 0))))
        self.signal = SignalServer(self.keys, self.rooms.sessions, v1_enabled=settings.single_pc)
        self.agents = AgentService(self.keys, self.rooms)
        self.app = web.Application(client_max_size=MAX_BODY, middlewares=[self._errors])
        self.runner: web.AppRunner | None = None
        self._routes()
        self.signal.install(self.app)
        self.twirp = TwirpServer(self.rooms, self.keys, self.agents,
                                 remote_unmute=bool(room_cfg.get("enable_remote_unmute", False)))
        self.twirp.install(self.app)
        self.cluster: Cluster | None = None
        if settings.redis:
            from . import cluster      # only a multi-node server loads the Redis client

            self.cluster = cluster.Cluster(redis_url(settings.redis), self.rooms.node_id, self.rooms, pool=self.pool,
                                           http_url=f"http://{_default_ip(settings)}:{settings.port}",
                                           signal=self.signal, twirp=self.twirp, agents=self.agents)
            self.signal.cluster = self.cluster
            self.twirp.cluster = self.cluster
            self.agents.use_cluster(self.cluster)
        self.agents.install(self.app)

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        await self.pool.start()
        self.rooms.start()
        self.agents.start()
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        for host in self.settings.bind:
            site = web.TCPSite(self.runner, host, self.settings.port, reuse_address=True)
            await site.start()
        log.info("listening on %s port %d, %d media workers", ",".join(self.settings.bind),
                 self.settings.port, self.pool.n)
        if self.cluster is not None:
            await self.cluster.start()
            log.info("multi-node: node %s", self.cluster.node_id)

    async def stop(self) -> None:
        await self.agents.stop()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.rooms.stop()
        for r in list(self.media.routers.values()):
            try:
                await r.close()
            except errors.SfuError:
                pass
        if self.runner is not None:
            await self.runner.cleanup()
        await self.pool.stop()

    # -- HTTP ------------------------------------------------------------------
    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except auth.AuthError as e:
            return error_response(e.status, "unauthenticated" if e.status == 401 else "permission_denied", str(e))
        except (errors.SfuError, ValueError, KeyError, TypeError) as e:
            k = errors.kind_of(e)
            msg = f"{type(e).__name__}: {e}" if k.name == "InvalidArgument" else str(e)
            return error_response(k.http_status, k.twirp_code, msg)

    def _routes(self) -> None:
        r = self.app.router
        r.add_get("/", self.health)
        r.add_get("/sfu/v1/stats", self.stats)
        r.add_post("/sfu/v1/plain/transports", self.plain_create)
        r.add_post("/sfu/v1/plain/transports/{id}/connect", self.plain_connect)
        r.add_post("/sfu/v1/plain/transports/{id}/srtp", self.plain_srtp)
        r.add_post("/sfu/v1/plain/transports/{id}/produce", self.plain_produce)
        r.add_post("/sfu/v1/plain/transports/{id}/consume", self.plain_consume)
        r.add_delete("/sfu/v1/plain/transports/{id}", self.plain_close)

    async def health(self, request: web.Request) -> web.Response:
        if all(w.alive for w in self.pool.workers):
            return web.Response(text="OK")
        return web.Response(text="Not Ready", status=406)

    def _claims(self, request: web.Request) -> auth.Claims:
        return self.keys.verify(auth.bearer(request.headers.get("Authorization"),
                                            request.query.get("access_token")))

    def _require_admin(self, request: web.Request, room: str) -> None:
        c = self._claims(request)
        if not c.video.roomAdmin or (c.video.room and c.video.room != room):
            raise auth.AuthError(f"roomAdmin grant for room {room!r} required", 403)

    async def _body(self, request: web.Request, name: str) -> dict:
        """the JSON body of plain-transport API call `name`, checked against its schema"""
        data = await self._json(request)
        messages.check_plain_body(name, data)
        return data

    async def _json(self, request: web.Request) -> dict:
        if not request.can_read_body:
            return {}
        try:
            data = orjson.loads(await request.read())
        except orjson.JSONDecodeError as e:
            raise errors.ProtocolError(f"body is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise errors.ProtocolError("body must be a JSON object")
        return data

    async def stats(self, request: web.Request) -> web.Response:
        c = self._claims(request)
        if not (c.video.roomList or c.video.roomAdmin):
            raise auth.AuthError("roomList grant required", 403)
        out: dict[str, Any] = {"workers": await self.pool.stats()}
        if self.cluster is not None:
            c = self.cluster
            out["cluster"] = {"node_id": c.node_id, "redis_connected": c.connected,
                              "relayed_sessions_in": c.relayed_in, "relayed_sessions_out": c.relayed_out}
        return json_response(out)

    def _plain(self, request: web.Request) -> Transport:
        try:
            tid = int(request.match_info["id"])
        except ValueError:
            raise errors.NotFoundError("no such transport") from None
        t = self.media.transports.get(tid)
        if t is None or t.kind != "plain":
            raise errors.NotFoundError(f"plain transport {tid} not found")
        self._require_admin(request, t.router.name)
        return t

    async def plain_create(self, request: web.Request) -> web.Response:
        body = await self._body(request, "create")
        room = body.get("room")
        if not isinstance(room, str) or not room:
            raise errors.ProtocolError("room is required")
        self._require_admin(request, room)
        worker = body.get("worker")
        if worker is not None and not (isinstance(worker, int) and 0 <= worker < self.pool.n):
            raise errors.ProtocolError(f"worker must be 0..{self.pool.n - 1}")
        t = await self.media.router(room).create_plain_transport(
            worker=worker, comedia=bool(body.get("comedia", False)))
        return json_response({"id": t.id, "ip": t.ip, "port": t.port, "worker": t.worker.index})

    async def plain_connect(self, request: web.Request) -> web.Response:
        t = self._plain(request)
        body = await self._body(request, "connect")
        await t.connect(str(body["ip"]), int(body["port"]))
        return json_response({})

    async def plain_srtp(self, request: web.Request) -> web.Response:
        t = self._plain(request)
        body = await self._body(request, "srtp")
        await t.set_srtp(str(body["profile"]), bytes.fromhex(body["recv_key"]), bytes.fromhex(body["send_key"]))
        return json_response({})

    async def plain_produce(self, request: web.Request) -> web.Response:
        t = self._plain(request)
        body = await self._body(request, "produce")
        p = await t.produce(str(body["kind"]), int(body["ssrc"]), int(body["payload_type"]))
        return json_response({"producer_id": p.id})

    async def plain_consume(self, request: web.Request) -> web.Response:
        t = self._plain(request)
        body = await self._body(request, "consume")
        pid = int(body["producer_id"])
        producer = next((p for tr in t.router.transports.values() for p in tr.producers.values()
                         if p.id == pid), None)
        if producer is None:
            raise errors.NotFoundError(f"producer {pid} not found in room {t.router.name}")
        pt = body.get("payload_type")
        c = await t.consume(producer, payload_type=int(pt) if pt is not None else None)
        return json_response({"consumer_id": c.id, "ssrc": c.ssrc, "payload_type": c.payload_type})

    async def plain_close(self, request: web.Request) -> web.Response:
        t = self._plain(request)
        await t.close()
        return json_response({})


def redis_url(cfg: dict) -> str:
    """the `redis:` config (LiveKit's keys: address, username, password, db, use_tls) or {"url": ...}"""
    if cfg.get("url"):
        return str(cfg["url"])
    scheme = "rediss" if cfg.get("use_tls") else "redis"
    auth = ""
    if cfg.get("password"):
        auth = f"{cfg.get('username', '')}:{cfg['password']}@"
    return f"{scheme}://{auth}{cfg.get('address', 'localhost:6379')}/{int(cfg.get('db', 0))}"


def _default_ip(settings: Settings) -> str:
    for b in settings.bind:
        if b not in ("0.0.0.0", "::"):
            return b
    return "127.0.0.1"


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """run until SIGTERM/SIGINT, then shut down cleanly"""
    server = Server(settings)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await server.stop()
