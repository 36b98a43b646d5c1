"""Multi-node operation with Redis: node registry, room placement, signal
relay, forwarded API calls and agent jobs for workers on other nodes.  Only
used when `redis` is configured."""

from .inbox_signature import signing_key
from .node import Cluster, ClusterUnavailable

__all__ = ["Cluster", "ClusterUnavailable", "signing_key"]
