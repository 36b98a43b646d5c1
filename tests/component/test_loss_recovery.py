"""Loss recovery in the forwarding loop, in-process over real UDP on loopback: NACKs to a
publisher for exactly the holes in its stream, its RTX answers unwrapped into the stream the
subscriber gets, padding and duplicate RTX dropped, a given-up packet turned into a key frame
request, and a subscriber's NACK answered as RTX where it negotiated rtx."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from helpers.net import udp_socket
from helpers.packets import generic_nack, rtcp_packets, rtp_packet, rtx_packet
from helpers.waiting import wait_until
from sfu.worker.main import Worker

from .test_loop_forwarding import stats, worker  # noqa: F401  (the in-process worker fixture)

PUB_SSRC, PUB_PT, PUB_RTX_SSRC, PUB_RTX_PT = 7, 96, 8, 97
SUB_SSRC, SUB_PT = 9, 100


def transport(w: Worker, tid: int, peer: socket.socket) -> tuple[str, int]:
    info = w.on_transport_create({"id": tid, "kind": "plain", "rtcp": True})
    ip, port = peer.getsockname()
    w.on_transport_connect({"id": tid, "ip": ip, "port": port})
    return info["ip"], info["port"]


def payload(seq: int) -> bytes:
    return struct.pack("!H", seq) * 20


def media(s: socket.socket, n: int, timeout: float = 3.0) -> list[tuple]:
    """the next n RTP packets on a subscriber socket: (pt, seq, ts, ssrc, payload)"""
    out, end = [], time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        try:
            d = s.recv(2048)
        except TimeoutError:
            break
        if 200 <= d[1] <= 206:
            continue               # sender reports
        b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", d[:12])
        out.append((b1 & 0x7F, seq, ts, ssrc, d[12:]))
    return out


def nacked(pub: socket.socket, want: set[int], timeout: float = 3.0) -> list[int]:
    """sequence numbers in the NACKs the publisher gets, until `want` are all asked for"""
    seqs: list[int] = []
    end = time.monotonic() + timeout
    while not want <= set(seqs) and time.monotonic() < end:
        for pt, fmt, pkt in rtcp_packets(pub.recv(2048)):
            if pt == 205 and fmt == 1:
                ssrc, s = generic_nack(pkt)
                assert ssrc == PUB_SSRC
                seqs += s
    return seqs


def rtx_subscriber(worker: Worker, seq_start: int, ts_offset: int) -> socket.socket:
    """a second subscriber of the publisher's producer, whose consumer (SSRC 0x2222) resends as
    RTX on SSRC 0x3333, payload type 101"""
    s = udp_socket()
    transport(worker, 3, s)
    worker.on_consumer_create({"id": 21, "transport_id": 3, "producer_id": 10, "ssrc": 0x2222,
                               "payload_type": SUB_PT, "seq_start": seq_start, "ts_offset": ts_offset,
                               "paused": False, "rtx_ssrc": 0x3333, "rtx_payload_type": 101})
    return s


def nack(ssrc: int, pid: int, blp: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x81, 205, 3, ssrc, ssrc) + struct.pack("!HH", pid, blp)


@pytest.fixture
def publisher(worker):
    """a video publisher with an RTX stream and one subscriber without rtx"""
    pub, sub = udp_socket(), udp_socket()
    dest = transport(worker, 1, pub)
    transport(worker, 2, sub)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": PUB_SSRC, "payload_type": PUB_PT,
                               "kind": "video", "codec": "vp8", "remote_workers": [],
                               "rtx_ssrc": PUB_RTX_SSRC, "rtx_payload_type": PUB_RTX_PT})
    worker.on_consumer_create({"id": 20, "transport_id": 2, "producer_id": 10, "ssrc": SUB_SSRC,
                               "payload_type": SUB_PT, "seq_start": 1000, "ts_offset": 0, "paused": False})
    return pub, sub, dest


def test_holes_are_nacked_and_repaired_by_rtx(worker, publisher):
    pub, sub, dest = publisher
    holes = {105, 110, 111, 120}
    for seq in range(100, 130):
        if seq not in holes:
            pub.sendto(rtp_packet(seq, 3000 * seq, PUB_SSRC, PUB_PT, payload(seq)), dest)
    got = media(sub, 26)
    asked = nacked(pub, holes)
    assert set(asked) == holes                                  # exactly the holes ...
    for i, seq in enumerate(sorted(holes)):                     # ... answered as RTX
        pub.sendto(rtx_packet(seq, 500 + i, 3000 * seq, PUB_RTX_SSRC, PUB_RTX_PT, payload(seq)), dest)
    got += media(sub, len(holes))
    assert len(got) == 30
    by_seq = {seq: (pt, ts, ssrc, body) for pt, seq, ts, ssrc, body in got}
    assert sorted(by_seq) == list(range(1000, 1030))            # every packet, contiguous
    for out_seq, (pt, ts, ssrc, body) in by_seq.items():
        seq = out_seq - 1000 + 100
        assert (pt, ts, ssrc, body) == (SUB_PT, 3000 * seq, SUB_SSRC, payload(seq))
    st = stats(worker)
    assert st["nack_recovered"] == 4 and st["rtx_received"] == 4 and st["nack_lost"] == 0
    assert st["nacks_sent"] >= 4
    # the repaired packets are in the cache: a subscriber NACK for one is answered
    sub.sendto(nack(SUB_SSRC, 1010), ("127.0.0.1", worker.mux_port))
    assert media(sub, 1) == [(SUB_PT, 1010, 3000 * 110, SUB_SSRC, payload(110))]


def test_padding_and_duplicate_rtx_are_dropped(worker, publisher):
    pub, sub, dest = publisher
    for seq in range(100, 110):
        pub.sendto(rtp_packet(seq, 3000 * seq, PUB_SSRC, PUB_PT, payload(seq)), dest)
    assert len(media(sub, 10)) == 10
    pub.sendto(rtx_packet(0, 1, 0, PUB_RTX_SSRC, PUB_RTX_PT, pad=200), dest)            # a probe
    pub.sendto(rtx_packet(104, 2, 3000 * 104, PUB_RTX_SSRC, PUB_RTX_PT, payload(104)), dest)  # not missing
    pub.sendto(rtx_packet(105, 3, 3000 * 105, PUB_RTX_SSRC, 111, payload(105)), dest)   # wrong payload type
    assert wait_until(lambda: len(stats(worker)["drops"]) >= 3)
    st = stats(worker)
    assert st["drops"] == {"rtx_padding": 1, "rtx_duplicate": 1, "bad_rtx": 1}
    assert st["rtx_received"] == 0 and st["nacks_sent"] == 0
    sub.settimeout(0.3)
    assert media(sub, 1, timeout=0.3) == []                     # nothing forwarded


def test_a_packet_given_up_asks_for_a_key_frame(worker, publisher):
    pub, sub, dest = publisher
    for seq in (100, 101, 103):
        pub.sendto(rtp_packet(seq, 3000 * seq, PUB_SSRC, PUB_PT, payload(seq)), dest)
    assert nacked(pub, {102}) == [102]
    # never answered: asked again about every 100 ms, given up after 1 s, then a PLI
    plis, nacks, end = 0, 1, time.monotonic() + 3
    pub.settimeout(0.5)
    while not plis and time.monotonic() < end:
        for pt, fmt, pkt in rtcp_packets(pub.recv(2048)):
            nacks += pt == 205 and fmt == 1
            plis += pt == 206 and fmt == 1
    assert plis == 1
    assert 5 <= nacks <= 11
    st = stats(worker)
    assert st["nack_lost"] == 1 and st["nack_recovered"] == 0


def test_subscriber_nack_answered_as_rtx(worker, publisher):
    pub, sub, dest = publisher
    rtx_sub = rtx_subscriber(worker, seq_start=65534, ts_offset=5)
    for seq in range(100, 105):
        pub.sendto(rtp_packet(seq, 3000 * seq, PUB_SSRC, PUB_PT, payload(seq)), dest)
    sent = media(rtx_sub, 5)
    assert [s[1] for s in sent] == [65534, 65535, 0, 1, 2]
    rtx_sub.sendto(nack(0x2222, 65535, 0b10), ("127.0.0.1", worker.mux_port))   # 65535 and 1
    got = media(rtx_sub, 2)
    assert [(pt, ssrc) for pt, _, _, ssrc, _ in got] == [(101, 0x3333)] * 2
    assert got[1][1] == (got[0][1] + 1) & 0xFFFF                 # the RTX stream's own numbering
    osns = {struct.unpack("!H", body[:2])[0]: (ts, body[2:]) for _, _, ts, _, body in got}
    assert osns == {65535: (3000 * 101 + 5, payload(101)), 1: (3000 * 103 + 5, payload(103))}
    st = stats(worker)
    assert st["retransmits"] == 2 and st["rtx_sent"] == 2
    # the subscriber without rtx still gets plain copies
    assert [s[1] for s in media(sub, 5)] == list(range(1000, 1005))
    sub.sendto(nack(SUB_SSRC, 1002), ("127.0.0.1", worker.mux_port))
    assert media(sub, 1) == [(SUB_PT, 1002, 3000 * 102, SUB_SSRC, payload(102))]
    assert stats(worker)["rtx_sent"] == 2


def test_a_resend_too_big_for_rtx_goes_out_as_a_copy(worker, publisher):
    pub, _, dest = publisher
    rtx_sub = rtx_subscriber(worker, seq_start=10, ts_offset=0)
    full = bytes(1500 - 12)                                     # the OSN would not fit in the MTU
    pub.sendto(rtp_packet(100, 0, PUB_SSRC, PUB_PT, full), dest)
    assert media(rtx_sub, 1)[0][1] == 10
    rtx_sub.sendto(nack(0x2222, 10), ("127.0.0.1", worker.mux_port))
    assert media(rtx_sub, 1) == [(SUB_PT, 10, 0, 0x2222, full)]
    assert stats(worker)["retransmits"] == 1 and stats(worker)["rtx_sent"] == 0
