"""RED toward a subscriber (csrc/rtc/consumer.c), in-process over real UDP on loopback: an
audio consumer set to RED sends each Opus packet with the two before it from the producer's
cache (RFC 2198, on the RED payload type, the blocks on the subscriber's Opus payload type),
plain when there is nothing earlier to carry, when the packet is too long for a block, or
after a pause (what was sent before it had other timestamps); a lost packet is in the next
one; a video consumer refuses RED.  A publisher's RED is unwrapped at its producer to plain Opus,
the packets its earlier blocks carry that never arrived rebuilt."""

from __future__ import annotations

import pytest

from helpers.net import udp_socket
from helpers.packets import rtp_packet
from sfu._units import ffi, lib as ulib
from sfu.errors import SfuError

from .test_loop_forwarding import stats, worker  # noqa: F401  (the in-process worker fixture)
from .test_loss_recovery import media, transport

PUB_SSRC, PUB_PT = 7, 111
SUB_SSRC, SUB_OPUS, SUB_RED = 9, 111, 63


def opus(seq: int, size: int = 60) -> bytes:
    return bytes([seq & 0xFF]) * size


def red_blocks(payload: bytes) -> list[tuple[int, int, bytes]]:
    arr = ffi.new("sfu_red_block_t[]", ulib.SFU_RED_PARSE_MAX)
    n = ulib.sfu_red_parse(payload, len(payload), arr, ulib.SFU_RED_PARSE_MAX)
    assert n > 0, payload[:8].hex()
    return [(arr[i].payload_type, arr[i].ts_offset, bytes(ffi.buffer(arr[i].data, arr[i].len))) for i in range(n)]


def audio_call(worker, ts_offset: int, **producer) -> tuple:
    """an Opus publisher (producer 10, extra fields `producer`) and one subscriber (consumer 20)"""
    pub, sub = udp_socket(), udp_socket()
    dest = transport(worker, 1, pub)
    transport(worker, 2, sub)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": PUB_SSRC, "payload_type": PUB_PT,
                               "kind": "audio", "codec": "opus", "remote_workers": [], **producer})
    worker.on_consumer_create({"id": 20, "transport_id": 2, "producer_id": 10, "ssrc": SUB_SSRC,
                               "payload_type": SUB_OPUS, "seq_start": 500, "ts_offset": ts_offset, "paused": False})
    return pub, sub, dest


@pytest.fixture
def audio(worker):
    call = audio_call(worker, 1000)
    worker.on_consumer_set_red({"id": 20, "red_payload_type": SUB_RED})
    return call


def send(pub, dest, seqs, size: int = 60) -> None:
    for seq in seqs:
        pub.sendto(rtp_packet(seq, 960 * seq, PUB_SSRC, PUB_PT, opus(seq, size)), dest)


def test_each_packet_carries_the_two_before_it(worker, audio):
    pub, sub, dest = audio
    send(pub, dest, range(10, 14))
    got = media(sub, 4)
    assert [(pt, seq, ts, ssrc) for pt, seq, ts, ssrc, _ in got] == \
        [(SUB_OPUS, 500, 1000 + 9600, SUB_SSRC)] + \
        [(SUB_RED, 500 + i, 1000 + 960 * (10 + i), SUB_SSRC) for i in (1, 2, 3)]
    assert got[0][4] == opus(10)                              # nothing earlier: plain Opus
    assert red_blocks(got[1][4]) == [(SUB_OPUS, 960, opus(10)), (SUB_OPUS, 0, opus(11))]
    assert red_blocks(got[3][4]) == [(SUB_OPUS, 1920, opus(11)), (SUB_OPUS, 960, opus(12)),
                                     (SUB_OPUS, 0, opus(13))]
    assert stats(worker)["red_sent"] == 3


def test_a_lost_packet_is_in_the_next_one(worker, audio):
    pub, sub, dest = audio
    send(pub, dest, [20, 21])
    media(sub, 2)
    send(pub, dest, [23])          # 22 lost on the publisher's side: only 21 can go with 23
    (pt, _, _, _, body), = media(sub, 1)
    assert pt == SUB_RED and red_blocks(body) == [(SUB_OPUS, 1920, opus(21)), (SUB_OPUS, 0, opus(23))]


def test_too_long_for_a_block_goes_plain(worker, audio):
    pub, sub, dest = audio
    send(pub, dest, [30, 31], size=1100)
    got = media(sub, 2)
    assert [g[0] for g in got] == [SUB_OPUS, SUB_OPUS] and got[1][4] == opus(31, 1100)


