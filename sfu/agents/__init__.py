"""Agent workers (the `/agent` WebSocket) and the dispatch of agent jobs."""

from .dispatcher import Dispatcher
from .service import AgentService

__all__ = ["AgentService", "Dispatcher"]
