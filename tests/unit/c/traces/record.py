#!/usr/bin/env python3
"""Record the runs replayed by tests/unit/c/test_send_side_bwe.py: every
packet the simulated sender sent (time, size, flags, probe cluster) and
every transport-cc feedback packet it received (time, bytes as hex), with
the link's phases and the band the estimate must be in at each phase's end.

    .venv/bin/python tests/unit/c/traces/record.py

The link model and the receiver are those of tests/unit/c/tcc_sim.py; a
run is deterministic (seeded), so the files only change when the model or
the estimator that drove the sender does."""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE)))))

from tests.unit.c.tcc_sim import Call, Link  # noqa: E402

K, M = 1000, 1_000_000


def record(name: str, description: str, call: Call, steps) -> None:
    t0 = call.now
    phases = []
    for seconds, change, phase in steps:
        change(call)
        call.run(seconds)
        phases.append({**phase, "end_us": call.now - 1000})
    trace = {
        "description": description,
        "start_bps": 300 * K,
        "max_bps": call.bwe.b.max_bps,
        "t0_us": t0,
        "phases": phases,
        **call.trace(),
    }
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(trace, f, separators=(",", ":"))
        f.write("\n")
    print(name, len(trace["sent"]), "packets,", len(trace["feedback"]), "feedback")


def _rate(bps):
    def change(call):
        call.link.rate_bps = bps
    return change


def _burst(call):
    call.link.burst = (0.06, 0.25)


def main() -> None:
    record("step_2500k_to_600k", "2.5 Mbit/s for 6 s, then 600 kbit/s for 6 s; 20 ms one way, 64 kB queue",
           Call(Link(2500 * K)), [
               (6, _rate(2500 * K), {"rate_bps": 2500 * K, "settled_us": 2 * M, "lo": 0.6, "hi": 1.1}),
               (6, _rate(600 * K), {"rate_bps": 600 * K, "settled_us": 3 * M, "lo": 0.5, "hi": 1.1}),
           ])
    record("link_600k_rtt_40ms", "600 kbit/s, 20 ms one way, 64 kB queue, from 300 kbit/s",
           Call(Link(600 * K)), [
               (8, _rate(600 * K), {"rate_bps": 600 * K, "settled_us": 3 * M, "lo": 0.6, "hi": 1.1}),
           ])
    record("bursty_loss_source_2500k",
           "unconstrained 50 Mbit/s link, source 2.5 Mbit/s; after 5 s Gilbert-Elliott loss (~20 %, bursts of ~4)",
           Call(Link(50 * M, queue_bytes=10**7, seed=3), source_bps=2500 * K), [
               (5, lambda c: None, {"rate_bps": 2500 * K, "settled_us": 1 * M, "lo": 0.6, "hi": 1.6}),
               (8, _burst, {"rate_bps": 2500 * K, "settled_us": 2 * M, "lo": 0.05, "hi": 0.7}),
           ])


if __name__ == "__main__":
    main()
