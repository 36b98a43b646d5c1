"""End to end with the unmodified livekit rtc SDK (libwebrtc: BoringSSL DTLS, dcsctp).

Run by tests/interop/test_livekit_rtc_sdk_sansio.py inside a fresh network namespace (``unshare -n``): libwebrtc
ignores loopback, so this script adds a veth pair (10.99.0.1 <-> 10.99.0.2) that exists only in
that namespace. A minimal ``/rtc/v1`` signalling endpoint takes the publisher offer out of the
join request, answers it with ``sdp.build_answer`` and serves ICE-lite, DTLS and data channels
with the sans-IO objects through ``helpers.sansio_peer.SansIoPeer``. The SDK process connects, publishes one
reliable and one lossy data packet, then leaves. A JSON summary is printed on the last line.

Usage: python -m interop.livekit_sdk.sansio_scenario CLIENT_PYTHON   (from tests/, sfu importable)
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

from aiohttp import WSMsgType, web
from livekit.protocol import models
from livekit.protocol import rtc as lk_rtc

from .capture_livekit_offer import decode_join_request, join_response, make_token
from helpers.sansio_peer import SansIoPeer

SERVER_IP = "10.99.0.1"
CLIENT_IP = "10.99.0.2"
PORT = 7880

CLIENT = """
import asyncio, sys
from livekit import rtc

async def main(url, token):
    room = rtc.Room()
    got = asyncio.Event()

    @room.on("data_received")
    def on_data(packet):
        print("DATA_RECEIVED", packet.data, flush=True)
        got.set()

    await room.connect(url, token)
    print("CONNECTED", flush=True)
    await room.local_participant.publish_data(b"hello-reliable", reliable=True, topic="e2e")
    await room.local_participant.publish_data(b"hello-lossy", reliable=False, topic="e2e")
    try:
        await asyncio.wait_for(got.wait(), 3)
    except asyncio.TimeoutError:
        print("NO_DATA_FROM_SERVER", flush=True)
    await room.disconnect()
    print("DISCONNECTED", flush=True)

asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]), 30))
"""


def setup_network() -> None:
    for cmd in (
        "ip link set lo up",
        "ip link add sfu0 type veth peer name sfu1",
        f"ip addr add {SERVER_IP}/24 dev sfu0",
        f"ip addr add {CLIENT_IP}/24 dev sfu1",
        "ip link set sfu0 up",
        "ip link set sfu1 up",
    ):
        subprocess.run(cmd.split(), check=True)


async def main(client_python: str) -> dict:
    summary: dict = {"trickles": 0, "channels": [], "packets": [], "errors": []}
    peers: list[SansIoPeer] = []

    async def rtc_v1(request: web.Request) -> web.StreamResponse:
        join = decode_join_request(request.query["join_request"])

        def on_message(channel, message):
            entry = {"label": channel.label, "raw_len": len(message)}
            try:
                packet = models.DataPacket.FromString(message if isinstance(message, bytes) else message.encode())
                entry["payload"] = packet.user.payload.decode(errors="replace")
                entry["topic"] = packet.user.topic
            except Exception as exc:  # noqa: BLE001 - recorded for the report
                entry["error"] = repr(exc)
            summary["packets"].append(entry)
            if channel.label == "_reliable" and not summary.get("echoed"):
                summary["echoed"] = True
                reply = models.DataPacket(
                    kind=models.DataPacket.RELIABLE,
                    participant_identity="server",
                    user=models.UserPacket(payload=b"from-server", topic="e2e"),
                )
                channel.send(reply.SerializeToString())

        def on_channel(channel):
            summary["channels"].append(
                {
                    "label": channel.label,
                    "ordered": channel.ordered,
                    "maxRetransmits": channel.maxRetransmits,
                    "id": channel.id,
                }
            )

        ws = web.WebSocketResponse()
        await ws.prepare(request)
        peer = await SansIoPeer.create(host=SERVER_IP, with_data_channels=True)
        peers.append(peer)
        peer.on_message = on_message
        peer.on_channel = on_channel
        answer_sdp = peer.answer_offer(join.publisher_offer.sdp)
        summary["offer_mids"] = [m.mid for m in peer.answer.media]
        await ws.send_bytes(lk_rtc.SignalResponse(join=join_response("e2e", subscriber_primary=False)).SerializeToString())
        answer = lk_rtc.SessionDescription(type="answer", sdp=answer_sdp, id=join.publisher_offer.id)
        await ws.send_bytes(lk_rtc.SignalResponse(answer=answer).SerializeToString())

        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                continue
            req = lk_rtc.SignalRequest.FromString(msg.data)
            if req.HasField("ping_req"):
                pong = lk_rtc.Pong(last_ping_timestamp=req.ping_req.timestamp, timestamp=int(time.time() * 1000))
                await ws.send_bytes(lk_rtc.SignalResponse(pong_resp=pong).SerializeToString())
            elif req.HasField("trickle"):
                summary["trickles"] += 1
            elif req.HasField("leave"):
                break
        return ws

    setup_network()
    app = web.Application()
    app.router.add_get("/rtc/v1", rtc_v1)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, SERVER_IP, PORT).start()

    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        client_python,
        "-c",
        CLIENT,
        f"ws://{SERVER_IP}:{PORT}",
        make_token(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines = []
    assert proc.stdout is not None
    async for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip()
        lines.append(line)
        if line == "CONNECTED":
            summary["connect_seconds"] = round(time.monotonic() - started, 3)
    await proc.wait()
    summary["client_rc"] = proc.returncode
    summary["client_markers"] = [
        ln for ln in lines if ln.split(" ")[0] in ("CONNECTED", "DATA_RECEIVED", "NO_DATA_FROM_SERVER", "DISCONNECTED")
    ]
    summary["client_tail"] = lines[-15:]
    # keep the per-channel details for the channels the client opened
    if peers:
        peer = peers[0]
        summary["ice_state"] = peer.agent.state.value
        summary["selected"] = peer.agent.selected
        summary["dtls_role"] = peer.dtls.role.value if peer.dtls else None
        connected = [e for e in peer.events if type(e).__name__ == "DtlsConnected"]
        summary["srtp_profile"] = connected[0].profile.name if connected else None
        summary["dtls_failed"] = [e.reason for e in peer.events if type(e).__name__ == "DtlsFailed"]
        summary["sctp_errors"] = peer.sctp.errors if peer.sctp else None
        await peer.close()
    await runner.cleanup()
    return summary


if __name__ == "__main__":
    result = asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
    print(json.dumps(result, default=str))
