"""Room events a livekit-client page gets from the server while others talk:
active speakers and connection quality.  The tests record everything the page
got, so a failure shows it."""

from __future__ import annotations

from . import lkchecks
from .lkbrowser import wait_for


def talking_pair(lk):
    alice, bob = lk.join_all(("alice", "A"), ("bob", "B"))
    alice.js("publishMic")                                         # a -6 dBFS sine: clearly speaking
    lkchecks.audio_peak(bob, "alice", 440)
    return alice, bob


def test_active_speaker_reported(lk):
    alice, bob = talking_pair(lk)
    got = wait_for(lambda: bob.js("activeSpeakers"), lambda s: "alice" in s, 4)
    events = [e for e in bob.js("events") if e["type"] == "activeSpeakersChanged"]
    assert "alice" in got, f"active speakers {got}, events {events}"
    assert "alice" in alice.js("activeSpeakers")


def test_connection_quality_reported(lk):
    alice, bob = talking_pair(lk)
    got = wait_for(lambda: bob.js("connectionQuality"),          # LiveKit sends an update every 5 s
                   lambda q: q["local"] != "unknown" and q["remote"].get("alice", "unknown") != "unknown", 8)
    events = [e for e in bob.js("events") if e["type"] == "connectionQualityChanged"]
    assert got["local"] in ("excellent", "good") and got["remote"].get("alice") in ("excellent", "good"), \
        f"quality {got}, events {events}"
