"""One scenario of bench_network.py, end to end: a fresh `sfu serve` in this (the server's)
namespace, one namespace + emulated link per participant, the livekit rtc SDK clients
(tests/helpers/sdk_client/lkclient.py, client venv) inside them, the link changes on schedule, and
everything they recorded.  Times in the returned data are CLOCK_MONOTONIC seconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from linkemu import DEFAULTS, Link, wait_until
from netns import SERVER_IP, Namespace
from netscenarios import Scenario

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from helpers import sdk_client  # noqa: E402  (the real-SDK participant the tests use too)
from helpers.sfu_server import SfuServer, token  # noqa: E402

PORT = 7880
URL = f"ws://{SERVER_IP}:{PORT}"
AUDIO_HZ = 440
START_S = 60.0        # the longest we wait for every subscriber's first video frame


@dataclass
class Options:
    warmup: float = 10.0          # clean links before the first phase: the publisher ramps up
    width: int = 1280
    height: int = 720
    bitrate: int = 1_700_000      # top layer; the SDK derives the lower layers
    workers: int = 1
    stats_every: float = 1.0
    logs: Path = Path("/tmp")
    queue_ms: float = 100.0       # the bottleneck queue of a rate-limited link


class CpuMeter:
    """CPU seconds (user + system) of processes and their children, sampled every second
    while they run, so a process that has exited still has its last figure."""

    def __init__(self) -> None:
        self.procs: dict[str, psutil.Process] = {}
        self.cpu: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def add(self, name: str, pid: int) -> None:
        self.procs[name] = psutil.Process(pid)

    def start(self) -> None:
        self.t0 = time.monotonic()
        self._thread.start()

    def _sample(self) -> None:
        for name, p in list(self.procs.items()):
            try:
                total = sum(sum(q.cpu_times()[:2]) for q in [p, *p.children(recursive=True)])
                self.cpu[name] = max(self.cpu.get(name, 0.0), total)
            except psutil.Error:
                pass

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    def stop(self) -> dict:
        self._sample()
        self._stop.set()
        self._thread.join(3)
        wall = time.monotonic() - self.t0
        return {"wall_s": round(wall, 1), **{k: round(v, 1) for k, v in self.cpu.items()}}


def _desired(sc: Scenario, phase_links: dict, who: str, direction: str, queue_ms: float) -> dict:
    return {**DEFAULTS, "queue_ms": queue_ms, **sc.base.get(who, {}).get(direction, {}),
            **phase_links.get(who, {}).get(direction, {})}


def _wait_first_video(paths: list[Path], timeout: float) -> bool:
    """until every client log has its first_video line (lkclient prints it with "timeline")"""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all('"event": "first_video"' in p.read_text(errors="replace") for p in paths):
            return True
        time.sleep(0.1)
    return False


def run(sc: Scenario, opt: Options) -> dict:
    """The clients run until SIGTERM after the last phase (their own limit is a bound);
    the warm-up starts when every subscriber has its first video frame."""
    who_all = ["pub", *sc.subscribers]
    total = START_S + opt.warmup + sum(ph.seconds for ph in sc.phases) + 10
    out: dict = {"scenario": sc.name, "description": sc.description, "load_before": os.getloadavg()}
    server = SfuServer(SERVER_IP, PORT, workers=opt.workers, log_path=str(opt.logs / f"{sc.name}-server.log"))
    nss: dict[str, Namespace] = {}
    links: dict[str, Link] = {}
    procs: dict = {}
    files: dict = {}
    cpu = CpuMeter()
    cpu.add("server", server.proc.pid)
    try:
        for i, who in enumerate(who_all, start=1):
            nss[who] = Namespace()
            links[who] = Link(i, nss[who], seed=i)
            for d in ("up", "down"):
                links[who].set(d, **_desired(sc, {}, who, d, opt.queue_ms))
        out["server_before"] = server.stats()
        common = dict(timeline=True, stats_every=opt.stats_every)
        for who in who_all:
            files[who] = open(opt.logs / f"{sc.name}-{who}.log", "w")
        for who in sc.subscribers:      # first, so they see the tracks published
            procs[who] = sdk_client.client(token(who), "subscriber", total, URL,
                                          prefix=nss[who].prefix(), stdout=files[who], **common)
        time.sleep(1.0)
        procs["pub"] = sdk_client.client(
            token("pub"), "publisher", total, URL, prefix=nss["pub"].prefix(), stdout=files["pub"],
            simulcast=True, width=opt.width, height=opt.height, bitrate=opt.bitrate, pattern="moving",
            freq=AUDIO_HZ, **common)
        out["t_pub"] = time.monotonic()
        out["video_flowing"] = _wait_first_video([opt.logs / f"{sc.name}-{w}.log" for w in sc.subscribers], START_S)
        out["t_ready"] = time.monotonic()
        t = out["t_ready"] + opt.warmup
        for who, p in procs.items():
            cpu.add(who, p.pid)
        for who, link in links.items():
            cpu.add(f"linkemu-{who}", link.proc.pid)
        cpu.start()
        out["phases"] = []
        for ph in sc.phases:
            wait_until(t)
            for who in who_all:
                for d in ("up", "down"):
                    links[who].set(d, **_desired(sc, ph.links, who, d, opt.queue_ms))
            start = time.monotonic()
            out["phases"].append({"name": ph.name, "start": start, "end": start + ph.seconds,
                                  "links": ph.links, "targets": ph.targets})
            t = start + ph.seconds
        wait_until(t)
        for p in procs.values():
            p.terminate()              # lkclient: disconnect and report
        deadline = time.monotonic() + 60
        for who, p in procs.items():
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        out["cpu_s"] = cpu.stop()
        out["server_after"] = server.stats()
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in files.values():
            f.close()
        out["links"] = {}
        for who, link in links.items():
            extra = link.extra_stats() if link.proc.poll() is None else {}
            link.close()
            out["links"][who] = {
                "rt": link.rt, "extra": extra,
                "changes": [[c.t, c.direction, c.settings] for c in link.changes],
                **{d: [[s.t, *s.values.values()] for s in link.series(d)] for d in ("up", "down")}}
        for ns in nss.values():
            ns.close()
        out["server_log_tail"] = server.stop()[-3000:]
    out["clients"] = {}
    for who in who_all:
        text = (opt.logs / f"{sc.name}-{who}.log").read_text(errors="replace")
        out["clients"][who] = sdk_client.parse_result(text, procs[who].returncode if who in procs else None)
    out["load_after"] = os.getloadavg()
    return out
