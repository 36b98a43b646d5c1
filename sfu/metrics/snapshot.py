"""What a scrape reports about a node (sfu.metrics.families turns it into metric families):
plain data, so the server builds it without importing prometheus_client, which is loaded only
when metrics are served (`prometheus_port`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class NodeSnapshot:
    node_id: str
    rooms: int = 0
    participants: int = 0
    tracks_published: dict[str, int] = field(default_factory=dict)    # TrackType name -> count
    tracks_subscribed: dict[str, int] = field(default_factory=dict)
    workers: list[dict] = field(default_factory=list)    # WORKER_STATS replies (an "error" key: not answering)
    worker_restarts: dict[int, int] = field(default_factory=dict)      # worker index -> restarts
    forwarded_pps: dict[int, float] = field(default_factory=dict)      # worker index -> tx packets/s
    drop_reasons: tuple[str, ...] = ()                   # every reason the data plane counts
    webhooks: dict | None = None                         # WebhookNotifier.stats()
    http_refused: dict[str, int] = field(default_factory=dict)        # ConnectionGuard.refused
    # (from worker, to worker) -> (messages written and not yet read, slots): SharedRings.fill()
    ring_fill: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
