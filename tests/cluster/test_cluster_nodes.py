"""Multi-node with Redis: lock, placement, registry staleness, relay
sequencing (against a real redis-server), then 2-3 `sfu serve --redis`
processes: a join through a node that does not host the room (signalling
relayed), the server API from any node, a SIGKILLed node and a Redis
restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import aiohttp
import pytest
import redis
import redis.asyncio as aioredis
from livekit.protocol import models
from livekit.protocol import rtc as lk

from conftest import free_port
from helpers.signal_client import SignalClient
import sfu
from sfu.api.client import RoomClient
from sfu.auth import KeyProvider, VideoGrant
from sfu.cluster.registry import NODES, STALE, HEARTBEAT, NodeRecord, NodeStats, Registry
from sfu.cluster.relay import RelayGap, StreamReader, StreamWriter
from sfu.cluster.room_map import ROOM_NODE, LockTimeout, RoomMap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(sfu.__file__)))
kp = KeyProvider({"devkey": "secret"})
FAILOVER_BOUND = STALE + HEARTBEAT + 1.0      # documented: a killed node is gone within 8 s


def redis_binary() -> str:
    path = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server")
                                            else None)
    if path is None:
        pytest.fail("redis-server not found: run ./scripts/setup (installs it) or apt-get install redis-server")
    return path


class RedisProc:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def wait(self) -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                r = aioredis.from_url(self.url)
                await r.ping()
                await r.aclose()
                return
            except (OSError, aioredis.ConnectionError):
                await asyncio.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture(scope="module")
def redis_proc():
    rp = RedisProc()
    rp.start()
    try:
        yield rp
    finally:
        rp.stop()


@pytest.fixture
async def r(redis_proc):
    await redis_proc.wait()
    c = aioredis.from_url(redis_proc.url)
    yield c
    await c.aclose()


# -- units against a real redis ---------------------------------------------------------------------
async def test_lock_is_exclusive_and_released_by_its_owner_only(r):
    m = RoomMap(r)
    tok = await m.acquire("lk")
    with pytest.raises(LockTimeout):
        await m.acquire("lk", wait=0.2)
    assert not await m.release("lk", "not-the-token")
    assert await m.release("lk", tok)
    assert await m.release("lk", await m.acquire("lk", wait=0.2))


def rec(node: str, age: float = 0.0, cpu: float = 0.0) -> NodeRecord:
    return NodeRecord(id=node, updated=int((time.time() - age) * 1000), stats=NodeStats(cpu=cpu))


async def test_placement_least_loaded_sticky_and_replaced_when_dead(r):
    await r.delete(ROOM_NODE)
    m = RoomMap(r)
    alive = {"n1": rec("n1", cpu=50), "n2": rec("n2", cpu=10)}
    assert await m.place("p1", alive) == "n2"          # equal rooms: lower CPU
    assert await m.place("p2", alive) == "n1"          # fewer rooms wins
    assert await m.place("p1", alive) == "n2"          # sticky
    del alive["n2"]                                    # n2 died
    assert await m.place("p1", alive) == "n1"
    assert (await r.hget(ROOM_NODE, "p1")) == b"n1"
    results = await asyncio.gather(*(m.place("same", {"n1": rec("n1"), "n3": rec("n3")}) for _ in range(10)))
    assert len(set(results)) == 1                      # concurrent placement agrees
    await m.forget("p1", "n2")                         # not n2's any more: kept
    assert await m.node_of("p1") == "n1"
    assert await m.drop_node("n1") >= 2
    assert await m.node_of("p1") is None


async def test_registry_staleness_and_prune(r):
    await r.delete(NODES)
    me = Registry(r, NodeRecord(id="me"))
    await me.heartbeat(NodeStats(rooms=3))
    await r.hset(NODES, "old", rec("old", age=STALE + 0.5).encode())
    await r.hset(NODES, "fresh", rec("fresh", age=1).encode())
    assert set(await me.alive()) == {"me", "fresh"}
    assert await me.is_alive("fresh") and not await me.is_alive("old") and not await me.is_alive("nobody")
    assert await me.prune() == ["old"]
    assert set((await r.hgetall(NODES))) == {b"me", b"fresh"}
    assert (await me.alive())["me"].stats.rooms == 3
    await me.remove()
    assert not await me.is_alive("me")


async def test_relay_stream_order_duplicates_and_gaps(r):
    w = StreamWriter(r, "t:s")
    await r.delete("t:s")
    for i in range(3):
        await w.write("m", bytes([i]))
    rd = StreamReader(r, "t:s")
    assert [d for _k, d, _c, _r in await rd.read()] == [b"\x00", b"\x01", b"\x02"]
    await r.xadd("t:s", {"s": 3, "k": "m", "d": b"dup", "c": 0, "r": ""})      # a duplicate
    await r.xadd("t:s", {"s": 4, "k": "c", "d": b"", "c": 1000, "r": "bye"})
    assert await rd.read() == [("c", b"", 1000, "bye")] and rd.duplicates == 1
    await r.xadd("t:s", {"s": 9, "k": "m", "d": b"", "c": 0, "r": ""})         # entries lost
    with pytest.raises(RelayGap):
        await rd.read()


class _Rooms:
    """the part of RoomService the cluster reads"""
    def __init__(self, names: list[str]) -> None:
        self.manager = type("M", (), {"rooms": {n: object() for n in names},
                                      "get": lambda self, n: self.rooms.get(n)})()


async def test_sweep_forgets_placements_never_opened_and_route_keeps_local_rooms(redis_proc, r):
    from sfu.cluster import Cluster
    await r.delete(ROOM_NODE, NODES)
    c = Cluster(redis_proc.url, "n1", _Rooms(["real"]))
    try:
        await c.registry.heartbeat(NodeStats())
        await r.hset(NODES, "n2", rec("n2").encode())
        await r.hset(ROOM_NODE, mapping={"ghost": "n1", "real": "n1", "other": "n2"})
        await c._sweep()
        assert await r.hget(ROOM_NODE, "ghost") == b"n1"      # one sweep is not enough
        await c._sweep()
        assert await r.hgetall(ROOM_NODE) == {b"real": b"n1", b"other": b"n2"}
        await r.hdel(ROOM_NODE, "real")                      # e.g. lost in a Redis restart
        await r.hset(ROOM_NODE, "elsewhere", "n2")
        assert await c.route("real") == "n1"                 # open here: claimed back, not re-placed
        assert await c.route("elsewhere") == "n2"
    finally:
        await c.redis.aclose()


# -- server processes -------------------------------------------------------------------------------
class Node:
    def __init__(self, redis_url: str) -> None:
        self.port = free_port()
        self.udp = free_port()
        self.redis_url = redis_url
        self.id = ""
        # the server runs the same `sfu` as the tests (installed, or the source tree); its log goes
        # to a file: an unread pipe would fill up and stall the node on a write
        env = dict(os.environ, PYTHONPATH=PKG_ROOT)
        self.log = tempfile.NamedTemporaryFile(prefix=f"sfu-node-{self.port}-", suffix=".log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sfu.cli", "serve", "--dev", "--redis", redis_url, "--port", str(self.port),
             "--udp-port", str(self.udp), "--workers", "1", "--node-ip", "127.0.0.1", "--log-level", "INFO"],
            env=env, cwd=PKG_ROOT, stdout=subprocess.DEVNULL, stderr=self.log)

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.log.name, "rb") as f:
                return f.read().decode(errors="replace")[-n:]
        except OSError:              # stopped: the log went with it
            return ""

    def ready(self) -> None:
        r = redis.Redis.from_url(self.redis_url)
        end = time.monotonic() + 20
        try:
            while time.monotonic() < end:
                assert self.proc.poll() is None, self.log_tail()
                for k, v in r.hgetall(NODES).items():
                    if NodeRecord.decode(v).url.endswith(f":{self.port}"):
                        self.id = k.decode()
                        return
                time.sleep(0.1)
        finally:
            r.close()
        raise AssertionError(f"node on port {self.port} did not register")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture(autouse=True)
def node_logs(request):
    """after each test, the tails of the nodes' logs (pytest shows them when the test failed)"""
    yield
    if "nodes" in request.fixturenames:
        for n in request.getfixturevalue("nodes"):
            print(f"--- node {n.id or n.port} log tail ---\n{n.log_tail()}")


