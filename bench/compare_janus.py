#!/usr/bin/env python3
"""One publisher -> N subscribers through Janus's videoroom and through our server, in one run.

    python bench/compare_janus.py                       # N = 1, 5, 10, 25, 50, 100; 10 s each
    python bench/compare_janus.py --subscribers 1,10 --duration 5 --png /tmp/cmp.png
    python bench/compare_janus.py --smoke --json out.json   # the test suite's short run

Runs as root: it re-executes itself in a private network namespace (``unshare -n``) with a
veth address (libnice and libwebrtc-like stacks ignore loopback), installs Debian's ``janus``
when missing (bench/janus_server.py), and starts both servers there:

* Janus 1.1 (Debian), videoroom + HTTP transport only, logging at level 2;
* ours: ``sfu serve`` with ``--workers`` media workers (default 1).

For each N, both servers get the same load from the same simulated peers
(:mod:`sfu.loadtest`: real ICE, DTLS-SRTP, media generated and checked in C): one VP8
video publisher at ``--bitrate`` and ``--fps``, N subscribers. The servers' CPU time
(psutil, user + system over the whole process tree) during the media window is divided by
the packets the subscribers received: CPU-seconds per forwarded packet. The order of the
two servers alternates with N so neither always runs on a warmer machine.

Output: a table per N, the ratio ours/Janus (target <= 0.5), and a PNG of forwarded packets/s
and server CPU against N for both (``--png``, default bench/results/compare_janus.png).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NETNS_MARK = "SFU_COMPARE_NETNS"
IP = "10.98.0.1"
TARGET_RATIO = 0.5


def _import_paths() -> None:
    """bench/ for the Janus modules; the installed sfu package (or the source tree); tests/helpers
    for the `sfu serve` starter."""
    sys.path.insert(0, HERE)
    try:
        import sfu._native  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.dirname(HERE))
    sys.path.append(os.path.join(os.path.dirname(HERE), "tests"))


# ---------------------------------------------------------------------- our server


async def run_ours(server: "ServerProcess", n: int, args: argparse.Namespace) -> dict:  # noqa: F821
    from sfu.loadtest import runner
    opts = runner.Options(url=server.url, room_prefix=f"cmp-{n}-{random.getrandbits(20)}", video_publishers=1,
                          subscribers=n, duration=args.duration, video_resolution=args.resolution,
                          video_bitrate=args.bitrate, video_fps=args.fps, bind_ip=server.host,
                          progress=False)
    return await runner.run(opts, out=lambda s: None)


# ---------------------------------------------------------------------- Janus


async def run_janus(janus, n: int, args: argparse.Namespace) -> dict:
    import psutil
    from janus_client import JanusSession, build_answer, build_offer, parse_sdp

    from sfu.loadtest.engine import SenderSpec
    from sfu.loadtest.peer import Peer, RemoteTransport
    from sfu.loadtest.runner import DEFAULT_VIDEO_BITRATE, MediaRun, ProcessMeter, RecvEntry, SendEntry

    room = random.randint(1, 2**31)
    peers: list = []
    async with JanusSession(janus.url) as s:
        pub_h = await s.attach()
        await pub_h.create_room(room, publishers=1)
        pub = Peer(IP)
        peers.append(pub)
        ssrc = random.getrandbits(31) | 1
        offer = build_offer(pub.ufrag, pub.pwd, pub.fingerprint(), IP, pub.port, ssrc)
        answer = await pub_h.publish(room, offer)
        remote = RemoteTransport.from_sdp(answer)
        await pub.connect(remote, local_setup="active" if remote.setup == "passive" else "passive",
                          controlling=True)
        await pub_h.wait_event("webrtcup", 10)
        vpt = parse_sdp(answer).by_kind("video").pt("VP8") or 96
        recvs = []
        sem = asyncio.Semaphore(8)

        async def subscribe(i: int) -> None:
            async with sem:
                h = await s.attach()
                offer = await h.subscribe(room, pub_h.feed_id)
                p = Peer(IP)
                peers.append(p)
                desc = parse_sdp(offer)
                video = desc.by_kind("video")
                remote = RemoteTransport.from_sdp(offer)
                await h.start(build_answer(offer, p.ufrag, p.pwd, p.fingerprint(), IP, p.port, setup="active"))
                await p.connect(remote, local_setup="active", controlling=False)
                recvs.append(RecvEntry(f"sub-{i}", p, {video.media_ssrc: ("video", "video", "pub")},
                                       {video.pt("VP8"): 90000}))

        await asyncio.gather(*(subscribe(i) for i in range(n)))
        bitrate = args.bitrate or DEFAULT_VIDEO_BITRATE.get(args.resolution, 1_000_000)
        spec = SenderSpec(fd=pub.sock.fileno(), addr=pub.selected, srtp=pub.tx, ssrc=ssrc, pt=vpt, kind="video",
                          codec="vp8", clock_rate=90000, bitrate=bitrate, fps=args.fps, keyframe_interval=2.0)
        run = MediaRun([SendEntry("pub", "video", "video", "", pub, spec)], recvs,
                       meter=ProcessMeter(psutil.Process(janus.pid)))
        try:
            await run.run(args.duration)
            rep = run.report()
            rep["setup"] = {"srtp_profiles": sorted({p.profile for p in peers if p.profile})}
        finally:
            run.close()
        try:
            await pub_h.request({"request": "destroy", "room": room}, timeout=5)
        except Exception:
            pass
    return rep


# ---------------------------------------------------------------------- comparison


def _point(server: str, n: int, rep: dict) -> dict:
    sm, sv = rep["summary"], rep.get("server") or {}
    got = sm["packets_received"]
    cpu = sv.get("cpu_seconds", 0.0)
    return {"server": server, "subscribers": n, "duration_s": sm["duration_s"], "sent": sm["packets_sent"],
            "delivered": got, "delivered_per_sub": got / n if n else 0, "forwarded_pps": sm["received_pps"],
            "loss_pct": sm["loss_pct"], "streams_without_packets": sm["streams_without_packets"],
            "cpu_s": cpu, "cpu_pct": sv.get("cpu_percent", 0.0), "rss_mb": sv.get("rss_mb", 0.0),
            "cpu_us_per_packet": 1e6 * cpu / got if got else None,
            "latency_p50_ms": sm.get("latency_p50_ms_median"),
            "srtp_profiles": (rep.get("setup") or {}).get("srtp_profiles", [])}


def plot(points: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(15, 4.5))
    for server, style in (("ours", "o-"), ("janus", "s--")):
        pts = sorted((p for p in points if p["server"] == server), key=lambda p: p["subscribers"])
        ns = [p["subscribers"] for p in pts]
        a1.plot(ns, [p["forwarded_pps"] for p in pts], style, label=server)
        a2.plot(ns, [p["cpu_pct"] for p in pts], style, label=server)
        a3.plot(ns, [p["cpu_us_per_packet"] or 0 for p in pts], style, label=server)
    a1.set(title="forwarded packets/s", xlabel="subscribers", ylabel="packets/s")
    a2.set(title="server CPU (% of one core)", xlabel="subscribers", ylabel="%")
    a3.set(title="server CPU per forwarded packet", xlabel="subscribers", ylabel="µs")
    for a in (a1, a2, a3):
        a.grid(True, alpha=0.3)
        a.legend()
    fig.suptitle("1 publisher -> N subscribers: Janus videoroom vs ours (same machine, same load)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


async def compare(args: argparse.Namespace) -> dict:
    from janus_server import JanusServer, ensure_janus, netns_setup
    iface = netns_setup(IP)
    ensure_janus()
    janus = JanusServer(IP, iface=iface, debug_level=2).start()
    from helpers.server_process import ServerProcess
    ours = ServerProcess(host=IP, workers=args.workers, log_level="WARNING")
    points: list[dict] = []
    try:
        ours.ready()
        for k, n in enumerate(args.subscribers):
            order = ("ours", "janus") if k % 2 == 0 else ("janus", "ours")
            for server in order:
                await asyncio.sleep(args.pause)          # let the last run's sockets and timers settle
                if server == "ours":
                    rep = await run_ours(ours, n, args)
                else:
                    rep = await run_janus(janus, n, args)
                p = _point(server, n, rep)
                points.append(p)
                print(f"  N={n:<4} {server:<6} delivered {p['delivered']:>8} ({p['forwarded_pps']:>8.0f}/s)  "
                      f"loss {p['loss_pct']:.2f}%  cpu {p['cpu_s']:.2f} s ({p['cpu_pct']:.0f}%)  "
                      f"{(p['cpu_us_per_packet'] or 0):.2f} us/pkt  {','.join(p['srtp_profiles'])}", flush=True)
    finally:
        ours.stop()
        janus.stop()
    return {"points": points}


def summarize(points: list[dict]) -> dict:
    rows = []
    for n in sorted({p["subscribers"] for p in points}):
        o = next(p for p in points if p["server"] == "ours" and p["subscribers"] == n)
        j = next(p for p in points if p["server"] == "janus" and p["subscribers"] == n)
        ratio = (o["cpu_us_per_packet"] / j["cpu_us_per_packet"]
                 if o["cpu_us_per_packet"] and j["cpu_us_per_packet"] else None)
        same = abs(o["delivered"] - j["delivered"]) / max(j["delivered"], 1)
        rows.append({"subscribers": n, "ours_us_per_pkt": o["cpu_us_per_packet"],
                     "janus_us_per_pkt": j["cpu_us_per_packet"], "ratio": ratio,
                     "ours_delivered": o["delivered"], "janus_delivered": j["delivered"],
                     "delivered_diff_pct": round(100 * same, 2)})
    o_cpu = sum(p["cpu_s"] for p in points if p["server"] == "ours")
    j_cpu = sum(p["cpu_s"] for p in points if p["server"] == "janus")
    o_pk = sum(p["delivered"] for p in points if p["server"] == "ours")
    j_pk = sum(p["delivered"] for p in points if p["server"] == "janus")
    overall = (o_cpu / o_pk) / (j_cpu / j_pk) if o_pk and j_pk and j_cpu else None
    return {"rows": rows, "overall_ratio": overall}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subscribers", default="1,5,10,25,50,100", help="comma-separated N values")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of media per point")
    ap.add_argument("--resolution", default="720p")
    ap.add_argument("--bitrate", type=int, default=1_700_000, help="video bits/s (1.7 Mbit/s)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=1, help="our media workers (1)")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between points")
    ap.add_argument("--png", default=os.path.join(HERE, "results", "compare_janus.png"))
    ap.add_argument("--json", help="write points and summary as JSON")
    ap.add_argument("--smoke", action="store_true", help="N = 1, 10 for 3 s each (the test suite's run)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.subscribers, args.duration, args.pause = "1,10", 3.0, 0.3
    args.subscribers = [int(x) for x in str(args.subscribers).split(",") if x.strip()]
    if os.environ.get(NETNS_MARK) != "1":
        if os.geteuid() != 0:
            print("compare_janus: needs root (network namespace, apt-get install janus)", file=sys.stderr)
            return 2
        env = dict(os.environ, **{NETNS_MARK: "1"})
        return subprocess.call(["unshare", "-n", sys.executable, os.path.abspath(__file__), *argv], env=env)
    _import_paths()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    cmd = "python bench/compare_janus.py " + " ".join(argv)
    print(f"# {cmd}\n# 1 VP8 publisher at {args.bitrate / 1e6:g} Mbit/s, {args.fps:g} fps -> N subscribers; "
          f"{args.duration:g} s per point; ours with {args.workers} media worker(s)", flush=True)
    res = asyncio.run(compare(args))
    res["summary"] = summarize(res["points"])
    res["command"] = cmd
    print(f"\n{'N':>4} {'ours us/pkt':>12} {'janus us/pkt':>13} {'ratio':>7} {'ours delivered':>15} "
          f"{'janus delivered':>16}")
    for r in res["summary"]["rows"]:
        ratio = f"{r['ratio']:.3f}" if r["ratio"] is not None else "-"
        print(f"{r['subscribers']:>4} {r['ours_us_per_pkt'] or 0:>12.2f} {r['janus_us_per_pkt'] or 0:>13.2f} "
              f"{ratio:>7} {r['ours_delivered']:>15} {r['janus_delivered']:>16}")
    ov = res["summary"]["overall_ratio"]
    verdict = "met" if ov is not None and ov <= TARGET_RATIO else "NOT met"
    print(f"\nCPU-seconds per forwarded packet, ours / Janus, all points: "
          f"{ov:.3f} (target <= {TARGET_RATIO}: {verdict})" if ov is not None else "\nno ratio: a server delivered nothing")
    plot(res["points"], args.png)
    print(f"plot: {args.png}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
