"""A rolling restart of a two-node cluster under a live call of real livekit rtc SDK
participants: SIGTERM drains a node without cutting its call (tests/interop/livekit_sdk/drain_scenario.py)."""

from __future__ import annotations

import pytest

from helpers import scenario_runner
from helpers.sdk_venvs import CLIENT_PYTHON, require

from .test_livekit_rtc_sdk import check_received


@pytest.mark.timeout(200)
def test_sigterm_drains_a_node_without_cutting_its_call():
    python = require(CLIENT_PYTHON, "the livekit rtc SDK")
    r = scenario_runner.run_scenario("interop.livekit_sdk.drain_scenario", timeout=180,
                                     env={"SFU_LIVEKIT_PYTHON": python})
    logs = (r["a_log_tail"], r["b_log_tail"])
    bob, alice, carol = r["bob"], r["alice"], r["carol"]
    for who in (bob, alice, carol):
        assert who.get("rc") == 0 and "connect_error" not in who, (who, logs)
    # the drained node kept serving its call to the end: full-length audio and video both ways
    assert r["b_running_after_term"] and r["b_record_draining"] is True, logs
    check_received(bob["tracks"]["alice/audio"], pitch=440, seconds=10)
    check_received(alice["tracks"]["bob/audio"], pitch=660, seconds=10)
    check_received(bob["tracks"]["alice/video"], color=[200, 30, 30], seconds=10)
    # a room started during the drain went to the other node, though asked of the draining one
    assert r["room2_node"] == r["a_id"], logs
    # once the call ended the node went away cleanly, long before its 60 s drain timeout
    assert r["b_exit"] == 0 and r["b_exit_after_call_s"] < 20, (r["b_exit_after_call_s"], logs)
    assert r["b_gone_from_registry"]
    # restarted, it registers again; the other node, with nobody on it, exits at once
    assert r["b_back"] and r["a_exit"] == 0, logs
