"""How often the server may ask a publisher for a key frame on behalf of one subscription
(pure: time is an argument).

A layer switch or a (re)subscription needs a key frame of the layer the subscriber now
receives; the data plane asks the publisher for it, throttled per producer only, so a
subscription whose layer keeps changing would make the publisher send key frames to every
subscriber of that layer.  Per subscription the server asks at most once per INTERVAL; a
layer switch counts as a request (the data plane asks for it).
"""

from __future__ import annotations

INTERVAL = 1.0     # s


class KeyFrameLimit:
    def __init__(self) -> None:
        self._last = float("-inf")

    def ready(self, now: float) -> bool:
        """a request now would be allowed"""
        return now - self._last >= INTERVAL

    def allow(self, now: float) -> bool:
        """ask now?  (counts as asked when it says yes)"""
        if not self.ready(now):
            return False
        self._last = now
        return True

    def asked(self, now: float) -> None:
        """the data plane asks for one anyway (a layer switch, a resume)"""
        self._last = max(self._last, now)
