"""Multi-node state in Redis, against a real redis-server: the room lock,
placement, registry staleness, relay stream sequencing, the placement sweep."""

from __future__ import annotations

import asyncio
import time

import pytest

from sfu.cluster.registry import NODES, STALE, NodeRecord, NodeStats, Registry
from sfu.cluster.relay import RelayGap, StreamReader, StreamWriter
from sfu.cluster.room_map import ROOM_NODE, LockTimeout, RoomMap


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
