"""Which node hosts which room: the Redis hash `sfu:room_node` (room -> node id).

Placement runs under a per-room lock `sfu:lock:room:<name>` taken with
SET NX PX and a random token, released by a compare-and-delete script (a
lock that expired and was taken by another node is never released by the
old holder).  A room stays on its node while that node is alive; a room
whose node is dead (or has no placement) goes to the live node hosting the
fewest rooms, ties broken by lower CPU.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from .registry import HDEL_IF_EQUAL, NodeRecord

ROOM_NODE = "sfu:room_node"
LOCK_PREFIX = "sfu:lock:room:"
LOCK_TTL_MS = 5000
LOCK_WAIT = 6.0

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LockTimeout(Exception):
    pass


class RoomMap:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._release = redis.register_script(RELEASE)
        self._hdel_if_equal = redis.register_script(HDEL_IF_EQUAL)

    async def node_of(self, room: str) -> str | None:
        v = await self.redis.hget(ROOM_NODE, room)
        return v.decode() if v is not None else None

    async def acquire(self, room: str, wait: float = LOCK_WAIT) -> str:
        token = secrets.token_hex(16)
        end = time.monotonic() + wait
        delay = 0.005
        while True:
            if await self.redis.set(LOCK_PREFIX + room, token, nx=True, px=LOCK_TTL_MS):
                return token
            if time.monotonic() >= end:
                raise LockTimeout(f"placement lock of room {room!r} busy for {wait} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def release(self, room: str, token: str) -> bool:
        return bool(await self._release(keys=[LOCK_PREFIX + room], args=[token]))

    async def place(self, room: str, alive: dict[str, NodeRecord]) -> str:
        """the node hosting `room`, placing it first if needed"""
        cur = await self.node_of(room)
        if cur in alive:
            return cur  # type: ignore[return-value]
        if not alive:
            raise LookupError("no live node")
        token = await self.acquire(room)
        try:
            cur = await self.node_of(room)
            if cur in alive:
                return cur  # type: ignore[return-value]
            # a draining node keeps the rooms it has; new ones go to the others (to it only if
            # every node drains: its refusal is then the answer)
            open_ = {n: r for n, r in alive.items() if not r.draining} or alive
            counts: dict[str, int] = {n: 0 for n in open_}
            for v in await self.redis.hvals(ROOM_NODE):
                n = v.decode()
                if n in counts:
                    counts[n] += 1
            pick = min(open_, key=lambda n: (counts[n], open_[n].stats.cpu, n))
            await self.redis.hset(ROOM_NODE, room, pick)
            return pick
        finally:
            await self.release(room, token)

    async def claim(self, room: str, node: str) -> None:
        """record a room this node hosts, unless the map already names a node"""
        await self.redis.hsetnx(ROOM_NODE, room, node)

    async def forget(self, room: str, node: str) -> None:
        """drop the placement if it still names `node`"""
        await self._hdel_if_equal(keys=[ROOM_NODE], args=[room, node])

    async def drop_node(self, node: str) -> int:
        """forget every room placed on `node` (dead or stopping)"""
        n = 0
        async for room, v in self.redis.hscan_iter(ROOM_NODE, count=500):
            if v.decode() == node:
                n += await self._hdel_if_equal(keys=[ROOM_NODE], args=[room, v])
        return n
