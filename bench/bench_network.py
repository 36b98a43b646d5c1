"""Adaptive media on impaired networks, with the unmodified livekit rtc SDK.

    python bench/bench_network.py                          # calibration + the whole matrix (~8 min)
    python bench/bench_network.py --scenarios clean,down_steps --seconds 20 --json out.json --png out.png
    python bench/bench_network.py --calibrate-only
    python bench/bench_network.py --from-json out.json --png out.png    # analyse / plot a saved run again

Needs root (it re-executes itself under `unshare -n`).  The server (`sfu serve`) runs in
that private namespace on 10.99.0.1; every participant runs in a namespace of its own,
joined to the server's by a userspace link emulator (bench/linkemu.c: rate limit with a
bounded queue, delay, jitter, loss; settings changed while it runs).  The publisher
sends 720p simulcast (3 layers, a scrolling textured picture) and a 440 Hz sine.  After
a clean warm-up, each scenario's phases impair one link; per phase and subscriber the
bench prints the received layers over time, fps, freezes, key frames, audio intact
(the SDK's concealment stats and an FFT of the received audio), what the server sent
into the link against its capacity, and pass/fail against the targets of nettargets.py.
Method and the baseline: bench/README.md, "Network impairment".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from netns import reexec_in_private_netns, setup_server_netns  # noqa: E402


def fmt(x, spec: str = ".1f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def describe_publisher(pub: dict) -> str:
    parts = [f"captured {fmt(pub['captured_fps'])} fps (starved {pub['starved_s']:.1f} s)"]
    for rid in ("q", "h", "f"):
        lay = pub["layers"].get(rid)
        if lay:
            parts.append(f"{rid} {fmt(lay['height'], 'd')}p {fmt(lay['fps'])} fps {lay['wire_kbps']:.0f} kbit/s "
                         f"(target {lay['target_kbps']:.0f}, {str(lay['limitation']).replace('LIMITATION_', '')})")
    aud = pub["layers"].get("audio")
    if aud:
        parts.append(f"audio {aud['wire_kbps']:.0f} kbit/s")
    up = pub.get("uplink") or {}
    if up:
        parts.append(f"uplink offered {up['offered_kbps']:.0f} delivered {up['delivered_kbps']:.0f} kbit/s, "
                     f"drops loss {up['loss_drops']} queue {up['queue_drops']}")
    return "; ".join(parts)


HEADER = (f"{'phase':<6} {'who':<5} {'cap':>5} {'offer':>6} {'deliv':>6} {'qdrop':>5} {'fps':>5} "
          f"{'q/h/f % of frames':>17} {'sw':>3} {'frz':>3} {'frz s':>5} {'rtcfz':>5} {'key':>4} {'pli':>4} "
          f"{'nack':>5} {'aud%':>6} {'cev':>4} {'win%':>6} {'starv':>5}")


def row(phase: str, who: str, m: dict) -> str:
    d = m["downlink"] or {}
    share = "/".join(f"{100 * m['layer_share'].get(r, 0):.0f}" for r in ("q", "h", "f"))
    return (f"{phase:<6} {who:<5} {m['capacity_kbps'] or 0:5.0f} {fmt(d.get('offered_kbps'), '.0f'):>6} "
            f"{fmt(d.get('delivered_kbps'), '.0f'):>6} {fmt(d.get('queue_drops'), 'd'):>5} {m['fps']:5.1f} "
            f"{share:>17} {m['switches']:3d} {m['freezes']:3d} {m['freeze_s']:5.1f} {fmt(m['rtc_freezes'], '.0f'):>5} "
            f"{fmt(m['key_frames'], '.0f'):>4} {fmt(m['plis'], '.0f'):>4} {fmt(m['nacks'], '.0f'):>5} "
            f"{fmt(None if m['audio_intact'] is None else 100 * m['audio_intact'], '.2f'):>6} "
            f"{fmt(m['concealment_events'], '.0f'):>4} "
            f"{fmt(None if m['audio_windows_intact'] is None else 100 * m['audio_windows_intact'], '.1f'):>6} "
            f"{m['client_starved_s']:5.1f}")


def report(raw: dict, an: dict, ref: dict | None) -> dict:
    """prints one scenario; returns its verdicts {phase: {who: {"kind", "pass", "criteria"}}}"""
    from nettargets import evaluate

    lb, la = raw["load_before"], raw["load_after"]
    print(f"\n== {raw['scenario']}: {raw['description']}")
    print(f"   load avg before {lb[0]:.2f} {lb[1]:.2f} {lb[2]:.2f}, after {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; "
          f"CPU-s {raw.get('cpu_s')}")
    ready = raw.get("t_ready")
    print(f"   layers: " + ", ".join(f"{r}={h}p" for r, h in an["heights"].items())
          + ("" if ready is None else f"; video flowing {ready - raw['t_pub']:.1f} s after the publisher started"
             + ("" if raw.get("video_flowing") else " (not at every subscriber: gave up waiting)")))
    for ph in raw["phases"]:
        print(f"   publisher in {ph['name']}: {describe_publisher(an['publisher'][ph['name']])}")
    print("   " + HEADER)
    verdicts: dict = {}
    for ph in raw["phases"]:
        for who, kind in ph["targets"].items():
            m = an["subscribers"][who][ph["name"]]
            print("   " + row(ph["name"], who, m))
    for who, tl in an["timelines"].items():
        print(f"   {who} layer over time (s since publisher start): "
              + (" | ".join(f"{t:.1f} {rid}" for t, rid in tl["layers"]) or "no frames"))
        fr = tl["freezes"]
        if fr:
            print(f"   {who} freezes (start s, length s): " + ", ".join(f"{t:.1f}/{d:.1f}" for t, d in fr[:20])
                  + (" ..." if len(fr) > 20 else ""))
    for ph in raw["phases"]:
        for who, kind in ph["targets"].items():
            m = an["subscribers"][who][ph["name"]]
            crits = evaluate(kind, m, an["publisher"][ph["name"]], ph["start"], ref)
            ok = all(c[3] for c in crits)
            verdicts.setdefault(ph["name"], {})[who] = {"kind": kind, "pass": ok,
                                                        "criteria": [list(c) for c in crits]}
            print(f"   target {ph['name']}/{who} ({kind}): {'PASS' if ok else 'FAIL'} — "
                  + "; ".join(f"{n} {v} ({req}) {'ok' if p else 'X'}" for n, v, req, p in crits))
            if m["events"]:
                print(f"      SDK events: {m['events']}")
    return verdicts


def strip(an: dict) -> dict:
    """analysis without the per-frame working lists"""
    out = json.loads(json.dumps(an, default=str))
    for phases in out["subscribers"].values():
        for m in phases.values():
            m.pop("_frames", None)
            m.pop("_freezes", None)
    return out


def trim(raw: dict) -> dict:
    """the raw data without what no analysis reads (data packets, log tails)"""
    out = dict(raw, clients={who: {k: v for k, v in c.items() if k not in ("data", "output_tail")}
                             for who, c in raw["clients"].items()})
    out.pop("server_log_tail", None)
    return out


def summary(results: list[dict]) -> str:
    lines = ["| scenario | phase | subscriber | target | fps | layers q/h/f % | freezes (s) | key frames | "
             "audio intact | offered / capacity kbit/s | result | load |", "|" + "---|" * 12]
    for r in results:
        for ph in r["raw"]["phases"]:
            for who, v in r["verdicts"][ph["name"]].items():
                m = r["analysis_full"]["subscribers"][who][ph["name"]]
                d = m["downlink"] or {}
                share = "/".join(f"{100 * m['layer_share'].get(x, 0):.0f}" for x in ("q", "h", "f"))
                cap = f"{m['capacity_kbps']:.0f}" if m["capacity_kbps"] else "-"
                aud = fmt(None if m["audio_intact"] is None else 100 * m["audio_intact"], ".1f")
                lines.append(f"| {r['raw']['scenario']} | {ph['name']} | {who} | {v['kind']} | {m['fps']:.1f} | "
                             f"{share} | {m['freezes']} ({m['freeze_s']:.1f}) | {fmt(m['key_frames'], '.0f')} | "
                             f"{aud} % | {fmt(d.get('offered_kbps'), '.0f')} / {cap} | "
                             f"{'pass' if v['pass'] else 'FAIL'} | {r['raw']['load_before'][0]:.1f}-"
                             f"{r['raw']['load_after'][0]:.1f} |")
    return "\n".join(lines)


def analyse_one(raw: dict, ref: dict | None) -> dict:
    """analyse and print one scenario; ref: the clean run's subscriber metrics (or None)"""
    from netmetrics import analyse

    an = analyse(raw)
    verdicts = report(raw, an, ref if raw["scenario"] != "clean" else None)
    return {"raw": raw, "analysis_full": an, "verdicts": verdicts}


