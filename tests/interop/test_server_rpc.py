"""RoomService.PerformRpc answered by an unmodified livekit rtc SDK participant's registered
method (tests/interop/livekit_sdk/server_rpc_scenario.py)."""

from __future__ import annotations

import json

import pytest

from helpers import scenario_runner
from helpers.sdk_venvs import CLIENT_PYTHON, require


@pytest.mark.timeout(150)
def test_perform_rpc_reaches_the_participants_method_and_brings_its_answer_back():
    python = require(CLIENT_PYTHON, "the livekit rtc SDK")
    r = scenario_runner.run_scenario("interop.livekit_sdk.server_rpc_scenario", timeout=120,
                                     env={"SFU_LIVEKIT_PYTHON": python})
    calls, bob = r["calls"], r["bob"]
    assert r["bob_in"] and bob.get("rc") == 0, (bob, r["log_tail"])
    assert json.loads(calls["echo"]) == {"by": "bob", "caller": "", "payload": "from the server"}
    assert json.loads(calls["echo2"])["payload"] == "again"
    assert {"from": "", "payload": "from the server"} in bob["rpc_received"]      # the caller: the server
    # the SDK's own error for a method it has not registered, and a participant who is not there
    assert calls["unknown_method"]["code"] == "unknown" and calls["unknown_method"]["meta"]["rpc_code"] == "1400"
    assert calls["unknown_participant"]["code"] == "not_found"
    print(f"\nPerformRpc round trip: {calls['echo_ms']:.1f} ms, then {calls['echo2_ms']:.1f} ms")
