"""Smoke run of bench/bench_dispatch.py."""

from __future__ import annotations


def test_dispatch_latency_bench_smoke():
    """a small run of bench/bench_dispatch.py: every dispatch reaches a worker and
    its agent joins (the bench asserts that), with latencies far inside the
    targets even on a busy CI machine"""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "bench" / "bench_dispatch.py"
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        r = subprocess.run([sys.executable, str(bench), "--dispatches", "30", "--warmup", "3", "--json", str(out)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        res = json.loads(out.read_text())
    for path in ("dispatch", "room"):
        assert res[path]["n"] == 30
        assert res[path]["assign_ms"]["p50"] < 20 and res[path]["joined_ms"]["p50"] < 150, res
