"""The server API: Twirp services (sfu.api.twirp) and a Python client for them."""

from .client import AgentDispatchClient, RoomClient, TwirpError

__all__ = ["AgentDispatchClient", "RoomClient", "TwirpError"]
