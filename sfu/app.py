"""Wiring: the one module that knows every layer.

Starts the worker pool, the media service and the HTTP server (health,
plain-transport API; signalling and the server API mount here too).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from . import auth, errors, external_ip, ice_servers, netaddr
from .api.twirp import TwirpServer
from .agents import AgentService
from .config import ConfigError, Settings
from .http_guard import ConnectionGuard, GuardedSite
from .media import MediaService, Transport
from .worker.ice_tcp import IceTcpAcceptor
from .metrics import NodeSnapshot
from .native import DROP_REASONS
from .rooms import plain
from .rooms.room import RoomOptions
from .rooms.service import RoomService
from .signaling.server import SignalServer
from .turn import TurnError, TurnSupervisor
from .webhooks import RoomWebhooks, WebhookNotifier
from .worker import messages
from .worker.process import WorkerPool

if TYPE_CHECKING:
    from .cluster import Cluster
    from .metrics.server import MetricsServer

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
        listen_ip = settings.rtc_bind or settings.node_ip or "0.0.0.0"
        self.announced_ips = announced_addresses(settings, want_v6=listen_ip == "0.0.0.0" and netaddr.ipv6_usable())
        log.info("announcing %s as host candidates", ", ".join(self.announced_ips))
        self.pool = WorkerPool(settings.workers, listen_ip=listen_ip,
                               announced_ip=self.announced_ips[0],
                               base_port=settings.udp_port, ring_slots=settings.ring_slots,
                               log_level=settings.log_level,
                               ipv6=any(":" in a for a in self.announced_ips))
        self.pool.announced_ips = self.announced_ips
        self.media = MediaService(self.pool)
        self.ice_tcp: IceTcpAcceptor | None = None
        if settings.tcp_port:
            self.ice_tcp = IceTcpAcceptor(self.media.worker_for_ufrag, self.pool.hand_off_tcp)
        room_cfg = settings.room
        self.rooms = RoomService(self.media, keys=self.keys, auto_create=bool(room_cfg.get("auto_create", True)),
                                 congestion_control=settings.congestion_control,
                                 defaults=RoomOptions(
                                     empty_timeout=int(room_cfg.get("empty_timeout", 300)),
                                     departure_timeout=int(room_cfg.get("departure_timeout", 20)),
                                     max_participants=int(room_cfg.get("max_participants", 0))))
        self.turn_info = embedded_turn(settings, self.announced_ips)
        self.turn: TurnSupervisor | None = None
        if self.turn_info is not None and settings.turn.tls_port and not settings.turn.domain:
            log.warning("turn.tls_port without turn.domain: clients are handed turns:%s, and libwebrtc takes "
                        "only a certificate a public CA signed for that name", self.announced_ips[0])
        if self.turn_info is not None:
            self.turn = TurnSupervisor(TurnSupervisor.config_for(self.announced_ips, self.turn_info.secret,
                                                                 settings.turn, settings.log_level == "DEBUG"))
        static_ice = ice_servers.configured(settings.stun_servers, settings.turn_servers)
        self.rooms.sessions.ice_servers_for = lambda identity: ice_servers.for_participant(
            static_ice, self.turn_info, identity, time.time())
        self.signal = SignalServer(self.keys, self.rooms.sessions, v1_enabled=settings.single_pc)
        self.agents = AgentService(self.keys, self.rooms)
        self.webhooks: WebhookNotifier | None = None
        if settings.webhook_urls:
            self.webhooks = WebhookNotifier(settings.webhook_urls, self.keys, settings.webhook_api_key)
            RoomWebhooks(self.rooms.manager, self.webhooks)
        self.metrics: MetricsServer | None = None
        if settings.prometheus_port:
            from .metrics.server import MetricsServer     # prometheus_client only when served
            self.metrics = MetricsServer(self.node_snapshot, self.rooms.node_id, settings.bind[0],
                                         settings.prometheus_port)
            self.agents.on_job_assigned = self.metrics.observe_dispatch
            self.rooms.quality.on_rated = self.metrics.observe_quality
        self.http_guard = ConnectionGuard(max_connections=http_connection_budget())
        self.app = web.Application(client_max_size=MAX_BODY, middlewares=[self.http_guard.middleware(), self._errors])
        self.runner: web.AppRunner | None = None
        self.draining = False
        self._routes()
        self.signal.install(self.app)
        self.twirp = TwirpServer(self.rooms, self.keys, self.agents,
                                 remote_unmute=bool(room_cfg.get("enable_remote_unmute", False)))
        self.twirp.install(self.app)
        self.cluster: Cluster | None = None
        if settings.redis:
            from . import cluster      # only a multi-node server loads the Redis client

            self.cluster = cluster.Cluster(redis_url(settings.redis), self.rooms.node_id, self.rooms, pool=self.pool,
                                           http_url=f"http://{_http_ip(settings, self.announced_ips)}:{settings.port}",
                                           signal=self.signal, twirp=self.twirp, agents=self.agents,
                                           signing_key=cluster.signing_key(settings.keys))
            self.signal.cluster = self.cluster
            self.twirp.cluster = self.cluster
            self.agents.use_cluster(self.cluster)
        self.agents.install(self.app)

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        if self.turn is not None:
            try:
                await self.turn.start()
            except TurnError as e:
                raise ConfigError(str(e)) from None
        await self.pool.start()
        if self.ice_tcp is not None:
            host = self.pool.listen_ip         # where the media sockets listen
            try:
                self.ice_tcp.start(host, self.settings.tcp_port)
                if self.pool.ipv6:           # the same port on [::]
                    self.ice_tcp.start("::", self.ice_tcp.port)
            except OSError as e:
                await self.pool.stop()
                raise ConfigError(f"rtc.tcp_port: cannot listen on {host}:{self.settings.tcp_port}: {e}") from None
            self.media.ice_tcp_port = self.ice_tcp.port
            log.info("ICE over TCP on %s port %d", host, self.ice_tcp.port)
            if self.ice_tcp.port < 1024:
                log.warning("rtc.tcp_port %d: libwebrtc takes a TCP candidate below port 1024 only for 80 or "
                            "443 on a public address (on a private one it never connects: measured); for "
                            "networks that let only 443 out, TURN/TLS there is the sure way", self.ice_tcp.port)
        self.rooms.start()
        self.agents.start()
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        for host in self.settings.bind:
            site = GuardedSite(self.runner, host, self.settings.port, self.http_guard, reuse_address=True)
            await site.start()
        log.info("listening on %s port %d, %d media workers", ",".join(self.settings.bind),
                 self.settings.port, self.pool.n)
        if self.cluster is not None:
            await self.cluster.start()
            log.info("multi-node: node %s", self.cluster.node_id)
        if self.metrics is not None:
            await self.metrics.start()

    async def drain(self, timeout: float) -> bool:
        """stop taking new rooms (here and, in a cluster, in Redis) and wait until no
        participant is left here, at most `timeout` s; True if they all left"""
        self.draining = True
        self.rooms.manager.draining = True
        self.agents.drain()
        if self.cluster is not None:
            await self.cluster.drain()
        end = time.monotonic() + timeout
        last_log = 0.0
        while (left := self.rooms.manager.participant_count()) and time.monotonic() < end:
            if time.monotonic() - last_log >= 10:
                log.info("draining: %d participant(s) in %d room(s); up to %.0f s more (a second SIGTERM "
                         "stops now)", left, len(self.rooms.manager.rooms), end - time.monotonic())
                last_log = time.monotonic()
            await asyncio.sleep(0.2)
        return self.rooms.manager.participant_count() == 0

    async def stop(self) -> None:
        if self.metrics is not None:
            await self.metrics.stop()
        await self.agents.stop()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.rooms.stop()
        if self.webhooks is not None:     # room_finished of the rooms just closed, if it can
            await self.webhooks.close(timeout=2.0)
        for r in list(self.media.routers.values()):
            try:
                await r.close()
            except errors.SfuError:
                pass
        if self.runner is not None:
            await self.runner.cleanup()
        if self.ice_tcp is not None:
            self.ice_tcp.close()
        await self.pool.stop()
        if self.turn is not None:
            await self.turn.stop()

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
        r.add_post("/sfu/v1/plain/transports/{id}/publish", self.plain_publish)
        r.add_get("/sfu/v1/plain/transports/{id}/stats", self.plain_stats)
        r.add_post("/sfu/v1/plain/consumers/{id}/{action:pause|resume|key_frame}", self.plain_consumer)
        r.add_get("/sfu/v1/plain/consumers/{id}/stats", self.plain_consumer_stats)
        r.add_delete("/sfu/v1/plain/consumers/{id}", self.plain_consumer_close)
        r.add_get("/sfu/v1/plain/producers/{id}/stats", self.plain_producer_stats)
        r.add_delete("/sfu/v1/plain/producers/{id}", self.plain_producer_close)

    async def health(self, request: web.Request) -> web.Response:
        if self.draining:         # a load balancer's health check takes it out of rotation
            return web.Response(text="Draining", status=503)
        if all(w.alive for w in self.pool.workers):
            return web.Response(text="OK")
        return web.Response(text="Not Ready", status=406)

    def _claims(self, request: web.Request) -> auth.Claims:
        return self.keys.verify(auth.bearer(request.headers.get("Authorization"),
                                            request.query.get("access_token")))

    def _require_admin(self, request: web.Request, room: str) -> None:
        c = self._claims(request)
        if not c.video.roomAdmin or not room or c.video.room != room:    # as the Twirp API: no wildcard
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
        if not c.video.roomList:       # every room's transports and client addresses: not for one room's admin
            raise auth.AuthError("roomList grant required", 403)
        out: dict[str, Any] = {"workers": await self.pool.stats()}
        if self.ice_tcp is not None:
            out["ice_tcp"] = self.ice_tcp.stats
        if self.cluster is not None:
            c = self.cluster
            out["cluster"] = {"node_id": c.node_id, "redis_connected": c.connected,
                              "relayed_sessions_in": c.relayed_in, "relayed_sessions_out": c.relayed_out}
        return json_response(out)

    async def node_snapshot(self) -> NodeSnapshot:
        """what /metrics reports: rooms, participants and tracks now, the workers' counters"""
        s = NodeSnapshot(self.rooms.node_id, drop_reasons=DROP_REASONS,
                         webhooks=self.webhooks.stats() if self.webhooks is not None else None,
                         http_refused=dict(self.http_guard.refused))
        for room in self.rooms.manager.rooms.values():
            if room.closed:
                continue
            s.rooms += 1
            s.participants += len(room.participants)
            for pub in room.all_tracks():
                if pub.published:
                    kind = pub.kind.upper()
                    s.tracks_published[kind] = s.tracks_published.get(kind, 0) + 1
                    s.tracks_subscribed[kind] = s.tracks_subscribed.get(kind, 0) + len(pub.subscriptions)
        s.workers = await self.pool.stats()
        s.worker_restarts = {w.index: max(0, w.generation - 1) for w in self.pool.workers}
        s.ring_fill = self.pool.rings.fill() if self.pool.rings is not None else {}
        return s

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
            worker=worker, comedia=bool(body.get("comedia", False)), rtcp=bool(body.get("rtcp", False)))
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
        codec = body.get("codec", "")
        if not isinstance(codec, str):
            raise errors.ProtocolError("codec must be a string (vp8, opus, ...)")
        p = await t.produce(str(body["kind"]), int(body["ssrc"]), int(body["payload_type"]), codec.lower())
        return json_response({"producer_id": p.id})

    async def plain_consume(self, request: web.Request) -> web.Response:
        t = self._plain(request)
        body = await self._body(request, "consume")
        pt = body.get("payload_type")
        codec: dict | None = None
        if body.get("track_sid"):
            room = self.rooms.manager.get(t.router.name)
            if room is None:
                raise errors.NotFoundError(f"room {t.router.name} not found")
            producer, published = plain.track_source(room, str(body["track_sid"]))
            if published is not None:
                pt = published.pt if pt is None else pt
                codec = {"name": published.name, "clock_rate": published.clock_rate,
                         "channels": published.channels or 0, "fmtp": published.fmtp or ""}
        elif "producer_id" in body:
            producer = self._room_producer(t, int(body["producer_id"]))
        else:
            raise errors.ProtocolError("producer_id or track_sid is required")
        paused = bool(body.get("paused", False))
        c = await t.consume(producer, payload_type=int(pt) if pt is not None else None, paused=paused)
        if producer.kind == "video" and not paused and codec is not None:
            await c.request_key_frame()
        return json_response({"consumer_id": c.id, "ssrc": c.ssrc, "payload_type": c.payload_type,
                              "kind": producer.kind, "codec": codec})

    @staticmethod
    def _room_producer(t: Transport, pid: int) -> Any:
        producer = next((p for tr in t.router.transports.values() for p in tr.producers.values()
                         if p.id == pid), None)
        if producer is None:
            raise errors.NotFoundError(f"producer {pid} not found in room {t.router.name}")
        return producer

    async def plain_publish(self, request: web.Request) -> web.Response:
        """a producer of this transport as a track of the ingress participant `identity`"""
        t = self._plain(request)
        body = await self._body(request, "publish")
        producer = t.producers.get(int(body["producer_id"]))
        if producer is None:
            raise errors.NotFoundError(f"producer {body['producer_id']} not found on transport {t.id}")
        room, _ = self.rooms.manager.create(t.router.name)
        plain.check_unpublished(room, producer)
        identity = str(body["identity"])
        p = room.participants.get(identity)
        if not isinstance(p, plain.IngressParticipant) or p.closed:
            p = await plain.join(room, identity, self.rooms, name=str(body.get("participant_name", "")))
        pub = await plain.publish(p, producer, str(body["codec"]), name=str(body.get("name", "")))
        return json_response({"track_sid": pub.sid})

    async def plain_stats(self, request: web.Request) -> web.Response:
        st = await self._plain(request).stats()
        return json_response({k: {str(i): v for i, v in d.items()} for k, d in st.items()})

    def _plain_member(self, request: web.Request, what: str) -> Any:
        """the consumer or producer (`what`) of a plain transport named by the path, for its room's admin"""
        try:
            mid = int(request.match_info["id"])
        except ValueError:
            raise errors.NotFoundError(f"no such {what}") from None
        found = next((x for t in self.media.transports.values() if t.kind == "plain"
                      for x in (t.consumers if what == "consumer" else t.producers).values() if x.id == mid), None)
        if found is None:
            raise errors.NotFoundError(f"plain {what} {mid} not found")
        self._require_admin(request, found.transport.router.name)
        return found

    async def plain_consumer(self, request: web.Request) -> web.Response:
        c = self._plain_member(request, "consumer")
        action = request.match_info["action"]
        await (c.pause() if action == "pause" else c.resume() if action == "resume" else c.request_key_frame())
        return json_response({})

    async def plain_consumer_stats(self, request: web.Request) -> web.Response:
        return json_response(await self._plain_member(request, "consumer").stats())

    async def plain_consumer_close(self, request: web.Request) -> web.Response:
        await self._plain_member(request, "consumer").close()
        return json_response({})

    async def plain_producer_stats(self, request: web.Request) -> web.Response:
        return json_response(await self._plain_member(request, "producer").stats())

    async def plain_producer_close(self, request: web.Request) -> web.Response:
        await self._plain_member(request, "producer").close()
        return json_response({})

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


