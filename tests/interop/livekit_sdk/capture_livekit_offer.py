"""Capture SDP from the livekit rtc SDK (libwebrtc inside).

Not a test: a helper to refresh ``data/livekit_publisher_offer.sdp`` and
``data/livekit_subscriber_answer.sdp``.

Publisher offer mode (default):
The SDK (libwebrtc inside) sends ``GET /rtc/v1?join_request=<base64url WrappedJoinRequest>``;
the wrapped JoinRequest is usually gzip-compressed and carries ``publisher_offer``. The offer has
no candidates (trickle ICE), so no network namespace is needed just to read it.

Usage (the SDK may live in another virtualenv than the one running this server)::

    python tests/interop/livekit_sdk/capture_livekit_offer.py --out OUT.sdp --client /path/to/python

The server answers 404 to every request after capturing, so the client gives up.

Subscriber answer mode (``--subscriber-offer OFFER.sdp``): ``/rtc/v1`` answers 404, so the SDK
falls back to ``/rtc``; the server sends a JoinResponse with ``subscriber_primary=true`` and then
the given offer, and writes the SDK's answer (libwebrtc accepting our subscriber offer).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

from aiohttp import web
from livekit.protocol import rtc as lk_rtc

from sfu.auth import KeyProvider, VideoGrant
from sfu.signaling.join import decode_join_request

CLIENT_SNIPPET = """
import asyncio, sys
from livekit import rtc

async def main(url, token):
    room = rtc.Room()
    try:
        await asyncio.wait_for(room.connect(url, token), 8)
    except Exception as exc:
        print("connect ended:", type(exc).__name__, exc)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def make_token(key: str = "devkey", secret: str = "secret" * 6) -> str:
    return KeyProvider({key: secret}).create(key, identity="capture", ttl=600,
                                             video=VideoGrant(roomJoin=True, room="capture"))


def join_response(name: str = "capture", subscriber_primary: bool = True) -> lk_rtc.JoinResponse:
    """the fields the SDK needs (a missing room or ping_interval 0 crashes it)"""
    from livekit.protocol import models

    return lk_rtc.JoinResponse(
        room=models.Room(sid=f"RM_{name}", name=name),
        participant=models.ParticipantInfo(
            sid=f"PA_{name}",
            identity=name,
            state=models.ParticipantInfo.JOINED,
            permission=models.ParticipantPermission(can_subscribe=True, can_publish=True, can_publish_data=True),
        ),
        server_version="1.0.0",
        server_info=models.ServerInfo(version="1.0.0", protocol=16),
        subscriber_primary=subscriber_primary,
        ping_interval=5,
        ping_timeout=15,
    )


async def run(out: Path, client_python: str, port: int, subscriber_offer: str | None = None) -> int:
    captured: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handler(request: web.Request) -> web.StreamResponse:
        print("request", request.method, request.path)
        value = request.query.get("join_request")
        if subscriber_offer is None:
            if value and not captured.done():
                join = decode_join_request(value)
                captured.set_result(join.publisher_offer.sdp)
            return web.Response(status=404)
        if request.path != "/rtc" or captured.done():
            return web.Response(status=404)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_bytes(lk_rtc.SignalResponse(join=join_response()).SerializeToString())
        offer = lk_rtc.SessionDescription(type="offer", sdp=subscriber_offer, id=1)
        await ws.send_bytes(lk_rtc.SignalResponse(offer=offer).SerializeToString())
        async for msg in ws:
            if msg.type != 2:  # aiohttp.WSMsgType.BINARY
                continue
            req = lk_rtc.SignalRequest.FromString(msg.data)
            if req.HasField("answer") and not captured.done():
                captured.set_result(req.answer.sdp)
                break
            if req.HasField("ping_req"):
                pong = lk_rtc.Pong(last_ping_timestamp=req.ping_req.timestamp, timestamp=int(time.time() * 1000))
                await ws.send_bytes(lk_rtc.SignalResponse(pong_resp=pong).SerializeToString())
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    proc = await asyncio.create_subprocess_exec(
        client_python,
        "-c",
        CLIENT_SNIPPET,
        f"ws://127.0.0.1:{port}",
        make_token(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        sdp = await asyncio.wait_for(captured, 20)
    finally:
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if not captured.done() and proc.stdout is not None:
            print((await proc.stdout.read()).decode(errors="replace")[-3000:])
        await runner.cleanup()
    out.write_text(sdp.replace("\r\n", "\n"))
    print(f"wrote {out} ({len(sdp)} bytes)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--client", default=sys.executable, help="python with the livekit SDK")
    parser.add_argument("--port", type=int, default=17880)
    parser.add_argument("--subscriber-offer", type=Path, help="send this offer, capture the answer")
    args = parser.parse_args()
    offer = (
        args.subscriber_offer.read_text().replace("\r\n", "\n").replace("\n", "\r\n") if args.subscriber_offer else None
    )
    return asyncio.run(run(args.out, args.client, args.port, offer))


if __name__ == "__main__":
    raise SystemExit(main())
