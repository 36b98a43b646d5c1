"""Which producers a published track gets (sfu.rooms.publisher): a non-simulcast m-line's
layer comes from the SSRC its offer names, and an unknown SSRC that arrives while that
producer is still being created (the RTX stream's probing padding often does) must not
replace it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from livekit.protocol import models

from sfu.protocol import sdp
from sfu.rooms.publisher import Publishing
from sfu.rooms.track import TrackPublication

MEDIA, RTX = 1111, 2222


class SlowTransport:
    """produce() waits until released, as a busy worker makes it"""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.produced: list[int] = []

    async def produce(self, kind: str, ssrc: int, pt: int, codec: str = "") -> SimpleNamespace:
        self.produced.append(ssrc)
        await self.release.wait()
        return SimpleNamespace(ssrc=ssrc)


class Events:
    def __init__(self) -> None:
        self.published: list[TrackPublication] = []

    async def track_published(self, p, pub) -> None:
        self.published.append(pub)

    async def layer_added(self, p, pub) -> None:
        pass


def publisher(rids: list[str], ssrcs: list[int]) -> tuple[Publishing, TrackPublication, SlowTransport]:
    p = Publishing()
    transport = SlowTransport()
    p.publisher = SimpleNamespace(t=transport)
    p.events = Events()
    p.bump = lambda: None
    pub = TrackPublication(sid="TR_1", cid="c", kind="video", info=models.TrackInfo(), participant=p, mid="1",
                           codec=sdp.Codec(96, "VP8", 90000), expected_rids=rids, declared_ssrcs=set(ssrcs))
    p.tracks = {pub.sid: pub}
    return p, pub, transport


async def test_the_rtx_ssrc_arriving_while_the_layer_is_created_does_not_replace_it():
    p, pub, transport = publisher([], [MEDIA, RTX])
    adding = asyncio.ensure_future(p._add_layer(pub, "", MEDIA))
    await asyncio.sleep(0)
    await asyncio.wait_for(p._on_unknown_ssrc({"ssrc": RTX, "mid": "1", "rid": "", "rrid": ""}), 1)
    transport.release.set()
    await adding
    assert transport.produced == [MEDIA]
    assert pub.layers[""].producer.ssrc == MEDIA
    # and later, too: a named SSRC is never a new layer
    await p._on_unknown_ssrc({"ssrc": RTX, "mid": "1", "rid": "", "rrid": ""})
    assert transport.produced == [MEDIA]


async def test_an_m_line_without_ssrc_lines_gets_its_layer_from_the_first_packet():
    p, pub, transport = publisher([], [])
    transport.release.set()
    await p._on_unknown_ssrc({"ssrc": MEDIA, "mid": "1", "rid": "", "rrid": ""})
    await p._on_unknown_ssrc({"ssrc": RTX, "mid": "1", "rid": "", "rrid": ""})
    assert transport.produced == [MEDIA] and pub.layers[""].producer.ssrc == MEDIA


async def test_a_simulcast_layer_is_created_once_even_when_its_packets_race():
    p, pub, transport = publisher(["q", "h"], [])
    first = asyncio.ensure_future(p._on_unknown_ssrc({"ssrc": 10, "mid": "1", "rid": "q", "rrid": ""}))
    await asyncio.sleep(0)
    await asyncio.wait_for(p._on_unknown_ssrc({"ssrc": 10, "mid": "1", "rid": "q", "rrid": ""}), 1)
    transport.release.set()
    await first
    await p._on_unknown_ssrc({"ssrc": 20, "mid": "1", "rid": "h", "rrid": ""})
    await p._on_unknown_ssrc({"ssrc": 30, "mid": "1", "rid": "x", "rrid": ""})   # not offered
    assert transport.produced == [10, 20] and set(pub.layers) == {"q", "h"}
