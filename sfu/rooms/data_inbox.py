"""What a participant sent on its data channels, handled one packet at a time in arrival order.

A reliable data channel is ordered (RFC 8831): what a sender sent as A then B must reach each
recipient as A then B.  Handling each packet in a task of its own lets B overtake A whenever
A waits somewhere first (announcing its sender, a worker request), so the packets of one
participant go through this queue instead.  Bounded: a client that sends faster than the
server forwards loses the excess (counted), and no one else waits for it.  What is queued when
its sender leaves still goes out (a last message before leaving).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Awaitable, Callable

log = logging.getLogger("sfu.rooms")

MAX_QUEUED = 1024


class DataInbox:
    def __init__(self, handle: Callable[[str, bytes], Awaitable[None]], limit: int = MAX_QUEUED) -> None:
        self._handle = handle
        self.limit = limit
        self._queue: deque[tuple[str, bytes]] = deque()
        self._task: asyncio.Task | None = None
        self.dropped = 0

    def push(self, label: str, data: bytes) -> bool:
        """queue one packet (False: the queue is full, the packet is dropped)"""
        if len(self._queue) >= self.limit:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("data packets dropped: the sender is %d packets ahead (%d dropped)",
                            len(self._queue), self.dropped)
            return False
        self._queue.append((label, data))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return True

    async def _drain(self) -> None:
        while self._queue:
            label, data = self._queue.popleft()
            try:
                await self._handle(label, data)
            except asyncio.CancelledError:
                raise
            except Exception:        # one bad packet must not stop the ones behind it
                log.exception("data packet handling failed")
