"""Agents at scale: `sfu agent-load-test` against a real livekit-agents worker
(examples/echo_agent.py) for each --rooms value, one run each: how long from CreateDispatch until
the agent is in the room and until it first echoes, and the round trip of data echoed through it
afterwards (RoomService.SendData to the agent, its publish_data back), with server and worker on
this machine.

    python bench/bench_agent_load.py [--rooms 10,50] [--pings 10] [--executor thread|process]

Each run is tests/interop/livekit_sdk/agent_scenarios.py `agent_load` in a private network
namespace (root needed; the agents virtualenv of scripts/setup, or SFU_AGENTS_PYTHON): an
in-process server with one media worker, the echo worker (its jobs in threads by default:
livekit-agents' process per job costs ~100 MB each, which a 2-core machine cannot give 50
rooms), the load test as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from helpers import scenario_runner  # noqa: E402
from helpers.sdk_venvs import AGENTS_PYTHON  # noqa: E402


def one(rooms: int, pings: int, executor: str) -> dict:
    python = os.environ.get("SFU_AGENTS_PYTHON") or AGENTS_PYTHON
    r = scenario_runner.run_scenario("interop.livekit_sdk.agent_scenarios", "agent_load", timeout=120 + 6 * rooms,
                                     env={"SFU_AGENTS_PYTHON": python, "SFU_AGENT_LOAD_ROOMS": str(rooms),
                                          "SFU_AGENT_LOAD_PINGS": str(pings), "SFU_AGENT_LOAD_EXECUTOR": executor})
    if r.get("report") is None:
        return {"rooms": rooms, "error": (r.get("stderr") or r.get("output") or "no report")[-500:]}
    s = dict(r["report"]["summary"])
    s["register_s"] = r.get("register_s")
    s["failures"] = [f"{x['room']}: {x['error']}" for x in r["report"]["rooms"] if x["error"]][:3]
    s["per_room"] = r["report"]["rooms"]
    s["output"] = r.get("output", "")
    return s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rooms", default="10,50", help="comma-separated room counts (10,50)")
    ap.add_argument("--pings", type=int, default=10, help="echo round trips per room (10)")
    ap.add_argument("--executor", default="thread", choices=("thread", "process"),
                    help="where the worker runs its jobs (thread)")
    ap.add_argument("--json", help="also write the results as JSON")
    args = ap.parse_args()
    sizes = [int(x) for x in args.rooms.split(",") if x.strip()]
    print(f"agent load test: {args.pings} echoes per room, job executor {args.executor}, "
          f"`python bench/bench_agent_load.py --rooms {args.rooms} --pings {args.pings} --executor {args.executor}`")
    print(f"{'rooms':>6} {'joined':>7} {'failed':>7} {'dispatch p50/p95/p99/max ms':>30} "
          f"{'first echo p50/p99/max ms':>27} {'echo back':>11} {'echo p50/p95/p99/max ms':>26} {'seconds':>8}")
    results = []
    for n in sizes:
        t0 = time.monotonic()
        s = one(n, args.pings, args.executor)
        results.append(s)
        if "error" in s:
            print(f"{n:>6} ERROR {s['error']}")
            continue
        d = "/".join(str(s[k]) for k in ("dispatch_ms_p50", "dispatch_ms_p95", "dispatch_ms_p99", "dispatch_ms_max"))
        e = "/".join(str(s[k]) for k in ("echo_ms_p50", "echo_ms_p95", "echo_ms_p99", "echo_ms_max"))
        a = "/".join(str(s[k]) for k in ("answer_ms_p50", "answer_ms_p99", "answer_ms_max"))
        print(f"{n:>6} {s['agents_joined']:>7} {s['failed']:>7} {d:>30} {a:>27} "
              f"{s['echo_received']:>5}/{s['echo_sent']:<5} {e:>26} {time.monotonic() - t0:>8.1f}")
        for f in s["failures"]:
            print(f"       {f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0 if all("error" not in s and not s["failed"] and not s["echo_lost"] for s in results) else 1


if __name__ == "__main__":
    sys.exit(main())
