"""Webhooks with real receivers: the server (webhook.urls = a livekit-api WebhookReceiver in
Python and a livekit-server-sdk WebhookReceiver in Node) hosts a call of unmodified livekit rtc
SDK participants, a participant that leaves before it is connected, and a room deleted through
the API.  Runs in a private network namespace like scenarios.py:

    unshare -n python -m interop.livekit_sdk.webhook_scenario      (from tests/)

Prints one JSON summary on the last line: each receiver's lines, in arrival order.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
from livekit.protocol import rtc

from helpers.netns import SERVER_IP, add_veth
from helpers.sdk_client import client, result
from helpers.sdk_venvs import CLIENT_PYTHON
from helpers.sfu_server import SfuServer, token

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE.parent / "node_server_sdk"
PORT = 7880
PY_PORT, NODE_PORT = 8801, 8802
FAIL_FIRST = 2           # the Python receiver answers 503 to its first requests


class Receiver:
    """a receiver process; its JSON lines collected as they come"""

    def __init__(self, cmd: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[dict] = []
        self.other: list[str] = []
        self.listening = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                self.other.append(raw.rstrip()[:300])
                continue
            if "listening" in line:
                self.listening.set()
            else:
                self.lines.append(line)

    def events(self) -> list[dict]:
        return [ln for ln in self.lines if ln.get("status") == 200]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


async def ghost(url: str) -> None:
    """joins (signalling only) and leaves before any PeerConnection is up"""
    async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/rtc?access_token={token('ghost')}") as ws:
        msg = await ws.receive_bytes(timeout=10)
        assert rtc.SignalResponse.FromString(msg).HasField("join")
        await ws.send_bytes(rtc.SignalRequest(leave=rtc.LeaveRequest()).SerializeToString())
        await asyncio.sleep(0.5)


async def delete_room(http_url: str) -> None:
    from sfu.api import RoomClient

    async with RoomClient(http_url, "devkey", "secret") as api:
        await api.delete_room("room")


def wait_for(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def main() -> dict:
    add_veth()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(f"webhook:\n  api_key: devkey\n  urls:\n    - http://{SERVER_IP}:{PY_PORT}/\n"
                f"    - http://{SERVER_IP}:{NODE_PORT}/\n")
        config = f.name
    py = Receiver([CLIENT_PYTHON, str(HERE / "webhook_receiver.py"), SERVER_IP, str(PY_PORT), "devkey", "secret",
                   str(FAIL_FIRST)], HERE)
    node = Receiver(["node", "webhook_receiver.mjs", SERVER_IP, str(NODE_PORT), "devkey", "secret"], NODE_DIR)
    out: dict = {}
    try:
        for r in (py, node):
            if not r.listening.wait(20):
                raise RuntimeError(f"webhook receiver did not start: {r.other[-5:]}")
        server = SfuServer(SERVER_IP, PORT, workers=1, extra=["--config", config],
                           log_path="/tmp/sfu-webhook-server.log")
        try:
            bob = client(token("bob"), "publisher", 6, f"ws://{SERVER_IP}:{PORT}", freq=660, color=[20, 40, 220])
            time.sleep(1.0)
            alice = client(token("alice"), "subscriber", 4, f"ws://{SERVER_IP}:{PORT}")
            asyncio.run(ghost(f"ws://{SERVER_IP}:{PORT}"))
            out["bob"], out["alice"] = result(bob), result(alice)
            asyncio.run(delete_room(server.http_url))
            done = lambda r: any(e["event"] == "room_finished" for e in r.events())  # noqa: E731
            out["all_delivered"] = wait_for(lambda: done(py) and done(node), 20)
        finally:
            out["server_log_tail"] = server.stop()[-3000:]
    finally:
        for r in (py, node):
            r.stop()
        os.unlink(config)
    out["python"], out["node"] = py.lines, node.lines
    out["receiver_output"] = py.other[-10:] + node.other[-10:]
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
    sys.stdout.flush()
