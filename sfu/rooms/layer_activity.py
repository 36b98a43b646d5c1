"""Whether a simulcast layer may be chosen, from the data plane's activity reports, with
hysteresis (pure: time is an argument).

The data plane reports a layer inactive after 1 s without packets and active again at its
next packet.  A publisher short of uplink stops and restarts its top layer every second or
two; following every report moves its subscribers up and down as often, and each move
costs them a key frame and a freeze.  So a layer that stops is unusable at once (its
subscribers move down), but one that comes back is usable again only after it stayed
active for TRUST_AFTER; a layer that stops again within FLAP_WINDOW of becoming usable
waits twice as long the next time (up to TRUST_AFTER_MAX).  In its first WARMUP a layer is
usable as soon as it flows: a publisher's encoder starts and stops its layers while its
own bandwidth estimate ramps up, which is no flapping.  Nor is a layer the server itself
asked the publisher to stop (dynacast, `suppress`): its stop counts no flap, and when the
server asks for it again it is usable as soon as it flows (within RESUME_WINDOW), so the
subscriber who asked for it is not kept waiting TRUST_AFTER for a layer that never failed.
"""

from __future__ import annotations

# s of continuous activity before a layer that came back is used: longer than the 1-2 s
# (+ 1 s to notice a stop) that a layer of a publisher short of uplink stays on
TRUST_AFTER = 4.0
TRUST_AFTER_MAX = 30.0     # s, the wait of a layer that keeps stopping
FLAP_WINDOW = 10.0         # s: stopping this soon after becoming usable doubles the wait
WARMUP = 10.0              # s after a layer appeared in which its reports are followed at once
RESUME_WINDOW = 5.0        # s after the server asked for a layer again in which its restart is trusted


class LayerActivity:
    """one layer; a new layer is active and usable (a publisher starts with all of its layers)"""

    def __init__(self, born: float = float("-inf")) -> None:
        self.born = born                    # when the layer appeared
        self.active = True                  # as last reported
        self._active_since = 0.0
        self._usable_since: float | None = float("-inf")   # None: not usable
        self.wait = TRUST_AFTER
        self.suppressed = False             # the server asked the publisher to stop it
        self._resumed_until = float("-inf")  # a restart before this is the server's request

    def report(self, active: bool, now: float) -> bool:
        """the data plane says the layer stopped or started: whether that is news"""
        if active == self.active:
            return False
        self.active = active
        if active:
            self._active_since = now
            if now - self.born < WARMUP or now <= self._resumed_until:
                self._usable_since = now
            return True
        if self._usable_since is not None and not self.suppressed:
            # a flap: it stops soon after it earned its trust (not while warming up)
            flapped = now - self._usable_since < FLAP_WINDOW and self._usable_since - self.born >= WARMUP
            self.wait = min(self.wait * 2, TRUST_AFTER_MAX) if flapped else TRUST_AFTER
        self._usable_since = None
        return True

    def suppress(self, on: bool, now: float) -> None:
        """the server told the publisher to stop this layer (on) or to send it again (off)"""
        if on == self.suppressed:
            return
        self.suppressed = on
        if not on:
            self._resumed_until = now + RESUME_WINDOW
            if self.active and self._usable_since is None:    # it never stopped: trust it now
                self._usable_since = now

    def usable(self, now: float) -> bool:
        """whether subscribers may be moved to (or kept on) this layer"""
        if not self.active:
            return False
        if self._usable_since is None and now - self._active_since >= self.wait:
            self._usable_since = self._active_since + self.wait
        return self._usable_since is not None

    def usable_at(self, now: float) -> float | None:
        """when the layer becomes usable if it stays active; None when it is usable or inactive"""
        if not self.active or self.usable(now):
            return None
        return self._active_since + self.wait
