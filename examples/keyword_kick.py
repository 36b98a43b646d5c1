"""A server in this process that removes any participant whose data message contains a
keyword.

    python examples/keyword_kick.py [--keyword spam] [--host 127.0.0.1] [--port 7880] [--duration S]

Clients connect to ws://HOST:PORT with a token signed by devkey/secret (`sfu token create`).
"""

from __future__ import annotations

import argparse
import asyncio

import sfu.control


async def main(keyword: str, host: str, port: int, duration: float) -> None:
    async with sfu.control.embed(bind=[host], node_ip=host, port=port) as server:

        async def moderate(event: sfu.control.Event) -> None:
            if keyword.encode() in event.data:
                print(f"removing {event.participant.identity} from {event.room.name}: said {keyword!r}", flush=True)
                await server.rooms.remove_participant(event.room.name, event.participant.identity)

        async def show_members() -> None:
            async for event in server.events("participant_joined", "participant_left"):
                print(f"{event.name}: {event.participant.identity} in {event.room.name}", flush=True)

        server.on("data_received", moderate)
        members = asyncio.ensure_future(show_members())
        print(f"ready: {server.url}", flush=True)
        await (asyncio.sleep(duration) if duration else asyncio.Event().wait())
        members.cancel()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="remove participants whose data messages contain a keyword")
    p.add_argument("--keyword", default="spam")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7880)
    p.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (default: until Ctrl-C)")
    a = p.parse_args()
    try:
        asyncio.run(main(a.keyword, a.host, a.port, a.duration))
    except KeyboardInterrupt:
        pass
