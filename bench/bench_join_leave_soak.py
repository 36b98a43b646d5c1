"""Join/leave soak: does the server give back what a participant cost once it left?

    python bench/bench_join_leave_soak.py [--cycles 10000] [--concurrency 8] [--rooms 20]
                                          [--warmup 500] [--seconds 600] [--json out.json]

`sfu serve` (one media worker) in its own process; `--concurrency` clients each join a room
(signalling: the JoinResponse; the participant's PeerConnection transports are created on
the worker) and leave (LeaveRequest), `--cycles` times in all, spread over `--rooms` rooms
that close 1 s after their last participant left and open again on the next join.  The
server's RSS, open descriptors and threads (main process + worker) are sampled after the
warm-up and at the end, and every 1,000 cycles; printed with the growth per 1,000 cycles
after the warm-up (target: flat).  Bounded by `--seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:  # the installed package, or the source tree with an in-place build
    import sfu._native  # noqa: F401
except ImportError:
    sys.path.insert(0, ROOT)
sys.path.append(os.path.join(ROOT, "tests"))    # tests/helpers: `sfu serve` as a process, tokens

import aiohttp  # noqa: E402
import psutil  # noqa: E402
from livekit.protocol import rtc  # noqa: E402

from helpers.server_process import ServerProcess  # noqa: E402
from helpers.tokens import join_token  # noqa: E402


def sample(pid: int) -> dict:
    procs = [psutil.Process(pid)] + psutil.Process(pid).children()
    return {"rss_mb": round(sum(p.memory_info().rss for p in procs) / 2**20, 1),
            "fds": sum(p.num_fds() for p in procs), "threads": sum(p.num_threads() for p in procs),
            "processes": len(procs)}


async def cycle(http: aiohttp.ClientSession, url: str, room: str, identity: str) -> None:
    async with http.ws_connect(f"{url}/rtc?access_token={join_token(identity, room)}") as ws:
        while True:
            msg = await ws.receive(timeout=10)
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise RuntimeError(f"join of {identity}: {msg.type}")
            if rtc.SignalResponse.FromString(msg.data).WhichOneof("message") == "join":
                break
        await ws.send_bytes(rtc.SignalRequest(leave=rtc.LeaveRequest()).SerializeToString())


async def run(args: argparse.Namespace, srv: ServerProcess) -> dict:
    out: dict = {"samples": []}
    done = 0
    failures = 0
    end = time.monotonic() + args.seconds
    lock = asyncio.Lock()

    async def client(k: int, http: aiohttp.ClientSession) -> None:
        nonlocal done, failures
        while time.monotonic() < end:
            async with lock:
                if done >= args.cycles:
                    return
                n = done
                done += 1
            try:
                await cycle(http, srv.url, f"soak-{n % args.rooms}", f"p{n}")
            except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError):
                failures += 1
            if (n + 1) == args.warmup or (n + 1) % 1000 == 0 or n + 1 == args.cycles:
                s = sample(srv.proc.pid)
                s["cycles"] = n + 1
                out["samples"].append(s)
                print(f"{n + 1:6d} cycles  rss {s['rss_mb']:7.1f} MB  fds {s['fds']:5d}  threads {s['threads']:3d}",
                      flush=True)

    t0 = time.monotonic()
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(client(k, http) for k in range(args.concurrency)))
    out["seconds"] = round(time.monotonic() - t0, 1)
    await asyncio.sleep(2.0)               # the last rooms close (departure_timeout 1 s)
    final = sample(srv.proc.pid)
    final["cycles"] = done
    final["after_rooms_closed"] = True
    out["samples"].append(final)
    out["cycles"], out["failures"] = done, failures
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--json")
    args = ap.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write("room:\n  departure_timeout: 1\n  empty_timeout: 5\n")
        cfg = f.name
    srv = ServerProcess("--config", cfg, log_level="WARNING").ready()
    try:
        res = asyncio.run(run(args, srv))
    finally:
        srv.stop()
        os.unlink(cfg)
    warm = next((s for s in res["samples"] if s["cycles"] >= args.warmup), res["samples"][0])
    last = res["samples"][-1]
    per_k = max(1, (last["cycles"] - warm["cycles"])) / 1000
    res["growth_per_1000_cycles"] = {k: round((last[k] - warm[k]) / per_k, 2) for k in ("rss_mb", "fds", "threads")}
    res["command"] = "python bench/bench_join_leave_soak.py " + " ".join(sys.argv[1:])
    print(f"\n{res['cycles']} join/leave cycles in {res['seconds']} s ({res['cycles'] / res['seconds']:.0f}/s), "
          f"{res['failures']} failed")
    print(f"after warm-up ({warm['cycles']}): rss {warm['rss_mb']} MB, fds {warm['fds']}, threads {warm['threads']}")
    print(f"at the end ({last['cycles']}, rooms closed): rss {last['rss_mb']} MB, fds {last['fds']}, "
          f"threads {last['threads']}")
    print(f"growth per 1,000 cycles after warm-up: {res['growth_per_1000_cycles']}")
    print(f"command: {res['command']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0 if res["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
