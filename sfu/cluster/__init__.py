"""Multi-node operation with Redis: node registry, room placement, signal
relay, forwarded API calls and agent jobs for workers on other nodes.  Only
used when `redis` is configured."""

from .node import Cluster, ClusterUnavailable

__all__ = ["Cluster", "ClusterUnavailable"]
