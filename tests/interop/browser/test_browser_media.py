"""Two Chromium pages (livekit-client) publish camera and microphone and see
and hear each other: decoded frames and frame rate from getStats, the picture's
centre pixel in a screenshot (the other browser's fake camera colour), the
other's sine pitch through WebAudio; mute and unmute seen by the other side."""

from __future__ import annotations

import pytest

from . import lkchecks
from .lkbrowser import parallel, wait_for
from .lkroom import BROWSERS

PEERS = (("alice", "A"), ("bob", "B"))


def publish_both(lk, pc: str, server: str = "single-pc") -> dict:
    pages = dict(zip(("alice", "bob"), lk.join_all(*PEERS, pc=pc, server=server)))
    parallel(lambda page: (page.js("publishMic"), page.js("publishCamera")), *((p,) for p in pages.values()))
    return pages


@pytest.mark.parametrize("pc,server", [("single-pc", "single-pc"), ("two-pc", "single-pc"),
                                       ("two-pc", "no-single-pc")])
def test_two_browsers_see_and_hear_each_other(lk, pc, server, tmp_path):
    pages = publish_both(lk, pc, server)
    for (viewer, _), (other, browser) in (PEERS, PEERS[::-1]):
        page, want = pages[viewer], BROWSERS[browser]
        v = lkchecks.video(page, other, frameWidth=640, frameHeight=360)
        sent = lkchecks.brief(pages[other].js("outbound", "camera"))
        assert v.get("framesDecoded", 0) >= 30 and v.get("codec") == "video/VP8", \
            (viewer, other, lkchecks.brief(v), sent)
        assert v.get("framesPerSecond", 0) >= 10, (viewer, other, lkchecks.brief(v))
        pixel = lkchecks.centre_pixel(page, other, tmp_path / f"{viewer}-sees-{other}.png")
        assert lkchecks.near(pixel, want["rgb"]), (viewer, other, pixel, want["rgb"])
        peak = lkchecks.audio_peak(page, other, want["hz"])
        assert abs(peak.get("hz", 0) - want["hz"]) <= lkchecks.PITCH_TOLERANCE_HZ, (viewer, other, peak)
        a = lkchecks.audio(page, other)
        assert a.get("codec") == "audio/opus" and a.get("totalSamplesReceived", 0) > 48000, \
            (viewer, other, lkchecks.brief(a))
        assert a["concealedSamples"] < 0.2 * a["totalSamplesReceived"], (viewer, other, lkchecks.brief(a))
        assert a.get("audioLevel", 0) > 0.05, (viewer, other, lkchecks.brief(a))
    if pc == "single-pc":
        check_send_side_estimates(lk.env.server(server))


def check_send_side_estimates(server) -> None:
    """one PeerConnection negotiates transport-cc for what the server sends too: Chromium's
    feedback about the numbered packets reaches the estimates, every sequence number it reports
    is one we sent, none is rejected, and (on a clean link) next to nothing is lost"""
    estimates = [b for w in server.stats()["workers"] for b in w.get("bwe", {}).values() if b["packets"]]
    assert estimates, server.stats()["workers"]
    print("\nsend-side estimates:", [{k: b[k] for k in ("estimate_bps", "acked_bps", "rtt_us", "loss", "packets",
                                                          "feedback_packets", "limited_by")} for b in estimates])
    for b in estimates:
        assert b["feedback_packets"] > 0 and b["feedback_rejected"] == 0 and b["unknown"] == 0, b
        assert b["loss"] < 0.05 and 0 < b["rtt_us"] < 500_000 and b["acked_bps"] > 0, b


def mute_both_tracks(alice, bob, muted: bool) -> None:
    """alice (un)mutes microphone and camera; bob must see both publications change and get the events"""
    for source in ("microphone", "camera"):
        assert alice.js("setMuted", source, muted) is muted
    seen = wait_for(lambda: {t["source"]: t["muted"] for t in bob.js("remoteTracks") if t["identity"] == "alice"},
                    lambda m: m == {"microphone": muted, "camera": muted}, 10)
    assert seen == {"microphone": muted, "camera": muted}, seen
    event = "trackMuted" if muted else "trackUnmuted"
    events = [(e["type"], e.get("source")) for e in bob.js("events") if e.get("identity") == "alice"]
    assert (event, "microphone") in events and (event, "camera") in events, events


@pytest.mark.parametrize("pc", ["single-pc", "two-pc"])
def test_mute_and_unmute_seen_by_the_other_side(lk, pc):
    pages = publish_both(lk, pc)
    alice, bob = pages["alice"], pages["bob"]
    v = lkchecks.video(bob, "alice")
    assert v.get("framesDecoded", 0) >= 30, lkchecks.brief(v)
    mute_both_tracks(alice, bob, True)
    assert lkchecks.frames_decoded_during(bob, "alice", 1.5) <= 5      # a muted camera sends no frames
    mute_both_tracks(alice, bob, False)
    assert lkchecks.frames_decoded_during(bob, "alice", 1.5) >= 15     # frames again after unmute
    peak = lkchecks.audio_peak(bob, "alice", BROWSERS["A"]["hz"])
    assert abs(peak.get("hz", 0) - BROWSERS["A"]["hz"]) <= lkchecks.PITCH_TOLERANCE_HZ, peak


