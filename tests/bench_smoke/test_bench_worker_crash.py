"""Smoke run of bench/bench_worker_crash.py: one run; the participant of the killed worker came
back and both sides heard each other again (the figures themselves are the bench's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers.sdk_venvs import CLIENT_PYTHON, require

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(240)
def test_bench_worker_crash_smoke():
    python = require(CLIENT_PYTHON, "the livekit rtc SDK")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_worker_crash.py"), "--runs", "1", "--json"],
                       cwd=ROOT, env=dict(os.environ, SFU_LIVEKIT_PYTHON=python), capture_output=True, text=True,
                       timeout=230)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (run,) = json.loads(r.stdout.strip().splitlines()[-1])
    assert all(run[k] is not None and run[k] > 0 for k in ("rejoined_s", "alice_hears_s", "bob_hears_s")), run
