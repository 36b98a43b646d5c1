"""/metrics on the Prometheus port: each scrape takes a fresh NodeSnapshot (the workers'
counters are asked for then) and renders it with prometheus_client."""

from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

from .families import NODE_TYPE, NodeSnapshot, families

log = logging.getLogger("sfu.metrics")

# seconds from a job's creation to its assignment to a worker
DISPATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Snapshot:
    """a prometheus_client collector of the snapshot taken for the scrape in progress"""

    def __init__(self) -> None:
        self.current: NodeSnapshot | None = None

    def collect(self):
        return families(self.current) if self.current is not None else []


class MetricsServer:
    def __init__(self, snapshot: Callable[[], Awaitable[NodeSnapshot]], node_id: str, host: str, port: int) -> None:
        self.snapshot = snapshot
        self.host, self.port = host, port
        self.registry = CollectorRegistry(auto_describe=False)
        self._current = _Snapshot()
        self.registry.register(self._current)
        self.dispatch = Histogram("sfu_agent_dispatch_seconds", "time from an agent job's creation to its assignment",
                                  ["node_id", "node_type"], buckets=DISPATCH_BUCKETS, registry=self.registry)
        self._dispatch = self.dispatch.labels(node_id, NODE_TYPE)
        # as LiveKit's: every connection-quality rating (EXCELLENT 2, GOOD 1, POOR 0; LOST is 3 in
        # the protocol and lands above the last bucket) and its MOS-like score
        self.quality_rating = Histogram("livekit_quality_rating", "connection quality ratings",
                                        ["node_id", "node_type"], buckets=(0, 1, 2), registry=self.registry)
        self.quality_score = Histogram("livekit_quality_score", "connection quality scores", ["node_id", "node_type"],
                                       buckets=(1.0, 2.0, 2.5, 3.0, 3.25, 3.5, 3.75, 4.0, 4.25, 4.5),
                                       registry=self.registry)
        self._rating = self.quality_rating.labels(node_id, NODE_TYPE)
        self._score = self.quality_score.labels(node_id, NODE_TYPE)
        self._last_tx: dict[int, tuple[float, int]] = {}     # worker -> (when, tx_packets) at the last scrape
        self.runner: web.AppRunner | None = None

    def observe_dispatch(self, seconds: float) -> None:
        self._dispatch.observe(seconds)

    def observe_quality(self, quality: int, score: float) -> None:
        self._rating.observe(quality)
        self._score.observe(score)

    def rates(self, s: NodeSnapshot, now: float) -> None:
        """packets/s each worker sent since the previous scrape (none at the first)"""
        for w in s.workers:
            if "stats" not in w:
                continue
            tx = int(w["stats"].get("tx_packets", 0))
            last = self._last_tx.get(w["worker"])
            if last is not None and now > last[0] and tx >= last[1]:
                s.forwarded_pps[w["worker"]] = (tx - last[1]) / (now - last[0])
            self._last_tx[w["worker"]] = (now, tx)

    async def handle(self, request: web.Request) -> web.Response:
        s = await self.snapshot()
        self.rates(s, time.monotonic())
        self._current.current = s
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, self.port, reuse_address=True).start()
        log.info("Prometheus metrics on %s port %d", self.host, self.port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
