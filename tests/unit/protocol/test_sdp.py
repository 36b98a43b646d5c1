"""SDP parse/serialize, publisher answers and subscriber offers on captured and realistic fixtures.

Fixtures (tests/data/sdp):
- livekit_publisher_offer.sdp: captured from the livekit rtc SDK 1.2.1 join request (libwebrtc):
  3 audio + 3 video recvonly m-lines and a data channel, no candidates.
- chrome_sendonly_simulcast_offer.sdp: the same libwebrtc sections turned into a camera+mic
  publish: sendonly audio with a=ssrc, simulcast video (rid q/h/f), a screen share video with
  an RTX ssrc-group, a data channel.
- sfu_subscriber_offer.sdp: an offer from build_subscriber_offer (mids a1, v1, dc).
- livekit_subscriber_answer.sdp: the livekit SDK's (libwebrtc) answer to that offer, captured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sfu.protocol.dtls import role_from_answer
from sfu.protocol.dtls_certificate import default_certificate
from sfu.protocol.ice_lite import host_candidates
from sfu.protocol.sdp import (
    EXT_ABS_SEND_TIME,
    EXT_AUDIO_LEVEL,
    EXT_DEPENDENCY_DESCRIPTOR,
    EXT_MID,
    EXT_REPAIRED_RID,
    EXT_RID,
    EXT_TWCC,
    SdpError,
    SendTrack,
    SessionDescription,
    TransportParams,
    build_answer,
    build_subscriber_offer,
)

DATA = Path(__file__).parents[2] / "data" / "sdp"


def load(name: str) -> SessionDescription:
    return SessionDescription.parse((DATA / name).read_text())


def transport(setup: str = "active") -> TransportParams:
    return TransportParams(
        ice_ufrag="srvUfrag12345678",
        ice_pwd="srvpwd0123456789abcdefghijklmnop",
        fingerprint=default_certificate().fingerprint(),
        setup=setup,
        candidates=host_candidates([("192.0.2.1", 7882), ("2001:db8::1", 7882)]),
    )


@pytest.fixture
def publisher_offer() -> SessionDescription:
    return load("livekit_publisher_offer.sdp")


@pytest.fixture
def simulcast_offer() -> SessionDescription:
    return load("chrome_sendonly_simulcast_offer.sdp")


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "name",
    [
        "livekit_publisher_offer.sdp",
        "chrome_sendonly_simulcast_offer.sdp",
        "sfu_subscriber_offer.sdp",
        "livekit_subscriber_answer.sdp",
    ],
)
def test_roundtrip_is_exact(name):
    text = (DATA / name).read_text()
    sdp = SessionDescription.parse(text)
    assert sdp.serialize() == text.replace("\n", "\r\n")
    assert SessionDescription.parse(sdp.serialize()).serialize() == sdp.serialize()


def test_parse_captured_publisher_offer(publisher_offer):
    assert publisher_offer.bundle_mids() == ["0", "1", "2", "3", "4", "5", "6"]
    kinds = [m.kind for m in publisher_offer.media]
    assert kinds == ["audio"] * 3 + ["video"] * 3 + ["application"]
    assert all(m.direction == "recvonly" for m in publisher_offer.media[:6])
    assert publisher_offer.transport_attribute("setup") == "actpass"
    assert publisher_offer.transport_attribute("ice-ufrag") == "IviD"
    assert publisher_offer.fingerprints()[0].startswith("sha-256 ")
    audio = publisher_offer.media[0]
    codecs = audio.codecs()
    assert [(c.pt, c.name) for c in codecs[:3]] == [(111, "opus"), (63, "red"), (9, "G722")]
    assert codecs[0].fmtp == "minptime=10;useinbandfec=1" and codecs[0].feedback == ["transport-cc"]
    video = publisher_offer.media[3]
    vp8 = video.codecs()[0]
    assert (vp8.pt, vp8.name, vp8.clock_rate) == (96, "VP8", 90000)
    assert vp8.feedback == ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]
    assert video.codecs()[1].apt == 96
    assert {e.uri: e.id for e in video.extmaps()}[EXT_RID] == 10
    app = publisher_offer.media[6]
    assert app.proto == "UDP/DTLS/SCTP" and app.attribute("sctp-port") == "5000"
    assert app.attribute("sctp-init") is not None


def test_parse_ssrcs_rids_simulcast(simulcast_offer):
    audio, camera, screen, _ = simulcast_offer.media
    info = audio.ssrcs()
    assert info.ssrcs == [1357924680] and info.attributes[1357924680]["cname"] == "Zk8sP1mQ4rT7vX0y"
    assert [r.id for r in camera.rids()] == ["q", "h", "f"]
    sim = camera.simulcast()
    assert sim.direction == "send" and sim.layers == (("q", False), ("h", False), ("f", False))
    screen_info = screen.ssrcs()
    assert screen_info.rtx == {2468013579: 3692581470}
    assert screen_info.media_ssrcs == [2468013579]


def test_parse_errors_are_clear():
    with pytest.raises(SdpError, match="v="):
        SessionDescription.parse("o=- 1 1 IN IP4 0.0.0.0\r\n")
    with pytest.raises(SdpError, match="line 2"):
        SessionDescription.parse("v=0\r\nthis is not sdp\r\n")
    with pytest.raises(SdpError, match="m= line"):
        SessionDescription.parse("v=0\r\nm=audio\r\n")
    with pytest.raises(SdpError, match="port"):
        SessionDescription.parse("v=0\r\nm=audio x UDP/TLS/RTP/SAVPF 111\r\n")


def test_malformed_attribute_values_do_not_raise():
    text = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97 abc\r\na=rtpmap:96 VP8\r\na=rtpmap:x VP8/90000\r\n"
        "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=zz\r\na=extmap:zz urn:x\r\na=extmap:3\r\n"
        "a=ssrc:notanumber cname:x\r\na=ssrc:99999999999 cname:x\r\na=ssrc-group:FID 1 x\r\n"
        "a=rid:q\r\na=simulcast:bogus\r\n"
    )
    media = SessionDescription.parse(text).media[0]
    assert [c.pt for c in media.codecs()] == [97]
    assert media.codecs()[0].apt is None
    assert media.extmaps() == []
    assert media.ssrcs().ssrcs == [] and media.ssrcs().rtx == {}
    assert media.rids() == [] and media.simulcast() is None


# ---------------------------------------------------------------- publisher answer


def test_answer_to_captured_offer(publisher_offer):
    answer = build_answer(publisher_offer, transport())
    sdp = answer.sdp
    text = sdp.serialize()
    assert sdp.bundle_mids() == ["0", "1", "2", "3", "4", "5", "6"]
    assert sdp.has_attribute("ice-lite") and sdp.has_attribute("extmap-allow-mixed")
    assert [m.mid for m in sdp.media] == [m.mid for m in publisher_offer.media]
    for media in sdp.media:
        assert media.attribute("ice-ufrag") == "srvUfrag12345678"
        assert media.attribute("setup") == "active"
        assert media.attribute("fingerprint") == default_certificate().fingerprint()
    # recvonly lines without a track of ours -> inactive
    assert [m.direction for m in sdp.media[:6]] == ["inactive"] * 6
    # candidates only once, in the first bundled section
    assert len(sdp.media[0].attributes("candidate")) == 2 and sdp.media[0].has_attribute("end-of-candidates")
    assert all(not m.attributes("candidate") for m in sdp.media[1:])
    assert text.count("a=candidate:") == 2
    assert role_from_answer(sdp.transport_attribute("setup")).value == "server"  # the client's view
    # audio: opus + red only
    audio = sdp.media[0]
    assert audio.formats == ["111", "63"]
    assert audio.attribute("rtcp-mux") == "" and audio.has_attribute("rtcp-rsize")
    # video: VP8/H264/AV1/VP9 with their rtx, no red/ulpfec, payload types preserved
    video = sdp.media[3]
    names = [c.name for c in video.codecs()]
    assert "red" not in names and "ulpfec" not in names
    assert video.formats[:2] == ["96", "97"]
    assert {c.name for c in video.codecs()} == {"VP8", "rtx", "H264", "AV1", "VP9"}
    for codec in video.codecs():
        if codec.name == "rtx":
            assert codec.apt in {int(f) for f in video.formats}
    # extmaps filtered, ids preserved
    video_ext = {e.uri: e.id for e in video.extmaps()}
    assert video_ext == {EXT_ABS_SEND_TIME: 2, EXT_TWCC: 3, EXT_MID: 4, EXT_RID: 10, EXT_REPAIRED_RID: 11}
    audio_ext = {e.uri: e.id for e in audio.extmaps()}
    assert audio_ext == {EXT_AUDIO_LEVEL: 1, EXT_ABS_SEND_TIME: 2, EXT_TWCC: 3, EXT_MID: 4}
    # data channel
    app = sdp.media[6]
    assert app.m_line() == "m=application 9 UDP/DTLS/SCTP webrtc-datachannel"
    assert app.attribute("sctp-port") == "5000" and app.attribute("max-message-size") == "65536"
    assert app.attribute("sctp-init") is None
    assert answer.info("6").accepted and answer.info("6").kind == "application"


def test_answer_with_send_tracks_on_recvonly_lines(publisher_offer):
    tracks = {
        "1": SendTrack("audio", "PA_x", "TR_a", ssrc=1001),
        "4": SendTrack("video", "PA_x", "TR_v", ssrc=2001, rtx_ssrc=2002),
    }
    answer = build_answer(publisher_offer, transport(), send_tracks=tracks)
    audio, video = answer.sdp.media_by_mid("1"), answer.sdp.media_by_mid("4")
    assert audio.direction == "sendonly" and video.direction == "sendonly"
    assert video.attribute("msid") == "PA_x|TR_v TR_v"
    assert video.ssrcs().rtx == {2001: 2002}
    assert audio.ssrcs().ssrcs == [1001]
    assert answer.sdp.media_by_mid("0").direction == "inactive"


def test_answer_to_simulcast_publish(simulcast_offer):
    answer = build_answer(simulcast_offer, transport())
    audio, camera, screen, app = answer.sdp.media
    assert [m.direction for m in (audio, camera, screen)] == ["recvonly"] * 3
    assert [r.id for r in camera.rids()] == ["q", "h", "f"]
    assert all(r.direction == "recv" for r in camera.rids())
    assert camera.attribute("simulcast") == "recv q;h;f"
    info = answer.info("1")
    assert info.rids == ["q", "h", "f"] and info.kind == "video"
    assert info.extmaps[EXT_DEPENDENCY_DESCRIPTOR] == 9
    assert "http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00" not in answer.sdp.serialize()
    assert answer.info("2").ssrcs.rtx == {2468013579: 3692581470}
    assert answer.info("0").ssrcs.ssrcs == [1357924680]
    assert answer.info("0").msid.startswith("0b3f4c1e")
    # the answer is not sending: no ssrc lines of ours
    assert not camera.attributes("ssrc") and not audio.attributes("msid")


def test_simulcast_unknown_rids_dropped_and_paused_kept(simulcast_offer):
    camera = simulcast_offer.media[1]
    camera.remove_attributes("rid")
    camera.remove_attributes("simulcast")
    for rid in ("q", "x", "f"):
        camera.add_attribute("rid", f"{rid} send max-width=640")
    camera.add_attribute("simulcast", "send q;x;~f")
    info = build_answer(simulcast_offer, transport()).info("1")
    media = build_answer(simulcast_offer, transport()).sdp.media_by_mid("1")
    assert info.rids == ["q", "f"] and info.paused_rids == ["f"]
    assert media.attribute("simulcast") == "recv q;~f"
    assert media.attributes("rid") == ["q recv", "f recv"]


def test_arbitrary_mids(publisher_offer):
    mapping = {str(i): mid for i, mid in enumerate(["7", "8", "9", "audio-x", "v_10", "{abc}", "13"])}
    for media in publisher_offer.media:
        old = media.mid
        media.remove_attributes("mid")
        media.add_attribute("mid", mapping[old])
    publisher_offer.remove_attributes("group")
    publisher_offer.add_attribute("group", "BUNDLE " + " ".join(mapping.values()))
    answer = build_answer(publisher_offer, transport())
    assert answer.sdp.bundle_mids() == list(mapping.values())
    assert [m.mid for m in answer.sdp.media] == list(mapping.values())


def test_rejections_keep_mline_and_leave_bundle(publisher_offer):
    # m-line 2 rejected by the offerer, m-line 3 offers only an unsupported codec
    publisher_offer.media[2].port = 0
    video = publisher_offer.media[3]
    video.formats = ["121"]
    answer = build_answer(publisher_offer, transport())
    assert answer.sdp.media[2].port == 0 and answer.sdp.media[2].mid == "2"
    assert answer.sdp.media[3].port == 0 and answer.sdp.media[3].mid == "3"
    assert "2" not in answer.sdp.bundle_mids() and "3" not in answer.sdp.bundle_mids()
    assert answer.info("3").reason == "no supported codec offered"
    assert len(answer.sdp.media) == len(publisher_offer.media)


def test_audio_without_opus_rejected_and_red_preference(publisher_offer):
    audio = publisher_offer.media[0]
    audio.formats = ["0", "8"]
    answer = build_answer(publisher_offer, transport(), prefer_red=True)
    assert answer.sdp.media[0].port == 0
    assert answer.sdp.media[1].formats == ["63", "111"]


def test_preferred_video_codec_and_enabled_set(publisher_offer):
    answer = build_answer(publisher_offer, transport(), video_codecs=("VP8", "H264"), preferred_video_codec="H264")
    video = answer.sdp.media[3]
    names = [c.name for c in video.codecs() if c.name != "rtx"]
    assert names[0] == "H264" and set(names) == {"H264", "VP8"}


def test_setup_passive_option(publisher_offer):
    answer = build_answer(publisher_offer, transport(setup="passive"))
    assert {m.attribute("setup") for m in answer.sdp.media} == {"passive"}


def test_offer_without_usable_media_fails(publisher_offer):
    for media in publisher_offer.media:
        media.port = 0
    with pytest.raises(SdpError):
        build_answer(publisher_offer, transport())


def test_feedback_filter(simulcast_offer):
    video = simulcast_offer.media[1]
    video.add_attribute("rtcp-fb", "96 something-new")
    answer = build_answer(simulcast_offer, transport())
    vp8 = answer.sdp.media_by_mid("1").codecs()[0]
    assert vp8.feedback == ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]


# ---------------------------------------------------------------- subscriber offer and answer


def test_subscriber_offer_shape():
    tracks = [
        SendTrack("audio", "PA_abc", "TR_audio1", ssrc=111111, cname="PA_abc", mid="a1"),
        SendTrack("video", "PA_abc", "TR_video1", ssrc=222222, rtx_ssrc=222223, cname="PA_abc", mid="v1"),
    ]
    offer = build_subscriber_offer(tracks, transport(setup="actpass"), data_channel_mid="dc", session_id=1)
    assert offer.bundle_mids() == ["a1", "v1", "dc"]
    audio, video, app = offer.media
    assert audio.direction == video.direction == "sendonly"
    assert video.attribute("msid") == "PA_abc|TR_video1 TR_video1"
    assert video.ssrcs().rtx == {222222: 222223}
    assert video.ssrcs().attributes[222222]["msid"] == "PA_abc|TR_video1 TR_video1"
    assert [(c.pt, c.name) for c in video.codecs()] == [
        (96, "VP8"),
        (97, "rtx"),
        (98, "VP9"),
        (99, "rtx"),
        (108, "H264"),
        (109, "rtx"),
        (35, "AV1"),
        (36, "rtx"),
    ]
    assert all(m.attribute("setup") == "actpass" for m in offer.media)
    assert app.attribute("sctp-port") == "5000"
    assert offer.has_attribute("ice-lite")


def test_subscriber_offer_data_channel_only_and_inactive_track():
    offer = build_subscriber_offer([], transport(setup="actpass"))
    assert [m.kind for m in offer.media] == ["application"] and offer.bundle_mids() == ["0"]
    assert offer.media[0].attributes("candidate")
    parked = SendTrack("video", "PA_a", "TR_b", ssrc=5, rtx_ssrc=6, active=False)
    offer = build_subscriber_offer([parked], transport(setup="actpass"), data_channel=False)
    assert offer.media[0].direction == "inactive" and not offer.media[0].attributes("ssrc")
    with pytest.raises(ValueError):
        build_subscriber_offer([SendTrack("audio", "p", "t", 1, mid="0")], transport("actpass"), data_channel_mid="0")


def test_libwebrtc_answer_to_our_subscriber_offer():
    """The captured libwebrtc answer accepts every section of our offer and takes the DTLS client role."""
    offer = load("sfu_subscriber_offer.sdp")
    answer = load("livekit_subscriber_answer.sdp")
    assert answer.bundle_mids() == offer.bundle_mids() == ["a1", "v1", "dc"]
    assert [m.mid for m in answer.media] == ["a1", "v1", "dc"]
    assert all(m.port != 0 for m in answer.media)
    assert answer.media[0].direction == answer.media[1].direction == "recvonly"
    assert role_from_answer(answer.transport_attribute("setup")).value == "server"
    assert [c.pt for c in answer.media[1].codecs()] == [c.pt for c in offer.media[1].codecs()]
    assert {e.uri for e in answer.media[1].extmaps()} == {e.uri for e in offer.media[1].extmaps()}


def test_descriptions_over_the_bounds_are_refused_before_parsing():
    import time

    from sfu.protocol.sdp.session import MAX_MEDIA_SECTIONS, MAX_SDP_BYTES, SessionDescription

    head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    many = head + "".join(f"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:{i}\r\n" for i in range(MAX_MEDIA_SECTIONS + 1))
    t0 = time.perf_counter()
    with pytest.raises(SdpError, match="too many media sections"):
        SessionDescription.parse(many)
    assert time.perf_counter() - t0 < 1.0
    ok = head + "".join(f"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:{i}\r\n" for i in range(MAX_MEDIA_SECTIONS))
    assert len(SessionDescription.parse(ok).media) == MAX_MEDIA_SECTIONS
    with pytest.raises(SdpError, match="too large"):
        SessionDescription.parse(head + "a=x:" + "y" * MAX_SDP_BYTES + "\r\n")


def test_red_goes_first_only_on_the_m_lines_asked_for(publisher_offer):
    answer = build_answer(publisher_offer, transport(), prefer_red_mids={"1"})
    by_mid = {m.mid: m.formats for m in answer.sdp.media if m.kind == "audio"}
    assert by_mid["1"] == ["63", "111"]                      # the client sends RED there
    assert by_mid["0"] == ["111", "63"]                      # Opus elsewhere, red still accepted
