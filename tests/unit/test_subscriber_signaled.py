"""A two-PeerConnection subscriber gets nothing on a new track's SSRC until it answered an offer
that names the track (sfu.rooms.peer_transport, sfu.rooms.subscriptions).  Packets on an SSRC
libwebrtc does not know yet can be bound to a default stream that no track of the SDK reads:
the track then decodes (its stats say so) while the application gets no frame."""

from __future__ import annotations

from types import SimpleNamespace

from livekit.protocol import models

from sfu.protocol import sdp
from sfu.rooms.peer_transport import PeerTransport
from sfu.rooms.subscriptions import Subscribing
from sfu.rooms.track import Subscription, TrackPublication


class FakeWorker:
    async def request(self, method: str, data: dict) -> dict:
        return {}


class FakeConsumer:
    def __init__(self, ssrc: int) -> None:
        self.ssrc, self.paused, self.closed, self.calls = ssrc, True, False, []

    async def resume(self) -> None:
        self.paused = False
        self.calls.append("resume")

    async def request_key_frame(self) -> None:
        self.calls.append("key frame")


def subscriber_pc() -> PeerTransport:
    t = SimpleNamespace(tcp_port=0, id=3, worker=FakeWorker(), listeners=[], fingerprint="sha-256 " + ":".join(["AB"] * 32),
                        ip="10.0.0.1", ips=["10.0.0.1"], port=7882,
                        set_header_extensions=lambda ext: FakeWorker().request("", {}))
    return PeerTransport("subscriber", t, "ufrag", "pwd-pwd-pwd-pwd-pwd-pwd")


def video(track_sid: str, ssrc: int) -> sdp.SendTrack:
    return sdp.SendTrack(kind="video", participant_sid="PA", track_sid=track_sid, ssrc=ssrc,
                         codecs=[sdp.VP8], cname="PA")


def answer_to(offer: str, reject_mid: str | None = None) -> str:
    """the client's answer: every m-line recvonly, one of them rejected (port 0) if asked"""
    out, mid_of_line = [], None
    lines = offer.split("\r\n")
    for i, line in enumerate(lines):
        if line.startswith("m="):
            mid_of_line = next((x[6:] for x in lines[i + 1:] if x.startswith("a=mid:")), None)
            if reject_mid is not None and mid_of_line == reject_mid:
                parts = line.split(" ")
                line = " ".join([parts[0], "0", *parts[2:]])
        out.append(line.replace("a=sendonly", "a=recvonly").replace("a=setup:actpass", "a=setup:active"))
    return "\r\n".join(out)


async def test_signaled_only_by_the_answer_to_an_offer_that_names_the_track():
    pc = subscriber_pc()
    a_mid = pc.add_track(video("TR_a", 11))
    oid, offer = pc.build_offer()
    assert not pc.signaled("TR_a", 11)                 # offered, not answered
    pc.add_track(video("TR_b", 22))                    # while the first offer is out
    await pc.apply_answer(answer_to(offer), oid)
    assert pc.signaled("TR_a", 11) and not pc.signaled("TR_b", 22)
    assert not pc.signaled("TR_a", 99)                 # another SSRC on the same track is not
    oid, offer = pc.build_offer()
    await pc.apply_answer(answer_to(offer, reject_mid=a_mid), oid)
    assert pc.signaled("TR_b", 22) and not pc.signaled("TR_a", 11)   # the client refused TR_a's line


def member_with(pc: PeerTransport, subs: list[Subscription]) -> Subscribing:
    member = Subscribing()
    member.identity, member.subscriber, member.closed = "bob", pc, False
    member.room = SimpleNamespace(all_tracks=lambda: [s.track for s in subs])
    return member


async def _ignore(_msg) -> None:
    return None


def subscription(sid: str, ssrc: int, disabled: bool = False) -> Subscription:
    pub = TrackPublication(sid=sid, cid=sid, kind="video", info=models.TrackInfo(sid=sid),
                           participant=SimpleNamespace(send=_ignore))
    sub = Subscription(track=pub, subscriber=SimpleNamespace(identity="bob"), consumer=FakeConsumer(ssrc),
                       ssrc=ssrc, disabled=disabled)
    pub.subscriptions["bob"] = sub
    return sub


async def test_the_consumer_resumes_once_the_answer_names_it():
    pc = subscriber_pc()
    on, off = subscription("TR_on", 11), subscription("TR_off", 22, disabled=True)
    pc.add_track(video("TR_on", 11))
    pc.add_track(video("TR_off", 22))
    member = member_with(pc, [on, off])
    oid, offer = pc.build_offer()
    await member._announce_subscriptions()             # nothing answered yet: nothing forwarded
    assert on.consumer.paused and not on.signaled and not on.announced
    await pc.apply_answer(answer_to(offer), oid)
    await member._announce_subscriptions()
    assert on.signaled and not on.consumer.paused and on.consumer.calls == ["resume"]
    # signaled, but turned off by its subscriber: stays paused
    assert off.signaled and off.consumer.paused and "resume" not in off.consumer.calls
