"""Agent dispatch latency: request -> JobAssignment sent -> agent participant joined.

    python bench/bench_dispatch.py [--dispatches 200] [--workers 4] [--json out.json]

An in-process server (1 media worker) and prewarmed agent workers speaking the
real worker protocol over WebSockets (register, availability, update_job).  A
worker that gets a JobAssignment joins the room with the job's token through
the signal endpoint (`/rtc`, a raw protobuf client: the join completes at the
JoinResponse; no media is negotiated).  Two paths, `--dispatches` each:

  dispatch   AgentDispatchService.CreateDispatch (Twirp, protobuf) for a named agent
  room       RoomService.CreateRoom with `agents` (the dispatch starts with the room)

For each: time from just before the HTTP request to the JobAssignment arriving
at the worker (the server sends it; loopback adds tens of microseconds), and to
the server listing the agent as a participant (measured when the worker gets its
JoinResponse, which the server sends after adding it).  Prints p50/p99/max and
the targets (assignment p99 < 20 ms, joined p99 < 150 ms).
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
sys.path.append(os.path.join(ROOT, "tests"))    # tests/helpers: the in-process server, the fake agent worker

import aiohttp  # noqa: E402
from livekit.protocol import agent, agent_dispatch, room as room_pb  # noqa: E402
from livekit.protocol import rtc as lk  # noqa: E402

from helpers.app_server import running_server  # noqa: E402
from helpers.fake_agent_worker import FakeWorker  # noqa: E402
from helpers.tokens import token  # noqa: E402

AGENT = "bench-agent"


class Worker(FakeWorker):
    """a prewarmed agent worker; joins the room of every job it is assigned"""

    def __init__(self, port: int, http: aiohttp.ClientSession, marks: dict) -> None:
        super().__init__(port, AGENT, on_assignment=self.assignment)
        self.base, self.http, self.marks = f"127.0.0.1:{port}", http, marks
        self.joins: set[asyncio.Task] = set()

    def assignment(self, a: agent.JobAssignment) -> None:
        self.marks.setdefault(a.job.room.name, {})["assigned"] = time.perf_counter()
        t = asyncio.get_running_loop().create_task(self.join(a.job, a.token))
        self.joins.add(t)
        t.add_done_callback(self.joins.discard)

    async def join(self, job: agent.Job, token: str) -> None:
        ws = await self.http.ws_connect(f"ws://{self.base}/rtc?protocol=16", headers={"Authorization": f"Bearer {token}"})
        while True:
            r = lk.SignalResponse.FromString((await ws.receive(timeout=5)).data)
            if r.WhichOneof("message") == "join":
                self.marks[job.room.name]["joined"] = time.perf_counter()
                break
        await ws.send_bytes(lk.SignalRequest(leave=lk.LeaveRequest()).SerializeToString())
        await ws.close()
        await self.job_status(job.id, agent.JS_SUCCESS)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def run(args: argparse.Namespace) -> dict:
    marks: dict[str, dict] = {}
    results: dict[str, dict] = {}
    async with running_server(room={"empty_timeout": 5, "departure_timeout": 1}, log_level="WARNING") as server, \
            aiohttp.ClientSession() as http:
        base = f"127.0.0.1:{server.settings.port}"
        workers = [Worker(server.settings.port, http, marks) for _ in range(args.workers)]
        for w in workers:
            await w.__aenter__()
        try:
            await asyncio.sleep(0.2)
            for path in ("dispatch", "room"):
                starts: dict[str, float] = {}
                for i in range(args.dispatches + args.warmup):
                    name = f"{path}-{i}"
                    if path == "dispatch":
                        url = f"http://{base}/twirp/livekit.AgentDispatchService/CreateDispatch"
                        tok = token(roomAdmin=True, room=name)
                        body = agent_dispatch.CreateAgentDispatchRequest(agent_name=AGENT, room=name,
                                                                         metadata="m").SerializeToString()
                    else:
                        url = f"http://{base}/twirp/livekit.RoomService/CreateRoom"
                        tok = token(roomCreate=True)
                        req = room_pb.CreateRoomRequest(name=name)
                        req.agents.add(agent_name=AGENT, metadata="m")
                        body = req.SerializeToString()
                    starts[name] = time.perf_counter()
                    async with http.post(url, data=body, headers={"Authorization": f"Bearer {tok}",
                                                                  "Content-Type": "application/protobuf"}) as r:
                        assert r.status == 200, await r.text()
                    end = time.monotonic() + 5
                    while "joined" not in marks.get(name, {}) and time.monotonic() < end:
                        await asyncio.sleep(0.0005)
                    assert "joined" in marks.get(name, {}), f"{name}: the agent did not join"
                names = [f"{path}-{i}" for i in range(args.warmup, args.warmup + args.dispatches)]
                assign = [(marks[n]["assigned"] - starts[n]) * 1000 for n in names]
                joined = [(marks[n]["joined"] - starts[n]) * 1000 for n in names]
                results[path] = {
                    "n": len(names),
                    "assign_ms": {"p50": pct(assign, 50), "p99": pct(assign, 99), "max": max(assign),
                                  "mean": statistics.mean(assign)},
                    "joined_ms": {"p50": pct(joined, 50), "p99": pct(joined, 99), "max": max(joined),
                                  "mean": statistics.mean(joined)}}
        finally:
            for w in workers:
                await asyncio.gather(*w.joins, return_exceptions=True)
                await w.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dispatches", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--json")
    ap.add_argument("--check", action="store_true", help="exit non-zero when a target is missed")
    args = ap.parse_args()
    print("command:", shlex.join([sys.executable] + sys.argv))
    import uvloop

    res = uvloop.run(run(args))
    print(f"{'path':10} {'n':>4}  {'assign p50':>10} {'p99':>7} {'max':>7}   {'joined p50':>10} {'p99':>7} {'max':>7}  (ms)")
    ok = True
    for path, r in res.items():
        a, j = r["assign_ms"], r["joined_ms"]
        print(f"{path:10} {r['n']:>4}  {a['p50']:>10.2f} {a['p99']:>7.2f} {a['max']:>7.2f}   "
              f"{j['p50']:>10.2f} {j['p99']:>7.2f} {j['max']:>7.2f}")
        ok &= a["p99"] < 20 and j["p99"] < 150
        print(f"  target assignment p99 < 20 ms: {'met' if a['p99'] < 20 else 'MISSED'}; "
              f"joined p99 < 150 ms: {'met' if j['p99'] < 150 else 'MISSED'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    sys.exit(0 if ok or not args.check else 1)


if __name__ == "__main__":
    main()
