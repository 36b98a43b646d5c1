"""Real-client scenarios, run inside a private network namespace (`unshare -n`).

libwebrtc ignores loopback, so each run adds a veth pair (10.99.0.1 <-> 10.99.0.2)
that exists only in its namespace, starts the server on 10.99.0.1 and the
livekit rtc SDK participants (tests/helpers/sdk_client/lkclient.py, client venv) against it.

    unshare -n python -m interop.livekit_sdk.scenarios NAME      (from tests/)

Prints one JSON summary on the last line.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from sfu.auth import KeyProvider, VideoGrant

from helpers.netns import SERVER_IP, add_veth
from helpers.sdk_client import client as _client, parse_result, result  # noqa: F401
from helpers.sfu_server import SfuServer, token

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PORT = 7880
URL = f"ws://{SERVER_IP}:{PORT}"


class Server(SfuServer):
    def __init__(self, workers: int = 2, v1: bool = True, port: int = PORT, extra: list[str] | None = None,
                 log_path: str | None = None) -> None:
        super().__init__(SERVER_IP, port, workers=workers, single_pc=v1, extra=extra,
                         log_path=log_path or ("/tmp/sfu-rtc-server.log" if port == PORT
                                               else f"/tmp/sfu-rtc-server-{port}.log"))


def client(tok: str, role: str, seconds: float, url: str = URL, **kw):
    """helpers.sdk_client.client with this module's server URL as the default"""
    return _client(tok, role, seconds, url, **kw)


def stats_brief(server: Server) -> list:
    return [{"worker": w["worker"], "drops": w["stats"]["drops"], "tx": w["stats"]["tx_packets"],
             "rx": w["stats"]["rx_packets"], "ring_tx": w["stats"]["ring_tx"], "rtcp_sent": w["stats"]["rtcp_sent"],
             "nacks": w["stats"]["nacks"], "retransmits": w["stats"]["retransmits"]}
            for w in server.stats()["workers"]]


# ---------------------------------------------------------------------------- scenarios

def media(v1: bool = True) -> dict:
    """two participants: alice publishes sine + pattern and data; bob receives and sends data;
    carol joins late and must get the tracks; dave has no publish grant."""
    server = Server(v1=v1)
    try:
        # carol needs 3.5 s of both: alice's 12 s leave room for a slow client start
        bob = client(token("bob"), "both", 14, freq=660, color=[20, 40, 220])
        time.sleep(1.0)
        alice = client(token("alice"), "both", 12, freq=440, color=[200, 30, 30])
        time.sleep(5.0)
        # mid-call: the transports whose sent packets are numbered and estimated (send-side BWE)
        bwe_transports = sum(len(w.get("bwe") or {}) for w in server.stats()["workers"])
        carol = client(token("carol"), "subscriber", 5)
        dave = client(token("dave", canPublish=False), "publish-denied", 3)
        eve = client(token("eve", canPublishData=False), "data", 3)      # her data must go nowhere
        frank = client(token("frank", canSubscribe=False), "subscriber", 3)
        results = {"bob": result(bob), "alice": result(alice), "carol": result(carol), "dave": result(dave),
                   "eve": result(eve), "frank": result(frank)}
        results["server_stats"] = stats_brief(server)
        results["bwe_transports"] = bwe_transports
    finally:
        results_log = server.stop()
    results["server_log_tail"] = results_log[-3000:]
    return results


def lifecycle(v1: bool = True) -> dict:
    """mute/unmute, signal resume on both sides, unsubscribe/resubscribe, unpublish, leave"""
    server = Server(v1=v1)
    try:
        bob = client(token("bob"), "subscriber", 15, actions=[
            {"at": 5.5, "do": "resume"},
            {"at": 9.5, "do": "unsubscribe", "track": "alice/audio"},
            {"at": 10.5, "do": "subscribe", "track": "alice/audio"}])
        time.sleep(0.5)
        alice = client(token("alice"), "publisher", 13, actions=[
            {"at": 2.5, "do": "mute", "track": "audio"},
            {"at": 3.5, "do": "unmute", "track": "audio"},
            {"at": 4.5, "do": "resume"},
            {"at": 12.0, "do": "unpublish", "track": "video"}])
        out = {"alice": result(alice), "bob": result(bob), "server_stats": stats_brief(server)}
    finally:
        log = server.stop()
    out["server_log_tail"] = log[-4000:]
    return out


