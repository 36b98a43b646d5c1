"""A load-test peer (sfu.loadtest.peer, one UDP socket) and the publisher offer it builds."""

from __future__ import annotations

from sfu.loadtest import livekit as lt
from sfu.loadtest.peer import Peer, RemoteTransport
from sfu.protocol import sdp


def test_publisher_offer_is_what_the_server_parses():
    peer = Peer("127.0.0.1")
    try:
        plans = [lt.TrackPlan("video", 900_000, 960, 540, simulcast=True), lt.TrackPlan("audio", 32_000)]
        text = lt.build_publisher_offer(peer, plans, {plans[0].cid: [11, 12, 13], plans[1].cid: [21]})
        d = sdp.SessionDescription.parse(text)
        assert d.bundle_mids() == ["0", "1"]
        video, audio = d.media
        assert [r.id for r in video.rids()] == ["q", "h", "f"] and video.direction == "sendonly"
        assert video.codecs()[0].name == "VP8" and audio.codecs()[0].name == "opus"
        assert audio.ssrcs().media_ssrcs == [21]
        remote = RemoteTransport.from_sdp(text)
        assert remote.candidates == [("127.0.0.1", peer.port)] and remote.ufrag == peer.ufrag
        assert remote.fingerprints == [peer.fingerprint()]
    finally:
        peer.close()
