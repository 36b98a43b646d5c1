"""Webhooks received by the SDKs' own receivers: livekit-api's WebhookReceiver (Python) and
livekit-server-sdk's (Node) check each request's signature and body hash and parse it, for a
call of real livekit rtc SDK participants (tests/interop/livekit_sdk/webhook_scenario.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import scenario_runner
from helpers.sdk_venvs import CLIENT_PYTHON, require

NODE_SDK = Path(__file__).resolve().parent / "node_server_sdk" / "node_modules" / "livekit-server-sdk"


def room_events(lines: list[dict]) -> list[tuple[str, str]]:
    return [(e["event"], e["participant"]) for e in lines if e.get("status") == 200]


@pytest.mark.timeout(200)
def test_webhooks_reach_python_and_node_receivers_in_order():
    python = require(CLIENT_PYTHON, "livekit-api")
    if not NODE_SDK.is_dir():
        raise RuntimeError(f"{NODE_SDK} missing: run scripts/setup (npm ci in tests/interop/node_server_sdk)")
    r = scenario_runner.run_scenario("interop.livekit_sdk.webhook_scenario", timeout=180,
                                     env={"SFU_LIVEKIT_PYTHON": python})
    assert r["bob"]["rc"] == 0 and r["alice"]["rc"] == 0, (r["bob"], r["alice"])
    assert r["all_delivered"], (r["python"], r["node"], r["receiver_output"], r["server_log_tail"])
    py, node = r["python"], r["node"]
    # every request verified (JWT signed with the API secret, sha256 of the body) and typed
    for line in py + node:
        assert line["status"] in (200, 503), line
        assert line["content_type"] == "application/webhook+json", line
    # the Python receiver refused the first two; they came again, and nothing was lost or reordered
    assert [ln["status"] for ln in py[:2]] == [503, 503]
    assert room_events(py) == room_events(node)
    events = room_events(node)
    names = [e for e, _ in events]
    assert names[0] == "room_started" and names[-1] == "room_finished" and names.count("room_started") == 1
    assert ("participant_joined", "bob") in events and ("participant_joined", "alice") in events
    assert ("participant_connection_aborted", "ghost") in events
    assert ("participant_joined", "ghost") not in events and ("participant_left", "ghost") not in events
    # bob's two tracks published after he joined, unpublished before he left
    bob = [e for e, who in events if who == "bob"]
    assert bob[0] == "participant_joined" and bob[-1] == "participant_left", bob
    assert bob.count("track_published") == 2 and bob.count("track_unpublished") == 2, bob
    assert bob.index("track_unpublished") > max(i for i, e in enumerate(bob) if e == "track_published")
    published = {e["track"] for e in node if e.get("event") == "track_published"}
    unpublished = {e["track"] for e in node if e.get("event") == "track_unpublished"}
    assert len(published) == 2 and published == unpublished and all(t.startswith("TR_") for t in published)
    # one room, one id per event, and why it ended: deleted through the API
    assert len({e["room_sid"] for e in node if e.get("status") == 200}) == 1
    ids = [e["id"] for e in node if e.get("status") == 200]
    assert len(set(ids)) == len(ids) and all(i.startswith("EV_") for i in ids)
    finished = [e for e in node if e.get("event") == "room_finished"][0]
    assert finished["end_reason"] in (1, "ROOM_END_API_DELETE"), finished