def rpc(v1: bool = True) -> dict:
    """RPC both ways: each registers "echo", calls the other and gets its answer"""
    server = Server(v1=v1)
    try:
        bob = client(token("bob"), "subscriber", 6, rpc=True, actions=[{"at": 3.0, "do": "rpc", "track": "alice"}])
        alice = client(token("alice"), "subscriber", 6, rpc=True, actions=[{"at": 2.0, "do": "rpc", "track": "bob"}])
        out = {"alice": result(alice), "bob": result(bob)}
    finally:
        log = server.stop()
    out["server_log_tail"] = log[-3000:]
    return out


def simulcast() -> dict:
    """a simulcast publisher; the subscriber asks for the low layer, then the high one"""
    server = Server()
    try:
        bob = client(token("bob"), "subscriber", 12, actions=[
            {"at": 5.0, "do": "quality", "track": "alice/video", "quality": 0},
            {"at": 8.5, "do": "quality", "track": "alice/video", "quality": 2}])
        time.sleep(0.5)
        # the layers' sizes are what is checked: the publisher keeps them when short of CPU
        alice = client(token("alice"), "publisher", 11, simulcast=True, width=1280, height=720, bitrate=2_500_000,
                       degradation="maintain_resolution")
        out = {"alice": result(alice), "bob": result(bob), "server_stats": stats_brief(server)}
    finally:
        whole = server.log_tail(2_000_000)
        log = server.stop()
    out["server_log_tail"] = log[-4000:]
    # why the subscriber is on the layer it is on: layer activity, switches, downlink estimates
    out["layer_log"] = [ln for ln in whole.splitlines() if " layer " in ln or "downlink" in ln or "probe" in ln][-60:]
    return out


def bad_input() -> dict:
    """garbage frames, bad tokens, malformed SDP: clear errors, other rooms keep going"""
    server = Server()
    out: dict = {}
    try:
        # a healthy room that must not notice anything
        watcher = client(token("watcher", room="healthy"), "subscriber", 10)
        time.sleep(0.5)
        source = client(token("source", room="healthy"), "publisher", 9)
        time.sleep(3.0)
        out.update(asyncio.run(_abuse()))
        out["healthy_watcher"] = result(watcher)
        out["healthy_source"] = result(source)
        out["server_stats"] = stats_brief(server)
    finally:
        log = server.stop()
    out["server_log_tail"] = log[-3000:]
    return out


