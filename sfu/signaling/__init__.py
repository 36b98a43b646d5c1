"""Signal endpoints (WebSocket, LiveKit protocol)."""
