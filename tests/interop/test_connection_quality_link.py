"""ConnectionQualityUpdate from a real impaired link: alice's uplink to the media port loses 20 %
of its packets (nftables, at random) 8 s into a call with the unmodified rtc SDK
(tests/interop/livekit_sdk/connect_scenarios.py impaired_uplink_quality).  Everyone is told
alice's quality fell; bob's stays EXCELLENT."""

from __future__ import annotations

import pytest
from livekit.protocol import models

from .test_connectivity import run_scenario

EXCELLENT, POOR, GOOD = models.ConnectionQuality.EXCELLENT, models.ConnectionQuality.POOR, models.ConnectionQuality.GOOD


@pytest.mark.timeout(300)
def test_a_lossy_uplink_lowers_that_publishers_connection_quality():
    r = run_scenario("impaired_uplink_quality")
    assert "counter packets 0 " not in r["nft"], r["nft"]              # the rule did drop
    for viewer in ("bob", "alice"):
        seen = r[viewer].get("quality") or []
        cut = r["impaired_s"][viewer]
        before = [q["quality"] for q in seen if q["who"] == "alice" and q["t"] < cut]
        after = [q["quality"] for q in seen if q["who"] == "alice" and q["t"] > cut + 6]   # a report later
        bob = [q["quality"] for q in seen if q["who"] == "bob"]
        assert before and all(q == EXCELLENT for q in before), (viewer, seen)
        assert after and all(q in (POOR, GOOD) for q in after), (viewer, seen, r["server_log_tail"])
        assert bob and all(q == EXCELLENT for q in bob), (viewer, seen)
    print("\nalice's quality as bob saw it:", [(q["t"], q["quality"]) for q in r["bob"]["quality"] if q["who"] == "alice"])