@pytest.fixture(scope="module")
def nodes(redis_proc):
    end = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(redis_proc.url).flushall()
            break
        except redis.ConnectionError:
            assert time.monotonic() < end, "redis-server did not start"
            time.sleep(0.05)
    ns = [Node(redis_proc.url), Node(redis_proc.url)]
    try:
        for n in ns:
            n.ready()
        yield ns
    finally:
        for n in ns:
            n.stop()


def tok(identity: str, room: str) -> str:
    return kp.create("devkey", identity=identity, video=VideoGrant(room=room, roomJoin=True), name=identity)


class Client(SignalClient):
    def __init__(self, node: Node, identity: str, room: str) -> None:
        super().__init__(f"ws://127.0.0.1:{node.port}/rtc?protocol=16&sdk=python", tok(identity, room))


def api(node: Node) -> RoomClient:
    return RoomClient(f"http://127.0.0.1:{node.port}", "devkey", "secret")


async def test_join_through_a_node_that_does_not_host_the_room(nodes, r):
    a, b = nodes
    await r.hset(ROOM_NODE, "xroom", b.id)          # the room lives on B
    async with Client(a, "alice", "xroom") as alice, Client(b, "bob", "xroom") as bob:
        j = (await alice.next("join")).join
        assert j.server_info.node_id == b.id and j.room.name == "xroom"
        t0 = time.monotonic()
        await alice.send(lk.SignalRequest(ping_req=lk.Ping(timestamp=42)))
        assert (await alice.next("pong_resp")).pong_resp.last_ping_timestamp == 42
        assert time.monotonic() - t0 < 1.0
        jb = (await bob.next("join")).join
        assert [p.identity for p in jb.other_participants] == ["alice"]
        upd = (await alice.next("update")).update     # bob's arrival reaches alice through the relay
        assert "bob" in [p.identity for p in upd.participants]
        # the server API through either node sees the room on B
        async with api(a) as ca:
            assert sorted(p.identity for p in await ca.list_participants("xroom")) == ["alice", "bob"]
            assert "xroom" in [x.name for x in await ca.list_rooms()]
        await alice.send(lk.SignalRequest(leave=lk.LeaveRequest(reason=models.DisconnectReason.CLIENT_INITIATED)))
        assert await alice.closed(5)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            async with api(b) as cb:
                if [p.identity for p in await cb.list_participants("xroom")] == ["bob"]:
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("alice's leave did not reach the hosting node")


