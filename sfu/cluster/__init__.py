"""Multi-node operation with Redis: node registry, room placement, signal
relay and forwarded API calls.  Only used when `redis` is configured."""

from .node import Cluster, ClusterUnavailable

__all__ = ["Cluster", "ClusterUnavailable"]
