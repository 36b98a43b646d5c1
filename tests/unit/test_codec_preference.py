"""The codec a published video track asked for: first in the answer on its own m-line, and what
subscribers are offered."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfu.protocol import sdp
from sfu.protocol.ice_lite import host_candidates
from sfu.rooms.codec_preference import preferred_codecs, requested_codec, send_codec, subscriber_codec

OFFER = Path(__file__).parents[1] / "data" / "sdp" / "chrome_sendonly_simulcast_offer.sdp"
CAMERA = "7c6b5a49-3827-4165-9e8d-7c6b5a493827"        # mid 1 (simulcast)
SCREEN = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"        # mid 2


@pytest.fixture
def offer() -> sdp.SessionDescription:
    return sdp.SessionDescription.parse(OFFER.read_text())


def answer_codecs(offer, prefs) -> dict[str, list[str]]:
    t = sdp.TransportParams(ice_ufrag="abcd", ice_pwd="a" * 22, fingerprint="sha-256 " + ":".join(["AB"] * 32),
                            setup="active", candidates=host_candidates([("10.0.0.1", 7882)]))
    answer = sdp.build_answer(offer, t, preferred_video_codecs=prefs)
    return {m.mid: [c.name for c in m.codecs() if c.name != "rtx"] for m in answer.sdp.media if m.kind == "video"}


@pytest.mark.parametrize("asked,want", [("h264", "h264"), ("video/H264", "h264"), ("VP9", "vp9"), ("av1", "av1"),
                                        ("vp8", "vp8"), ("h265", None), ("", None), ("audio/opus", None)])
def test_requested_codec(asked, want):
    assert requested_codec(asked) == want


def test_each_m_line_gets_its_tracks_codec_first(offer):
    prefs = preferred_codecs(offer, {CAMERA: "h264", SCREEN: "av1", "not-offered": "vp9"})
    assert prefs == {"1": "h264", "2": "av1"}
    got = answer_codecs(offer, prefs)
    # the asked codec first (every H.264 variant, in offer order), then the rest in offer order
    assert got["1"] == ["H264"] * 6 + ["VP8", "AV1", "VP9", "VP9"]
    assert got["2"] == ["AV1", "VP8"] + ["H264"] * 6 + ["VP9", "VP9"]
    # no preference: the offer's order
    assert answer_codecs(offer, {})["1"][0] == "VP8"


def test_rtx_follows_its_codec(offer):
    t = sdp.TransportParams(ice_ufrag="abcd", ice_pwd="a" * 22, fingerprint="sha-256 " + ":".join(["AB"] * 32),
                            setup="active", candidates=[])
    media = sdp.build_answer(offer, t, preferred_video_codecs={"1": "vp9"}).sdp.media[1]
    codecs = media.codecs()
    assert [c.name for c in codecs[:4]] == ["VP9", "rtx", "VP9", "rtx"]
    assert codecs[1].apt == codecs[0].pt and codecs[3].apt == codecs[2].pt


def test_subscriber_gets_livekits_payload_type_with_the_publishers_profile(offer):
    published = next(c for c in offer.media[1].codecs() if c.name == "H264")
    got = subscriber_codec(sdp.H264, published)
    assert got.pt == sdp.H264.pt and got.fmtp == published.fmtp and got.feedback == sdp.H264.feedback
    assert subscriber_codec(sdp.VP8, published) is sdp.VP8            # another codec: unchanged
    assert subscriber_codec(sdp.VP9, None) is sdp.VP9


def test_send_codec_matches_name_and_profile(offer):
    offered = offer.media[2].codecs()
    h264 = [c for c in offered if c.name == "H264"]
    high = next(c for c in h264 if "profile-level-id=4d" in (c.fmtp or ""))
    assert send_codec(offered, high) is high
    assert send_codec(offered, sdp.Codec(1, "H264", 90000, fmtp="profile-level-id=ffffff")) is h264[0]
    assert send_codec(offered, sdp.VP9).name == "VP9"
    assert send_codec([c for c in offered if c.name != "AV1"], sdp.AV1) is None
    assert send_codec(offered, None) is None
