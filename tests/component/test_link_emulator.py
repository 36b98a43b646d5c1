"""The link emulator of the network benchmark (bench/linkemu.c): calibrated with UDP probes
against its settings, and its control protocol.  Needs root (namespaces, TUN devices);
everything runs in private network namespaces."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import linkemu  # noqa: E402
from netns import Namespace  # noqa: E402


def _need_root() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.fail("the link emulator needs root, unshare(1) and nsenter(1)")


@pytest.mark.timeout(180)
def test_calibration_within_tolerance(tmp_path):
    """bench_network.py --calibrate-only: probes both directions at once; the measured
    rate, delay, jitter and loss must match the settings"""
    _need_root()
    out = tmp_path / "cal.json"
    p = subprocess.run([sys.executable, str(BENCH / "bench_network.py"), "--calibrate-only",
                        "--calibrate-scale", "0.6", "--json", str(out)], capture_output=True, text=True, timeout=170)
    assert out.exists(), p.stdout[-3000:] + p.stderr[-3000:]
    cal = json.loads(out.read_text())["calibration"]["phases"]
    print(p.stdout)
    for d in ("down", "up"):
        base, delay, jit = cal["base"][d], cal["delay"][d], cal["jitter"][d]
        assert base["loss"] == 0 and base["delay_mean"] < 1.0, base            # the emulator adds < 1 ms
        assert abs(delay["delay_mean"] - 40) < 3, delay
        assert delay["loss"] == 0 and delay["reorders"] == 0, delay
        assert jit["reorders"] == 0, jit                                        # jitter without reordering
        assert jit["delay_p1"] >= 27 and jit["delay_p99"] <= 53, jit           # 40 +- 10, within 3 ms
        assert jit["delay_std"] > 2, jit                                        # and there is jitter
        late_ms = json.loads(out.read_text())["calibration"]["emulator"][d]["late_max_us"] / 1000
        # never above the rate whatever the load; below it only by what the Python probes and the
        # emulator fall behind on a busy 2-core machine (5 Mbit/s is ~600 probes/s each way)
        for name, rate, floor in (("rate_1m", 1e6, 0.75), ("rate_5m", 5e6, 0.70)):
            m = cal[name][d]
            assert floor < m["rate"] / rate < 1.10, (name, m)
            assert m["loss"] > 0.1, (name, m)        # offered above the rate: the queue tail-drops
            assert m["delay_max"] < 115 + late_ms, (name, m, late_ms)   # holds at most its 100 ms (+ its own lateness)
        assert abs(cal["loss"][d]["loss"] - 0.05) < 0.015, cal["loss"][d]
        ge = cal["ge"][d]
        # bursty, p/(p+r) = 3.85 %; over ~2,000 probes a Gilbert chain's loss rate has a standard
        # deviation of ~1.1 points (bursts of ~4 make the draws far from independent): 3 sigma
        assert abs(ge["loss"] - 0.01 / 0.26) < 0.035 and ge["mean_burst"] >= 2, ge
        assert cal["loss"][d]["mean_burst"] < 1.5                                      # random: isolated
        steps, offered = cal["steps"][d]["step_rates"], cal["steps"][d]["step_offered"]
        for got, want in zip(steps, (600e3, 250e3, offered[2])):      # unlimited: what the probes sent then
            assert abs(got / want - 1) < 0.10, (steps, offered)
        assert offered[2] > 0.8e6, offered             # the probes did offer ~1M (all of it arrives)
    assert "calibration" in p.stdout and "rate_1m" in p.stdout
    late = json.loads(out.read_text())["calibration"]["emulator"]
    assert set(late) == {"up", "down"} and all(late[d]["late_max_us"] >= 0 for d in late), late
    print("emulator lateness", late)


def _emulator(a: Namespace, b: Namespace) -> subprocess.Popen:
    proc = a.popen([str(linkemu.build()), "--outer", "t_out", "--inner", "t_in", "--inner-ns", b.path,
                    "--stats-ms", "50", "--no-rt"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                   bufsize=1)
    assert proc.stdout.readline().strip() == "ready rt=0"
    return proc


def _ask(proc: subprocess.Popen, line: str) -> str:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    while True:
        reply = proc.stdout.readline()
        assert reply, "linkemu closed its output"
        if not reply.startswith("S "):
            return reply.strip()


@pytest.mark.timeout(60)
def test_control_protocol():
    """commands are checked and answered once each; counters are printed; EOF ends it"""
    _need_root()
    with Namespace() as a, Namespace() as b:
        proc = _emulator(a, b)
        try:
            ok = _ask(proc, "set down rate=600000 delay=40 jitter=2.5 loss=0.01 queue_ms=200")
            assert ok.startswith("ok ") and "down rate=600000 burst=3000 queue=15000 delay=40.000" in ok, ok
            assert "up rate=0 " in ok, ok                        # the other direction untouched
            for bad, why in (("set down rate=-1", "rate"), ("set down loss=1.5", "loss"),
                             ("set sideways rate=1", "direction"), ("set up rate", "key=value"),
                             ("set up nonsense=1", "unknown key"), ("set up ge=0.1", "ge"),
                             ("set up burst=100", "burst"), ("jump", "unknown command"),
                             ("set up rate=12abc", "rate")):
                reply = _ask(proc, bad)
                assert reply.startswith("err") and why in reply, (bad, reply)
            again = _ask(proc, "set down ge=0.01,0.25")
            assert "down rate=600000" in again and "ge=1,0.0100,0.2500,1.0000,0.0000" in again, again
            assert "err command too long" in _ask(proc, "set up " + "x" * 2000)
            assert _ask(proc, "stats").startswith("ok ") and "pool_full=0" in proc.stdout.readline()
            # both devices exist, each in its own namespace, none in ours
            assert subprocess.run([*a.prefix(), "ip", "link", "show", "t_out"], capture_output=True).returncode == 0
            assert subprocess.run([*b.prefix(), "ip", "link", "show", "t_in"], capture_output=True).returncode == 0
            assert subprocess.run(["ip", "link", "show", "t_out"], capture_output=True).returncode != 0
            line = proc.stdout.readline().split()
            while line[0] != "S":
                line = proc.stdout.readline().split()
            assert line[2] in ("up", "down") and len(line) == 3 + len(linkemu.FIELDS)
            proc.stdin.close()                                   # the controller goes away: so does it
            assert proc.wait(5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # the devices went with the process
        assert subprocess.run([*b.prefix(), "ip", "link", "show", "t_in"], capture_output=True).returncode != 0