async def _abuse() -> dict:
    from livekit.protocol import rtc as lk
    out: dict = {}
    http = f"http://{SERVER_IP}:{PORT}"
    async with aiohttp.ClientSession() as s:
        # wrong token: the upgrade is refused with 401 and validate says why
        try:
            await s.ws_connect(f"{URL}/rtc?protocol=16", headers={"Authorization": "Bearer nonsense"})
            out["bad_token_status"] = 101
        except aiohttp.WSServerHandshakeError as e:
            out["bad_token_status"] = e.status
        bad = KeyProvider({"devkey": "wrong-secret"}).create("devkey", identity="x",
                                                             video=VideoGrant(roomJoin=True, room="abuse"))
        async with s.get(f"{http}/rtc/validate", headers={"Authorization": f"Bearer {bad}"}) as r:
            out["validate_status"], out["validate_text"] = r.status, await r.text()
        async with s.get(f"{http}/rtc/validate", headers={"Authorization": f"Bearer {token('x', 'abuse')}"}) as r:
            out["validate_ok"] = (r.status, await r.text())
        # garbage binary frame after a good join
        ws = await s.ws_connect(f"{URL}/rtc?protocol=16", headers={"Authorization": f"Bearer {token('g1', 'abuse')}"})
        first = await ws.receive(timeout=5)
        join = lk.SignalResponse.FromString(first.data)
        out["garbage_join_ok"] = join.WhichOneof("message") == "join"
        await ws.send_bytes(b"\xff\x00\xfe garbage \x01")
        msgs = []
        while True:
            m = await ws.receive(timeout=5)
            if m.type != aiohttp.WSMsgType.BINARY:
                out["garbage_close"] = [str(m.type), ws.close_code]
                break
            msgs.append(lk.SignalResponse.FromString(m.data).WhichOneof("message"))
        out["garbage_responses"] = msgs
        # a text frame that is not JSON
        ws = await s.ws_connect(f"{URL}/rtc?protocol=16", headers={"Authorization": f"Bearer {token('g2', 'abuse')}"})
        await ws.receive(timeout=5)
        await ws.send_str("{this is not json")
        while True:
            m = await ws.receive(timeout=5)
            if m.type != aiohttp.WSMsgType.BINARY and m.type != aiohttp.WSMsgType.TEXT:
                out["badjson_close"] = ws.close_code
                break
        # malformed SDP in an offer: the session gets a request_response error and stays up
        ws = await s.ws_connect(f"{URL}/rtc?protocol=16", headers={"Authorization": f"Bearer {token('g3', 'abuse')}"})
        await ws.receive(timeout=5)
        bad_offer = lk.SignalRequest(offer=lk.SessionDescription(type="offer", sdp="v=0\r\nthis is not sdp", id=1))
        await ws.send_bytes(bad_offer.SerializeToString())
        got = []
        end = time.monotonic() + 5
        while time.monotonic() < end:
            m = await ws.receive(timeout=5)
            if m.type != aiohttp.WSMsgType.BINARY:
                break
            resp = lk.SignalResponse.FromString(m.data)
            got.append(resp.WhichOneof("message"))
            if resp.WhichOneof("message") == "request_response":
                out["bad_sdp_reason"] = lk.RequestResponse.Reason.Name(resp.request_response.reason)
                out["bad_sdp_message"] = resp.request_response.message
                break
        # the session still answers pings afterwards
        await ws.send_bytes(lk.SignalRequest(ping_req=lk.Ping(timestamp=123)).SerializeToString())
        end = time.monotonic() + 5
        while time.monotonic() < end:
            m = await ws.receive(timeout=5)
            resp = lk.SignalResponse.FromString(m.data)
            if resp.WhichOneof("message") == "pong_resp":
                out["pong_after_bad_sdp"] = resp.pong_resp.last_ping_timestamp
                break
        await ws.close()
        # garbage UDP at the media port
        import socket
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(200):
            u.sendto(bytes([0x80 + (i % 64)]) + os.urandom(i % 300), (SERVER_IP, 7882))
            u.sendto(struct.pack("!HHI", 1, 4, 0x2112A442) + os.urandom(12 + i % 40), (SERVER_IP, 7883))
        out["udp_garbage_sent"] = 400
    return out


def server_api() -> dict:
    """the server API against real clients: SendData (to all, to one), MutePublishedTrack
    and RemoveParticipant while alice publishes and bob receives"""
    server = Server()
    try:
        bob = client(token("bob"), "subscriber", 12)
        time.sleep(0.5)
        alice = client(token("alice"), "publisher", 14)
        time.sleep(4.5)
        api = asyncio.run(_api_calls())
        out = {"api": api, "alice": result(alice), "bob": result(bob)}
    finally:
        log = server.stop()
    out["server_log_tail"] = log[-3000:]
    return out


