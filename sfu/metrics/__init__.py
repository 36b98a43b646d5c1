"""Prometheus metrics: `prometheus_port` (or `prometheus.port`) serves /metrics in the text
format, through the standard prometheus_client library.  LiveKit's metric names where they
exist (livekit_room_total, livekit_packet_total, ...), ours under sfu_ (per worker: packets,
drops by reason, restarts; webhooks; agent dispatch latency).

`families` turns a NodeSnapshot into metric families (pure); `server` serves them.
"""

from .families import NodeSnapshot
from .server import MetricsServer

__all__ = ["MetricsServer", "NodeSnapshot"]
