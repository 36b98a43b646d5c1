"""Webhooks from a whole server to HTTP receivers the test runs: what is sent, how it is
signed, and that a receiver that hangs or fails delays no room (sfu.webhooks)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import time
import warnings
from typing import AsyncIterator

import jwt
from aiohttp import web
from livekit.protocol import rtc

from helpers.app_server import running_server
from helpers.net import free_port
from helpers.signal_client import Client
from helpers.tokens import join_token
from helpers.waiting import until
from sfu.api import RoomClient


@contextlib.asynccontextmanager
async def receiver(hang: bool = False) -> AsyncIterator[tuple[str, list[dict]]]:
    """(url, [{'event': WebhookEvent JSON, 'claims': verified token claims, 'body_ok': bool}])"""
    got: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if hang:
            await asyncio.sleep(3600)
        with warnings.catch_warnings():      # the dev secret is short
            warnings.simplefilter("ignore")
            claims = jwt.decode(request.headers["Authorization"], "secret", algorithms=["HS256"])
        got.append({"event": json.loads(body), "claims": claims, "content_type": request.content_type,
                    "body_ok": base64.b64decode(claims["sha256"]) == hashlib.sha256(body).digest()})
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook", got
    finally:
        await runner.cleanup()


async def test_room_and_participant_events_are_signed_and_in_order():
    async with receiver() as (url, got), \
            running_server(webhook_urls=[url], webhook_api_key="devkey") as srv:
        async with Client(srv, join_token("alice", "w")) as a:
            await a.next("join")
            await a.send(rtc.SignalRequest(leave=rtc.LeaveRequest()))
            await asyncio.sleep(0.2)
        async with RoomClient(f"http://127.0.0.1:{srv.settings.port}", "devkey", "secret") as api:
            await api.delete_room("w")
        await until(lambda: any(g["event"]["event"] == "room_finished" for g in got), 10, "room_finished")
    names = [(g["event"]["event"], g["event"].get("participant", {}).get("identity")) for g in got]
    assert names == [("room_started", None), ("participant_connection_aborted", "alice"), ("room_finished", None)]
    for g in got:
        assert g["body_ok"] and g["claims"]["iss"] == "devkey" and g["content_type"] == "application/webhook+json"
        assert g["event"]["room"]["name"] == "w" and g["event"]["id"].startswith("EV_")
        assert 0 < g["claims"]["exp"] - time.time() <= 300
    assert got[-1]["event"]["roomEndReason"] == "ROOM_END_API_DELETE"
    assert srv.webhooks.stats()["sent"] == 3


async def test_a_receiver_that_hangs_delays_no_room():
    async with receiver(hang=True) as (url, _), \
            running_server(webhook_urls=[url], webhook_api_key="devkey") as srv:
        joined = []
        for i in range(5):               # each join starts a room: a webhook that never returns
            t0 = time.monotonic()
            async with Client(srv, join_token(f"p{i}", f"room-{i}")) as c:
                await c.next("join", timeout=3.0)
            joined.append(time.monotonic() - t0)
        # the events wait in their rooms' queues (one request in flight each), not in the rooms
        assert srv.webhooks.stats()["queued"] >= 5
        # the receiver holds every request open for good: a join that waited for one would
        # take its whole 3 s timeout; none comes near
        assert max(joined) < 1.0, joined
