"""The unmodified livekit-agents package (its own venv, .venv-agents) against the
server, in a private network namespace (see tests/interop/livekit_sdk/agent_scenarios.py)."""

from __future__ import annotations

import pytest

from helpers import scenario_runner
from helpers.sdk_venvs import AGENTS_PYTHON, CLIENT_PYTHON, require


def run_scenario(name: str) -> dict:
    env = {"SFU_AGENTS_PYTHON": require(AGENTS_PYTHON, "livekit-agents"),
           "SFU_LIVEKIT_PYTHON": require(CLIENT_PYTHON, "the livekit rtc SDK")}
    return scenario_runner.run_scenario("interop.livekit_sdk.agent_scenarios", name, timeout=280, env=env)


def by_room(r: dict, worker_names: tuple[str, ...], room: str) -> dict:
    """the first event of each kind the given workers' jobs for a room recorded"""
    out: dict = {}
    for name in worker_names:
        for e in r["events"][name]:
            if e["job_room"] == room:
                out.setdefault(e["event"], e)
    return out


@pytest.mark.timeout(300)
def test_real_agent_workers_dispatch_termination_and_failover():
    r = run_scenario("dispatch")
    logs = r["worker_logs"]
    ev = by_room(r, ("named", "named2"), "my-room")
    # explicit dispatch (server.agents.create_dispatch) reached a test-agent worker's entrypoint
    assert "entrypoint" in ev, (r["events"], logs)
    entry = ev["entrypoint"]
    assert entry["metadata"] == "my_job_metadata" and entry["agent_name"] == "test-agent", entry
    assert entry["dispatch_id"] == r["created"]["id"]
    # CreateDispatch and ListDispatch came through livekit-api (Twirp)
    api_out = r["api"]
    assert api_out["created"]["agent_name"] == "test-agent" and api_out["created"]["room"] == "my-room"
    assert {"id": api_out["created"]["id"], "agent_name": "test-agent", "metadata": "my_job_metadata"} \
        in api_out["listed"]
    # ctx.connect() joined my-room as an AGENT participant, named after its job
    conn = ev["connected"]
    assert conn["room"] == "my-room" and conn["identity"] == f"agent-{entry['job_id']}"
    assert conn["attributes"].get("lk.agent.name") == "test-agent"
    agents_in_room = [p for p in r["participants"]["my-room"] if p["kind"] == "AGENT"]
    assert [p["identity"] for p in agents_in_room] == [conn["identity"]], r["participants"]
    assert agents_in_room[0]["agent_name"] == "test-agent"
    # the agent got the human's audio (10 ms frames for 2 s)
    assert ev.get("audio", {}).get("participant") == "alice" and ev["audio"]["frames"] >= 150, ev
    # the unnamed worker got only the automatic dispatch of the other room, and no named worker did
    auto = by_room(r, ("auto",), "auto-room")
    assert auto["entrypoint"]["agent_name"] == "" and by_room(r, ("named", "named2"), "auto-room") == {}
    assert [e for e in r["events"]["auto"] if e["event"] == "entrypoint"] == [auto["entrypoint"]]
    assert auto.get("audio", {}).get("participant") == "bob" and auto["audio"]["frames"] >= 150, auto
    assert [p["kind"] for p in r["participants"]["auto-room"] if p["identity"] != "bob"] == ["AGENT"]
    # dispatch state as the API lists it: one job each, finished (the agent reported success)
    [mine] = r["dispatches"]["my-room"]
    assert mine["agent_name"] == "test-agent" and mine["metadata"] == "my_job_metadata"
    assert [(j["id"], j["status"]) for j in mine["jobs"]] == [(entry["job_id"], "JS_SUCCESS")], mine
    [implicit] = r["dispatches"]["auto-room"]
    assert implicit["agent_name"] == "" and [j["status"] for j in implicit["jobs"]] == ["JS_SUCCESS"]
    # deleting a dispatch cancels its job; the agent is out of the room within the grace period
    # (this SDK closes the job process, which waits for the entrypoint, so the server removes it)
    assert [j["status"] for j in r["term"]["deleted"]["jobs"]] == ["JS_CANCELLED"]
    assert r["term"]["leave_s"] < 4.0, r["term"]
    # the killed worker's job runs again on the other test-agent worker, same job id
    mv = r["move"]
    other = "named2" if mv["killed"] == "named" else "named"
    moved = by_room(r, (other,), "move-room")
    assert moved["entrypoint"]["job_id"] == mv["job_id"] and moved["connected"]["identity"] == f"agent-{mv['job_id']}"
    assert mv["agents"] == [f"agent-{mv['job_id']}"] and mv["rejoined_s"] < 10, mv
    [job] = mv["dispatch"][0]["jobs"]
    assert job["id"] == mv["job_id"] and job["status"] == "JS_RUNNING"
    # the dispatch made before any worker registered ran once one did
    assert [j["status"] for j in r["early"]["created"]["jobs"]] == ["JS_PENDING"]
    [early] = r["early"]["listed"]
    assert [j["status"] for j in early["jobs"]] == ["JS_SUCCESS"], early
    early_entry = by_room(r, ("named", "named2"), "early-room")["entrypoint"]
    assert early_entry["dispatch_id"] == early["id"]
    # the humans were fine throughout
    for h in r["humans"]:
        assert h.get("rc") == 0 and "connect_error" not in h, h
    print(f"\nworkers registered after {r['register_s']} s; dispatch -> entrypoint "
          f"{(entry['t'] - r['t_dispatch']) * 1000:.0f} ms, -> connected {(conn['t'] - r['t_dispatch']) * 1000:.0f} ms;"
          f" failover: reassigned {mv['reassigned_s']} s, rejoined {mv['rejoined_s']} s after the kill")
