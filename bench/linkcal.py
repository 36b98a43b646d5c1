"""Calibration of the link emulator with UDP probe traffic (bench/netprobe.py).

Both directions of one emulated link are probed at the same time, phase by phase: the
link is reset, set to the phase's settings, the probes run, the queue drains.  Each
phase compares what the probes measured with what was set:

    base     nothing set                  one-way delay of the emulator itself
    delay    delay=40                     mean one-way delay within 3 ms of 40
    jitter   delay=40 jitter=10           no reordering; delay p1..p99 within [30 - 3, 50 + 3] ms
    rate_1m  rate=1M, offered 1.5M        delivered rate within 10 %; queueing delay <= queue + 15 ms
    rate_5m  rate=5M, offered 7M          delivered rate within 10 %
    loss     loss=0.05                    loss within 1.5 points
    ge       ge=0.01,0.25,1,0             loss within 2.5 points of p/(p+r); mean burst >= 2
    steps    600k -> 250k -> unlimited    each step's delivered rate within 10 % of the limit (offered
                                          1M), the unlimited one's within 10 % of what was sent then
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from linkemu import DEFAULTS, Link
from netns import SERVER_IP, Namespace
from netprobe import IP_UDP

HERE = Path(__file__).resolve().parent
PROBE = str(HERE / "netprobe.py")
PORT = 9077


@dataclass
class Phase:
    name: str
    settings: dict
    seconds: float
    send_bps: float
    size: int                      # UDP payload bytes
    steps: list = field(default_factory=list)   # [(at seconds, settings)] changes during the phase


def phases(scale: float = 1.0) -> list[Phase]:
    small = 200 - IP_UDP
    return [
        Phase("base", {}, 2 * scale, 200 * 200 * 8, small),
        Phase("delay", dict(delay=40), 2 * scale, 200 * 200 * 8, small),
        Phase("jitter", dict(delay=40, jitter=10), 3 * scale, 200 * 200 * 8, small),
        Phase("rate_1m", dict(rate=1_000_000), 4 * scale, 1_500_000, 1000 - IP_UDP),
        Phase("rate_5m", dict(rate=5_000_000), 3 * scale, 7_000_000, 1200 - IP_UDP),
        Phase("loss", dict(loss=0.05), 5 * scale, 720 * 200 * 8, small),
        Phase("ge", dict(ge="0.01,0.25,1,0"), 5 * scale, 720 * 200 * 8, small),
        Phase("steps", dict(rate=600_000), 6.0, 1_000_000, 1000 - IP_UDP,      # not scaled: 2 s a step
              steps=[(2.0, dict(rate=250_000)), (4.0, dict(rate=0))]),
    ]


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def _rate(recv_ns: list[int], sizes: list[int], lo: float, hi: float) -> float:
    """delivered IP bit/s between fractions lo..hi of the receive window"""
    pairs = sorted(zip(recv_ns, sizes))
    if len(pairs) < 10:
        return 0.0
    a, b = pairs[0][0], pairs[-1][0]
    t0, t1 = a + (b - a) * lo, a + (b - a) * hi
    inside = [s + IP_UDP for t, s in pairs if t0 <= t < t1]
    return sum(inside) * 8 / ((t1 - t0) / 1e9) if t1 > t0 else 0.0


def measure(ph: Phase, got: dict, sent: int, marks: list[int] | None = None) -> dict:
    """statistics of one phase in one direction; marks: CLOCK_REALTIME ns of the phase's
    setting and of each step"""
    delays = [(r - s) / 1e6 for r, s in zip(got["recv_ns"], got["sent_ns"])]
    seqs = got["seq"]
    reorders, top = 0, -1
    for q in seqs:
        if q < top:
            reorders += 1
        top = max(top, q)
    received = set(seqs)
    bursts, run = [], 0
    for q in range(sent):
        if q in received:
            if run:
                bursts.append(run)
            run = 0
        else:
            run += 1
    if run:
        bursts.append(run)
    out = {"sent": sent, "received": len(seqs), "loss": 1 - len(received) / sent if sent else float("nan"),
           "mean_burst": statistics.mean(bursts) if bursts else 0.0, "reorders": reorders,
           "delay_mean": statistics.mean(delays) if delays else float("nan"),
           "delay_min": min(delays, default=float("nan")), "delay_max": max(delays, default=float("nan")),
           "delay_p1": _pct(delays, 0.01), "delay_p5": _pct(delays, 0.05), "delay_p95": _pct(delays, 0.95),
           "delay_p99": _pct(delays, 0.99),
           "delay_std": statistics.pstdev(delays) if len(delays) > 1 else 0.0,
           "rate": _rate(got["recv_ns"], got["size"], 0.25, 0.95)}
    if marks and len(marks) > 1:     # the rate in each step by receive time, skipping its first 0.5 s
        edges = [*marks, marks[-1] + (ph.seconds - ph.steps[-1][0]) * 1e9]
        out["step_rates"], out["step_offered"] = [], []
        for a, b in zip(edges, edges[1:]):
            lo, hi = a + 0.5e9, b - 0.05e9
            got_bytes = sum(s + IP_UDP for r, s in zip(got["recv_ns"], got["size"]) if lo <= r < hi)
            out["step_rates"].append(got_bytes * 8 / ((hi - lo) / 1e9))
            # what the probes sent then, as far as it arrived (all of it on an unlimited link):
            # a sender that fell behind catches up, so its rate in a short window is not the nominal one
            sent_bytes = sum(s + IP_UDP for t, s in zip(got["sent_ns"], got["size"]) if lo <= t < hi)
            out["step_offered"].append(sent_bytes * 8 / ((hi - lo) / 1e9))
    return out


def check(ph: Phase, m: dict) -> list[str]:
    """tolerance violations of one phase (empty: within tolerance)"""
    bad = []
    s = ph.settings
    if ph.name == "delay" and abs(m["delay_mean"] - s["delay"]) > 3:
        bad.append(f"delay mean {m['delay_mean']:.2f} ms, set {s['delay']}")
    if ph.name == "jitter":
        if m["reorders"]:
            bad.append(f"{m['reorders']} reordered")
        if m["delay_p1"] < s["delay"] - s["jitter"] - 3 or m["delay_p99"] > s["delay"] + s["jitter"] + 3:
            bad.append(f"delays p1..p99 {m['delay_p1']:.1f}..{m['delay_p99']:.1f} ms outside "
                       f"{s['delay']}+-{s['jitter']}")
    if ph.name.startswith("rate_"):
        if abs(m["rate"] / s["rate"] - 1) > 0.10:
            bad.append(f"rate {m['rate']:.0f}, set {s['rate']}")
        if m["delay_max"] > 100 + 15:
            bad.append(f"queueing delay {m['delay_max']:.1f} ms above the 100 ms queue")
    if ph.name == "loss" and abs(m["loss"] - s["loss"]) > 0.015:
        bad.append(f"loss {m['loss']:.4f}, set {s['loss']}")
    if ph.name == "ge":
        p, r = (float(x) for x in s["ge"].split(",")[:2])
        if abs(m["loss"] - p / (p + r)) > 0.025 or m["mean_burst"] < 2:
            bad.append(f"GE loss {m['loss']:.4f} (expected {p / (p + r):.4f}), mean burst {m['mean_burst']:.2f}")
    if ph.steps:
        # a limited step delivers its rate; the unlimited one what the probes sent meanwhile
        want = [s["rate"]] + [st["rate"] or None for _, st in ph.steps]
        want = [w or off for w, off in zip(want, m["step_offered"])]
        for got, exp in zip(m["step_rates"], want):
            if abs(got / exp - 1) > 0.10:
                bad.append(f"step rate {got:.0f}, expected {exp:.0f}")
    return bad


def calibrate(scale: float = 1.0, python: str = sys.executable) -> dict:
    """probe one link both ways; returns {phase: {"up": stats, "down": stats, "failures": [...]}}"""
    results: dict = {"rt": None, "phases": {}}
    with Namespace() as ns:
        link = Link(1, ns, seed=7)
        results["rt"] = link.rt
        total = sum(p.seconds for p in phases(scale)) + 3 * len(phases(scale)) + 10
        rx_down = ns.popen([python, PROBE, "recv", link.ip, str(PORT), str(total)],
                           stdout=subprocess.PIPE, text=True)
        rx_up = subprocess.Popen([python, PROBE, "recv", SERVER_IP, str(PORT), str(total)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            for rx in (rx_down, rx_up):
                if rx.stdout.readline().strip() != "listening":
                    raise RuntimeError("probe receiver did not start")
            sent: dict = {}
            marks: dict = {}
            for k, ph in enumerate(phases(scale)):
                link.set("both", **DEFAULTS)
                link.set("both", **ph.settings)
                marks[k] = [time.time_ns()]
                args = [str(k), str(ph.seconds), str(ph.send_bps), str(ph.size)]
                tx_down = subprocess.Popen([python, PROBE, "send", link.ip, str(PORT), *args],
                                           stdout=subprocess.PIPE, text=True)
                tx_up = ns.popen([python, PROBE, "send", SERVER_IP, str(PORT), *args],
                                 stdout=subprocess.PIPE, text=True)
                t0 = time.monotonic()
                for at, st in ph.steps:
                    time.sleep(max(0.0, t0 + at - time.monotonic()))
                    link.set("both", **st)
                    marks[k].append(time.time_ns())
                for d, tx in (("down", tx_down), ("up", tx_up)):
                    sent[(k, d)] = json.loads(tx.communicate(timeout=ph.seconds + 30)[0])
                time.sleep(0.35)      # drain: the 100 ms queue and the delay line
        finally:
            for rx in (rx_down, rx_up):
                rx.terminate()
            outs = {d: json.loads(rx.communicate(timeout=20)[0]) for d, rx in (("down", rx_down), ("up", rx_up))}
            results["emulator"] = link.extra_stats()
            link.close()
    for k, ph in enumerate(phases(scale)):
        entry: dict = {"settings": ph.settings, "steps": ph.steps, "send_bps": ph.send_bps, "failures": []}
        for d in ("down", "up"):
            cols = outs[d]["packets"]
            sel = [i for i, p in enumerate(cols["phase"]) if p == k]
            got = {c: [cols[c][i] for i in sel] for c in ("seq", "sent_ns", "recv_ns", "size")}
            entry[d] = measure(ph, got, sent[(k, d)]["sent"], marks[k])
            entry["failures"] += [f"{d}: {f}" for f in check(ph, entry[d])]
        results["phases"][ph.name] = entry
    return results


def lateness(results: dict) -> str:
    """the emulator's own timing over the whole calibration"""
    e = results.get("emulator", {})
    return "; ".join(f"{d}: at most {e[d]['late_max_us']} us late, {e[d]['late_1ms']} packets > 1 ms late"
                     for d in ("down", "up") if d in e)


