"""producer_inactive / producer_active from the data plane: a worker in
process, real UDP on loopback.  The loop's timer reports a local producer
that received nothing for 1 s, and its first packet after that; the worker
forwards both as channel events (sfu/worker/messages.py EVENTS)."""

from __future__ import annotations

import time

import pytest

from helpers.in_process_worker import in_process_worker
from helpers.packets import rtp_packet
from helpers.net import udp_socket
from sfu.worker import messages
from sfu.worker.main import Worker


class Events:
    """stands in for the worker's channel: records what it emits"""

    def __init__(self) -> None:
        self.got: list[tuple[float, str, dict]] = []

    def emit(self, event: str, data: dict) -> None:
        messages.check_event(event, data)
        self.got.append((time.monotonic(), event, data))

    def of(self, name: str) -> list[tuple[float, dict]]:
        return [(t, d) for t, e, d in self.got if e == name]


@pytest.fixture
def worker():
    with in_process_worker() as w:
        w.channel = Events()
        yield w


def wait_event(w: Worker, name: str, count: int, timeout: float) -> list[tuple[float, dict]]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        w.on_queue_readable()       # what the worker's asyncio reader does
        if len(w.channel.of(name)) >= count:
            break
        time.sleep(0.01)
    return w.channel.of(name)


def test_inactive_after_a_second_without_packets_and_active_again(worker):
    pub = udp_socket()
    info = worker.on_transport_create({"id": 1, "kind": "plain"})
    worker.on_transport_connect({"id": 1, "ip": pub.getsockname()[0], "port": pub.getsockname()[1]})
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "video",
                               "remote_workers": []})
    dest = (info["ip"], info["port"])
    for i in range(25):                      # 0.5 s of a 50 packets/s layer
        pub.sendto(rtp_packet(i, 3000 * i, 7), dest)
        time.sleep(0.02)
    last = time.monotonic()
    assert worker.channel.of("producer_inactive") == []     # active while packets arrive
    inactive = wait_event(worker, "producer_inactive", 1, 4.0)
    assert len(inactive) == 1 and inactive[0][1] == {"id": 1, "producer_id": 10}
    # 1 s of silence, noticed by a timer that runs at least once a second
    assert 0.95 <= inactive[0][0] - last <= 2.5, inactive[0][0] - last
    assert worker.channel.of("producer_active") == []
    sent = time.monotonic()
    pub.sendto(rtp_packet(25, 3000 * 25, 7), dest)         # the first packet after the silence
    active = wait_event(worker, "producer_active", 1, 2.0)
    assert len(active) == 1 and active[0][1] == {"id": 1, "producer_id": 10}
    assert active[0][0] - sent < 0.5
    pub.sendto(rtp_packet(26, 3000 * 26, 7), dest)         # reported once per change
    time.sleep(0.3)
    worker.on_queue_readable()
    assert len(worker.channel.of("producer_active")) == 1
    assert len(worker.channel.of("producer_inactive")) == 1


def test_a_producer_that_never_sends_goes_inactive(worker):
    worker.on_transport_create({"id": 1, "kind": "plain"})
    created = time.monotonic()
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "video",
                               "remote_workers": []})
    worker.on_producer_create({"id": 11, "transport_id": 1, "ssrc": 8, "payload_type": 96, "kind": "video",
                               "remote_workers": []})
    got = wait_event(worker, "producer_inactive", 2, 4.0)
    assert sorted(d["producer_id"] for _, d in got) == [10, 11]
    assert all(0.95 <= t - created <= 2.5 for t, _ in got), [t - created for t, _ in got]
