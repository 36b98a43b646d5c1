"""RED from publishers (sfu.rooms.publisher), as LiveKit prefers it: the answer puts red before
Opus on the audio m-line of a track that may send it (not when its AddTrackRequest disabled
red, nor when it is end-to-end encrypted), the bound track keeps Opus as its codec with the
RED payload type beside it, and its producer is told to unwrap RED."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from livekit.protocol import models

from sfu.protocol import sdp
from sfu.protocol.ice_lite import host_candidates
from sfu.rooms.publisher import Publishing
from sfu.rooms.track import TrackPublication

OFFER = (Path(__file__).parents[1] / "data" / "sdp" / "livekit_publisher_offer.sdp").read_text()


def sendonly_offer() -> str:
    """the offer with its first two audio m-lines sending tracks "cid-a" and "cid-b" """
    out, n = [], 0
    for line in OFFER.split("\n"):
        if line == "a=recvonly" and n < 2:
            line = f"a=sendonly\na=msid:s {('cid-a', 'cid-b')[n]}"
            n += 1
        out.append(line)
    out = "\n".join(out)
    assert out.count("a=msid:s ") == 2
    return out


class Transport:
    def __init__(self) -> None:
        self.produced: list[dict] = []

    async def produce(self, kind, ssrc, pt, codec="", rtx_ssrc=0, rtx_payload_type=0, red_payload_type=0,
                      dd_ext_id=0):
        self.produced.append({"pt": pt, "codec": codec, "red_payload_type": red_payload_type})
        return SimpleNamespace(ssrc=ssrc, rtx_ssrc=rtx_ssrc)


def publishing(*infos: tuple[str, models.TrackInfo]) -> Publishing:
    p = Publishing()
    p.grants = SimpleNamespace(canPublish=True)
    p.tracks, p.pending = {}, {}
    for cid, info in infos:
        p.pending[cid] = TrackPublication(sid=f"TR_{cid}", cid=cid, kind="audio", info=info, participant=p)
    return p


@pytest.mark.parametrize("info_b,want", [
    (models.TrackInfo(), {"0", "1"}),
    (models.TrackInfo(disable_red=True), {"0"}),
    (models.TrackInfo(encryption=models.Encryption.GCM), {"0"}),
], ids=["both", "b disabled red", "b encrypted"])
def test_red_is_preferred_where_the_track_may_send_it(info_b, want):
    p = publishing(("cid-a", models.TrackInfo()), ("cid-b", info_b))
    assert p._red_mids(sendonly_offer()) == want


async def test_the_bound_track_keeps_opus_and_its_producer_unwraps_red():
    p = publishing(("cid-a", models.TrackInfo()))
    offer = sdp.SessionDescription.parse(sendonly_offer())
    t = sdp.TransportParams(ice_ufrag="abcd", ice_pwd="a" * 22, fingerprint="sha-256 " + ":".join(["AB"] * 32),
                            setup="active", candidates=host_candidates([("10.0.0.1", 7882)]))
    answer = sdp.build_answer(offer, t, prefer_red_mids=p._red_mids(sendonly_offer()))
    transport = Transport()
    p.publisher = SimpleNamespace(t=transport)
    p.events = SimpleNamespace()
    await p._bind_tracks(answer)
    pub = p.tracks["TR_cid-a"]
    assert (pub.codec.name.lower(), pub.codec.pt, pub.red_pt) == ("opus", 111, 63)
    added = []

    async def track_published(member, track):
        added.append(track)
    p.events.track_published = track_published
    p.bump = lambda: None
    await p._add_layer(pub, "", 4242)
    assert transport.produced == [{"pt": 111, "codec": "opus", "red_payload_type": 63}]
