"""Smoke run of bench/bench_pacer.py: few iterations, one repetition; every case ran (the helper
returns a negative figure when the pacer did not behave as the case means) and printed a cost."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(120)
def test_bench_pacer_smoke():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_pacer.py"), "--iters", "20000",
                        "--repeat", "1"], cwd=os.path.join(ROOT, "bench"),
                       env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    figures = dict(re.findall(r"^(.+?)\s+(\d+\.\d)$", r.stdout, re.M))
    assert len(figures) == 4, r.stdout
    ns = {name.strip(): float(v) for name, v in figures.items()}
    assert all(v > 0 for v in ns.values()), ns
    # holding a packet one step (two more copies) costs more than letting it pass
    assert ns["queued one step (+2 copies)"] > ns["pass-through (no rate)"], ns
