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
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:  # the installed package, or the source tree with an in-place build
    import sfu._native  # noqa: F401
except ImportError:
    sys.path.insert(0, ROOT)

sys.path.append(os.path.join(ROOT, "tests"))    # tests/helpers: redis-server, `sfu serve`, the fake agent worker

import aiohttp  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from livekit.protocol import rtc as lk  # noqa: E402

from helpers.fake_agent_worker import FakeWorker  # noqa: E402
from helpers.redis_server import RedisServer  # noqa: E402
from helpers.server_process import ServerProcess  # noqa: E402
from helpers.tokens import join_token  # noqa: E402
from sfu.api.client import AgentDispatchClient  # noqa: E402
from sfu.cluster.registry import AGENT_WORKERS  # noqa: E402
from sfu.cluster.room_map import ROOM_NODE  # noqa: E402


def pct(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"p50": round(statistics.median(xs), 3), "p99": round(xs[min(len(xs) - 1, int(len(xs) * 0.99))], 3),
            "max": round(xs[-1], 3)}


async def join(port: int, room: str, identity: str) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    token = join_token(identity, room)
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
    got: dict[str, asyncio.Future] = {}
    loop = asyncio.get_running_loop()

    def assigned(a) -> None:
        f = got.get(a.job.room.name)
        if f is not None and not f.done():
            f.set_result(time.perf_counter())

    async with FakeWorker(worker_port, tag, on_assignment=assigned) as w, \
            AgentDispatchClient(f"http://127.0.0.1:{api_port}", "devkey", "secret") as api:
        end = time.monotonic() + 10
        while True:      # the worker is advertised (a cross-node dispatch can find it)
            raw = await r.hget(AGENT_WORKERS, worker_node)
            if raw and w.id in raw.decode():
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
    return {"n": n, "assignment_ms": pct(lat)}


async def run(args: argparse.Namespace) -> dict:
    rs = RedisServer().start()
    nodes: list[ServerProcess] = []
    r = aioredis.from_url(rs.url)
    try:
        await rs.wait()
        nodes = [ServerProcess(redis=rs.url, log_level="WARNING") for _ in range(2)]
        ids = {n.port: n.ready(30).id for n in nodes}
        ports = [n.port for n in nodes]
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
    except BaseException:
        for n in nodes:
            print(f"--- node {n.id or n.port} log tail ---\n{n.log_tail()}", file=sys.stderr)
        raise
    finally:
        for n in nodes:
            n.stop()
        await r.aclose()
        rs.stop()


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
