"""The Janus driver of the Janus comparison bench (bench/janus_server.py, bench/janus_client.py).

test_janus_videoroom_forwards_to_two_aiortc_subscribers runs tests/interop/janus_scenario.py under
`unshare -n` (root): Debian's Janus (installed on demand by bench/janus_server.ensure_janus),
an aiortc publisher and two aiortc subscribers through the videoroom. The SDP helper tests
are in tests/unit/test_janus_client_sdp.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.scenario_runner import require_netns

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from janus_client import parse_sdp  # noqa: E402


def _scenario(*args: str) -> dict:
    require_netns("the Janus driver test")
    import janus_server
    try:
        janus_server.ensure_janus()
    except RuntimeError as e:
        pytest.fail(f"Janus is not installed and could not be installed: {e}")
    p = subprocess.run(["unshare", "-n", sys.executable, str(HERE / "janus_scenario.py"), *args],
                       capture_output=True, text=True, timeout=55)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(60)
def test_janus_videoroom_forwards_to_two_aiortc_subscribers():
    r = _scenario("--seconds", "4")
    assert r["janus_exit"] == 0 and r["janus_start_s"] < 5
    assert r["publisher_events"][:1] == ["webrtcup"] and "media" in r["publisher_events"]
    for sub in r["subscribers"]:
        # 30 fps published: each subscriber decodes about as many frames, at full size
        assert sub["fps"] >= 20, sub["fps"]
        assert sub["size"] == [320, 240]
        assert sub["events"][:1] == ["webrtcup"]
        offer = parse_sdp(sub["offer"])
        assert [m.kind for m in offer.media] == ["video"] and offer.media[0].direction == "sendonly"
    # Janus rewrites SSRC, sequence number and timestamp for each subscriber
    sent = r["publisher_sent"]
    firsts = r["subscriber_first_rtp"]
    ssrcs = {f[0]["ssrc"] for f in firsts}
    assert len(ssrcs) == 2 and sent["ssrc"] not in ssrcs
    for sub, first in zip(r["subscribers"], firsts):
        assert first[0]["ssrc"] == parse_sdp(sub["offer"]).media[0].media_ssrc
    # build_offer() is accepted as a publisher offer, build_answer() as a subscriber answer
    h = r["helpers"]
    assert h["started"] == "ok"
    ans = parse_sdp(h["answer"])
    assert [(m.kind, m.mid, m.direction) for m in ans.media] == [("video", "0", "recvonly"), ("audio", "1", "recvonly")]
    assert ans.media[0].pt("VP8") == 96 and ans.media[1].pt("opus") == 111
    # every STUN exchange went through the namespace address
    assert r["stun"] and all(s["dst"].startswith("10.98.0.") for s in r["stun"])
