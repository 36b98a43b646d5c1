"""Draining a node (sfu.app.Server.drain, what SIGTERM starts): its rooms go on, no new room
starts, health says so, and the drain ends when the last participant leaves or at its timeout."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from livekit.protocol import rtc

from helpers.app_server import running_server
from helpers.signal_client import Client
from helpers.tokens import join_token


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.text()


async def test_a_draining_node_keeps_its_rooms_refuses_new_ones_and_ends_when_they_are_empty():
    async with running_server() as srv:
        base = f"http://127.0.0.1:{srv.settings.port}"
        async with Client(srv, join_token("alice", "kept")) as a:
            await a.next("join")
            drain = asyncio.create_task(srv.drain(timeout=120))
            await asyncio.sleep(0.3)
            assert not drain.done()
            assert await get(base + "/") == (503, "Draining")
            # the room goes on: someone else can still join it and is seen by alice
            async with Client(srv, join_token("bob", "kept")) as b:
                await b.next("join")
                upd = await a.next("update")
                assert "bob" in {p.identity for p in upd.update.participants}
                await b.send(rtc.SignalRequest(leave=rtc.LeaveRequest()))
            # a new room does not start here
            async with aiohttp.ClientSession() as s:
                async with s.get(f"ws://127.0.0.1:{srv.settings.port}/rtc?access_token={join_token('carol', 'new')}",
                                 headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                          "Sec-WebSocket-Version": "13",
                                          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as r:
                    assert r.status == 503 and "draining" in await r.text()
            assert srv.rooms.manager.get("new") is None
            assert not drain.done()
            t0 = time.monotonic()
            await a.send(rtc.SignalRequest(leave=rtc.LeaveRequest()))
            assert await asyncio.wait_for(drain, 60) is True     # the last one left: drained,
            assert time.monotonic() - t0 < 60                      # long before the timeout


async def test_a_drain_gives_up_at_its_timeout():
    async with running_server() as srv:
        async with Client(srv, join_token("alice", "stays")) as a:
            await a.next("join")
            t0 = time.monotonic()
            assert await srv.drain(timeout=0.6) is False
            assert 0.6 <= time.monotonic() - t0 < 30
            assert srv.rooms.manager.get("stays") is not None     # closing them is stop()'s job