async def _api_calls() -> dict:
    from livekit.protocol import models

    from sfu.api import RoomClient

    out: dict = {}
    async with RoomClient(f"http://{SERVER_IP}:{PORT}", "devkey", "secret") as api:
        parts = {p.identity: p for p in await api.list_participants("room")}
        out["participants"] = sorted(parts)
        audio = next(t.sid for t in parts["alice"].tracks if t.type == models.TrackType.AUDIO)
        await api.send_data("room", b"api-all", topic="api")
        await api.send_data("room", b"api-bob", topic="api", destination_identities=["bob"])
        await api.send_data("room", b"api-nobody", topic="api", destination_identities=["carol"])
        track = await api.mute_published_track("room", "alice", audio, muted=True)
        out["muted"] = {"sid": track.sid, "muted": track.muted, "audio": audio}
        await asyncio.sleep(1.5)
        await api.remove_participant("room", "alice")
        out["after_remove"] = sorted(p.identity for p in await api.list_participants("room"))
    return out


def start_redis(rport: int = 6390) -> tuple[subprocess.Popen, str, "redis.Redis"]:  # noqa: F821
    import redis

    rp = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{rport}/0"
    r = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return rp, url, r


def node_ids(r, count: int, timeout: float = 10) -> dict[str, str]:
    """port -> node id of the `count` nodes registered in redis"""
    nodes: dict[str, str] = {}
    end = time.monotonic() + timeout
    while len(nodes) < count and time.monotonic() < end:
        nodes = {json.loads(v)["url"].rsplit(":", 1)[1]: k.decode() for k, v in r.hgetall("sfu:nodes").items()}
        time.sleep(0.1)
    return nodes


def cluster_media() -> dict:
    """two nodes sharing a redis-server; the room is placed on node B; bob
    signals through node A (relayed over Redis), alice straight to B; media
    flows between both and B's workers"""
    rp, url, r = start_redis()
    out: dict = {}
    a = Server(workers=1, extra=["--redis", url, "--udp-port", "7882"])
    b = Server(workers=1, port=PORT + 10, extra=["--redis", url, "--udp-port", "7892"])
    try:
        b_id = node_ids(r, 2)[str(PORT + 10)]
        r.hset("sfu:room_node", "room", b_id)
        bob = client(token("bob"), "both", 12, freq=660, color=[20, 40, 220])                    # via A
        time.sleep(1.0)
        alice = client(token("alice"), "both", 10, url=f"ws://{SERVER_IP}:{PORT + 10}", freq=440,
                       color=[200, 30, 30])                                                       # on B
        out = {"bob": result(bob), "alice": result(alice), "b_id": b_id,
               "a_stats": stats_brief(a), "b_stats": stats_brief(b)}
    finally:
        out["a_log_tail"] = a.stop()[-3000:]
        out["b_log_tail"] = b.stop()[-3000:]
        rp.kill()
        rp.wait()
    return out


FAILOVER_KILL_AT = 6.0          # s after both clients connected
FAILOVER_CLIENT_SECONDS = 30.0  # each client's session after connecting


