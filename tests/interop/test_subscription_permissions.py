"""Subscription permissions set by an unmodified livekit rtc SDK publisher are enforced by the
server (tests/interop/livekit_sdk/permissions_scenario.py): alice allows only bob for a while,
then everyone again."""

from __future__ import annotations

import pytest

from helpers import scenario_runner
from helpers.sdk_venvs import CLIENT_PYTHON, require


def gaps(per_second: dict[str, int]) -> list[int]:
    """the seconds without audio between the first and the last second with some"""
    secs = sorted(int(s) for s, n in per_second.items() if n > 0)
    return [s for s in range(secs[0], secs[-1]) if str(s) not in per_second]


@pytest.mark.timeout(150)
def test_a_publisher_limits_who_may_subscribe():
    python = require(CLIENT_PYTHON, "the livekit rtc SDK")
    r = scenario_runner.run_scenario("interop.livekit_sdk.permissions_scenario", timeout=120,
                                     env={"SFU_LIVEKIT_PYTHON": python})
    alice, bob, carol = r["alice"], r["bob"], r["carol"]
    for c in (alice, bob, carol):
        assert c.get("rc") == 0 and "connect_error" not in c, (c, r["log_tail"])
    assert [a["do"] for a in alice["actions_done"]] == ["permissions", "permissions"], alice["actions_done"]
    assert not any("error" in a for a in alice["actions_done"])
    # bob, allowed all along: alice's audio without a break
    assert gaps(bob["tracks"]["alice/audio"]["per_second"]) == [], bob["tracks"]["alice/audio"]["per_second"]
    # carol: cut off while only bob was allowed (~4 s), then subscribed again when everyone was
    audio = carol["tracks"]["alice/audio"]
    assert len(gaps(audio["per_second"])) >= 2, audio["per_second"]
    subs = [e for e in carol["events"] if e["event"] == "track_subscribed" and e.get("key") == "alice/audio"]
    assert len(subs) >= 2, carol["events"]
    last = max(int(s) for s in audio["per_second"])
    assert audio["per_second"].get(str(last - 1), 0) >= 50, audio["per_second"]     # flowing again at the end
