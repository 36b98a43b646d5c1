"""A few signal connections flooding requests are throttled to the per-connection rate
(sfu.signaling.rate_limit) and every other room keeps being served."""

from __future__ import annotations

import asyncio
import time

from livekit.protocol import rtc

from helpers.app_server import server_fixture
from helpers.signal_client import Client
from helpers.tokens import join_token
from sfu.signaling.rate_limit import BURST, RATE

server = server_fixture()
FLOODERS = 5
SECONDS = 3.0


async def flood(server, i: int, stop: asyncio.Event) -> tuple[int, float]:
    """pings as fast as the connection takes them; the pongs it got, and over how long"""
    t0 = time.monotonic()
    async with Client(server, join_token(f"f{i}", f"flood-{i}")) as c:
        await c.next("join")
        got = 0

        async def read() -> None:
            nonlocal got
            while True:
                r = await c.next("pong_resp", timeout=30)
                got += r.WhichOneof("message") == "pong_resp"
        reader = asyncio.create_task(read())
        ping = rtc.SignalRequest(ping_req=rtc.Ping(timestamp=1))
        while not stop.is_set():
            await c.send(ping)
            await asyncio.sleep(0)
        reader.cancel()
        return got, time.monotonic() - t0


async def test_flooding_sessions_are_throttled_and_others_are_served(server):
    stop = asyncio.Event()
    floods = [asyncio.create_task(flood(server, i, stop)) for i in range(FLOODERS)]
    async with Client(server, join_token("calm", "calm")) as c:
        await c.next("join")
        await asyncio.sleep(0.5)              # the floods are on
        t0 = time.monotonic()
        answered = 0
        while time.monotonic() - t0 < SECONDS:
            await c.send(rtc.SignalRequest(ping_req=rtc.Ping(timestamp=answered)))
            r = await c.next("pong_resp", timeout=2.0)        # within 2 s, every time
            assert r.pong_resp.last_ping_timestamp == answered
            answered += 1
            await asyncio.sleep(0.1)
    stop.set()
    pongs = await asyncio.gather(*floods)
    assert answered >= 10
    for n, lifetime in pongs:    # each flood got no more than the bucket allows over its life
        assert n <= BURST + RATE * (lifetime + 0.5), pongs
