"""Media worker processes without a server (sfu.worker.process.WorkerPool) on loopback."""

from __future__ import annotations

import contextlib
from typing import AsyncIterator

from sfu.worker.process import WorkerPool


@contextlib.asynccontextmanager
async def running_pool(n: int, **kw) -> AsyncIterator[WorkerPool]:
    """`n` started workers listening on 127.0.0.1; `kw` go to WorkerPool (log_level=, restart=, ...)"""
    pool = WorkerPool(n, listen_ip="127.0.0.1", **kw)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()
