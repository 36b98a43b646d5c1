"""Multi-node: joins/s through a node that does not host the room, the
signalling latency a cross-node hop (the Redis relay) adds, and the latency
of dispatching an agent job to a worker on another node.

    python bench/bench_cluster.py [--joins 200] [--concurrency 8] [--pings 500] [--dispatches 100]
                                  [--json out.json]

Starts its own redis-server (free port, no persistence) and two
`sfu serve --redis` processes (1 media worker each).  Every room is placed on
node B.  Clients are raw protobuf WebSocket clients (`/rtc`): a join
completes at the JoinResponse (no media is negotiated), then the client
sends a leave and closes.

  joins     `--joins` joins at `--concurrency`, each with its own identity
            and room, once direct to B and once through A (relayed); joins/s
            and join latency p50/p99
  ping      one participant pinging (ping_req -> pong_resp) `--pings` times,
            sequentially: direct to B, and through A; p50/p99 and the
            difference (the latency the cross-node hop adds)
  dispatch  `--dispatches` CreateDispatch calls to A, one at a time, each for
            a new room placed on A; the time from sending CreateDispatch to
            the JobAssignment arriving at a protocol-level agent worker
            (answers availability at once): the worker on B (cross-node:
            offer, handshake and assignment through Redis), then on A (local)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:  # the installed package, or the source tree with an in-place build
    import sfu._native  # noqa: F401
except ImportError:
    sys.path.insert(0, ROOT)

import aiohttp  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from livekit.protocol import agent  # noqa: E402
from livekit.protocol import rtc as lk  # noqa: E402

from sfu.api.client import AgentDispatchClient  # noqa: E402
from sfu.auth import KeyProvider, VideoGrant  # noqa: E402
from sfu.cluster.registry import AGENT_WORKERS, NODES, NodeRecord  # noqa: E402
from sfu.cluster.room_map import ROOM_NODE  # noqa: E402
import sfu  # noqa: E402

# servers run the same `sfu` this script imported (installed, or the source tree)
PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(sfu.__file__)))

kp = KeyProvider({"devkey": "secret"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"p50": round(statistics.median(xs), 3), "p99": round(xs[min(len(xs) - 1, int(len(xs) * 0.99))], 3),
            "max": round(xs[-1], 3)}


async def join(port: int, room: str, identity: str) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    token = kp.create("devkey", identity=identity, video=VideoGrant(room=room, roomJoin=True))
    s = aiohttp.ClientSession()
    ws = await s.ws_connect(f"ws://127.0.0.1:{port}/rtc?protocol=16&sdk=python",
                            headers={"Authorization": f"Bearer {token}"})
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type != aiohttp.WSMsgType.BINARY:
            raise RuntimeError(f"join of {identity} failed: {msg.type} {msg.extra}")
        if lk.SignalResponse.FromString(msg.data).WhichOneof("message") == "join":
            return s, ws


async def leave(s: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_bytes(lk.SignalRequest(leave=lk.LeaveRequest()).SerializeToString())
    await ws.close()
    await s.close()


async def bench_joins(r: aioredis.Redis, port: int, host: str, tag: str, n: int, conc: int) -> dict:
    rooms = {f"{tag}-{i}": host for i in range(n)}
    await r.hset(ROOM_NODE, mapping=rooms)
    lat: list[float] = []
    sem = asyncio.Semaphore(conc)

    async def one(i: int) -> None:
        async with sem:
            t0 = time.perf_counter()
            s, ws = await join(port, f"{tag}-{i}", f"u{i}")
            lat.append((time.perf_counter() - t0) * 1000)
            await leave(s, ws)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    return {"n": n, "concurrency": conc, "joins_per_s": round(n / wall, 1), "join_ms": pct(lat)}


async def bench_ping(r: aioredis.Redis, port: int, host: str, tag: str, n: int) -> dict:
    await r.hset(ROOM_NODE, f"{tag}-ping", host)
    s, ws = await join(port, f"{tag}-ping", "pinger")
    rtt: list[float] = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            await ws.send_bytes(lk.SignalRequest(ping_req=lk.Ping(timestamp=i)).SerializeToString())
            while True:
                msg = await ws.receive(timeout=5)
                m = lk.SignalResponse.FromString(msg.data)
                if m.WhichOneof("message") == "pong_resp" and m.pong_resp.last_ping_timestamp == i:
                    break
            rtt.append((time.perf_counter() - t0) * 1000)
    finally:
        await leave(s, ws)
    return {"n": n, "rtt_ms": pct(rtt)}


async def bench_dispatch(r: aioredis.Redis, api_port: int, host: str, worker_port: int, worker_node: str,
                         tag: str, n: int) -> dict:
    """CreateDispatch on api_port (rooms on `host`) -> JobAssignment at a worker on worker_port"""
    token = kp.create("devkey", video=VideoGrant(agent=True))
    got: dict[str, asyncio.Future] = {}
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as s, AgentDispatchClient(f"http://127.0.0.1:{api_port}", "devkey",
                                                                 "secret") as api:
        ws = await s.ws_connect(f"ws://127.0.0.1:{worker_port}/agent", headers={"Authorization": f"Bearer {token}"})
        await ws.send_bytes(agent.WorkerMessage(register=agent.RegisterWorkerRequest(
            type=agent.JT_ROOM, agent_name=tag, version="bench")).SerializeToString())
        wid = agent.ServerMessage.FromString((await ws.receive(timeout=5)).data).register.worker_id

        async def serve() -> None:
            async for msg in ws:
                m = agent.ServerMessage.FromString(msg.data)
                which = m.WhichOneof("message")
                if which == "availability":
                    await ws.send_bytes(agent.WorkerMessage(availability=agent.AvailabilityResponse(
                        job_id=m.availability.job.id, available=True)).SerializeToString())
                elif which == "assignment":
                    f = got.get(m.assignment.job.room.name)
                    if f is not None and not f.done():
                        f.set_result(time.perf_counter())
        reader = loop.create_task(serve())
        try:
            end = time.monotonic() + 10
            while True:      # the worker is advertised (a cross-node dispatch can find it)
                raw = await r.hget(AGENT_WORKERS, worker_node)
                if raw and wid in raw.decode():
                    break
                if time.monotonic() > end:
                    raise RuntimeError("the worker was not advertised")
                await asyncio.sleep(0.05)
            await r.hset(ROOM_NODE, mapping={f"{tag}-{i}": host for i in range(n)})
            lat = []
            for i in range(n):
                room = f"{tag}-{i}"
                got[room] = loop.create_future()
                t0 = time.perf_counter()
                await api.create_dispatch(room, tag)
                lat.append((await asyncio.wait_for(got[room], 15) - t0) * 1000)
        finally:
            reader.cancel()
            await ws.close()
    return {"n": n, "assignment_ms": pct(lat)}


async def run(args: argparse.Namespace) -> dict:
    rport = free_port()
    rbin = shutil.which("redis-server") or "/usr/bin/redis-server"
    rp = subprocess.Popen([rbin, "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                          stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{rport}/0"
    procs: list[subprocess.Popen] = []
    r = aioredis.from_url(url)
    try:
        for _ in range(50):
            try:
                await r.ping()
                break
            except (OSError, aioredis.ConnectionError):
                await asyncio.sleep(0.1)
        ports = [free_port(), free_port()]
        for p in ports:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "sfu.cli", "serve", "--dev", "--redis", url, "--port", str(p),
                 "--udp-port", str(free_port()), "--workers", "1", "--node-ip", "127.0.0.1",
                 "--log-level", "WARNING"], cwd=PKG_ROOT, env=dict(os.environ, PYTHONPATH=PKG_ROOT)))
        ids: dict[int, str] = {}
        end = time.monotonic() + 30
        while len(ids) < 2:
            if time.monotonic() > end:
                raise RuntimeError("the nodes did not register")
            for k, v in (await r.hgetall(NODES)).items():
                ids[int(NodeRecord.decode(v).url.rsplit(":", 1)[1])] = k.decode()
            await asyncio.sleep(0.1)
        a, b = ports
        host = ids[b]
        await bench_joins(r, b, host, "warm", 10, 2)
        res = {
            "joins_direct": await bench_joins(r, b, host, "jd", args.joins, args.concurrency),
            "joins_relayed": await bench_joins(r, a, host, "jr", args.joins, args.concurrency),
            "ping_direct": await bench_ping(r, b, host, "pd", args.pings),
            "ping_relayed": await bench_ping(r, a, host, "pr", args.pings),
        }
        if args.dispatches:
            res["dispatch_cross_node"] = await bench_dispatch(r, a, ids[a], b, ids[b], "xd", args.dispatches)
            res["dispatch_local"] = await bench_dispatch(r, a, ids[a], a, ids[a], "ld", args.dispatches)
        d, x = res["ping_direct"]["rtt_ms"], res["ping_relayed"]["rtt_ms"]
        res["hop_added_ms"] = {"p50": round(x["p50"] - d["p50"], 3), "p99": round(x["p99"] - d["p99"], 3)}
        return res
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        await r.aclose()
        rp.kill()
        rp.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--joins", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--pings", type=int, default=500)
    ap.add_argument("--dispatches", type=int, default=100)
    ap.add_argument("--json")
    args = ap.parse_args()
    print("command:", shlex.join([sys.executable] + sys.argv))
    res = asyncio.run(run(args))
    for k in ("joins_direct", "joins_relayed"):
        j = res[k]
        print(f"{k:14} n={j['n']} c={j['concurrency']}: {j['joins_per_s']:7.1f} joins/s, "
              f"join p50 {j['join_ms']['p50']:.2f} ms p99 {j['join_ms']['p99']:.2f} ms")
    for k in ("ping_direct", "ping_relayed"):
        p = res[k]["rtt_ms"]
        print(f"{k:14} n={res[k]['n']}: rtt p50 {p['p50']:.3f} ms p99 {p['p99']:.3f} ms max {p['max']:.3f} ms")
    h = res["hop_added_ms"]
    print(f"cross-node hop adds: p50 {h['p50']:.3f} ms, p99 {h['p99']:.3f} ms")
    for k in ("dispatch_local", "dispatch_cross_node"):
        if k in res:
            p = res[k]["assignment_ms"]
            print(f"{k:19} n={res[k]['n']}: CreateDispatch -> JobAssignment p50 {p['p50']:.2f} ms "
                  f"p99 {p['p99']:.2f} ms max {p['max']:.2f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