async def test_relayed_json_frames_and_malformed_frames(nodes, r):
    a, b = nodes
    await r.hset(ROOM_NODE, "jroom", b.id)
    async with Client(a, "json", "jroom") as c:
        await c.next("join")
        await c.ws.send_str('{"pingReq": {"timestamp": "7"}}')          # a text frame: JSON both ways
        msg = await c.ws.receive(timeout=5)
        while msg.type == aiohttp.WSMsgType.BINARY or (msg.type == aiohttp.WSMsgType.TEXT
                                                       and "pongResp" not in msg.data):
            msg = await c.ws.receive(timeout=5)   # (binary frames sent before the switch to JSON)
        assert msg.type == aiohttp.WSMsgType.TEXT and '"lastPingTimestamp": "7"' in msg.data
        await c.ws.send_bytes(b"\xff\xff\xff")                         # malformed: refused, session ends
        assert await c.closed(5)
    end = time.monotonic() + 5
    async with api(b) as cb:
        while [p.identity for p in await cb.list_participants("jroom")]:   # removed, not kept for a resume
            assert time.monotonic() < end, "participant of a malformed relayed session kept"
            await asyncio.sleep(0.1)


async def test_api_calls_forwarded_to_the_hosting_node(nodes, r):
    a, b = nodes
    await r.hset(ROOM_NODE, "aroom", b.id)
    async with Client(b, "carol", "aroom") as carol:
        await carol.next("join")
        async with api(a) as ca:
            info = await ca.get_participant("aroom", "carol")
            assert info.identity == "carol"
            await ca.remove_participant("aroom", "carol")
            assert (await carol.next("leave")).leave.reason == models.DisconnectReason.PARTICIPANT_REMOVED
            await ca.delete_room("aroom")
            assert "aroom" not in [x.name for x in await ca.list_rooms()]
            assert await r.hget(ROOM_NODE, "aroom") is None
            # CreateRoom from A places the room (least loaded) and it is listed from B
            await ca.create_room("croom")
        async with api(b) as cb:
            assert "croom" in [x.name for x in await cb.list_rooms()]


