"""How fast one signal connection's requests are taken: a token bucket (pure, takes `now`).
A client over the rate is not read until it is under it again, so its own socket buffers fill
and TCP slows it down, while the event loop serves every other connection (a flood of pings
from a few sessions once starved every other room for seconds)."""

from __future__ import annotations

RATE = 100.0       # requests per second, sustained: far above what a client sends in a busy room
BURST = 300.0      # requests at once (a join, a renegotiation, a page of track settings)


class TokenBucket:
    def __init__(self, rate: float = RATE, burst: float = BURST, now: float = 0.0) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = now
        self.throttled = 0          # requests that had to wait

    def take(self, now: float) -> float:
        """take one request's token; the seconds to wait before handling it (0: at once)"""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        self.tokens -= 1.0
        if self.tokens >= 0:
            return 0.0
        self.throttled += 1
        return -self.tokens / self.rate
