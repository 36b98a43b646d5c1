"""Simulcast from Chromium (livekit-client, 1280x720 in three layers): the
subscriber's setVideoQuality moves it between layers, seen as the decoded
frame size in getStats."""

from __future__ import annotations

import pytest

from . import lkchecks

LAYERS = (("low", 320, 180), ("high", 1280, 720), ("medium", 640, 360))


@pytest.mark.parametrize("pc", ["single-pc", "two-pc"])
def test_set_video_quality_changes_received_resolution(lk, pc):
    alice, bob = lk.join_all(("alice", "A"), ("bob", "B"), pc=pc)
    alice.js("publishCamera", {"simulcast": True, "width": 1280, "height": 720})
    first = lkchecks.video(bob, "alice", min_frames=10)
    assert first.get("framesDecoded", 0) >= 10, lkchecks.brief(first)
    for quality, width, height in LAYERS:
        bob.js("setQuality", "alice", quality)
        before = (bob.js("inbound", "alice", "camera") or {}).get("framesDecoded", 0)
        got = lkchecks.video(bob, "alice", min_frames=before + 10, timeout=10, frameWidth=width,
                             frameHeight=height)
        assert (got.get("frameWidth"), got.get("frameHeight")) == (width, height), \
            (quality, lkchecks.brief(got), lkchecks.brief(alice.js("outbound", "camera")))
        assert got["framesDecoded"] >= before + 10, (quality, lkchecks.brief(got))
