"""A participant's data packets are handled one at a time, in arrival order, bounded."""

from __future__ import annotations

import asyncio

from sfu.rooms.data_inbox import DataInbox


async def test_a_slow_packet_is_not_overtaken():
    out: list[bytes] = []

    async def handle(label: str, data: bytes) -> None:
        if data == b"A":
            await asyncio.sleep(0.02)        # A waits (announcing its sender, a worker request)
        out.append(data)

    box = DataInbox(handle)
    for d in (b"A", b"B", b"C"):
        assert box.push("_reliable", d)
    await asyncio.sleep(0.05)
    assert out == [b"A", b"B", b"C"]


async def test_bounded_and_one_failure_does_not_stop_the_rest():
    out: list[bytes] = []

    async def handle(label: str, data: bytes) -> None:
        if data == b"bad":
            raise ValueError("boom")
        out.append(data)

    box = DataInbox(handle, limit=3)
    assert box.push("_reliable", b"bad") and box.push("_reliable", b"1") and box.push("_reliable", b"2")
    assert not box.push("_reliable", b"3") and box.dropped == 1       # full: dropped, counted
    await asyncio.sleep(0.01)
    assert out == [b"1", b"2"]
    assert box.push("_lossy", b"4")                                     # drained: room again, a new task
    await asyncio.sleep(0.01)
    assert out == [b"1", b"2", b"4"]