async def test_killed_node_drops_out_and_its_room_moves(nodes, r, redis_proc):
    a, b = nodes
    c = Node(redis_proc.url)
    try:
        c.ready()
        await r.hset(ROOM_NODE, "kroom", c.id)
        async with Client(a, "dave", "kroom") as dave:
            assert (await dave.next("join")).join.server_info.node_id == c.id
            c.stop(signal.SIGKILL)
            t0 = time.monotonic()
            while await r.hexists(NODES, c.id):
                assert time.monotonic() - t0 < FAILOVER_BOUND, "dead node still registered"
                await asyncio.sleep(0.1)
            assert await r.hget(ROOM_NODE, "kroom") is None   # placements pruned with it
            assert await dave.closed(5)                        # the relayed session ended
        async with Client(a, "dave", "kroom") as dave:
            j = (await dave.next("join")).join
            assert j.server_info.node_id in (a.id, b.id)
            assert (await r.hget(ROOM_NODE, "kroom")).decode() == j.server_info.node_id
    finally:
        c.stop(signal.SIGKILL)


async def test_redis_restart_nodes_reregister(nodes, redis_proc):
    a, b = nodes
    redis_proc.stop()
    await asyncio.sleep(0.5)
    # Redis down: a room open nowhere here is refused rather than opened a second time
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        async with Client(a, "x", "newroom"):
            pass
    assert e.value.status == 503
    redis_proc.start()
    await redis_proc.wait()
    c = aioredis.from_url(redis_proc.url)
    try:
        end = time.monotonic() + 10
        while set(k.decode() for k in await c.hkeys(NODES)) != {a.id, b.id}:
            assert time.monotonic() < end, "nodes did not re-register after the redis restart"
            await asyncio.sleep(0.1)
        await c.hset(ROOM_NODE, "rroom", a.id)
        async with Client(b, "erin", "rroom") as erin:     # the relay works again
            assert (await erin.next("join")).join.server_info.node_id == a.id
        hdr = {"Authorization": "Bearer " + kp.create("devkey", video=VideoGrant(roomList=True))}
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{b.port}/sfu/v1/stats", headers=hdr) as resp:
                st = (await resp.json())["cluster"]
        assert st["node_id"] == b.id and st["redis_connected"] and st["relayed_sessions_out"] >= 1
    finally:
        await c.aclose()


@pytest.mark.timeout(90)
def test_bench_cluster_smoke(tmp_path):
    redis_binary()
    out = tmp_path / "bc.json"
    res = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_cluster.py"), "--joins", "20",
                          "--concurrency", "4", "--pings", "50", "--dispatches", "10", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=80)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    data = __import__("json").loads(out.read_text())
    assert data["joins_relayed"]["joins_per_s"] > 0 and data["joins_direct"]["n"] == 20
    assert data["ping_relayed"]["rtt_ms"]["p50"] > 0 and "hop_added_ms" in data
    assert data["dispatch_cross_node"]["n"] == 10 and data["dispatch_cross_node"]["assignment_ms"]["p50"] > 0
