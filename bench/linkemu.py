"""Python side of the link emulator (bench/linkemu.c): build it, wire a client namespace
to the server's through it, change its settings while it runs, collect its counters.

    server namespace (this process)                 client namespace (Namespace)
    SERVER_IP on lo, route CLIENT_IP -> sflN  <-TUN sflN | linkemu | TUN eth0->  CLIENT_IP/32, default route

"down" is server -> client, "up" client -> server.  Rates count IP bytes.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from netns import SERVER_IP, Namespace

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "linkemu.c"
BINARY = HERE / "out" / "linkemu"

DEFAULTS = dict(rate=0, burst=3000, queue_ms=100, delay=0, jitter=0, loss=0, ge=0, reorder=0)   # as linkemu starts
FIELDS = ("in_pkts", "in_bytes", "out_pkts", "out_bytes", "loss_drops", "queue_drops", "other_drops",
          "queue_bytes", "max_sojourn_us")


def build() -> Path:
    """compile linkemu.c into bench/out/ when the binary is missing or older than the source"""
    if not BINARY.exists() or BINARY.stat().st_mtime < SOURCE.stat().st_mtime:
        BINARY.parent.mkdir(exist_ok=True)
        tmp = BINARY.with_suffix(f".{os.getpid()}")
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(tmp), str(SOURCE), "-lm"],
                       check=True)
        tmp.replace(BINARY)
    return BINARY


def client_ip(index: int) -> str:
    return f"10.99.{index}.2"


@dataclass
class Sample:
    t: float                  # CLOCK_MONOTONIC seconds
    direction: str
    values: dict[str, int]


@dataclass
class Change:
    t: float                  # when the emulator applied it (CLOCK_MONOTONIC seconds)
    direction: str
    settings: dict[str, float]


@dataclass
class Link:
    """One emulated link between the server namespace and `ns` (a client's)."""

    index: int
    ns: Namespace
    stats_ms: int = 100
    seed: int = 1
    samples: list[Sample] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    rt: bool = False

    def __post_init__(self) -> None:
        self.outer = f"sfl{self.index}"
        self.ip = client_ip(self.index)
        self._replies: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            [str(build()), "--outer", self.outer, "--inner", "eth0", "--inner-ns", self.ns.path,
             "--stats-ms", str(self.stats_ms), "--seed", str(self.seed), "--max-seconds", "3600"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        ready = self.proc.stdout.readline()
        if not ready.startswith("ready"):
            raise RuntimeError(f"linkemu did not start: {ready!r} (rc {self.proc.poll()})")
        self.rt = "rt=1" in ready
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        subprocess.run(["ip", "link", "set", self.outer, "up"], check=True)
        subprocess.run(["ip", "route", "add", f"{self.ip}/32", "dev", self.outer, "src", SERVER_IP], check=True)
        self.ns.run("ip", "addr", "add", f"{self.ip}/32", "dev", "eth0")
        self.ns.run("ip", "link", "set", "eth0", "up")
        self.ns.run("ip", "route", "add", "default", "dev", "eth0", "src", self.ip)
        self.initial = self.set("both")

    def _read(self) -> None:
        for line in self.proc.stdout:
            parts = line.split()
            if parts and parts[0] == "S" and len(parts) == 3 + len(FIELDS):
                self.samples.append(Sample(int(parts[1]) / 1e6, parts[2],
                                           dict(zip(FIELDS, (int(x) for x in parts[3:])))))
            elif parts and parts[0] in ("ok", "err"):
                with self._cond:
                    self._replies.append(line.strip())
                    self._cond.notify_all()

    def _command(self, text: str, timeout: float = 5.0) -> str:
        with self._cond:
            n = len(self._replies)
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()
            if not self._cond.wait_for(lambda: len(self._replies) > n, timeout):
                raise RuntimeError(f"linkemu did not answer {text!r}")
            reply = self._replies[n]
        if reply.startswith("err"):
            raise ValueError(f"linkemu: {reply} (for {text!r})")
        return reply

    def set(self, direction: str = "both", **settings: float | str) -> Change:
        """e.g. set("down", rate=600_000, delay=40); rate 0 lifts the limit.  Keys: rate (bit/s),
        burst (bytes), queue (bytes) or queue_ms, delay and jitter (ms), loss (0..1),
        ge="p,r,loss_bad,loss_good" (Gilbert-Elliott; ge=0 turns it off), reorder (0/1)."""
        words = " ".join(f"{k}={v}" for k, v in settings.items())
        reply = self._command(f"set {direction} {words}".strip())
        head, _, rest = reply.partition(" set ")
        t = int(head.split()[1]) / 1e6
        applied = {}
        for part in rest.split(" | "):
            name, *kvs = part.split()
            applied[name] = {k: v for k, v in (kv.split("=", 1) for kv in kvs)}
        for d in ("up", "down") if direction == "both" else (direction,):
            c = Change(t, d, {k: (float(v) if "," not in v else v) for k, v in applied[d].items()})
            self.changes.append(c)
        return self.changes[-1]

    def extra_stats(self) -> dict[str, dict[str, int]]:
        """too_big, pool_full, write_errors, queued, delayed, lost_lines, late_max_us, late_1ms
        per direction"""
        with self._cond:
            n = len(self._replies)
            self.proc.stdin.write("stats\n")
            self.proc.stdin.flush()
            self._cond.wait_for(lambda: len(self._replies) >= n + 2, 5)
            lines = self._replies[n:n + 2]
        out = {}
        for line in lines:
            parts = line.split()
            out[parts[3]] = {k: int(v) for k, v in (p.split("=") for p in parts[4:])}
        return out

    def series(self, direction: str) -> list[Sample]:
        return [s for s in self.samples if s.direction == direction]

    def settings_at(self, direction: str, t: float) -> dict[str, float]:
        """the settings in force at CLOCK_MONOTONIC time t"""
        current: dict[str, float] = {}
        for c in self.changes:
            if c.direction == direction and c.t <= t:
                current = c.settings
        return current

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2)


def wait_until(t_mono: float) -> None:
    delay = t_mono - time.monotonic()
    if delay > 0:
        time.sleep(delay)
