"""Scalable video (VP9 SVC, L3T3 in the payload descriptor) through the data plane: a worker in
process, real UDP on loopback.  With CONSUMER_SET_LAYERS a consumer forwards only the spatial
and temporal layers asked for, its sequence numbers contiguous over what it leaves out, the
marker bit on the end of the top layer it forwards; back up waits for a key frame, which the
consumer asks the publisher for (a PLI) as soon as a wanted layer arrives."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from helpers.in_process_worker import in_process_worker
from helpers.packets import rtp_packet, vp9_layer_payload
from helpers.net import udp_socket

PUB_SSRC = 0xAB
TEMPORAL = (0, 2, 1, 2)          # L3T3's temporal pattern, picture by picture


@pytest.fixture
def worker():
    with in_process_worker() as w:
        yield w


class Stream:
    def __init__(self, pub: socket.socket, dest: tuple[str, int]) -> None:
        self.pub, self.dest = pub, dest
        self.seq, self.picture = 1000, 0

    def send(self, pictures: int, key_first: bool = False) -> None:
        """pictures of 3 spatial layers (one packet each, the marker on the last)"""
        for n in range(pictures):
            tid = TEMPORAL[self.picture % 4]
            key = key_first and n == 0
            for sid in range(3):
                self.pub.sendto(rtp_packet(self.seq, 3000 * self.picture, PUB_SSRC,
                                           payload=vp9_layer_payload(sid, 0 if key else tid, key, self.picture),
                                           marker=sid == 2), self.dest)
                self.seq += 1
            self.picture += 1
            time.sleep(0.002)


def received(s: socket.socket, wait: float = 0.3) -> list[tuple[int, int, int, bool]]:
    """(out seq, spatial, temporal, marker) of each packet that arrives"""
    out = []
    s.settimeout(wait)
    try:
        while True:
            d = s.recv(2048)
            if 200 <= d[1] <= 206:
                continue
            layer = d[12 + 3]
            out.append((struct.unpack("!H", d[2:4])[0], (layer >> 1) & 7, layer >> 5, bool(d[1] & 0x80)))
    except socket.timeout:
        return out


def plis(s: socket.socket) -> int:
    s.setblocking(False)
    n = 0
    try:
        while True:
            d = s.recv(2048)
            n += d[1] == 206 and d[0] & 0x1F == 1
    except BlockingIOError:
        return n


def setup(w):
    pub, sub = udp_socket(), udp_socket()
    for tid, s in ((1, pub), (2, sub)):
        w.on_transport_create({"id": tid, "kind": "plain"})
        w.on_transport_connect({"id": tid, "ip": s.getsockname()[0], "port": s.getsockname()[1]})
    w.on_producer_create({"id": 10, "transport_id": 1, "ssrc": PUB_SSRC, "payload_type": 96, "kind": "video",
                          "codec": "vp9", "remote_workers": []})
    w.on_consumer_create({"id": 20, "transport_id": 2, "producer_id": 10, "ssrc": 9, "payload_type": 96,
                          "seq_start": 1, "ts_offset": 0, "paused": False})
    info = w.transports[1]
    return Stream(pub, (info.ip, info.port)), pub, sub


def contiguous(got) -> bool:
    seqs = [g[0] for g in got]
    return seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_every_layer_until_asked(worker):
    stream, _, sub = setup(worker)
    stream.send(4, key_first=True)
    got = received(sub)
    assert [(s, t) for _, s, t, _ in got] == [(s, t) for t in (0, 2, 1, 2) for s in range(3)]
    assert [m for *_, m in got] == [s == 2 for _ in range(4) for s in range(3)] and contiguous(got)
    assert worker.on_consumer_stats({"id": 20})["spatial"] == -1


def test_down_to_one_spatial_and_one_temporal_layer(worker):
    stream, _, sub = setup(worker)
    stream.send(4, key_first=True)
    first = received(sub)
    worker.on_consumer_set_layers({"id": 20, "spatial_layer": 0, "temporal_layer": 0})
    stream.send(8)
    got = received(sub)
    # pictures 4..11 have temporal layers 0 2 1 2 0 2 1 2: layer 0 of the T0 ones only, each ending
    # the subscriber's picture, numbered on from the last one before
    assert [(s, t, m) for _, s, t, m in got] == [(0, 0, True), (0, 0, True)]
    assert contiguous(first + got)
    st = worker.on_worker_stats({})["stats"]
    assert st["svc_filtered"] == 22 and st["svc_switches"] == 1
    assert (worker.on_consumer_stats({"id": 20})["spatial"], worker.on_consumer_stats({"id": 20})["temporal"]) == (0, 0)
    # the producer counts each layer's bytes: 12 pictures of temporal layers 0 2 1 2 ...
    layers = worker.on_producer_stats({"id": 10})["layer_bytes"]
    per_packet = layers[0][0] // 3                  # pictures 0, 4 and 8 at temporal layer 0
    for s in range(3):
        assert layers[s][:3] == [3 * per_packet, 3 * per_packet, 6 * per_packet], layers
    assert layers[3] == [0, 0, 0, 0] and all(row[3] == 0 for row in layers)


def test_up_waits_for_a_key_frame_and_asks_for_one(worker):
    stream, pub, sub = setup(worker)
    stream.send(4, key_first=True)
    received(sub)
    worker.on_consumer_set_layers({"id": 20, "spatial_layer": 0, "temporal_layer": -1})
    stream.send(4)
    assert {s for _, s, _, _ in received(sub)} == {0}
    time.sleep(0.6)                                   # past the key frame request throttle
    plis(pub)
    worker.on_consumer_set_layers({"id": 20, "spatial_layer": -1, "temporal_layer": -1})
    stream.send(4)                                    # no key frame: still layer 0, and a PLI
    before = received(sub)
    assert {s for _, s, _, _ in before} == {0} and len(before) == 4
    assert plis(pub) >= 1
    stream.send(4, key_first=True)
    got = received(sub)
    assert [s for _, s, _, _ in got] == [0, 1, 2] * 4 and contiguous(before + got)
    assert worker.on_consumer_stats({"id": 20})["spatial"] == -1


def test_bad_layer_values_are_refused(worker):
    setup(worker)
    from sfu.worker.messages import SchemaError
    with pytest.raises(SchemaError):
        worker.on_consumer_set_layers({"id": 20, "spatial_layer": 8, "temporal_layer": 0})
