"""The unmodified livekit-agents package (its own venv, .venv-agents) against the
server, in a private network namespace (see tests/rtc/agent_scenarios.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
AGENTS_PYTHON = os.environ.get("SFU_AGENTS_PYTHON") or str(TESTS.parent / ".venv-agents" / "bin" / "python")
CLIENT_PYTHON = os.environ.get("SFU_LIVEKIT_PYTHON") or str(TESTS.parent / ".venv-client" / "bin" / "python")


def run_scenario(name: str) -> dict:
    if not os.path.exists(AGENTS_PYTHON):
        pytest.fail(f"no Python with livekit-agents at {AGENTS_PYTHON}: run ./scripts/setup")
    if not os.path.exists(CLIENT_PYTHON):
        pytest.fail(f"no client Python with the livekit SDK at {CLIENT_PYTHON}: run ./scripts/setup")
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.fail("real-client tests need root and unshare(1) for a private network namespace")
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path, SFU_LIVEKIT_PYTHON=CLIENT_PYTHON, SFU_AGENTS_PYTHON=AGENTS_PYTHON)
    p = subprocess.run(["unshare", "-n", sys.executable, "-m", "rtc.agent_scenarios", name], cwd=TESTS, env=env,
                       capture_output=True, text=True, timeout=280)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(300)
def test_explicit_and_automatic_dispatch_to_real_agent_workers():
    r = run_scenario("dispatch")
    named, auto = r["events"]["named"], r["events"]["auto"]
    ev = {e["event"]: e for e in named}
    # explicit dispatch (server.agents.create_dispatch) reached the test-agent worker's entrypoint
    assert "entrypoint" in ev, (named, r["worker_logs"]["named"])
    entry = ev["entrypoint"]
    assert entry["metadata"] == "my_job_metadata" and entry["agent_name"] == "test-agent", entry
    assert entry["room"] == "my-room" and entry["dispatch_id"] == r["created"]["id"]
    # ctx.connect() joined my-room as an AGENT participant, named after its job
    conn = ev["connected"]
    assert conn["room"] == "my-room" and conn["identity"] == f"agent-{entry['job_id']}"
    assert conn["attributes"].get("lk.agent.name") == "test-agent"
    agents_in_room = [p for p in r["participants"]["my-room"] if p["kind"] == "AGENT"]
    assert [p["identity"] for p in agents_in_room] == [conn["identity"]], r["participants"]
    assert agents_in_room[0]["agent_name"] == "test-agent"
    # the agent got the human's audio (10 ms frames for 2 s)
    assert ev.get("audio", {}).get("participant") == "alice" and ev["audio"]["frames"] >= 150, named
    # the unnamed worker got only the automatic dispatch of the other room
    auto_ev = {e["event"]: e for e in auto}
    assert auto_ev["entrypoint"]["room"] == "auto-room" and auto_ev["entrypoint"]["agent_name"] == ""
    assert auto_ev.get("audio", {}).get("participant") == "bob" and auto_ev["audio"]["frames"] >= 150, auto
    assert [p["kind"] for p in r["participants"]["auto-room"] if p["identity"] != "bob"] == ["AGENT"]
    # dispatch state as the API lists it: one job each, finished (the agent reported success)
    [mine] = r["dispatches"]["my-room"]
    assert mine["agent_name"] == "test-agent" and mine["metadata"] == "my_job_metadata"
    assert [(j["id"], j["status"]) for j in mine["jobs"]] == [(entry["job_id"], "JS_SUCCESS")], mine
    [implicit] = r["dispatches"]["auto-room"]
    assert implicit["agent_name"] == "" and [j["status"] for j in implicit["jobs"]] == ["JS_SUCCESS"]
    # the humans were fine throughout
    for h in r["humans"]:
        assert h.get("rc") == 0 and "connect_error" not in h, h
    print(f"\nworkers registered after {r['register_s']} s; dispatch -> entrypoint "
          f"{(entry['t'] - r['t_dispatch']) * 1000:.0f} ms, -> connected {(conn['t'] - r['t_dispatch']) * 1000:.0f} ms")