FD_RESERVE = 256      # descriptors kept for everything but HTTP connections (workers, Redis, files)


def http_connection_budget() -> int:
    """how many HTTP connections may be open at once: the descriptor limit (raised to its hard
    limit first) less what the rest of the server needs"""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        want = 65536 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return max(64, soft - FD_RESERVE)


def announced_addresses(settings: Settings, want_v6: bool = False) -> list[str]:
    """the addresses ICE host candidates name (sfu.netaddr; with rtc.use_external_ip and no
    rtc.node_ip, the one STUN servers see: sfu.external_ip), IPv4 ones first; IPv6 ones only with
    `want_v6` (the media sockets listen on [::] too); none usable stops the start"""
    if settings.use_external_ip and not settings.node_ip:
        try:
            ip, server = external_ip.discover(settings.stun_servers, settings.rtc_bind or "0.0.0.0")
        except external_ip.ExternalIpError as e:
            raise ConfigError(str(e)) from None
        log.info("rtc.use_external_ip: %s reports this host as %s", server, ip)
        return [ip]
    flt = netaddr.AddressFilter(settings.interfaces_includes, settings.interfaces_excludes,
                                settings.ips_includes, settings.ips_excludes, settings.loopback_candidate)
    ips = netaddr.announced(settings.node_ip, settings.bind, flt, dev=settings.dev, want_v6=want_v6)
    ips = sorted(ips, key=lambda a: ":" in a)          # stable: IPv4 first, each family in its order
    if not ips:
        raise ConfigError("no address to announce: no interface address passes rtc.interfaces / rtc.ips "
                          "(set rtc.node_ip, or rtc.enable_loopback_candidate for a loopback-only host)")
    return ips


