"""Dispatch an agent with the unmodified livekit-api package (run with the client venv's Python).

    python lkdispatch.py URL API_KEY API_SECRET AGENT_NAME ROOM METADATA

Prints one JSON line: the created dispatch and what list_dispatch returns.
"""

import asyncio
import json
import sys

from livekit import api


async def main(url: str, key: str, secret: str, agent_name: str, room: str, metadata: str) -> None:
    async with api.LiveKitAPI(url, key, secret) as lk:
        d = await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
            agent_name=agent_name, room=room, metadata=metadata))
        listed = await lk.agent_dispatch.list_dispatch(room_name=room)
        print(json.dumps({"created": {"id": d.id, "agent_name": d.agent_name, "room": d.room,
                                      "metadata": d.metadata},
                          "listed": [{"id": x.id, "agent_name": x.agent_name, "metadata": x.metadata}
                                     for x in listed]}))


asyncio.run(main(*sys.argv[1:7]))
