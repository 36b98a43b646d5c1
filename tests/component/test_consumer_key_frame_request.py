"""CONSUMER_REQUEST_KEY_FRAME: a consumer asks its video producer's publisher
for a key frame (a PLI from the SFU's SSRC), throttled like every other
request (500 ms per producer: one asked inside the interval is held until it
ends), without pausing or resuming anything.  A worker in process, real UDP
on loopback."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from helpers.in_process_worker import in_process_worker
from helpers.packets import rtp_packet
from helpers.net import udp_socket
from sfu.worker.main import Worker


@pytest.fixture
def worker():
    with in_process_worker() as w:
        yield w


def plis(s: socket.socket, wait: float) -> list[int]:
    """media SSRCs of the PLIs that arrive within `wait` seconds"""
    out = []
    s.settimeout(wait)
    try:
        while True:
            d = s.recv(2048)
            if d[1] == 206 and d[0] & 0x1F == 1:
                sender, media = struct.unpack("!II", d[4:12])
                assert sender == 1
                out.append(media)
    except socket.timeout:
        return out


def setup(w: Worker, kind: str, codec: str = "") -> tuple[socket.socket, socket.socket]:
    pub, sub = udp_socket(), udp_socket()
    for tid, s in ((1, pub), (2, sub)):
        w.on_transport_create({"id": tid, "kind": "plain"})
        w.on_transport_connect({"id": tid, "ip": s.getsockname()[0], "port": s.getsockname()[1]})
    w.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 0xAB, "payload_type": 96, "kind": kind,
                          "codec": codec, "remote_workers": []})
    w.on_consumer_create({"id": 20, "transport_id": 2, "producer_id": 10, "ssrc": 9, "payload_type": 96,
                          "seq_start": 1, "ts_offset": 0, "paused": False})
    return pub, sub


def pli_times(s: socket.socket, t0: float, until: float) -> list[float]:
    """arrival times (s after t0) of the PLIs that arrive before t0 + until"""
    out = []
    while (left := t0 + until - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            d = s.recv(2048)
        except socket.timeout:
            break
        if d[1] == 206 and d[0] & 0x1F == 1:
            out.append(time.monotonic() - t0)
    return out


def test_request_reaches_the_publisher_throttled(worker):
    pub, sub = setup(worker, "video")
    assert plis(pub, 0.3) == [0xAB]            # a new video consumer asks once by itself
    time.sleep(0.3)                            # past the 500 ms throttle
    t0 = time.monotonic()
    worker.on_consumer_request_key_frame({"id": 20})
    worker.on_consumer_request_key_frame({"id": 20})
    got = pli_times(pub, t0, 0.45)
    assert len(got) == 1 and got[0] < 0.2, got  # two requests, one PLI now
    # the consumer still forwards: the request did not pause or re-base it
    info = worker.transports[1]
    pub.sendto(rtp_packet(500, 0, 0xAB), (info.ip, info.port))
    pub.sendto(rtp_packet(501, 0, 0xAB), (info.ip, info.port))
    seqs = [struct.unpack("!H", sub.recv(2048)[2:4])[0] for _ in range(2)]
    assert seqs == [1, 2]
    got = pli_times(pub, t0, 1.3)               # the second one, held, once the 500 ms ended
    assert len(got) == 1 and 0.45 <= got[0] < 1.0, got
    assert plis(pub, 0.7) == []                 # and nothing more
    assert worker.on_worker_stats({})["stats"]["plis_sent"] == 3


def test_audio_consumer_asks_nothing(worker):
    pub, _ = setup(worker, "audio")
    worker.on_consumer_request_key_frame({"id": 20})
    assert plis(pub, 0.3) == []


def test_unknown_consumer(worker):
    from sfu import errors
    with pytest.raises(errors.NotFoundError):
        worker.on_consumer_request_key_frame({"id": 99})


def test_a_request_inside_the_interval_is_held_not_lost(worker):
    """the publisher hears it when the 500 ms end (the loop wakes for it), not never"""
    t0 = time.monotonic()
    pub, _ = setup(worker, "video")
    assert plis(pub, 0.2) == [0xAB]            # the new consumer's own request, at t0
    worker.on_consumer_request_key_frame({"id": 20})   # ~0.2 s: inside the interval
    got = pli_times(pub, t0, 1.3)
    assert len(got) == 1 and 0.5 <= got[0] < 1.0, got   # 0.5 s plus the loop's 100 ms timer (and load)


def test_a_key_frame_answers_the_held_request(worker):
    """a key frame from the publisher inside the interval: nothing more is asked"""
    pub, _ = setup(worker, "video", codec="vp8")
    assert plis(pub, 0.2) == [0xAB]
    worker.on_consumer_request_key_frame({"id": 20})   # held
    info = worker.transports[1]
    # a VP8 key frame: payload descriptor S=1 PID=0, frame tag with P=0, start code
    pub.sendto(rtp_packet(700, 0, 0xAB, payload=bytes([0x10, 0x00, 0x00, 0x00, 0x9D, 0x01, 0x2A]) + bytes(20)),
               (info.ip, info.port))
    assert plis(pub, 0.8) == []
