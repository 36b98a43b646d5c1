"""Smoke run of bench/bench_cluster.py: two nodes and a redis-server, a few joins, pings and dispatches."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers.redis_server import redis_binary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(90)
def test_bench_cluster_smoke(tmp_path):
    redis_binary()         # fails with a clear message when redis-server is missing
    out = tmp_path / "bc.json"
    res = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_cluster.py"), "--joins", "20",
                          "--concurrency", "4", "--pings", "50", "--dispatches", "10", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=80)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["joins_relayed"]["joins_per_s"] > 0 and data["joins_direct"]["n"] == 20
    assert data["ping_relayed"]["rtt_ms"]["p50"] > 0 and "hop_added_ms" in data
    assert data["dispatch_cross_node"]["n"] == 10 and data["dispatch_cross_node"]["assignment_ms"]["p50"] > 0
