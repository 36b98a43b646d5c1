"""The events waiting for one webhook URL about one room: sent in order, one at a time, a
failed send retried with exponential backoff before anything later is sent (a receiver sees a
room's events in the order they happened), and bounded — by depth and by age, as LiveKit's
notifier is (200 events, 30 s) — so a dead receiver costs a fixed amount of memory and a
recovered one is not flooded with stale events.  Pure: every decision takes `now`."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

MAX_DEPTH = 200
MAX_AGE = 30.0           # s an event may wait in the queue, retries included
MAX_ATTEMPTS = 5
BACKOFF_FIRST = 1.0      # s before the first retry, doubling
BACKOFF_MAX = 8.0

DROP_REASONS = ("queue_full", "age", "attempts", "rejected")


@dataclass
class Pending:
    name: str            # the event's name (room_started, ...)
    body: bytes          # its encoded WebhookEvent
    queued_at: float
    attempts: int = 0
    not_before: float = 0.0


def retry_delay(attempts: int) -> float:
    """the wait after the `attempts`-th failed send"""
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1))


def retryable(status: int | None) -> bool:
    """None: no answer (connection refused, timeout). A 4xx other than 408/429 says the request
    itself is wrong; sending it again would get the same answer."""
    return status is None or status >= 500 or status in (408, 429)


class DeliveryQueue:
    def __init__(self, max_depth: int = MAX_DEPTH, max_age: float = MAX_AGE,
                 max_attempts: int = MAX_ATTEMPTS) -> None:
        self.max_depth = max_depth
        self.max_age = max_age
        self.max_attempts = max_attempts
        self.items: deque[Pending] = deque()
        self.dropped = {r: 0 for r in DROP_REASONS}
        self.sent = 0

    def __len__(self) -> int:
        return len(self.items)

    def push(self, name: str, body: bytes, now: float) -> bool:
        """queue an event; False (and counted) when the queue is full"""
        if len(self.items) >= self.max_depth:
            self.dropped["queue_full"] += 1
            return False
        self.items.append(Pending(name, body, now))
        return True

    def next(self, now: float) -> tuple[Pending | None, float]:
        """(the event to send now, None if there is none yet; else how long to wait, s —
        0 when the queue is empty). Events too old to be useful are dropped here."""
        while self.items and now - self.items[0].queued_at > self.max_age:
            self.items.popleft()
            self.dropped["age"] += 1
        if not self.items:
            return None, 0.0
        head = self.items[0]
        if now < head.not_before:
            return None, head.not_before - now
        return head, 0.0

    def result(self, item: Pending, status: int | None, now: float) -> str:
        """what a send of the head event led to: 'sent', 'retry' or a drop reason"""
        if not self.items or self.items[0] is not item:
            raise ValueError("result for an event that is not at the head of the queue")
        if status is not None and 200 <= status < 300:
            self.items.popleft()
            self.sent += 1
            return "sent"
        item.attempts += 1
        why = "rejected" if not retryable(status) else "attempts" if item.attempts >= self.max_attempts else ""
        if why:
            self.items.popleft()
            self.dropped[why] += 1
            return why
        item.not_before = now + retry_delay(item.attempts)
        return "retry"
