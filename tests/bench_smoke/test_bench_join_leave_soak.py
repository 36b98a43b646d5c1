"""Smoke run of bench/bench_join_leave_soak.py: a few hundred join/leave cycles, nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(120)
def test_bench_join_leave_soak_smoke(tmp_path):
    out = tmp_path / "soak.json"
    res = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_join_leave_soak.py"), "--cycles", "300",
                          "--warmup", "100", "--concurrency", "4", "--seconds", "60", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["cycles"] == 300 and data["failures"] == 0
    first, last = data["samples"][0], data["samples"][-1]
    assert first["cycles"] == 100 and last["after_rooms_closed"]
    # every participant's transports and sockets were given back: no descriptor or thread left per cycle
    assert last["fds"] <= first["fds"] + 10 and last["threads"] <= first["threads"]