def embedded_turn(settings: Settings, announced: list[str]) -> ice_servers.EmbeddedTurn | None:
    """what clients are told of the TURN server this node runs (turn.enabled), if it does"""
    t = settings.turn
    if not t.enabled:
        return None
    local = {a for _, a in netaddr.interfaces()}
    missing = [a for a in announced if a not in local]
    if missing:     # coturn listens and relays on these: behind a NAT it would need external-ip
        raise ConfigError(f"turn.enabled: {', '.join(missing)} (rtc.node_ip or rtc.use_external_ip) is not an "
                          "address of this host; TURN behind a NAT is not supported yet")
    secret = ice_servers.derive_secret(next(iter(settings.keys.values())))
    if t.external_tls:      # TLS ends at a load balancer on 443 of turn.domain
        return ice_servers.EmbeddedTurn(secret, announced[0], t.domain or announced[0], t.udp_port,
                                        443 if t.tls_port else 0)
    return ice_servers.EmbeddedTurn(secret, announced[0], t.domain or announced[0], t.udp_port, t.tls_port)


def _http_ip(settings: Settings, announced: list[str]) -> str:
    """the address other nodes reach this one's HTTP on: the first bind address that is not a
    wildcard, else the first announced one"""
    for b in settings.bind:
        if b not in ("0.0.0.0", "::"):
            return b
    return announced[0]


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """run until SIGTERM/SIGINT; then drain (the rooms here go on until their participants
    leave or drain_timeout passes, no new room starts) and shut down; a second signal stops at once"""
    server = Server(settings)
    await server.start()
    signals: asyncio.Queue[int] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signals.put_nowait, sig)
    if ready is not None:
        ready.set()
    try:
        await signals.get()
        log.info("draining (up to %.0f s)", settings.drain_timeout)
        drain = loop.create_task(server.drain(settings.drain_timeout))
        again = loop.create_task(signals.get())
        await asyncio.wait([drain, again], return_when=asyncio.FIRST_COMPLETED)
        if again.done():
            log.info("second signal: stopping now")
        elif not drain.result():
            log.info("drain timeout: closing the rooms left")
        drain.cancel()
        again.cancel()
    finally:
        log.info("shutting down")
        await server.stop()
