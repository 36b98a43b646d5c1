"""Send-side bandwidth estimation through the data plane: a worker in
process, real UDP on loopback, a fake subscriber.  Every packet sent to a
transport with the transport-cc extension carries the transport's own
transport-wide sequence number (the publisher's is not passed on); the
subscriber's feedback, built by our receive side (tcc_server.c through
sfu._units) from the arrival times it saw, reaches the estimator, whose
state TRANSPORT_STATS shows and the transport_bwe event reports."""

from __future__ import annotations

import struct
import time

import pytest

from helpers.in_process_worker import in_process_worker
from helpers.net import udp_socket
from sfu._units import ffi as uffi, lib as ulib
from sfu.protocol.sdp.extensions import EXT_MID, EXT_TWCC

from .test_producer_activity_events import Events, wait_event

PUB_TCC_ID, SUB_TCC_ID = 5, 3
SUB_SSRC = 0x5151


@pytest.fixture
def worker():
    with in_process_worker() as w:
        w.channel = Events()
        yield w


def setup(w, rtcp: bool = True) -> tuple:
    pub, sub = udp_socket(), udp_socket()
    info = w.on_transport_create({"id": 1, "kind": "plain"})
    w.on_transport_connect({"id": 1, "ip": pub.getsockname()[0], "port": pub.getsockname()[1]})
    w.on_transport_create({"id": 2, "kind": "plain", "rtcp": rtcp})
    w.on_transport_connect({"id": 2, "ip": sub.getsockname()[0], "port": sub.getsockname()[1]})
    # as for a subscriber's answer: its transport-cc id numbers what is sent to it
    w.on_transport_set_header_extensions({"id": 2, "extmap": {EXT_TWCC: SUB_TCC_ID, EXT_MID: 1}})
    w.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "video",
                          "remote_workers": []})
    # what the rooms ask for: the publisher's transport-wide id removed (map 0), the rest kept
    w.on_consumer_create({"id": 20, "transport_id": 2, "producer_id": 10, "ssrc": SUB_SSRC, "payload_type": 96,
                          "seq_start": 100, "ts_offset": 0, "paused": False, "ext_map": {"1": 1}})
    sub.settimeout(2)
    return pub, sub, (info["ip"], info["port"])


