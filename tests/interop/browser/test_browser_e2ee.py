"""End-to-end encryption (livekit-client `encryption` with a shared key): the
two pages with the key see and hear each other, a page without it gets the
tracks but cannot decode them (and is told so), and encrypted data reaches
only the pages with the key."""

from __future__ import annotations

import time

import pytest

from . import lkchecks
from .lkbrowser import parallel, wait_for
from .lkroom import BROWSERS

KEY = "correct horse battery staple"


def with_and_without_key(lk, pc: str):
    """alice and bob share the key, carol has none"""
    return parallel(lambda name, browser, key: lk.join(name, browser, pc=pc, e2ee_key=key),
                    ("alice", "A", KEY), ("bob", "B", KEY), ("carol", "A", None))


@pytest.mark.parametrize("pc", ["single-pc", "two-pc"])
def test_e2ee_media_with_shared_key(lk, pc, tmp_path):
    alice, bob, carol = with_and_without_key(lk, pc)
    parallel(lambda page: (page.js("publishMic"), page.js("publishCamera")), (alice,), (bob,))
    for viewer, other, browser in ((bob, "alice", "A"), (alice, "bob", "B")):
        want = BROWSERS[browser]
        v = lkchecks.video(viewer, other)
        assert v.get("framesDecoded", 0) >= 30, (viewer.label, other, lkchecks.brief(v))
        pixel = lkchecks.centre_pixel(viewer, other, tmp_path / f"{viewer.label}-{other}.png")
        assert lkchecks.near(pixel, want["rgb"]), (viewer.label, other, pixel)
        peak = lkchecks.audio_peak(viewer, other, want["hz"])
        assert abs(peak.get("hz", 0) - want["hz"]) <= lkchecks.PITCH_TOLERANCE_HZ, (viewer.label, other, peak)
    tracks = [t for t in bob.js("remoteTracks") if t["identity"] == "alice"]
    assert len(tracks) == 2 and all(t["encrypted"] for t in tracks), tracks
    # carol receives alice's packets but decodes no picture
    seen = lkchecks.video(carol, "alice", timeout=3)
    assert seen.get("packetsReceived", 0) > 50 and seen.get("framesDecoded", 0) == 0, lkchecks.brief(seen)
    assert not lkchecks.near(lkchecks.centre_pixel(carol, "alice", tmp_path / "carol.png"), BROWSERS["A"]["rgb"])
    errors = [e["message"] for e in carol.js("events") if e["type"] == "encryptionError"]
    assert any("Encrypted camera track" in m for m in errors), errors


@pytest.mark.parametrize("pc", ["single-pc", "two-pc"])
def test_e2ee_data_with_shared_key(lk, pc):
    """`encryption` encrypts data packets too: bob decrypts them, carol (no key) drops them"""
    alice, bob, carol = with_and_without_key(lk, pc)
    time.sleep(1.0)                              # as in test_browser_data: let the joins settle
    alice.js("sendData", "secret", {"reliable": True})
    alice.js("sendText", "secret text")
    got = wait_for(lambda: bob.js("received"), lambda r: r["data"] and r["texts"], 5)
    assert [(d["from"], d["text"]) for d in got["data"]] == [("alice", "secret")], got
    assert [(t["from"], t["text"]) for t in got["texts"]] == [("alice", "secret text")], got
    time.sleep(0.5)
    seen = carol.js("received")
    assert seen["data"] == [] and seen["texts"] == [], seen