def test_after_a_pause_no_block_from_before_it(worker, audio):
    pub, sub, dest = audio
    send(pub, dest, [40, 41])
    media(sub, 2)
    worker.on_consumer_set_paused({"id": 20, "paused": True})
    send(pub, dest, [42])
    worker.on_consumer_set_paused({"id": 20, "paused": False})
    send(pub, dest, [43, 44])
    got = media(sub, 2)
    assert got[0][0] == SUB_OPUS                              # 41 and 42 were before the pause
    assert red_blocks(got[1][4]) == [(SUB_OPUS, 960, opus(43)), (SUB_OPUS, 0, opus(44))]


def test_red_off_again_and_not_for_video(worker, audio):
    pub, sub, dest = audio
    worker.on_consumer_set_red({"id": 20, "red_payload_type": 0})
    send(pub, dest, [50, 51])
    assert [g[0] for g in media(sub, 2)] == [SUB_OPUS, SUB_OPUS]
    worker.on_producer_create({"id": 11, "transport_id": 1, "ssrc": 77, "payload_type": 96,
                               "kind": "video", "codec": "vp8", "remote_workers": []})
    worker.on_consumer_create({"id": 21, "transport_id": 2, "producer_id": 11, "ssrc": 99,
                               "payload_type": 96, "seq_start": 1, "ts_offset": 0, "paused": False})
    with pytest.raises(SfuError):
        worker.on_consumer_set_red({"id": 21, "red_payload_type": SUB_RED})


# -- a publisher that sends RED (our answer put red first): unwrapped at the producer ----------

PUB_RED = 63


def red_packet(seq: int, earlier: int = 2, size: int = 60) -> bytes:
    """a publisher's RED packet: Opus `seq` with the `earlier` packets before it"""
    arr = ffi.new("sfu_red_block_t[]", max(earlier, 1))
    keep = []
    for i in range(earlier):
        s = seq - earlier + i
        buf = ffi.new("uint8_t[]", opus(s, size))
        keep.append(buf)
        arr[i].data, arr[i].len, arr[i].ts_offset, arr[i].payload_type = buf, size, 960 * (earlier - i), PUB_PT
    out = ffi.new("uint8_t[]", 1500)
    n = ulib.sfu_red_build(out, 1500, PUB_PT, arr, earlier, opus(seq, size), size)
    return rtp_packet(seq, 960 * seq, PUB_SSRC, PUB_RED, bytes(ffi.buffer(out, n)))


@pytest.fixture
def red_publisher(worker):
    return audio_call(worker, 0, red_payload_type=PUB_RED)


def test_publisher_red_reaches_a_plain_subscriber_as_opus_and_repairs_what_was_lost(worker, red_publisher):
    pub, sub, dest = red_publisher
    for seq in (10, 11, 12, 15, 16):       # 13 and 14 lost on the uplink: both are in 15's blocks
        pub.sendto(red_packet(seq), dest)
    got = media(sub, 7)
    by_seq = {seq - 500 + 10: (pt, ts, body) for pt, seq, ts, _, body in got}
    assert sorted(by_seq) == list(range(10, 17))                 # every packet, the lost ones rebuilt
    assert all(by_seq[s] == (SUB_OPUS, 960 * s, opus(s)) for s in by_seq)
    st = stats(worker)
    assert st["red_recovered"] == 2 and st["drops"].get("bad_red", 0) == 0


def test_publisher_red_to_a_red_subscriber_is_red_again(worker, red_publisher):
    pub, sub, dest = red_publisher
    worker.on_consumer_set_red({"id": 20, "red_payload_type": SUB_RED})
    for seq in (30, 31, 32):
        pub.sendto(red_packet(seq), dest)
    got = media(sub, 3)
    assert got[2][0] == SUB_RED
    assert red_blocks(got[2][4]) == [(SUB_OPUS, 1920, opus(30)), (SUB_OPUS, 960, opus(31)), (SUB_OPUS, 0, opus(32))]


def test_malformed_publisher_red_is_dropped_and_counted(worker, red_publisher):
    pub, sub, dest = red_publisher
    bad = rtp_packet(40, 960 * 40, PUB_SSRC, PUB_RED, bytes([0x80 | PUB_PT, 0, 0x0F, 0xFF, PUB_PT]) + b"short")
    pub.sendto(bad, dest)
    pub.sendto(red_packet(41, earlier=0), dest)
    got = media(sub, 1)
    assert [(pt, body) for pt, _, _, _, body in got] == [(SUB_OPUS, opus(41))]
    assert stats(worker)["drops"]["bad_red"] == 1
