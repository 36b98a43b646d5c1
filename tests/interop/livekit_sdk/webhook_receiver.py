"""An HTTP server that checks every webhook with livekit-api's WebhookReceiver (run with the
client virtualenv's Python) and prints one JSON line per request.  The first FAIL requests are
answered 503 before being looked at, so the sender's retries are exercised.

    python webhook_receiver.py HOST PORT API_KEY API_SECRET FAIL
"""

import asyncio
import json
import sys

from aiohttp import web
from livekit.api import TokenVerifier, WebhookReceiver


async def main(host: str, port: int, key: str, secret: str, fail: int) -> None:
    receiver = WebhookReceiver(TokenVerifier(key, secret))
    seen = {"n": 0}

    async def hook(request: web.Request) -> web.Response:
        body = await request.text()
        seen["n"] += 1
        line = {"content_type": request.headers.get("Content-Type", "")}
        if seen["n"] <= fail:
            line["status"] = 503
        else:
            try:
                ev = receiver.receive(body, request.headers.get("Authorization", ""))
                line.update(status=200, event=ev.event, id=ev.id, room=ev.room.name, room_sid=ev.room.sid,
                            participant=ev.participant.identity, track=ev.track.sid,
                            track_type=ev.track.type if ev.HasField("track") else None,
                            end_reason=ev.room_end_reason)
            except Exception as e:  # noqa: BLE001 - every failure is the answer
                line.update(status=401, error=str(e))
        print(json.dumps(line), flush=True)
        return web.Response(status=line["status"])

    app = web.Application()
    app.router.add_post("/", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(json.dumps({"listening": port}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])))