def table(results: dict) -> str:
    rows = [f"{'phase':<8} {'dir':<4} {'set':<34} {'rate kbit/s':>11} {'loss %':>7} {'burst':>5} "
            f"{'delay ms mean/p5/p95/max':>26} {'std':>5} {'reord':>5}  result"]
    for name, e in results["phases"].items():
        setting = " ".join(f"{k}={v}" for k, v in e["settings"].items()) or "-"
        if e["steps"]:
            setting += " then " + ", ".join(f"{st['rate']}@{at:g}s" for at, st in e["steps"])
        for d in ("down", "up"):
            m = e[d]
            rate = (" / ".join(f"{r / 1e3:.0f}" for r in m["step_rates"]) if "step_rates" in m
                    else f"{m['rate'] / 1e3:.0f}")
            fails = [f for f in e["failures"] if f.startswith(d + ":")]
            rows.append(f"{name:<8} {d:<4} {setting[:34]:<34} {rate:>11} {m['loss'] * 100:7.2f} "
                        f"{m['mean_burst']:5.2f} {m['delay_mean']:8.2f}/{m['delay_p5']:5.1f}/"
                        f"{m['delay_p95']:5.1f}/{m['delay_max']:5.1f} {m['delay_std']:5.2f} {m['reorders']:5d}  "
                        + ("ok" if not fails else "FAIL " + "; ".join(fails)))
    return "\n".join(rows)


def main() -> None:
    import argparse

    from netns import reexec_in_private_netns, setup_server_netns

    ap = argparse.ArgumentParser(description="calibrate the link emulator with UDP probes")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every phase's duration")
    ap.add_argument("--json", help="write the measurements here")
    args = ap.parse_args()
    reexec_in_private_netns()
    setup_server_netns()
    results = calibrate(args.scale)
    print(f"linkemu calibration (SCHED_FIFO: {results['rt']})")
    print(table(results))
    print("emulator's own lateness: " + lateness(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    sys.exit(1 if any(e["failures"] for e in results["phases"].values()) else 0)


if __name__ == "__main__":
    main()
