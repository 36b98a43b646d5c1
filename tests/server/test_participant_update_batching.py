"""ParticipantUpdates about subscriber-only participants are batched (every 3 s, as LiveKit
does): a storm of viewers joining reaches a participant already in the room in a few
messages, not one per viewer; a viewer's own changes reach it at once; leaving is at once."""

from __future__ import annotations

import asyncio
import contextlib
import time

from livekit.protocol import models, rtc

from helpers.app_server import server_fixture
from helpers.signal_client import Client
from helpers.tokens import join_token
from sfu.rooms.participant_updates import BATCH_INTERVAL

server = server_fixture()
VIEWERS = 40


async def updates_until(c: Client, seen: set[str], want: set[str], timeout: float) -> int:
    """read ParticipantUpdates until every identity in `want` was named; the messages read"""
    n, end = 0, time.monotonic() + timeout
    while not want <= seen and time.monotonic() < end:
        upd = (await c.next("update", timeout=end - time.monotonic())).update
        n += 1
        seen |= {p.identity for p in upd.participants}
    assert want <= seen, want - seen
    return n


async def test_a_join_storm_of_viewers_arrives_in_a_few_batches(server):
    async with Client(server, join_token("host", "r")) as host, contextlib.AsyncExitStack() as stack:
        await host.next("join")
        t0 = time.monotonic()
        viewers = await asyncio.gather(*(stack.enter_async_context(Client(
            server, join_token(f"v{i}", "r", canPublish=False))) for i in range(VIEWERS)))
        for v in viewers:
            await v.next("join")
        seen: set[str] = set()
        messages = await updates_until(host, seen, {f"v{i}" for i in range(VIEWERS)}, timeout=3 * BATCH_INTERVAL)
        # unbatched: one per viewer per state change (JOINED, ACTIVE) = 2 x VIEWERS
        assert messages <= 4, messages
        assert time.monotonic() - t0 < 2 * BATCH_INTERVAL + 2
        # a viewer leaving: at once
        await viewers[0].send(rtc.SignalRequest(leave=rtc.LeaveRequest()))
        t1 = time.monotonic()
        while True:
            upd = (await host.next("update", timeout=BATCH_INTERVAL - 0.5)).update
            gone = [p for p in upd.participants if p.identity == "v0"]
            if gone and gone[0].state == models.ParticipantInfo.DISCONNECTED:
                break
        assert time.monotonic() - t1 < BATCH_INTERVAL - 0.5


async def test_a_viewers_own_change_reaches_it_at_once_and_others_with_the_batch(server):
    async with Client(server, join_token("host", "r2")) as host, \
            Client(server, join_token("v", "r2", canPublish=False, canUpdateOwnMetadata=True)) as v:
        await host.next("join")
        await v.next("join")
        await asyncio.sleep(BATCH_INTERVAL + 0.5)      # the join batch has gone out
        host.msgs.clear()
        await v.send(rtc.SignalRequest(update_metadata=rtc.UpdateParticipantMetadata(metadata="m1", request_id=1)))
        t0 = time.monotonic()
        while True:
            upd = (await v.next("update", timeout=1.0)).update
            if any(p.identity == "v" and p.metadata == "m1" for p in upd.participants):
                break
        assert time.monotonic() - t0 < 1.0
        while True:
            upd = (await host.next("update", timeout=BATCH_INTERVAL + 1)).update
            if any(p.identity == "v" and p.metadata == "m1" for p in upd.participants):
                break
