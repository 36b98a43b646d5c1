"""Multi-node with Redis: 2-3 `sfu serve --redis` processes and a real
redis-server: a join through a node that does not host the room (signalling
relayed), the server API from any node, a SIGKILLed node and a Redis restart."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest
import redis.asyncio as aioredis
from livekit.protocol import models
from livekit.protocol import rtc as lk

from helpers.server_process import ServerProcess
from helpers.signal_client import SignalClient
from helpers.tokens import join_token, token
from sfu.api.client import RoomClient
from sfu.cluster.registry import HEARTBEAT, NODES, STALE
from sfu.cluster.room_map import ROOM_NODE

FAILOVER_BOUND = STALE + HEARTBEAT + 1.0      # documented: a killed node is gone within 8 s


class Client(SignalClient):
    def __init__(self, node: ServerProcess, identity: str, room: str) -> None:
        super().__init__(f"ws://127.0.0.1:{node.port}/rtc?protocol=16&sdk=python", join_token(identity, room))


def api(node: ServerProcess) -> RoomClient:
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
    c = ServerProcess(redis=redis_proc.url)
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
        hdr = {"Authorization": "Bearer " + token(roomList=True)}
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{b.port}/sfu/v1/stats", headers=hdr) as resp:
                st = (await resp.json())["cluster"]
        assert st["node_id"] == b.id and st["redis_connected"] and st["relayed_sessions_out"] >= 1
    finally:
        await c.aclose()


async def test_inbox_entries_not_signed_with_the_api_keys_are_ignored(nodes, r):
    """whoever can write to Redis cannot act through a node's inbox without an API secret"""
    from livekit.protocol import room as room_pb

    from sfu.cluster.inbox_signature import sign, signing_key

    a, b = nodes
    async with api(b) as cb:
        await cb.create_room("kept")
    body = room_pb.DeleteRoomRequest(room="kept").SerializeToString()
    forged = {"t": "rpc", "svc": "livekit.RoomService", "m": "DeleteRoom", "b": body, "origin": a.id,
              "ts": int(time.time() * 1000)}
    await r.xadd(f"sfu:inbox:{b.id}", {**forged, "id": "x:1"})                                  # unsigned
    await r.xadd(f"sfu:inbox:{b.id}", sign({**forged, "id": "x:2"}, signing_key({"devkey": "guess"})))   # wrong key
    await asyncio.sleep(1.5)
    async with api(b) as cb:
        assert "kept" in [x.name for x in await cb.list_rooms()]
    # signed with the cluster's keys, the same entry is acted on (what a node's forwarded call is)
    await r.xadd(f"sfu:inbox:{b.id}", sign({**forged, "id": "x:3"}, signing_key({"devkey": "secret"})))
    for _ in range(40):
        async with api(b) as cb:
            if "kept" not in [x.name for x in await cb.list_rooms()]:
                break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("a signed DeleteRoom was not acted on")
    assert "not signed by a node with our API keys" in b.log_tail(100_000)