def cluster_failover() -> dict:
    """three nodes sharing a redis-server; the room is placed on node B; bob
    signals through node A, alice through node C (both relayed to B, as if
    behind a load balancer); both publish a sine and hear each other.  Then
    node B is SIGKILLed: the unmodified SDKs must find their way back by
    themselves (through A and C), into the room re-created on a survivor,
    republish, and hear each other again."""
    rp, url, r = start_redis()
    out: dict = {}
    a = Server(workers=1, extra=["--redis", url, "--udp-port", "7882"])
    b = Server(workers=1, port=PORT + 10, extra=["--redis", url, "--udp-port", "7892"])
    c = Server(workers=1, port=PORT + 20, extra=["--redis", url, "--udp-port", "7902"])
    try:
        ids = node_ids(r, 3)
        b_id = ids[str(PORT + 10)]
        out["nodes"] = {"a": ids[str(PORT)], "b": b_id, "c": ids[str(PORT + 20)]}
        r.hset("sfu:room_node", "room", b_id)
        log = os.environ.get("SFU_TEST_CLIENT_LOG", "info")
        bob = client(token("bob"), "both", FAILOVER_CLIENT_SECONDS, freq=660, color=[20, 40, 220], log=log)
        alice = client(token("alice"), "both", FAILOVER_CLIENT_SECONDS, url=f"ws://{SERVER_IP}:{PORT + 20}",
                       freq=440, color=[200, 30, 30], log=log)
        t_start = time.monotonic()
        out["b_participants_before"] = _wait_participants(b, {"bob", "alice"}, 15)
        time.sleep(FAILOVER_KILL_AT)
        out["b_stats"] = stats_brief(b)
        b.proc.kill()                                     # SIGKILL: no deregistration, workers die with it
        t_kill = time.monotonic()
        b.proc.wait()
        out["kill_at"] = t_kill - t_start
        gone = None
        while time.monotonic() < t_kill + 15:
            if r.hget("sfu:nodes", b_id) is None and all(v.decode() != b_id for v in r.hvals("sfu:room_node")):
                gone = time.monotonic() - t_kill
                break
            time.sleep(0.1)
        out["b_gone_s"] = gone
        rejoined, host = None, None
        while time.monotonic() < t_kill + 40:
            v = r.hget("sfu:room_node", "room")
            host = v.decode() if v is not None else None
            srv = a if host == ids[str(PORT)] else c if host == ids[str(PORT + 20)] else None
            if srv is not None and _participants(srv) >= {"bob", "alice"}:
                rejoined = time.monotonic() - t_kill
                break
            time.sleep(0.2)
        out["rejoined_s"], out["new_host"] = rejoined, host
        grep = ("reconnect", "resum", "restart", "leave", "signal", "disconnect", "error", "fail", "join")
        out["bob"] = result(bob, log_grep=grep)
        out["alice"] = result(alice, log_grep=grep)
        if os.environ.get("SFU_TEST_CLIENT_OUT"):
            Path(os.environ["SFU_TEST_CLIENT_OUT"]).write_text(json.dumps({k: out[k] for k in ("bob", "alice")}))
        out["kill_mono"] = t_kill     # CLOCK_MONOTONIC, as the clients' t0_mono
        out["a_stats"] = stats_brief(a)
        out["c_stats"] = stats_brief(c)
    finally:
        out["a_log_tail"] = a.stop()[-4000:]
        out["b_log_tail"] = b.stop()[-2000:]        # killed already: its log
        out["c_log_tail"] = c.stop()[-4000:]
        rp.kill()
        rp.wait()
    return out


def _participants(server: Server) -> set[str]:
    from sfu.api import RoomClient  # noqa: F401 (the Twirp client needs an event loop)

    async def ask() -> set[str]:
        async with RoomClient(f"http://{SERVER_IP}:{server.port}", "devkey", "secret") as api:
            try:
                return {p.identity for p in await api.list_participants("room")}
            except Exception:  # noqa: BLE001 - no room yet
                return set()
    try:
        return asyncio.run(ask())
    except Exception:  # noqa: BLE001 - node not answering
        return set()


def _wait_participants(server: Server, want: set[str], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _participants(server) >= want:
            return True
        time.sleep(0.2)
    return False


if __name__ == "__main__":
    add_veth()
    name = sys.argv[1]
    summary = {"media": media, "bad_input": bad_input, "lifecycle": lifecycle, "simulcast": simulcast,
               "media_v0": lambda: media(v1=False), "lifecycle_v0": lambda: lifecycle(v1=False),
               "rpc": rpc, "rpc_v0": lambda: rpc(v1=False), "server_api": server_api, "cluster_media": cluster_media,
               "cluster_failover": cluster_failover}[name]()
    print(json.dumps(summary))