def clean_reference(result: dict) -> dict | None:
    if result["raw"]["scenario"] == "clean" and result["raw"].get("phases"):
        return result["analysis_full"]["subscribers"]["sub"]["clean"]
    return None


def analyse_all(raws: list[dict]) -> list[dict]:
    """the clean run first (the others' reference), then the rest in their order"""
    ordered = sorted(raws, key=lambda r: r["scenario"] != "clean")
    results, ref = [], None
    for raw in ordered:
        results.append(analyse_one(raw, ref))
        ref = ref or clean_reference(results[-1])
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", help="comma-separated (default: all): clean, down_steps, down_loss, up_loss, "
                    "up_800k, two_subs")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each phase (default 20)")
    ap.add_argument("--warmup", type=float, default=15.0, help="clean seconds before the first phase (default 15: "
                    "the publisher's bandwidth estimate reaches the top layer's 1.7 Mbit/s after ~13 s)")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--bitrate", type=int, default=1_700_000, help="top layer bit/s (default 1.7M, the SDK's 720p)")
    ap.add_argument("--workers", type=int, default=1, help="server media workers (default 1)")
    ap.add_argument("--queue-ms", type=float, default=100.0, help="bottleneck queue of every rate-limited link, "
                    "in ms at its rate (default 100)")
    ap.add_argument("--json", help="write everything measured (raw and analysed) here")
    ap.add_argument("--png", help="write the plot here")
    ap.add_argument("--logs", help="directory for the server's and clients' logs (default: a new temp dir)")
    ap.add_argument("--no-calibrate", action="store_true", help="skip the link emulator calibration")
    ap.add_argument("--calibrate-only", action="store_true")
    ap.add_argument("--calibrate-scale", type=float, default=1.0, help="calibration phase length factor")
    ap.add_argument("--from-json", help="analyse and plot a run saved with --json instead of running")
    args = ap.parse_args()

    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        results = analyse_all([s["raw"] for s in saved["scenarios"]])
        print("\n" + summary(results))
        if args.png:
            from netplot import plot
            plot([(r["raw"], r["analysis_full"]) for r in results], args.png, saved.get("title", args.from_json))
        return

    reexec_in_private_netns()
    setup_server_netns()
    import linkcal
    import netscenarios
    import netrun

    command = "python bench/bench_network.py " + " ".join(sys.argv[1:])
    out: dict = {"command": command, "load_start": os.getloadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"# {command}\n# load avg at start {' '.join(f'{x:.2f}' for x in out['load_start'])}, "
          f"{os.cpu_count()} CPUs")
    if not args.no_calibrate:
        cal = linkcal.calibrate(args.calibrate_scale)
        print(f"\nlink emulator calibration (UDP probes both ways at once; SCHED_FIFO: {cal['rt']}; "
              f"load {os.getloadavg()[0]:.2f})")
        print(linkcal.table(cal))
        print("emulator's own lateness: " + linkcal.lateness(cal))
        out["calibration"] = cal
        if args.calibrate_only:
            if args.json:
                Path(args.json).write_text(json.dumps(out, indent=1))
            sys.exit(1 if any(e["failures"] for e in cal["phases"].values()) else 0)
    logs = Path(args.logs or tempfile.mkdtemp(prefix="sfu-netbench-"))
    logs.mkdir(parents=True, exist_ok=True)
    opt = netrun.Options(warmup=args.warmup, width=args.width, height=args.height, bitrate=args.bitrate,
                             workers=args.workers, logs=logs, queue_ms=args.queue_ms)
    out["options"] = {k: str(v) for k, v in vars(opt).items()}
    print(f"\npublisher {args.width}x{args.height} simulcast, top {args.bitrate} bit/s; warm-up {args.warmup:g} s, "
          f"phases {args.seconds:g} s; bottleneck queues {args.queue_ms:g} ms; logs in {logs}")
    results, failed, ref = [], {}, None
    for sc in netscenarios.select(args.scenarios.split(",") if args.scenarios else None, args.seconds):
        try:     # clean comes first in the matrix: the reference of the others
            results.append(analyse_one(netrun.run(sc, opt), ref))
        except Exception as e:  # noqa: BLE001 - reported; the other scenarios still run
            failed[sc.name] = f"{type(e).__name__}: {e}"
            print(f"\n== {sc.name}: could not run: {failed[sc.name]} (logs in {logs})")
            continue
        ref = ref or clean_reference(results[-1])
        sys.stdout.flush()
    table = summary(results)
    print("\n" + table)
    out["title"] = f"{command}  (load avg {out['load_start'][0]:.2f} at start)"
    out["summary"] = table
    out["scenarios"] = [{"raw": trim(r["raw"]), "analysis": strip(r["analysis_full"]), "verdicts": r["verdicts"]}
                        for r in results]
    out["failed"] = failed
    if args.json:
        Path(args.json).write_text(json.dumps(out))
        print(f"\nwrote {args.json}")
    if args.png:
        from netplot import plot
        plot([(r["raw"], r["analysis_full"]) for r in results], args.png, out["title"])
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
