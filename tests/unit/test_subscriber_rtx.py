"""RTX toward subscribers (sfu.rooms.subscriptions): a video track is offered with rtx and an
RTX SSRC (ssrc-group FID), and its consumer resends as RTX only once the subscriber's answer
accepted rtx for the consumer's payload type; an answer without it keeps plain copies."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sfu.protocol import sdp
from sfu.rooms.peer_transport import PeerTransport
from sfu.rooms.subscriptions import Subscribing, rtx_codec

TRACK, SSRC, RTX_SSRC = "TR_v", 1234, 5678


class FakeConsumer:
    def __init__(self) -> None:
        self.payload_type, self.rtx_ssrc, self.closed, self.calls = sdp.VP8.pt, 0, False, []

    async def set_rtx(self, rtx_ssrc: int, rtx_payload_type: int) -> None:
        self.rtx_ssrc = rtx_ssrc
        self.calls.append((rtx_ssrc, rtx_payload_type))


def subscriber_pc() -> PeerTransport:
    t = SimpleNamespace(tcp_port=0, listeners=[], fingerprint="sha-256 " + ":".join(["AB"] * 32), ip="127.0.0.1",
                        ips=["127.0.0.1"], port=7882)
    pc = PeerTransport("subscriber", t, "ufrag", "pwd-pwd-pwd-pwd-pwd-pwd")
    pc.add_track(sdp.SendTrack(kind="video", participant_sid="PA", track_sid=TRACK, ssrc=SSRC, rtx_ssrc=RTX_SSRC,
                               codecs=[sdp.VP8, sdp.rtx_for(sdp.VP8)], cname="PA"))
    return pc


def answer_to(offer: str, keep_rtx: bool) -> str:
    """the client's answer: the offer's video m-line, recvonly, with or without rtx"""
    out = []
    rtx_pt = str(sdp.rtx_for(sdp.VP8).pt)
    for line in offer.split("\r\n"):
        if not keep_rtx and (f":{rtx_pt} " in line or line.startswith("a=ssrc")):
            continue
        if not keep_rtx and line.startswith("m=video"):
            line = " ".join(p for p in line.split(" ") if p != rtx_pt)
        out.append(line.replace("a=sendonly", "a=recvonly"))
    return "\r\n".join(out)


async def use_answer(keep_rtx: bool) -> FakeConsumer:
    pc = subscriber_pc()
    _, offer = pc.build_offer()
    pc.remote_answer = sdp.SessionDescription.parse(answer_to(offer, keep_rtx))
    c = FakeConsumer()
    member = Subscribing()
    member.identity, member.subscriber = "bob", pc
    sub = SimpleNamespace(consumer=c, rtx_ssrc=RTX_SSRC)
    member.room = SimpleNamespace(all_tracks=lambda: [SimpleNamespace(sid=TRACK, subscriptions={"bob": sub})])
    await member._use_answered_rtx()
    await member._use_answered_rtx()          # idempotent
    return c


async def test_the_offer_declares_the_rtx_stream():
    _, offer = subscriber_pc().build_offer()
    video = next(m for m in sdp.SessionDescription.parse(offer).media if m.kind == "video")
    assert rtx_codec(video.codecs(), sdp.VP8.pt) is not None
    assert f"a=ssrc-group:FID {SSRC} {RTX_SSRC}" in offer


@pytest.mark.parametrize("keep_rtx,calls", [(True, [(RTX_SSRC, sdp.rtx_for(sdp.VP8).pt)]), (False, [])])
async def test_rtx_only_once_the_answer_accepts_it(keep_rtx, calls):
    c = await use_answer(keep_rtx)
    assert c.calls == calls
