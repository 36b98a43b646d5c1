"""This node's membership in a cluster: registry heartbeat, room placement,
the inbox (relayed sessions, forwarded API calls, agent messages: see
sfu.agents.federation), the agent workers it advertises, and Redis outages.

Redis outages: every loop catches connection errors and retries with a
backoff capped at 2 s; the heartbeat re-writes the node record and re-claims
the rooms this node hosts, so a restarted (empty) Redis is repopulated
within one heartbeat of coming back, without restarting the server.  While
Redis is unreachable, a node serves joins and API calls for the rooms open on
it and refuses others (503 / `unavailable`) rather than risk a second copy of
a room another node hosts; relayed sessions end (their clients reconnect).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
import psutil
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .. import errors
from ..api.twirp import map_error
from ..signaling.connection import Connection
from .registry import AGENT_WORKERS, HEARTBEAT, NodeRecord, NodeStats, Registry
from .inbox_signature import sign, verify
from .relay import MAXLEN, RelayConnection, inbox, relay_front
from .room_map import ROOM_NODE, LockTimeout, RoomMap

if TYPE_CHECKING:
    from ..agents.service import AgentService
    from ..api.twirp import TwirpServer
    from ..rooms.room import Room
    from ..rooms.service import RoomService
    from ..signaling.server import SignalServer
    from ..worker.process import WorkerPool

log = logging.getLogger("sfu.cluster")

RPC_TIMEOUT = 5.0
RPC_REPLY_TTL = 30
BLOCK_MAX = 2.0                 # s; longest single blocking read of a reply
INBOX_MAX_AGE_MS = 15_000       # inbox entries older than this are ignored
BACKOFF_MAX = 2.0
ROUTE_TIMEOUT = 8.0
SWEEP_EVERY = 10                # heartbeats between sweeps of placements never opened here


class ClusterUnavailable(errors.SfuError):
    """Redis is unreachable and the room is not open on this node"""


class Cluster:
    heartbeat = HEARTBEAT          # s between registry writes (the agent workers are re-advertised as often)

    def __init__(self, url: str, node_id: str, rooms: RoomService, pool: WorkerPool | None = None, http_url: str = "",
                 signal: SignalServer | None = None, twirp: TwirpServer | None = None,
                 agents: AgentService | None = None, signing_key: bytes = b"") -> None:
        # a command on a connection Redis dropped (e.g. a restart) is retried on a new one; a
        # retried write that had gone through is harmless: relay entries carry sequence numbers,
        # inbox entries ids, and the rest are idempotent
        self.redis = aioredis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=10,
                                       retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
                                       retry_on_error=[RedisConnectionError, RedisTimeoutError])
        self.node_id = node_id
        self.signing_key = signing_key  # inbox entries (inbox_signature.signing_key of the API keys)
        self.unsigned_dropped = 0       # inbox entries that did not verify
        self.rooms = rooms              # RoomService
        self.pool = pool                # WorkerPool (stats)
        self.signal = signal            # SignalServer: runs relayed sessions
        self.twirp = twirp              # TwirpServer: runs forwarded calls
        self.agents = agents            # AgentService: jobs for workers here, reports for jobs hosted here
        self.registry = Registry(self.redis, NodeRecord(id=node_id, url=http_url, started=int(time.time())))
        self.map = RoomMap(self.redis)
        self._tasks: list[asyncio.Task] = []
        self._sessions: set[asyncio.Task] = set()
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._tx_last: tuple[float, int] | None = None
        self._beats = 0
        self._absent: set[str] = set()
        self.connected = False
        self.stopping = False
        self.relayed_in = 0
        self.relayed_out = 0

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        psutil.cpu_percent(None)
        m = self.rooms.manager
        m.on_created(self._room_created)
        for r in list(m.rooms.values()):
            self._room_created(r)
        try:
            await self._beat()
        except (RedisError, OSError) as e:
            log.error("redis unreachable at start (%s); retrying in the background", e)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._heartbeat_loop()), loop.create_task(self._inbox_loop())]

    async def stop(self) -> None:
        self.stopping = True
        for t in self._tasks + list(self._sessions):
            t.cancel()
        await asyncio.gather(*self._tasks, *self._sessions, return_exceptions=True)
        try:
            await self.registry.remove()
            await self.redis.hdel(AGENT_WORKERS, self.node_id)
            await self.map.drop_node(self.node_id)
        except (RedisError, OSError) as e:
            log.warning("could not deregister from redis: %s", e)
        await self.redis.aclose()

    # -- registry --------------------------------------------------------------------------------
    def _room_created(self, room: Room) -> None:
        loop = asyncio.get_running_loop()

        def closed(event: str, _arg: Any) -> None:
            if event == "closed" and not self.stopping:
                loop.create_task(self._quiet(self.map.forget(room.name, self.node_id)))
        room.on(closed)
        loop.create_task(self._quiet(self.map.claim(room.name, self.node_id)))

    async def _quiet(self, coro: Any) -> None:
        try:
            await coro
        except (RedisError, OSError) as e:
            log.debug("redis: %s", e)

    async def stats(self) -> NodeStats:
        rooms = list(self.rooms.manager.rooms.values())
        st = NodeStats(cpu=psutil.cpu_percent(None), rooms=len(rooms),
                       participants=sum(len(r.participants) for r in rooms),
                       tracks=sum(len(r.all_tracks()) for r in rooms))
        if self.pool is not None:
            tx = 0
            for w in await self.pool.stats():
                tx += int((w.get("stats") or {}).get("tx_packets", 0))
            now = time.monotonic()
            if self._tx_last is not None and now > self._tx_last[0]:
                st.packets_per_s = round(max(0, tx - self._tx_last[1]) / (now - self._tx_last[0]), 1)
            self._tx_last = (now, tx)
        return st

    async def drain(self) -> None:
        """tell the other nodes at once: no new rooms here"""
        self.registry.record.draining = True
        try:
            await self.registry.heartbeat(await self.stats())
        except (RedisError, OSError) as e:
            log.warning("could not announce the drain in redis: %s", e)

    async def _beat(self) -> None:
        await self.registry.heartbeat(await self.stats())
        names = list(self.rooms.manager.rooms)
        for i in range(0, len(names), 500):
            async with self.redis.pipeline(transaction=False) as p:
                for name in names[i:i + 500]:
                    p.hsetnx(ROOM_NODE, name, self.node_id)
                await p.execute()
        self._beats += 1
        if self._beats % SWEEP_EVERY == 0:
            await self._sweep()
        for dead in await self.registry.prune():
            n = await self.map.drop_node(dead)
            await self.redis.hdel(AGENT_WORKERS, dead)
            log.warning("node %s is dead (no heartbeat for 5 s): removed with its %d room placements", dead, n)
        if not self.connected:
            log.info("registered node %s in redis", self.node_id)
        self.connected = True

    async def _sweep(self) -> None:
        """forget placements on this node of rooms that were never opened here
        (a join placed them but never arrived): absent for two sweeps in a row"""
        local = self.rooms.manager.rooms
        absent = set()
        async for room, v in self.redis.hscan_iter(ROOM_NODE, count=500):
            name = room.decode()
            if v.decode() == self.node_id and name not in local:
                absent.add(name)
        for name in absent & self._absent:
            await self.map.forget(name, self.node_id)
        self._absent = absent

    async def _heartbeat_loop(self) -> None:
        delay = 0.25
        while True:
            try:
                await self._beat()
                delay = 0.25
                await asyncio.sleep(HEARTBEAT)
            except (RedisError, OSError) as e:
                if self.connected:
                    log.error("redis connection lost: %s", e)
                self.connected = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    async def alive(self, node: str) -> bool:
        try:
            return await self.registry.is_alive(node)
        except (RedisError, OSError):
            return True        # unknown: do not tear sessions down over a Redis blip

    # -- routing ---------------------------------------------------------------------------------
    async def route(self, room: str) -> str:
        """the node that hosts (or will host) `room`.  Redis unreachable: a room
        open here is served here; any other raises ClusterUnavailable (placing
        it here could open a second copy of a room another node hosts)"""
        local = self.rooms.manager.get(room) is not None
        try:
            if local:
                await self.map.claim(room, self.node_id)     # a room open here stays here
            return await asyncio.wait_for(self.map.place(room, await self.registry.alive()), ROUTE_TIMEOUT)
        except (RedisError, OSError, LookupError, asyncio.TimeoutError, LockTimeout) as e:
            if local:
                log.warning("placing room %s: %s; it is open here, serving it here", room, e)
                return self.node_id
            raise ClusterUnavailable(f"cannot place room {room}: {e or type(e).__name__}") from None

    async def host_of(self, room: str) -> str | None:
        """the live node hosting `room`, if the map names one (ClusterUnavailable
        when Redis is unreachable and the room is not open here)"""
        try:
            node = await self.map.node_of(room)
            if node is not None and (node == self.node_id or await self.registry.is_alive(node)):
                return node
        except (RedisError, OSError) as e:
            if self.rooms.manager.get(room) is not None:
                return self.node_id
            raise ClusterUnavailable(f"cannot look up room {room}: {e}") from None
        return None

    async def relay(self, host: str, token: str, query: dict[str, str], v1: bool, conn: Connection) -> str:
        self.relayed_out += 1
        fields = {"token": token, "query": orjson.dumps(query), "v1": int(v1)}
        return await relay_front(self.redis, self.node_id, host, fields, conn, self.alive, self.signing_key)

    # -- forwarded API calls -----------------------------------------------------------------------
    async def call(self, node: str, service: str, method: str, body: bytes,
                   timeout: float = RPC_TIMEOUT) -> tuple[bool, bytes]:
        """run a Twirp method on `node`; (ok, reply body or Twirp error JSON)"""
        try:
            data = await self.request(node, {"t": "rpc", "svc": service, "m": method, "b": body}, timeout)
        except TimeoutError:
            raise TimeoutError(f"node {node} did not answer {method} within {timeout} s") from None
        return data[:2] == b"OK", data[2:]

    def _new_id(self) -> str:
        return self.node_id + ":" + str(time.monotonic_ns())

    async def post(self, node: str, fields: dict[str, Any]) -> str:
        """add an entry to `node`'s inbox; returns its id"""
        rid = self._new_id()
        entry = sign({**fields, "id": rid, "origin": self.node_id, "ts": int(time.time() * 1000)}, self.signing_key)
        await self.redis.xadd(inbox(node), entry, maxlen=MAXLEN, approximate=True)
        return rid

    async def request(self, node: str, fields: dict[str, Any], timeout: float = RPC_TIMEOUT) -> bytes:
        """post to `node`'s inbox and wait (up to `timeout`) for the reply it pushes to sfu:rpc:<id>"""
        rid = await self.post(node, fields)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:      # short waits: a blocking command must end well within the socket timeout
            left = end - loop.time()
            if left <= 0:
                raise TimeoutError(f"node {node} did not answer within {timeout} s")
            res = await self.redis.blpop([f"sfu:rpc:{rid}"], timeout=min(left, BLOCK_MAX))
            if res is not None:
                return res[1]

    async def reply(self, rid: str, data: bytes) -> None:
        key = f"sfu:rpc:{rid}"
        async with self.redis.pipeline(transaction=False) as p:
            p.rpush(key, data)
            p.expire(key, RPC_REPLY_TTL)
            await p.execute()

    # -- agent workers of every node ------------------------------------------------------------------
    async def advertise_workers(self, workers: list[dict[str, Any]]) -> None:
        """publish the agent workers connected here (removed with the node)"""
        try:
            await self.redis.hset(AGENT_WORKERS, self.node_id,
                                  orjson.dumps({"updated": int(time.time() * 1000), "workers": workers}))
        except (RedisError, OSError) as e:
            raise ClusterUnavailable(f"cannot advertise agent workers: {e}") from None

    async def remote_workers(self) -> dict[str, list[dict[str, Any]]]:
        """the agent workers of the other live nodes: node id -> workers"""
        try:
            alive = await self.registry.alive()
            raw = await self.redis.hgetall(AGENT_WORKERS)
        except (RedisError, OSError) as e:
            raise ClusterUnavailable(f"cannot read agent workers: {e}") from None
        out = {}
        for k, v in raw.items():
            node = k.decode()
            if node == self.node_id or node not in alive:
                continue
            try:
                out[node] = list(orjson.loads(v)["workers"])
            except (ValueError, TypeError, KeyError):
                continue
        return out

    async def agent_post(self, node: str, op: str, worker: str = "", job: str = "", body: bytes = b"") -> None:
        """a one-way agent message to `node` (see sfu.agents.federation.Federation.on_message)"""
        try:
            await self.post(node, {"t": "agent", "op": op, "w": worker, "j": job, "b": body})
        except (RedisError, OSError) as e:
            raise ClusterUnavailable(f"agent message to {node}: {e}") from None

    async def agent_request(self, node: str, op: str, worker: str, job: str, body: bytes,
                            timeout: float) -> bytes:
        try:
            return await self.request(node, {"t": "agent", "op": op, "w": worker, "j": job, "b": body,
                                             "to": int(timeout * 1000)}, timeout + 2.0)
        except (RedisError, OSError) as e:
            raise ClusterUnavailable(f"agent request to {node}: {e}") from None

    async def agent_broadcast(self, op: str) -> None:
        """an agent message to every other live node"""
        try:
            nodes = await self.alive_nodes()
        except (RedisError, OSError) as e:
            raise ClusterUnavailable(f"cannot list nodes: {e}") from None
        for node in nodes:
            if node != self.node_id:
                await self.agent_post(node, op)

    async def alive_nodes(self) -> list[str]:
        return list(await self.registry.alive())

    # -- inbox -----------------------------------------------------------------------------------
    async def _inbox_loop(self) -> None:
        key = inbox(self.node_id)
        last = "$"
        delay = 0.25
        while True:
            try:
                res = await self.redis.xread({key: last}, block=2000, count=50)
                delay = 0.25
            except (RedisError, OSError) as e:
                log.debug("inbox read: %s", e)
                last = "0-0"     # after an outage: re-read what survived, skipping what was handled
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            for _k, entries in res or ():
                for eid, f in entries:
                    last = eid
                    self._dispatch(eid, f)

    def _dispatch(self, eid: Any, f: dict[bytes, bytes]) -> None:
        if not verify(f, self.signing_key):
            self.unsigned_dropped += 1
            if self.unsigned_dropped in (1, 10, 100) or self.unsigned_dropped % 1000 == 0:
                log.warning("inbox: %d entries not signed by a node with our API keys dropped (entry %s from %r)",
                            self.unsigned_dropped, eid, f.get(b"origin", b"?")[:40])
            return
        ident = (f.get(b"sid") or f.get(b"id") or b"").decode()
        if not ident or ident in self._seen:
            return
        self._seen[ident] = None
        if len(self._seen) > 4096:
            self._seen.popitem(last=False)
        ts = int(f.get(b"ts") or 0)
        if ts and int(time.time() * 1000) - ts > INBOX_MAX_AGE_MS:
            return
        kind = f.get(b"t")
        if kind == b"open":
            coro = self._serve_relayed(ident, f)
        elif kind == b"rpc":
            coro = self._serve_rpc(ident, f)
        elif kind == b"agent" and self.agents is not None:
            coro = self.agents.on_cluster_message(ident, f)
        else:
            return
        t = asyncio.get_running_loop().create_task(coro)
        self._sessions.add(t)
        t.add_done_callback(self._sessions.discard)

    async def _serve_relayed(self, sid: str, f: dict[bytes, bytes]) -> None:
        self.relayed_in += 1
        conn = RelayConnection(self.redis, sid, f[b"origin"].decode(), self.alive)
        try:
            query = {str(k): str(v) for k, v in orjson.loads(f[b"query"]).items()}
            await self.signal.run_relayed(f[b"token"].decode(), query, bool(int(f[b"v1"])), conn)
        except Exception:
            log.exception("relayed session %s failed", sid)
            await conn.close(1011, "internal error")

    async def _serve_rpc(self, rid: str, f: dict[bytes, bytes]) -> None:
        try:
            body = await self.twirp.run_forwarded(f[b"svc"].decode(), f[b"m"].decode(), f[b"b"])
            reply = b"OK" + body
        except Exception as e:
            err = map_error(e)
            reply = b"ER" + orjson.dumps({"code": err.code, "msg": err.msg})
        try:
            await self.reply(rid, reply)
        except (RedisError, OSError) as e:
            log.warning("rpc %s: reply failed: %s", rid, e)
