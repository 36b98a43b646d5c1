"""Smoke run of bench/bench_parse.py: few iterations, one repetition.

Checks that it measured every function it names (parse and demux in the C loop
and through cffi, SRTP protect and unprotect for both replay windows and sizes),
with numbers that can be true: a call through cffi costs more than the same
call in a C loop, SRTP costs more than copying the packet."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(120)
def test_bench_parse_smoke(tmp_path):
    out = tmp_path / "parse.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_parse.py"), "--iters", "20000",
                        "--srtp-iters", "2000", "--repeat", "1", "--json", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    names = [c["name"] for c in res["calls"]]
    assert sum(n.startswith("rtp_parse") for n in names) == 3 and sum(n.startswith("demux") for n in names) == 2
    for c in res["calls"]:
        assert 0 < c["c_loop_ns"] < c["cffi_ns"], c
    assert sorted((s["window"], s["size"]) for s in res["srtp"]) == [(128, 200), (128, 1200), (1024, 200),
                                                                      (1024, 1200)]
    for s in res["srtp"]:
        assert s["protect_ns"] > 0 and s["unprotect_ns"] > 0 and s["copy_ns"] >= 0, s
