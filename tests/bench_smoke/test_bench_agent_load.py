"""Smoke run of bench/bench_agent_load.py (`sfu agent-load-test` against examples/echo_agent.py, a
real livekit-agents worker, in a network namespace): 3 rooms, 5 echoes each; every room's agent
joined, every echo came back, and the percentiles are those of the measurements."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers.sdk_venvs import AGENTS_PYTHON, require

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(240)
def test_bench_agent_load_smoke(tmp_path):
    python = require(AGENTS_PYTHON, "livekit-agents")
    out = tmp_path / "agent_load.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_agent_load.py"), "--rooms", "3",
                        "--pings", "5", "--json", str(out)],
                       cwd=ROOT, env=dict(os.environ, SFU_AGENTS_PYTHON=python), capture_output=True, text=True,
                       timeout=230)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    [s] = json.loads(out.read_text())
    rooms = s["per_room"]
    assert (s["rooms"], s["agents_joined"], s["failed"]) == (3, 3, 0), rooms
    assert (s["echo_sent"], s["echo_received"], s["echo_lost"]) == (15, 15, 0), rooms
    assert all(room["agent"].startswith("agent-") and len(room["echo_ms"]) == 5 for room in rooms), rooms
    dispatch = sorted(room["dispatch_ms"] for room in rooms)
    assert 0 < s["dispatch_ms_p50"] == dispatch[1] and s["dispatch_ms_max"] == dispatch[-1], (s, dispatch)
    # the agent answers after it joined: its first echo comes later than its ParticipantUpdate
    assert all(room["answer_ms"] > room["dispatch_ms"] for room in rooms), rooms
    echo = sorted(x for room in rooms for x in room["echo_ms"])
    assert 0 < echo[0] and s["echo_ms_max"] == echo[-1] and s["echo_ms_p50"] == round(echo[7], 1), (s, echo)
    # what `sfu agent-load-test` printed, and the bench's row
    assert "dispatch -> agent in the room: p50" in s["output"] and "15 of 15 back" in s["output"], s["output"]
    assert any(line.split()[:3] == ["3", "3", "0"] for line in r.stdout.splitlines()), r.stdout
    print("\n" + r.stdout)
