"""`sfu load-test`: simulated WebRTC publishers and subscribers.

The media packets are generated and checked by the C engine
(csrc/loadtest.c) through `Engine`; Python does signalling, ICE and DTLS.
"""

from .engine import Engine, SenderSpec

__all__ = ["Engine", "SenderSpec"]
