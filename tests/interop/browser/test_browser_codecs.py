"""Publishing from Chromium with each video codec it offers (VP8, H.264, and
VP9 and AV1 as SVC with scalabilityMode L3T3_KEY), a subscriber decoding it."""

from __future__ import annotations

import math

import pytest

from . import lkchecks
from .lkbrowser import wait_for
from .lkroom import BROWSERS

CODECS = [
    pytest.param("vp8", None, "video/VP8", "single-pc", id="vp8"),
    pytest.param("h264", None, "video/H264", "single-pc", id="h264"),
    pytest.param("vp9", "L3T3_KEY", "video/VP9", "single-pc", id="vp9-L3T3_KEY"),
    pytest.param("av1", "L3T3_KEY", "video/AV1", "single-pc", id="av1-L3T3_KEY"),
    # two PeerConnections: the server's subscriber offer names the codec (with the publisher's profile)
    pytest.param("h264", None, "video/H264", "two-pc", id="h264-two-pc"),
    pytest.param("av1", "L3T3_KEY", "video/AV1", "two-pc", id="av1-L3T3_KEY-two-pc"),
]


def resolution_limited(mode: str, width: int, height: int) -> str:
    """the scalability mode libwebrtc encodes for `mode` at this size (VP9 and AV1): it drops spatial layers
    until the lowest is at least 240x135 (svc_config.cc GetLimitedNumSpatialLayers), so
    L3T3_KEY at 640x360 is sent as L2T3_KEY"""
    long_side, short_side = max(width, height), min(width, height)
    fit = 1 + max(0, min(int(math.log2(long_side / 240)) if long_side >= 240 else 0,
                         int(math.log2(short_side / 135)) if short_side >= 135 else 0))
    return f"L{min(int(mode[1]), fit)}{mode[2:]}"


@pytest.mark.parametrize("codec,mode,mime,pc", CODECS)
def test_publish_and_decode_codec(lk, codec, mode, mime, pc, tmp_path):
    alice, bob = lk.join_all(("alice", "A"), ("bob", "B"), pc=pc)
    offered = {m.lower() for m, _fmtp in alice.js("codecs")["send"]}
    assert mime.lower() in offered, f"Chromium does not offer {mime} for sending: {sorted(offered)}"
    alice.js("publishCamera", {"codec": codec, "scalabilityMode": mode, "simulcast": mode is not None})
    tracks = wait_for(lambda: [t for t in bob.js("remoteTracks") if t["source"] == "camera" and t["subscribed"]],
                      lambda t: len(t) > 0, 10)
    assert [t["mime"] for t in tracks] == [mime], (tracks, lkchecks.brief(alice.js("outbound", "camera")))
    got = lkchecks.video(bob, "alice", timeout=10, frameWidth=640, frameHeight=360)
    sent = alice.js("outbound", "camera")
    assert got.get("codec") == mime and got.get("framesDecoded", 0) >= 30, (lkchecks.brief(got), lkchecks.brief(sent))
    if mode:
        want = resolution_limited(mode, sent[0].get("frameWidth", 0), sent[0].get("frameHeight", 0))
        assert [s.get("scalabilityMode") for s in sent] == [want], str(lkchecks.brief(sent))
    pixel = lkchecks.centre_pixel(bob, "alice", tmp_path / f"{codec}.png")
    assert lkchecks.near(pixel, BROWSERS["A"]["rgb"]), pixel


@pytest.mark.parametrize("codec", ["vp9", "av1"])
def test_svc_spatial_layers_follow_the_requested_quality(lk, codec):
    """one L3T3_KEY stream (sent as L2T3_KEY at 640x360: 320x180 and 640x360): the server forwards
    the subscriber only the spatial layers its quality asks for, seen as the decoded size"""
    alice, bob = lk.join_all(("alice", "A"), ("bob", "B"))
    alice.js("publishCamera", {"codec": codec, "scalabilityMode": "L3T3_KEY", "simulcast": True,
                               "degradationPreference": "maintain-resolution"})
    first = lkchecks.video(bob, "alice", min_frames=10, timeout=15, frameWidth=640, frameHeight=360)
    assert (first.get("frameWidth"), first.get("frameHeight")) == (640, 360), lkchecks.brief(first)
    for quality, width, height in (("low", 320, 180), ("high", 640, 360)):
        lkchecks.assert_quality_decoded(bob, alice, "alice", quality, width, height, timeout=15)
