"""Smoke run of bench/bench_ice_tcp.py: a short window, one round; both transports delivered
every packet to every subscriber and the loop's CPU per packet was measured for each."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(120)
def test_bench_ice_tcp_smoke():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_ice_tcp.py"), "--seconds", "1",
                        "--pps", "500", "--subscribers", "4", "--rounds", "1", "--json"],
                       cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=110)   # the installed
    # package, or the source tree when it has none (the bench decides)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for kind in ("udp", "tcp"):
        row = out["rows"][kind]
        assert row["delivered"] == row["expected"] > 0, row
        assert row["sent_in_window"] > 0 and row["us_per_packet"] > 0, row
        assert not row["drops"], row
    assert out["tcp_over_udp"] > 0
