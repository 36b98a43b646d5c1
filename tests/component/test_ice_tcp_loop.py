"""ICE-TCP connections in the forwarding loop (csrc/loop/tcp_conn.c), in-process: a real TCP
connection on loopback handed to the worker as the node's acceptor hands it (fd passing), a
transport whose path is that connection, RFC 4571 frames both ways."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from helpers.in_process_worker import in_process_worker
from helpers.net import udp_socket
from helpers.packets import rtp_packet
from helpers.waiting import wait_until
from sfu.worker.main import Worker


@pytest.fixture
def worker():
    with in_process_worker() as w:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        b.setblocking(False)
        w.handoff = b
        w.test_handoff = a
        yield w
        a.close()
        b.close()


def stats(w: Worker) -> dict:
    return w.on_worker_stats({})["stats"]


def drops(w: Worker) -> dict:
    return stats(w)["drops"]


def connect_tcp(w: Worker, first: bytes = b"") -> tuple[socket.socket, int]:
    """a client connection whose server end the worker's loop now owns: (client socket, its
    socket id in the loop)"""
    lst = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(lst.getsockname())
    server, _ = lst.accept()
    lst.close()
    before = set(w.tcp_sockets)
    socket.send_fds(w.test_handoff, [first], [server.fileno()])
    server.close()                     # the worker has its own copy now
    w.handoff_readable()
    (sid,) = w.tcp_sockets - before
    client.settimeout(2.0)
    return client, sid


def frame(pkt: bytes) -> bytes:
    return struct.pack("!H", len(pkt)) + pkt


def read_frames(s: socket.socket, n: int, buf: bytearray | None = None) -> list[bytes]:
    """n whole RFC 4571 frames from s"""
    buf = buf if buf is not None else bytearray()
    out = []
    while len(out) < n:
        while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
            ln = int.from_bytes(buf[:2], "big")
            out.append(bytes(buf[2:2 + ln]))
            del buf[:2 + ln]
        if len(out) >= n:
            break
        d = s.recv(65536)
        assert d, "connection closed"
        buf += d
    return out


def rtp_frames(frames: list[bytes]) -> list[bytes]:
    return [f for f in frames if not 200 <= f[1] <= 206]


def plain(w: Worker, tid: int, peer: socket.socket | None = None) -> dict:
    info = w.on_transport_create({"id": tid, "kind": "plain"})
    if peer is not None:
        ip, port = peer.getsockname()
        w.on_transport_connect({"id": tid, "ip": ip, "port": port})
    return info


def on_tcp_path(w: Worker, tid: int, client: socket.socket, sid: int) -> None:
    ip, port = client.getsockname()
    w.nl.transport_connect(tid, (ip, port, sid))


def test_media_both_ways_over_one_connection(worker):
    pub, sink = udp_socket(), udp_socket()
    info = plain(worker, 1, pub)
    plain(worker, 2)
    plain(worker, 3, sink)
    client, sid = connect_tcp(worker)
    on_tcp_path(worker, 2, client, sid)
    # UDP publisher -> the TCP subscriber
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 0xAAAA, "payload_type": 96, "kind": "audio",
                               "remote_workers": []})
    worker.on_consumer_create({"id": 20, "transport_id": 2, "producer_id": 10, "ssrc": 0x1111, "payload_type": 111,
                               "seq_start": 40, "ts_offset": 0, "paused": False})
    for i in range(5):
        pub.sendto(rtp_packet(100 + i, 960 * i, 0xAAAA, payload=bytes([i]) * 80), (info["ip"], info["port"]))
    got = rtp_frames(read_frames(client, 5))
    assert [struct.unpack("!H", f[2:4])[0] for f in got] == [40, 41, 42, 43, 44]
    assert [struct.unpack("!I", f[8:12])[0] for f in got] == [0x1111] * 5
    assert [f[12:] for f in got] == [bytes([i]) * 80 for i in range(5)]
    # the TCP publisher -> a UDP subscriber: frames split anywhere, bad frames skipped
    worker.on_producer_create({"id": 11, "transport_id": 2, "ssrc": 0xBBBB, "payload_type": 96, "kind": "audio",
                               "remote_workers": []})
    worker.on_consumer_create({"id": 21, "transport_id": 3, "producer_id": 11, "ssrc": 0x2222, "payload_type": 96,
                               "seq_start": 7, "ts_offset": 0, "paused": False})
    stream = b"".join(frame(rtp_packet(s, 0, 0xBBBB, payload=bytes([s]) * 60)) for s in (1, 2))
    stream += struct.pack("!H", 0)                       # an empty frame
    stream += struct.pack("!H", 3000) + b"\x80" * 3000   # longer than any packet
    stream += frame(rtp_packet(3, 0, 0xBBBB, payload=b"\x03" * 60))
    for i in range(0, len(stream), 7):                   # 7 bytes at a time
        client.sendall(stream[i:i + 7])
        time.sleep(0.0005)
    seqs = []
    for _ in range(3):
        d = sink.recv(2048)
        seqs.append(struct.unpack("!H", d[2:4])[0])
    assert seqs == [7, 8, 9]
    assert wait_until(lambda: drops(worker).get("tcp_bad_frame", 0) == 2)
    assert stats(worker)["tcp_opened"] == 1 and stats(worker)["tcp_closed"] == 0


def test_a_stalled_reader_loses_frames_and_holds_no_one_else(worker):
    """the TCP subscriber never reads: its queue fills and frames are dropped whole (counted),
    while a UDP subscriber of the same producer gets every packet"""
    pub, sink = udp_socket(), udp_socket()
    try:                                                 # room for bursts on a busy machine (root: past rmem_max)
        sink.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
    except OSError:
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    info = plain(worker, 1, pub)
    plain(worker, 2)
    plain(worker, 3, sink)
    client, sid = connect_tcp(worker)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    on_tcp_path(worker, 2, client, sid)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 5, "payload_type": 96, "kind": "video",
                               "remote_workers": []})
    for cid, tid in ((20, 2), (21, 3)):
        worker.on_consumer_create({"id": cid, "transport_id": tid, "producer_id": 10, "ssrc": 100 + cid,
                                   "payload_type": 96, "seq_start": 0, "ts_offset": 0, "paused": False})
    n = 4000                                             # 4.8 MB: far more than the queue and kernel buffers
    received = []

    def drain() -> None:
        sink.settimeout(2.0)
        try:
            while len(received) < n:
                received.append(sink.recv(2048))
        except socket.timeout:
            pass

    reader = threading.Thread(target=drain)
    reader.start()
    for s in range(n):
        pub.sendto(rtp_packet(s & 0xFFFF, s * 3000, 5, payload=b"\x11" * 1200), (info["ip"], info["port"]))
        if s % 20 == 19:
            time.sleep(0.002)                           # a paced publisher (~10k packets/s), not a burst
    reader.join(30)
    assert len(received) == n, f"the UDP subscriber got {len(received)} of {n}"
    assert drops(worker).get("tcp_queue_full", 0) > 0, drops(worker)
    # what was queued is whole frames: once the reader wakes up, every frame parses
    client.settimeout(1.0)
    buf, frames = bytearray(), []
    try:
        while True:
            d = client.recv(1 << 20)
            if not d:
                break
            buf += d
    except socket.timeout:
        pass
    while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
        ln = int.from_bytes(buf[:2], "big")
        frames.append(bytes(buf[2:2 + ln]))
        del buf[:2 + ln]
    assert not buf, f"{len(buf)} bytes of a torn frame"
    media = rtp_frames(frames)
    assert 100 < len(media) < n, len(media)
    seqs = [struct.unpack("!H", f[2:4])[0] for f in media]
    assert seqs == sorted(seqs) and all(len(f) == 12 + 1200 for f in media)
    print(f"\nstalled TCP subscriber: {len(media)} of {n} frames kept, "
          f"{drops(worker).get('tcp_queue_full')} dropped; UDP subscriber {len(received)} of {n}")


def test_peer_close_and_transport_close(worker):
    pub = udp_socket()
    info = plain(worker, 1, pub)
    plain(worker, 2)
    client, sid = connect_tcp(worker)
    on_tcp_path(worker, 2, client, sid)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 5, "payload_type": 96, "kind": "audio",
                               "remote_workers": []})
    worker.on_consumer_create({"id": 20, "transport_id": 2, "producer_id": 10, "ssrc": 9, "payload_type": 96,
                               "seq_start": 0, "ts_offset": 0, "paused": False})
    client.close()                                       # the peer hangs up
    assert wait_until(lambda: stats(worker)["tcp_closed"] == 1)

    def record_seen() -> bool:                           # the SFU_REC_TCP_CLOSED record reached Python
        worker.on_queue_readable()
        return sid not in worker.tcp_sockets
    assert wait_until(record_seen)
    pub.sendto(rtp_packet(1, 0, 5), (info["ip"], info["port"]))
    assert wait_until(lambda: drops(worker).get("no_remote", 0) >= 1)   # the transport has no path now
    # a transport that goes closes its connection
    client2, sid2 = connect_tcp(worker)
    on_tcp_path(worker, 2, client2, sid2)
    worker.nl.transport_close(2)
    assert client2.recv(100) == b""
    assert stats(worker)["tcp_closed"] == 2


def test_a_connection_no_check_validates_is_closed(worker):
    client, sid = connect_tcp(worker)
    t0 = time.monotonic()
    client.settimeout(15)
    assert client.recv(100) == b""
    assert 9 <= time.monotonic() - t0 < 13               # SFU_TCP_UNBOUND_NS, checked once a second
    assert stats(worker)["tcp_closed"] == 1


def test_a_connection_serves_one_transport(worker):
    plain(worker, 2)
    plain(worker, 3)
    client, sid = connect_tcp(worker)
    on_tcp_path(worker, 2, client, sid)
    from sfu import errors

    with pytest.raises(errors.SfuError):
        on_tcp_path(worker, 3, client, sid)
    with pytest.raises(errors.SfuError):                 # only the connection's own peer
        worker.nl.transport_connect(2, ("127.0.0.1", 1, sid))
