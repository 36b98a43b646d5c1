"""A Chromium page (livekit-client) and an @livekit/rtc-node participant in one
room: data goes both ways, each hears the other's sine at its pitch, and the
node decodes the page's camera."""

from __future__ import annotations

import time

import pytest

from . import lkchecks
from .lkbrowser import wait_for
from .lkroom import BROWSERS

NODE_HZ = 523


@pytest.mark.parametrize("pc", ["single-pc", "two-pc"])
def test_browser_and_rtc_node_hear_each_other(lk, pc):
    page = lk.join("web", "A", pc=pc)
    node = lk.node("node")
    time.sleep(1.0)                              # as in test_browser_data: let the joins settle
    node.sendData(text="from node", reliable=True)
    page.js("sendData", "from web", {"reliable": True})
    texts = wait_for(lambda: [(d["from"], d["text"]) for d in page.js("received")["data"]],
                     lambda t: ("node", "from node") in t, 5)
    assert texts == [("node", "from node")], texts
    data = wait_for(lambda: node.received()["data"], lambda d: len(d) >= 1, 5)
    assert [(d["from"], d["text"]) for d in data] == [("web", "from web")], data
    node.publishSine(hz=NODE_HZ)
    page.js("publishMic")
    page.js("publishCamera")
    peak = lkchecks.audio_peak(page, "node", NODE_HZ)
    assert abs(peak.get("hz", 0) - NODE_HZ) <= lkchecks.PITCH_TOLERANCE_HZ, peak
    want = BROWSERS["A"]["hz"]
    got = wait_for(node.received, lambda r: r["audio"].get("web/audio", {}).get("windows", 0) >= 3
                   and r["video"].get("web/video", {}).get("frames", 0) >= 30, 15)
    audio, video = got["audio"].get("web/audio", {}), got["video"].get("web/video", {})
    assert abs((audio.get("hz") or 0) - want) <= lkchecks.PITCH_TOLERANCE_HZ and audio["rms"] > 0.05, got
    assert video.get("frames", 0) >= 30 and (video["width"], video["height"]) == (640, 360), got
