"""Polling until a condition holds, bounded in time."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Callable


def wait_until(pred: Callable[[], Any], timeout: float = 2.0, interval: float = 0.005) -> bool:
    """poll `pred` (blocking) until it is true or `timeout` passed; its last value decides"""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


async def until(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition",
                interval: float = 0.02) -> float:
    """await until `cond()` (a value, or an awaitable of one) is true; the seconds it took.
    AssertionError naming `what` after `timeout`."""
    t0 = time.monotonic()
    while True:
        ok = cond()
        if inspect.isawaitable(ok):
            ok = await ok
        if ok:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)
