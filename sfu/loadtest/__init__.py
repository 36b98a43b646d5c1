"""`sfu load-test`: simulated WebRTC publishers and subscribers.

The media packets are generated and checked by the C engine (csrc/tools/,
the extension module sfu.loadtest._engine)
through `Engine`; Python does signalling, ICE and DTLS (peer.py, livekit.py)
and the report (runner.py).
"""

from .engine import Engine, SenderSpec

__all__ = ["Engine", "SenderSpec"]
