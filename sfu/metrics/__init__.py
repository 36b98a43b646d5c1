"""Prometheus metrics: `prometheus_port` (or `prometheus.port`) serves /metrics in the text
format, through the standard prometheus_client library.  LiveKit's metric names where they
exist (livekit_room_total, livekit_packet_total, ...), ours under sfu_ (per worker: packets,
drops by reason, restarts; webhooks; agent dispatch latency).

`snapshot` is what a scrape reports, `families` turns it into metric families (pure), `server`
serves them.  Only `snapshot` is imported here: prometheus_client (~10 MB of a server's memory)
is loaded with `server`, when metrics are served.
"""

from .snapshot import NodeSnapshot

__all__ = ["NodeSnapshot"]
