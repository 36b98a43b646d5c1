"""Smoke run of bench/compare_janus.py: the same 1 -> N load through Janus and through ours.

Checks that the comparison measures something real: both servers delivered every packet to
every subscriber (the same count), CPU was measured for both, the ratio is computed from
those numbers, and the plot is a PNG. The ratio bound here is loose (ours must be cheaper
per packet than Janus); the issue's 0.5x target is checked by the full bench run, whose
figures are in bench/README.md, because 3-second windows give only a few CPU clock ticks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.scenario_runner import require_netns
from helpers.server_process import PKG_ROOT

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(150)
def test_compare_janus_smoke(tmp_path):
    require_netns("the Janus comparison")
    out, png = tmp_path / "cmp.json", tmp_path / "cmp.png"
    env = dict(os.environ, PYTHONPATH=PKG_ROOT)
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "compare_janus.py"), "--smoke", "--json", str(out),
                        "--png", str(png)], cwd=PKG_ROOT, env=env, capture_output=True, text=True, timeout=140)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    res = json.loads(out.read_text())
    points = res["points"]
    assert sorted((q["server"], q["subscribers"]) for q in points) == [
        ("janus", 1), ("janus", 10), ("ours", 1), ("ours", 10)]
    for q in points:
        assert q["delivered"] > 0 and q["streams_without_packets"] == 0 and q["loss_pct"] < 1.0, q
        # every subscriber got what the publisher sent (the generator's count is the same for both)
        assert q["delivered"] >= 0.97 * q["sent"] * q["subscribers"], q
        assert q["cpu_s"] > 0, q
    for r in res["summary"]["rows"]:
        assert r["delivered_diff_pct"] < 3.0, r
    ov = res["summary"]["overall_ratio"]
    o = [q for q in points if q["server"] == "ours"]
    j = [q for q in points if q["server"] == "janus"]
    expect = (sum(q["cpu_s"] for q in o) / sum(q["delivered"] for q in o)) / \
             (sum(q["cpu_s"] for q in j) / sum(q["delivered"] for q in j))
    assert ov == pytest.approx(expect, rel=1e-6)
    assert ov < 1.0, f"ours used {ov:.2f}x Janus's CPU per forwarded packet:\n{p.stdout}"
    assert "CPU-seconds per forwarded packet, ours / Janus" in p.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
