"""Smoke run of bench/bench_loadtest_engine.py: half a second of one SRTP-GCM sender thread.

Checks that both numbers it prints were measured: packets built per CPU-second
and packets the sender thread handed to the kernel, with no send errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(60)
def test_bench_loadtest_engine_smoke():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_loadtest_engine.py"), "--seconds", "0.5",
                        "--mode", "gcm", "--senders", "2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=50)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    build = re.search(r"^build\s+gcm\s+1200 B:\s+(\d+) packets/s of CPU", r.stdout, re.M)
    send = re.search(r"^send_run\s+gcm\s+1200 B:\s+(\d+) packets/s \((\d+) in [\d.]+ s, thread CPU \d+ %, "
                     r"send errors (\d+)\)", r.stdout, re.M)
    assert build and send, r.stdout
    assert int(build.group(1)) > 10_000, r.stdout
    assert int(send.group(1)) > 1_000 and int(send.group(2)) > 500 and int(send.group(3)) == 0, r.stdout
