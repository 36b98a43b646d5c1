"""RED toward subscribers (sfu.rooms.subscriptions): an audio track is offered with red
(fmtp 111/111) after Opus, and its consumer sends RED only once the subscriber's answer kept
red for the consumer's Opus payload type; an answer without it, or with red over another
payload type, keeps plain Opus, and so does a track whose publisher disabled red or that is
end-to-end encrypted; a video subscription is never touched."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from livekit.protocol import models

from sfu.protocol import sdp
from sfu.protocol.sdp.media import Codec
from sfu.rooms.peer_transport import PeerTransport
from sfu.rooms.subscriptions import Subscribing, red_codec

TRACK, SSRC = "TR_a", 4321
RED = sdp.offer.RED_AUDIO


class FakeConsumer:
    def __init__(self) -> None:
        self.payload_type, self.red_payload_type, self.closed, self.calls = sdp.offer.OPUS.pt, 0, False, []

    async def set_red(self, red_payload_type: int) -> None:
        self.red_payload_type = red_payload_type
        self.calls.append(red_payload_type)


def subscriber_pc() -> PeerTransport:
    t = SimpleNamespace(tcp_port=0, listeners=[], fingerprint="sha-256 " + ":".join(["AB"] * 32), ip="127.0.0.1",
                        ips=["127.0.0.1"], port=7882)
    pc = PeerTransport("subscriber", t, "ufrag", "pwd-pwd-pwd-pwd-pwd-pwd")
    pc.add_track(sdp.SendTrack(kind="audio", participant_sid="PA", track_sid=TRACK, ssrc=SSRC,
                               codecs=list(sdp.offer.DEFAULT_AUDIO_SEND_CODECS), cname="PA"))
    return pc


def answer_to(offer: str, keep_red: bool) -> str:
    out = []
    for line in offer.split("\r\n"):
        if not keep_red and f":{RED.pt} " in line:
            continue
        if not keep_red and line.startswith("m=audio"):
            line = " ".join(p for p in line.split(" ") if p != str(RED.pt))
        out.append(line.replace("a=sendonly", "a=recvonly"))
    return "\r\n".join(out)


async def use_answer(keep_red: bool, kind: str = "audio", info: models.TrackInfo | None = None) -> FakeConsumer:
    pc = subscriber_pc()
    _, offer = pc.build_offer()
    pc.remote_answer = sdp.SessionDescription.parse(answer_to(offer, keep_red))
    c = FakeConsumer()
    member = Subscribing()
    member.identity, member.subscriber = "bob", pc
    sub = SimpleNamespace(consumer=c)
    track = SimpleNamespace(sid=TRACK, kind=kind, subscriptions={"bob": sub}, info=info or models.TrackInfo())
    member.room = SimpleNamespace(all_tracks=lambda: [track])
    await member._use_answered_red()
    await member._use_answered_red()          # idempotent
    return c


async def test_the_offer_has_red_over_opus():
    _, offer = subscriber_pc().build_offer()
    audio = next(m for m in sdp.SessionDescription.parse(offer).media if m.kind == "audio")
    assert red_codec(audio.codecs(), sdp.offer.OPUS.pt) is not None


@pytest.mark.parametrize("keep_red,calls", [(True, [RED.pt]), (False, [])])
async def test_red_only_once_the_answer_accepts_it(keep_red, calls):
    assert (await use_answer(keep_red)).calls == calls


@pytest.mark.parametrize("info", [models.TrackInfo(disable_red=True),
                                  models.TrackInfo(encryption=models.Encryption.GCM)],
                         ids=["publisher disabled red", "end-to-end encrypted"])
async def test_no_red_where_the_track_says_so(info):
    assert (await use_answer(True, info=info)).calls == []


async def test_a_video_track_is_left_alone():
    assert (await use_answer(True, kind="video")).calls == []


def test_red_over_another_payload_type_is_not_ours():
    codecs = [Codec(63, "red", 48000, 2, "109/109"), Codec(111, "opus", 48000, 2, None)]
    assert red_codec(codecs, 111) is None
    assert red_codec([Codec(63, "red", 48000, 2, "111/111")], 111).pt == 63
