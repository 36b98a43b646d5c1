"""A participant that stops reading its signal connection is dropped once it is far behind;
it never holds up what the rest of its room is sent (sfu.signaling.connection)."""

from __future__ import annotations

import asyncio

import aiohttp
from livekit.protocol import rtc

from helpers.app_server import server_fixture
from helpers.signal_client import Client
from helpers.tokens import join_token
from sfu.api import RoomClient
from sfu.signaling.connection import MAX_QUEUED_BYTES

server = server_fixture()
UPDATES = 60
METADATA = "m" * 400_000          # each room update: ~400 kB to everyone


async def test_a_client_that_does_not_read_is_dropped_and_the_others_get_everything(server):
    port = server.settings.port
    async with aiohttp.ClientSession() as s, \
            s.ws_connect(f"ws://127.0.0.1:{port}/rtc?access_token={join_token('sloth', 'r')}",
                         max_msg_size=0) as sloth, \
            Client(server, join_token("reader", "r")) as reader:
        await reader.next("join")
        await sloth.receive(timeout=5)          # its join; then it reads no more

        async def read_all() -> list[str]:
            seen = []
            while len(seen) < UPDATES:
                r = await reader.next("room_update", timeout=10)
                seen.append(r.room_update.room.metadata.split(":", 1)[0])
            return seen
        reading = asyncio.create_task(read_all())
        async with RoomClient(f"http://127.0.0.1:{port}", "devkey", "secret") as api:
            for i in range(UPDATES):
                await asyncio.wait_for(api.update_room_metadata("r", f"{i}:{METADATA}"), 5)
        assert await reading == [str(i) for i in range(UPDATES)]     # every update, in order
        room = server.rooms.manager.get("r")
        sloth_p = room.participants.get("sloth")
        # ~24 MB were sent its way, more than it may fall behind: its connection was dropped
        assert UPDATES * len(METADATA) > 2 * MAX_QUEUED_BYTES
        assert sloth_p is None or sloth_p.conn is None or sloth_p.conn.closed
