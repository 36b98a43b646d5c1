"""A step run every few seconds on the event loop until stopped (the stream allocator, the
connection-quality and active-speaker reporters); one failed step is logged, the next runs."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger("sfu.rooms")


class Periodic:
    def __init__(self, interval: float, step: Callable[[], Awaitable[None]], what: str) -> None:
        self.interval = interval
        self.step = step
        self.what = what
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.step()
            except Exception:        # one bad step must not end it for everyone
                log.exception("%s", self.what)
