"""Media objects (Router, Transport, Producer, Consumer) mirrored from the data plane."""
from .router import Consumer, MediaService, Producer, Router, Transport

__all__ = ["MediaService", "Router", "Transport", "Producer", "Consumer"]
