"""Which producers a published track gets (sfu.rooms.publisher): a non-simulcast m-line's
layer comes from the SSRC its offer names, and an unknown SSRC that arrives while that
producer is still being created (the RTX stream's probing padding often does) must not
replace it.  Each layer's RTX stream: from the offer's FID group, or (rid simulcast) from the
repaired rid of its first packets."""

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

    async def produce(self, kind: str, ssrc: int, pt: int, codec: str = "", rtx_ssrc: int = 0,
                      rtx_payload_type: int = 0, red_payload_type: int = 0, dd_ext_id: int = 0) -> "FakeProducer":
        self.produced.append(ssrc)
        await self.release.wait()
        return FakeProducer(ssrc, rtx_ssrc, rtx_payload_type)


class FakeProducer:
    def __init__(self, ssrc: int, rtx_ssrc: int, rtx_payload_type: int) -> None:
        self.ssrc, self.rtx_ssrc, self.rtx_payload_type = ssrc, rtx_ssrc, rtx_payload_type
        self.set_rtx_calls = 0

    async def set_rtx(self, rtx_ssrc: int, rtx_payload_type: int) -> None:
        self.rtx_ssrc, self.rtx_payload_type = rtx_ssrc, rtx_payload_type
        self.set_rtx_calls += 1


class Events:
    def __init__(self) -> None:
        self.published: list[TrackPublication] = []

    async def track_published(self, p, pub) -> None:
        self.published.append(pub)

    async def layer_added(self, p, pub) -> None:
        pass


def publisher(rids: list[str], ssrcs: list[int], rtx_pt: int = 0,
              fid: dict[int, int] | None = None) -> tuple[Publishing, TrackPublication, SlowTransport]:
    p = Publishing()
    transport = SlowTransport()
    p.publisher = SimpleNamespace(t=transport)
    p.events = Events()
    p.bump = lambda: None
    pub = TrackPublication(sid="TR_1", cid="c", kind="video", info=models.TrackInfo(), participant=p, mid="1",
                           codec=sdp.Codec(96, "VP8", 90000), expected_rids=rids, declared_ssrcs=set(ssrcs),
                           rtx_pt=rtx_pt, rtx_ssrcs=dict(fid or {}))
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


async def test_the_offers_fid_group_names_the_rtx_stream():
    p, pub, transport = publisher([], [MEDIA, RTX], rtx_pt=97, fid={MEDIA: RTX})
    transport.release.set()
    await p._add_layer(pub, "", MEDIA)
    assert (pub.layers[""].producer.rtx_ssrc, pub.layers[""].producer.rtx_payload_type) == (RTX, 97)


async def test_no_rtx_stream_without_a_negotiated_rtx_codec():
    p, pub, transport = publisher([], [MEDIA, RTX], rtx_pt=0, fid={MEDIA: RTX})
    transport.release.set()
    await p._add_layer(pub, "", MEDIA)
    assert pub.layers[""].producer.rtx_ssrc == 0


async def test_a_simulcast_layers_rtx_stream_comes_from_its_repaired_rid():
    p, pub, transport = publisher(["q", "h"], [], rtx_pt=97)
    transport.release.set()
    await p._on_unknown_ssrc({"ssrc": 31, "mid": "1", "rid": "", "rrid": "q", "payload_type": 97})  # before q
    await p._on_unknown_ssrc({"ssrc": 10, "mid": "1", "rid": "q", "rrid": "", "payload_type": 96})
    await p._on_unknown_ssrc({"ssrc": 20, "mid": "1", "rid": "h", "rrid": "", "payload_type": 96})
    q, h = pub.layers["q"].producer, pub.layers["h"].producer
    assert q.rtx_ssrc == 0                                     # its media came later: asked again
    await p._on_unknown_ssrc({"ssrc": 31, "mid": "1", "rid": "", "rrid": "q", "payload_type": 97})
    await p._on_unknown_ssrc({"ssrc": 32, "mid": "1", "rid": "", "rrid": "h", "payload_type": 111})  # not rtx
    await p._on_unknown_ssrc({"ssrc": 31, "mid": "1", "rid": "", "rrid": "q", "payload_type": 97})   # again
    assert (q.rtx_ssrc, q.rtx_payload_type, q.set_rtx_calls) == (31, 97, 1)
    assert h.rtx_ssrc == 0
    assert transport.produced == [10, 20]                      # an RTX stream is never a layer
