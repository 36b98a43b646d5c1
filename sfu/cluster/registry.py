"""Node registry: one JSON record per node in the Redis hash `sfu:nodes`.

Every node rewrites its record (with fresh load stats) every HEARTBEAT
seconds; a record whose `updated` is older than STALE seconds is dead.  Any
node prunes dead records (and the room placements pointing at them) on its
heartbeat, so a SIGKILLed node disappears within STALE + HEARTBEAT seconds.
A node deletes its own record on a clean stop.  Timestamps are wall-clock
milliseconds: the nodes' clocks are assumed synchronised (NTP) to well
under a second.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

NODES = "sfu:nodes"
AGENT_WORKERS = "sfu:agent_workers"     # node id -> JSON: the agent workers connected to it
HEARTBEAT = 2.0
STALE = 5.0

# delete a hash field only if it still holds the value we judged stale
HDEL_IF_EQUAL = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


@dataclass
class NodeStats:
    cpu: float = 0.0            # percent of all cores
    rooms: int = 0
    participants: int = 0
    tracks: int = 0
    packets_per_s: float = 0.0  # forwarded (workers' tx_packets)


@dataclass
class NodeRecord:
    id: str
    url: str = ""
    started: int = 0
    updated: int = 0            # ms since the epoch
    stats: NodeStats = field(default_factory=NodeStats)
    draining: bool = False      # keeps its rooms, gets no new one

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, raw: bytes | str) -> "NodeRecord":
        d = orjson.loads(raw)
        d["stats"] = NodeStats(**d.get("stats", {}))
        return cls(**d)

    def alive(self, now_ms: int | None = None) -> bool:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return now_ms - self.updated < STALE * 1000


class Registry:
    def __init__(self, redis: Any, record: NodeRecord) -> None:
        self.redis = redis
        self.record = record
        self._hdel_if_equal = redis.register_script(HDEL_IF_EQUAL)

    async def heartbeat(self, stats: NodeStats) -> None:
        self.record.stats = stats
        self.record.updated = int(time.time() * 1000)
        await self.redis.hset(NODES, self.record.id, self.record.encode())

    async def remove(self) -> None:
        await self.redis.hdel(NODES, self.record.id)

    async def all(self) -> dict[str, tuple[bytes, NodeRecord]]:
        out = {}
        for k, v in (await self.redis.hgetall(NODES)).items():
            try:
                out[k.decode()] = (v, NodeRecord.decode(v))
            except (ValueError, TypeError):
                out[k.decode()] = (v, NodeRecord(id=k.decode()))   # unreadable: treated as dead
        return out

    async def alive(self) -> dict[str, NodeRecord]:
        now = int(time.time() * 1000)
        return {k: r for k, (_, r) in (await self.all()).items() if r.alive(now)}

    async def is_alive(self, node_id: str) -> bool:
        raw = await self.redis.hget(NODES, node_id)
        if raw is None:
            return False
        try:
            return NodeRecord.decode(raw).alive()
        except (ValueError, TypeError):
            return False

    async def prune(self) -> list[str]:
        """delete dead records; returns the ids removed"""
        now = int(time.time() * 1000)
        gone = []
        for k, (raw, r) in (await self.all()).items():
            if k != self.record.id and not r.alive(now):
                if await self._hdel_if_equal(keys=[NODES], args=[k, raw]):
                    gone.append(k)
        return gone
