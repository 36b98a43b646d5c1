"""The header-extension table (sfu.protocol.sdp.extensions) and how answers and offers use it."""

from __future__ import annotations

from sfu.protocol import sdp
from sfu.protocol.sdp import extensions

KNOWN = {v for k, v in vars(extensions).items() if k.startswith("EXT_")}

TRANSPORT = sdp.TransportParams(ice_ufrag="u" * 16, ice_pwd="p" * 32, fingerprint="sha-256 AB", setup="active")


def offer_with(uris: list[str]) -> sdp.SessionDescription:
    """a publisher offer of one audio and one video m-line negotiating `uris` (ids 1..)"""
    lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0 1"]
    for mid, (kind, pt, codec) in enumerate((("audio", 111, "opus/48000/2"), ("video", 96, "VP8/90000"))):
        lines += [f"m={kind} 9 UDP/TLS/RTP/SAVPF {pt}", "c=IN IP4 0.0.0.0", "a=ice-ufrag:abcd",
                  "a=ice-pwd:" + "x" * 24, "a=fingerprint:sha-256 CD", "a=setup:actpass", f"a=mid:{mid}",
                  "a=sendonly", "a=rtcp-mux", f"a=rtpmap:{pt} {codec}"]
        lines += [f"a=extmap:{i} {uri}" for i, uri in enumerate(uris, start=1)]
    return sdp.SessionDescription.parse("\r\n".join(lines) + "\r\n")


def test_every_uri_is_distinct_and_the_tables_use_only_known_ones():
    names = [k for k in vars(extensions) if k.startswith("EXT_")]
    assert len(KNOWN) == len(names) == 7
    for kind in ("audio", "video"):
        assert extensions.ACCEPTED_EXTENSIONS[kind] <= KNOWN
        assert {e.uri for e in extensions.SUBSCRIBER_EXTMAPS[kind]} <= KNOWN


def test_subscriber_ids_fit_one_byte_headers_and_are_forwardable():
    for kind, extmaps in extensions.SUBSCRIBER_EXTMAPS.items():
        ids = [e.id for e in extmaps]
        assert len(set(ids)) == len(ids) and all(1 <= i <= 14 for i in ids)     # RFC 8285 one-byte form
        # what a subscriber is offered is what publishers may send, so it can be carried end to end
        assert {e.uri for e in extmaps} <= extensions.ACCEPTED_EXTENSIONS[kind]


def test_answer_keeps_exactly_the_accepted_extensions_with_the_offered_ids():
    unknown = "urn:example:not-an-extension-we-know"
    uris = sorted(KNOWN) + [unknown]
    answer = sdp.build_answer(offer_with(uris), TRANSPORT)
    for info in answer.media:
        want = {uri: uris.index(uri) + 1 for uri in extensions.ACCEPTED_EXTENSIONS[info.kind]}
        assert info.extmaps == want
        section = answer.sdp.media_by_mid(info.mid)
        assert {e.uri: e.id for e in section.extmaps()} == want
    assert unknown not in answer.sdp.serialize()
    assert extensions.EXT_REPAIRED_RID not in answer.info("0").extmaps      # audio has no rtx


def test_subscriber_offer_carries_the_table():
    tracks = [sdp.SendTrack("audio", "PA", "TR_a", 1), sdp.SendTrack("video", "PA", "TR_v", 2)]
    offer = sdp.build_subscriber_offer(tracks, TRANSPORT)
    for media in offer.media[:2]:
        assert media.extmaps() == list(extensions.SUBSCRIBER_EXTMAPS[media.kind])

