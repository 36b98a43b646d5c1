"""A tiny simulated link between two sans-IO DTLS endpoints, driven by a fake clock."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sfu.protocol.common import Output


@dataclass
class Endpoint:
    name: str
    transport: Any
    deadline: float | None = None
    events: list[Any] = field(default_factory=list)
    sent: int = 0


class Link:
    """Delivers datagrams between endpoints ``a`` and ``b`` after ``latency`` seconds.

    ``drop(n)`` gets the running index of each datagram (0-based, both directions) and returns
    True to lose it.
    """

    def __init__(
        self,
        a: Any,
        b: Any,
        latency: float = 0.01,
        drop: Callable[[int], bool] = lambda n: False,
    ) -> None:
        self.a = Endpoint("a", a)
        self.b = Endpoint("b", b)
        self.latency = latency
        self.drop = drop
        self.now = 0.0
        self.count = 0
        self.dropped = 0
        self._queue: list[tuple[float, int, Endpoint, bytes]] = []
        self._seq = itertools.count()

    def peer(self, ep: Endpoint) -> Endpoint:
        return self.b if ep is self.a else self.a

    def apply(self, ep: Endpoint, out: Output) -> None:
        ep.events.extend(out.events)
        ep.deadline = out.deadline
        for tx in out.transmits:
            ep.sent += 1
            index = self.count
            self.count += 1
            if self.drop(index):
                self.dropped += 1
                continue
            heapq.heappush(self._queue, (self.now + self.latency, next(self._seq), self.peer(ep), tx.data))

    def step(self) -> bool:
        """Advance to the next delivery or deadline; False when nothing is pending."""
        times = []
        if self._queue:
            times.append(self._queue[0][0])
        for ep in (self.a, self.b):
            if ep.deadline is not None:
                times.append(ep.deadline)
        if not times:
            return False
        self.now = max(self.now, min(times))
        while self._queue and self._queue[0][0] <= self.now:
            _, _, dst, data = heapq.heappop(self._queue)
            self.apply(dst, dst.transport.handle_datagram(self.now, data))
        for ep in (self.a, self.b):
            if ep.deadline is not None and ep.deadline <= self.now:
                self.apply(ep, ep.transport.handle_timeout(self.now))
        return True

    def run_until(self, done: Callable[[], bool], limit: float = 120.0, max_steps: int = 10000) -> None:
        for _ in range(max_steps):
            if done() or self.now > limit:
                return
            if not self.step():
                return
