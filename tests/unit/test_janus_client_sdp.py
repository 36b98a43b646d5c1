"""The SDP helpers of the Janus comparison's driver (bench/janus_client.py) on SDPs
Janus 1.1.2 produced in tests/interop/janus_scenario.py (tests/data/janus/)."""

from __future__ import annotations

import sys
from pathlib import Path

from sfu.protocol.sdp.extensions import EXT_MID

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "janus"
sys.path.insert(0, str(ROOT / "bench"))

from janus_client import build_answer, build_offer, parse_candidate, parse_sdp  # noqa: E402


def test_parse_janus_subscriber_offer():
    o = parse_sdp((DATA / "janus_subscriber_offer.sdp").read_text())
    assert o.all_setup == "actpass" and not o.ice_lite and o.bundle == ["0"]
    assert o.all_fingerprint.startswith("sha-256 ") and len(o.all_fingerprint.split()[1].split(":")) == 32
    (m,) = o.media
    assert (m.kind, m.mid, m.direction, m.rtcp_mux) == ("video", "0", "sendonly", True)
    ufrag, pwd = o.ice(m)
    assert ufrag and len(pwd) >= 22
    assert m.pt("VP8") == 96 and m.rtx_pt(96) == 97
    assert "nack pli" in m.rtcp_fb[96] and "transport-cc" in m.rtcp_fb[96]
    # the media SSRC first in the FID group, then its RTX SSRC
    (sem, (media, rtx)), = m.ssrc_groups
    assert sem == "FID" and m.media_ssrc == media and m.ssrcs == [media, rtx]
    assert m.ssrc_attrs[media]["cname"] == "janus"
    (c,) = o.candidates
    assert (c.component, c.transport, c.typ, c.ip) == (1, "udp", "host", "10.98.0.1") and c.port > 0
    assert c.priority == 2015363583
    assert set(m.extmap.values()) >= {EXT_MID}


def test_parse_janus_publisher_answers():
    a = parse_sdp((DATA / "janus_publisher_answer.sdp").read_text())   # to aiortc's offer
    (m,) = a.media
    assert a.all_setup == "active" and m.direction == "recvonly"
    offer = parse_sdp((DATA / "aiortc_publisher_offer.sdp").read_text())
    assert m.pt("VP8") == offer.media[0].pt("VP8")     # Janus keeps the offerer's payload type
    assert len(m.ssrcs) == 1 and m.candidates[0].ip == "10.98.0.1"
    av = parse_sdp((DATA / "janus_publisher_answer_av.sdp").read_text())  # to build_offer(audio+video)
    assert [(x.kind, x.mid, x.direction) for x in av.media] == [("video", "0", "recvonly"), ("audio", "1", "recvonly")]
    assert av.media[0].pt("VP8") == 96 and av.media[1].pt("opus") == 111 and av.all_setup == "active"
    assert av.bundle == ["0", "1"] and av.ice(av.media[0]) == av.ice(av.media[1])


def test_build_offer_shape():
    sdp = build_offer("uf", "p" * 24, "AA:" * 31 + "AA", "10.98.0.2", 5000, video_ssrc=11, audio_ssrc=22)
    assert sdp.endswith("\r\n") and "\n\n" not in sdp.replace("\r\n", "\n")
    o = parse_sdp(sdp)
    assert [(m.kind, m.mid, m.direction) for m in o.media] == [("video", "0", "sendonly"), ("audio", "1", "sendonly")]
    assert o.bundle == ["0", "1"] and o.all_setup == "actpass"
    assert o.media[0].pt("VP8") == 96 and o.media[1].pt("opus") == 111
    assert o.media[0].ssrcs == [11] and o.media[1].ssrcs == [22]
    assert o.all_fingerprint == "sha-256 " + "AA:" * 31 + "AA"
    assert o.candidates[0].ip == "10.98.0.2" and o.candidates[0].port == 5000
    assert sdp.count("a=end-of-candidates") == 2
    video_only = parse_sdp(build_offer("uf", "p" * 24, "sha-256 AA", "10.98.0.2", 5000, video_ssrc=11))
    assert [m.kind for m in video_only.media] == ["video"]


def test_build_answer_to_janus_offer():
    offer = (DATA / "janus_subscriber_offer.sdp").read_text()
    sdp = build_answer(offer, "uf", "p" * 24, "sha-256 " + "BB:" * 31 + "BB", "10.98.0.2", 6000, rtcp_ssrc=7)
    a = parse_sdp(sdp)
    (m,) = a.media
    assert (m.kind, m.mid, m.direction, m.rtcp_mux) == ("video", "0", "recvonly", True)
    assert a.all_setup == "active" and list(m.payloads) == [96] and m.ssrcs == [7]
    assert "transport-cc" not in m.rtcp_fb[96] and "nack pli" in m.rtcp_fb[96]
    assert a.bundle == ["0"] and a.candidates[0].port == 6000
    # passive when the offer is active; data channels and unknown codecs rejected with port 0
    o2 = offer.replace("a=setup:actpass", "a=setup:active") + (
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 10.98.0.1\r\na=mid:2\r\n")
    a2 = parse_sdp(build_answer(o2, "uf", "p" * 24, "sha-256 BB", "10.98.0.2", 6000))
    assert a2.all_setup == "passive" and [(m.kind, m.port) for m in a2.media] == [("video", 6000), ("application", 0)]
    assert a2.bundle == ["0"]


def test_parse_candidate():
    c = parse_candidate("candidate:1 1 udp 2015363583 10.98.0.1 31594 typ host")
    assert (c.foundation, c.priority, c.ip, c.port, c.typ) == ("1", 2015363583, "10.98.0.1", 31594, "host")
