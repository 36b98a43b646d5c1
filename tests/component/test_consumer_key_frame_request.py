"""CONSUMER_REQUEST_KEY_FRAME: a consumer asks its video producer's publisher
for a key frame (a PLI from the SFU's SSRC), throttled like every other
request (500 ms per producer), without pausing or resuming anything.  A
worker in process, real UDP on loopback."""

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


def setup(w: Worker, kind: str) -> tuple[socket.socket, socket.socket]:
    pub, sub = udp_socket(), udp_socket()
    for tid, s in ((1, pub), (2, sub)):
        w.on_transport_create({"id": tid, "kind": "plain"})
        w.on_transport_connect({"id": tid, "ip": s.getsockname()[0], "port": s.getsockname()[1]})
    w.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 0xAB, "payload_type": 96, "kind": kind,
                          "remote_workers": []})
    w.on_consumer_create({"id": 20, "transport_id": 2, "producer_id": 10, "ssrc": 9, "payload_type": 96,
                          "seq_start": 1, "ts_offset": 0, "paused": False})
    return pub, sub


def test_request_reaches_the_publisher_throttled(worker):
    pub, sub = setup(worker, "video")
    assert plis(pub, 0.3) == [0xAB]            # a new video consumer asks once by itself
    time.sleep(0.3)                            # past the 500 ms throttle
    worker.on_consumer_request_key_frame({"id": 20})
    worker.on_consumer_request_key_frame({"id": 20})
    assert plis(pub, 0.3) == [0xAB]            # two requests, one PLI
    # the consumer still forwards: the request did not pause or re-base it
    info = worker.transports[1]
    pub.sendto(rtp_packet(500, 0, 0xAB), (info.ip, info.port))
    pub.sendto(rtp_packet(501, 0, 0xAB), (info.ip, info.port))
    seqs = [struct.unpack("!H", sub.recv(2048)[2:4])[0] for _ in range(2)]
    assert seqs == [1, 2]
    time.sleep(0.5)
    worker.on_consumer_request_key_frame({"id": 20})
    assert plis(pub, 0.3) == [0xAB]


def test_audio_consumer_asks_nothing(worker):
    pub, _ = setup(worker, "audio")
    worker.on_consumer_request_key_frame({"id": 20})
    assert plis(pub, 0.3) == []


def test_unknown_consumer(worker):
    from sfu import errors
    with pytest.raises(errors.NotFoundError):
        worker.on_consumer_request_key_frame({"id": 99})
