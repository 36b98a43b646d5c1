"""Recovery from a media-worker crash with the unmodified livekit rtc SDK: how long after a
SIGKILL of the worker holding one participant's PeerConnection that participant is back in the
room, and each side hears the other again, over --runs runs.

    python bench/bench_worker_crash.py [--runs 5]

Each run is tests/interop/livekit_sdk/worker_crash_scenario.py in a private network namespace
(root needed; the client virtualenv of scripts/setup, or SFU_LIVEKIT_PYTHON): one server with
two workers, bob on worker 0 and alice on worker 1, both publishing a sine (660 / 440 Hz) and
video; 5 s into the call worker 1 is killed.  "Rejoined" is when the server lists alice again;
"hears again" is the first 100 ms window after the kill in which the receiver's audio carries the
other's pitch (the receiver's own clock; the same rule as tests/interop/test_worker_crash.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from helpers import scenario_runner  # noqa: E402
from helpers.sdk_venvs import CLIENT_PYTHON  # noqa: E402


def heard_again(client: dict, other: str, pitch: float, kill: float) -> float | None:
    windows = client["tracks"][f"{other}/audio"].get("windows") or []
    good = [w for w in windows if w[0] > kill and abs(w[1] - pitch) < 5 and w[3] > 3000]
    return good[0][0] - kill if good else None


def one_run() -> dict:
    python = os.environ.get("SFU_LIVEKIT_PYTHON") or CLIENT_PYTHON
    r = scenario_runner.run_scenario("interop.livekit_sdk.worker_crash_scenario", timeout=180,
                                     env={"SFU_LIVEKIT_PYTHON": python})
    out = {"rejoined_s": r["rejoined_s"]}
    for me, other, pitch in (("bob", "alice", 440), ("alice", "bob", 660)):
        kill = r["kill_mono"] - r[me]["t0_mono"]
        out[f"{me}_hears_s"] = heard_again(r[me], other, pitch, kill)
    return out


def summary(values: list) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return "never"
    missing = f", {len(values) - len(v)} never" if len(v) < len(values) else ""
    return f"median {statistics.median(v):.2f} s, min {min(v):.2f}, max {max(v):.2f}{missing}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    if args.json:
        print(json.dumps(runs))
        return
    print(f"media worker SIGKILLed mid-call, {args.runs} runs   (python bench/bench_worker_crash.py "
          f"{' '.join(sys.argv[1:])})")
    for key, what in (("rejoined_s", "alice (on the killed worker) back in the room"),
                      ("alice_hears_s", "alice hears bob again"), ("bob_hears_s", "bob hears alice again")):
        print(f"  {what:<48} {summary([r[key] for r in runs])}")
    print("  per run:", [{k: (round(v, 2) if v is not None else None) for k, v in r.items()} for r in runs])


if __name__ == "__main__":
    main()
