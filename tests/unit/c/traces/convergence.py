#!/usr/bin/env python3
"""Print how the send-side estimate follows the simulated bottleneck of
tests/unit/c/tcc_sim.py (the runs the trace tests assert on), as Markdown:

    .venv/bin/python tests/unit/c/traces/convergence.py

Deterministic (seeded); the numbers change only with the estimator or the model."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")))

from tests.unit.c.tcc_sim import Call, Link  # noqa: E402

K, M = 1000, 1_000_000


def window(c: Call, t0: float, t1: float) -> list[tuple[float, int, float]]:
    """(seconds into the run, estimate, queue delay us) sampled every 100 ms in [t0, t1]"""
    s0 = c.samples[0][0]
    return [((t - s0) / 1e6, e, q) for t, e, q in c.samples if t0 <= (t - s0) / 1e6 <= t1]


def at(c: Call, x: float) -> int:
    return min((abs(t - x), e) for t, e, _ in window(c, 0, 1e9))[1]


def after(c: Call, t0: float, pred) -> float | None:
    """seconds after t0 until the estimate first satisfies pred"""
    return next((round(t - t0, 1) for t, e, _ in window(c, t0, 1e9) if pred(e)), None)


def in_band_from(c: Call, lo: float, hi: float, t_end: float) -> float:
    """from when on the estimate stayed within [lo, hi] until t_end"""
    out = [t for t, e, _ in window(c, 0, t_end) if not lo <= e <= hi]
    return round(max(out) + 0.1, 1) if out else 0.0


def steady_links() -> None:
    print("| link | RTT | start | @0.5 s | @1 s | @2 s | @3 s | @5 s | 5-10 s min / mean / max (x link) "
          "| within 0.6-1.1x from | max queue delay after 2 s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for rate, rtt_ms, start in ((250 * K, 40, 600 * K), (600 * K, 40, 300 * K), (1200 * K, 100, 300 * K),
                                (2500 * K, 40, 300 * K)):
        c = Call(Link(rate, owd_us=rtt_ms * 500), start_bps=start)
        c.run(10)
        s = [e for _, e, _ in window(c, 5, 10)]
        q = max(q for _, _, q in window(c, 2, 10)) / 1000
        cells = " | ".join(f"{at(c, x) // K}k" for x in (0.5, 1, 2, 3, 5))
        print(f"| {rate // K}k | {rtt_ms} ms | {start // K}k | {cells} | {min(s) / rate:.2f} / "
              f"{sum(s) / len(s) / rate:.2f} / {max(s) / rate:.2f} | {in_band_from(c, 0.6 * rate, 1.1 * rate, 10)} s "
              f"| {q:.0f} ms |")


def changes() -> None:
    c = Call(Link(2500 * K))
    c.run(8)
    c.link.rate_bps = 600 * K
    c.run(6)
    tail = [e for _, e, _ in window(c, 11, 14)]
    print(f"\n- 2.5 Mbit/s -> 600 kbit/s at 8 s: below 600k {after(c, 8, lambda e: e < 600 * K)} s after the step; "
          f"11-14 s {min(tail) / 600 / K:.2f}..{max(tail) / 600 / K:.2f} x 600k; queue delay peaks at "
          f"{max(q for _, _, q in window(c, 8, 14)) / 1000:.0f} ms after the step")
    for probing in (True, False):
        c = Call(Link(600 * K), probing=probing)
        c.run(8)
        c.link.rate_bps = 2500 * K
        c.run(8)
        print(f"- 600 kbit/s -> 2.5 Mbit/s at 8 s, probing {'on' if probing else 'off'}: above 2 Mbit/s "
              f"{after(c, 8, lambda e: e > 0.8 * 2500 * K)} s after; at +2/+4/+6/+8 s: "
              + ", ".join(f"{at(c, 8 + d) // K}k" for d in (2, 4, 6, 7.9)))
    for seed in (1, 2, 3):
        c = Call(Link(50 * M, queue_bytes=10**7, seed=seed), source_bps=2500 * K)
        c.run(6)
        before = min(e for _, e, _ in window(c, 4, 6))
        c.link.loss = 0.05
        c.run(12)
        low = min(e for _, e, _ in window(c, 8, 18))
        print(f"- 5 % random loss (seed {seed}), source 2.5 Mbit/s: lowest estimate in 12 s of loss "
              f"{low / before:.2f} x the one before; loss measured {c.bwe.stats(c.now).loss:.3f}")
    for seed in (3, 4):
        c = Call(Link(50 * M, queue_bytes=10**7, seed=seed), source_bps=2500 * K)
        c.run(6)
        before = min(e for _, e, _ in window(c, 4, 6))
        c.link.burst = (0.06, 0.25)
        c.run(8)
        print(f"- bursty loss (~20 %, seed {seed}): {before // K}k before, lowest "
              f"{min(e for _, e, _ in window(c, 6, 14)) // K}k in 8 s, last loss measured {c.bwe.stats(c.now).loss:.3f}")


if __name__ == "__main__":
    steady_links()
    changes()