def media(seq: int, pub_tcc: int | None, payload: bytes = b"\xab" * 1000) -> bytes:
    """a video packet from the publisher: extension 1 (1 byte) and, when given, its transport-wide number"""
    elems = bytes([0x10, 0x42]) + (bytes([(PUB_TCC_ID << 4) | 1]) + struct.pack("!H", pub_tcc)
                                   if pub_tcc is not None else b"")
    elems += bytes(-len(elems) % 4)
    return (struct.pack("!BBHII", 0x90, 96, seq, 3000 * seq, 7) + struct.pack("!HH", 0xBEDE, len(elems) // 4)
            + elems + payload)


def read_tcc(pkt: bytes) -> int | None:
    """the transport-wide sequence number under SUB_TCC_ID of a received RTP packet"""
    buf = uffi.from_buffer("uint8_t[]", pkt)
    rtp = uffi.new("sfu_rtp_t *")
    assert ulib.sfu_rtp_parse(buf, len(pkt), rtp) == 0
    off = uffi.new("uint16_t *")
    if ulib.sfu_rtp_find_ext(buf, rtp, SUB_TCC_ID, off) != 2:
        return None
    assert ulib.sfu_rtp_find_ext(buf, rtp, PUB_TCC_ID, off) < 0        # the publisher's number is gone
    return struct.unpack("!H", pkt[off[0]:off[0] + 2])[0]


def recv_media(sub) -> bytes:
    while True:
        d = sub.recv(2048)
        if not 200 <= d[1] <= 206:
            return d


class FakeSubscriber:
    """records arrivals with our receive-side unit and sends its feedback"""

    def __init__(self, sock, worker_port: int) -> None:
        self.sock = sock
        self.port = worker_port
        self.t = uffi.new("sfu_tcc_server_t *")
        ulib.sfu_tcc_server_init(self.t)
        self.buf = uffi.new("uint8_t[]", 1400)

    def arrived(self, seq: int) -> None:
        ulib.sfu_tcc_server_record(self.t, seq, int(time.monotonic() * 1e6))

    def send_feedback(self) -> int:
        sent = 0
        while n := ulib.sfu_tcc_server_build(self.t, 0x99, SUB_SSRC, self.buf, 1400):
            self.sock.sendto(bytes(uffi.buffer(self.buf, n)), ("127.0.0.1", self.port))
            sent += 1
        return sent


def test_every_packet_is_numbered_by_the_subscriber_transport(worker):
    pub, sub, dest = setup(worker)
    got = []
    for i in range(40):
        # the publisher's own numbers are unrelated (and absent from some packets)
        pub.sendto(media(i, None if i % 10 == 3 else 7000 + 3 * i), dest)
        d = recv_media(sub)
        got.append((read_tcc(d), len(d)))
    seqs = [s for s, _ in got]
    assert seqs == [(seqs[0] + k) & 0xFFFF for k in range(40)]        # consecutive, none missing
    with_room = {n for k, (_, n) in enumerate(got) if k % 10 != 3}
    without = {n for k, (_, n) in enumerate(got) if k % 10 == 3}
    # the removed publisher element leaves room: same size as sent; without it the block grows a word
    assert with_room == {len(media(0, 1))} and without == {len(media(0, None)) + 4}
    st = worker.on_transport_stats({"id": 2})
    assert st["bwe_unstamped"] == 0
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline and not (st["bwe"] and st["bwe"]["packets"] == 40):
        time.sleep(0.05)                         # the snapshot is refreshed every 100 ms
        st = worker.on_transport_stats({"id": 2})
    assert st["bwe"]["packets"] == 40 and st["bwe"]["limited_by"] == "start"
    assert worker.on_worker_stats({})["bwe"]["2"]["packets"] == 40


def test_a_resend_is_a_new_packet_on_the_wire(worker):
    """a NACKed packet goes out again with its own sequence number and the next transport-wide one"""
    pub, sub, dest = setup(worker)
    for i in range(5):
        pub.sendto(media(i, 500 + i), dest)
    first = [recv_media(sub) for _ in range(5)]
    tcc = [read_tcc(d) for d in first]
    nack = struct.pack("!BBHII", 0x81, 205, 3, 0x99, SUB_SSRC) + struct.pack("!HH", 102, 0)   # out seq 102
    sub.sendto(nack, ("127.0.0.1", worker.mux_port))
    again = recv_media(sub)
    assert struct.unpack("!H", again[2:4])[0] == 102 and again[24:] == first[2][24:]
    assert read_tcc(again) == (tcc[-1] + 1) & 0xFFFF


def test_no_numbers_without_the_extension_or_rtcp(worker):
    pub, sub, dest = setup(worker, rtcp=False)
    pub.sendto(media(1, 9), dest)
    assert read_tcc(recv_media(sub)) is None
    assert worker.on_transport_stats({"id": 2})["bwe"] is None


def test_feedback_reaches_the_estimate_and_is_reported(worker):
    pub, sub, dest = setup(worker)
    fake = FakeSubscriber(sub, worker.mux_port)
    feedback = 0
    end = time.monotonic() + 1.6
    i = 0
    while time.monotonic() < end:                # ~400 kbit/s for 1.6 s, feedback every 50 ms
        for _ in range(2):
            pub.sendto(media(i & 0xFFFF, i), dest)
            fake.arrived(read_tcc(recv_media(sub)))
            i += 1
        if i % 20 == 0:
            feedback += fake.send_feedback()
        worker.on_queue_readable()               # events get their time when the loop queued them
        time.sleep(0.005)
    feedback += fake.send_feedback()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        st = worker.on_transport_stats({"id": 2})["bwe"]
        if st and st["feedback_packets"] >= feedback:
            break
        time.sleep(0.05)
    assert st["feedback_packets"] == feedback and st["feedback_rejected"] == 0 and st["unknown"] == 0
    assert st["acked_bps"] > 100_000 and 0 < st["rtt_us"] < 500_000
    assert st["estimate_bps"] > 0 and st["limited_by"] in ("delay", "max") and st["usage"] == "normal"
    # reported as an event when the estimate moved (at most every 500 ms)
    events = wait_event(worker, "transport_bwe", 1, 2.0)
    assert events and events[0][1]["id"] == 2
    times = [t for t, _ in events]
    assert all(b - a >= 0.4 for a, b in zip(times, times[1:])), times    # 500 ms apart, less the jitter of draining


def test_bad_feedback_is_counted_by_reason_and_remb_is_the_fallback(worker):
    pub, sub, dest = setup(worker)
    pub.sendto(media(1, 1), dest)
    recv_media(sub)
    bad = struct.pack("!BBHII", 0x8F, 205, 5, 0x99, SUB_SSRC) + struct.pack("!HHII", 1, 0, 0, 0)   # count 0
    sub.sendto(bad, ("127.0.0.1", worker.mux_port))
    exp, mantissa = 2, 100_000                   # 400 kbit/s
    remb = (struct.pack("!BBHII", 0x8F, 206, 5, 0x99, 0) + b"REMB"
            + bytes([1, (exp << 2) | (mantissa >> 16)]) + struct.pack("!HI", mantissa & 0xFFFF, SUB_SSRC))
    sub.sendto(remb, ("127.0.0.1", worker.mux_port))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        st = worker.on_transport_stats({"id": 2})["bwe"]
        if st and st["remb_packets"] and st["feedback_rejected"]:
            break
        time.sleep(0.05)
    assert st["feedback_rejects"] == {"no_packets": 1}
    assert st["remb_bps"] == 400_000 and st["estimate_bps"] == 400_000 and st["limited_by"] == "remb"


def test_unknown_transport(worker):
    from sfu import errors
    with pytest.raises(errors.NotFoundError):
        worker.on_transport_stats({"id": 99})
