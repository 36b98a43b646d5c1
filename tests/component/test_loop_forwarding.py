"""The forwarding loop in-process (one worker, real UDP on loopback)."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time

import pylibsrtp
import pytest

from helpers.net import udp_socket
from helpers.packets import rtp_packet
from helpers.waiting import wait_until as wait_for
from helpers.in_process_worker import in_process_worker
from sfu import errors, srtp
from sfu.loadtest import engine
from sfu.native import addr_from_c, addr_to_c, ffi, lib
from sfu.worker.main import Worker


@pytest.fixture
def worker():
    with in_process_worker() as w:
        yield w


def stats(w: Worker) -> dict:
    return w.on_worker_stats({})["stats"]


def plain(w: Worker, tid: int, peer: socket.socket | None = None, **kw) -> dict:
    info = w.on_transport_create({"id": tid, "kind": "plain", **kw})
    if peer is not None:
        ip, port = peer.getsockname()
        w.on_transport_connect({"id": tid, "ip": ip, "port": port})
    return info


def consumer(w, cid, tid, pid, ssrc, seq_start=1000, ts_offset=0, pt=100, paused=False):
    w.on_consumer_create({"id": cid, "transport_id": tid, "producer_id": pid, "ssrc": ssrc, "payload_type": pt,
                          "seq_start": seq_start, "ts_offset": ts_offset, "paused": paused})


def recv_rtp(s: socket.socket) -> tuple:
    d = s.recv(2048)
    while 200 <= d[1] <= 206:   # RTCP (sender reports of RTCP transports): not what we wait for
        d = s.recv(2048)
    b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", d[:12])
    return b1 & 0x7F, b1 >> 7, seq, ts, ssrc, d[12:]


def test_fanout_rewrites_per_consumer(worker):
    pub, a, b = udp_socket(), udp_socket(), udp_socket()
    info = plain(worker, 1, pub)
    plain(worker, 2, a)
    plain(worker, 3, b)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 0xAAAA, "payload_type": 96, "kind": "video",
                               "remote_workers": []})
    consumer(worker, 20, 2, 10, ssrc=0x1111, seq_start=65534, ts_offset=5, pt=101)
    consumer(worker, 21, 3, 10, ssrc=0x2222, seq_start=7, ts_offset=0xFFFFFFFF, pt=96)
    dest = (info["ip"], info["port"])
    for i in range(4):
        pub.sendto(rtp_packet(500 + i, 90000 * i, 0xAAAA, marker=(i == 3), payload=bytes([i]) * 50), dest)
    for i in range(4):
        pt, m, seq, ts, ssrc, payload = recv_rtp(a)
        assert (pt, m, seq, ts, ssrc) == (101, int(i == 3), (65534 + i) & 0xFFFF, 90000 * i + 5, 0x1111)
        assert payload == bytes([i]) * 50
        pt, m, seq, ts, ssrc, payload = recv_rtp(b)
        assert (pt, seq, ts, ssrc) == (96, 7 + i, (90000 * i - 1) & 0xFFFFFFFF, 0x2222)
    ps = worker.on_producer_stats({"id": 10})
    assert ps["packets"] == 4 and ps["last_seq"] == 503
    assert worker.on_consumer_stats({"id": 20})["packets"] == 4


def test_reordered_input_keeps_relative_order(worker):
    pub, a = udp_socket(), udp_socket()
    info = plain(worker, 1, pub)
    plain(worker, 2, a)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "audio",
                               "remote_workers": []})
    consumer(worker, 20, 2, 10, ssrc=9, seq_start=100)
    order = [65535, 1, 0, 2]  # wraps, with 0 and 1 swapped
    for s in order:
        pub.sendto(rtp_packet(s, s * 960, 7), (info["ip"], info["port"]))
    got = [recv_rtp(a)[2] for _ in order]
    assert got == [(100 + ((s - 65535) & 0xFFFF)) & 0xFFFF for s in order]


def test_pause_resume_keeps_output_gapless(worker):
    pub, a = udp_socket(), udp_socket()
    info = plain(worker, 1, pub)
    plain(worker, 2, a)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "audio",
                               "remote_workers": []})
    consumer(worker, 20, 2, 10, ssrc=9, seq_start=10)
    dest = (info["ip"], info["port"])
    pub.sendto(rtp_packet(1, 0, 7), dest)
    assert recv_rtp(a)[2] == 10
    worker.on_consumer_set_paused({"id": 20, "paused": True})
    for s in range(2, 30):
        pub.sendto(rtp_packet(s, 0, 7), dest)
    assert wait_for(lambda: stats(worker)["drops"].get("consumer_paused", 0) == 28)
    worker.on_consumer_set_paused({"id": 20, "paused": False})
    pub.sendto(rtp_packet(30, 0, 7), dest)
    pub.sendto(rtp_packet(31, 0, 7), dest)
    assert [recv_rtp(a)[2] for _ in range(2)] == [11, 12]


def test_every_drop_is_counted(worker):
    pub, stranger = udp_socket(), udp_socket()
    info = plain(worker, 1, pub)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "audio",
                               "remote_workers": []})
    dest = (info["ip"], info["port"])
    cases = [
        (stranger, rtp_packet(1, 0, 7), "unknown_source"),
        (pub, rtp_packet(1, 0, 8), "unknown_ssrc"),
        (pub, b"\x80\x60\x00", "too_short"),
        (pub, b"\x90\x60" + b"\0" * 10 + b"\x00\x01\x00\x09", "bad_extension"),
        (pub, b"\x8f\x60" + b"\0" * 20, "bad_csrc"),
        (pub, b"\xa0\x60" + b"\0" * 10 + b"\x00", "bad_padding"),
        (pub, b"\x80\xc8\x00\x09" + b"\0" * 8, "bad_rtcp"),
        (pub, b"\x00\x01\x00\x04" + b"\0" * 16, "bad_stun"),
        (pub, b"\x50" * 30, "unknown_class"),
        (stranger, b"\x16\xfe\xfd" + b"\0" * 20, "unknown_source"),
        (pub, rtp_packet(1, 0, 7, payload=b"x" * 1500), "too_long"),
    ]
    expected: dict[str, int] = {}
    for sock, data, reason in cases:
        sock.sendto(data, dest)
        expected[reason] = expected.get(reason, 0) + 1
        assert wait_for(lambda: stats(worker)["drops"].get(reason, 0) == expected[reason]), reason
    st = stats(worker)
    assert st["drops"] == expected
    assert st["rx_packets"] == len(cases)


def test_stun_goes_to_python_queue(worker):
    """a check naming the transport's ICE ufrag; one naming none is dropped in C"""
    peer = udp_socket()
    info = plain(worker, 1)
    worker.nl.transport_set_ice_ufrag(1, "abcd")
    stranger = struct.pack("!HHI12s", 0x0001, 12, 0x2112A442, os.urandom(12)) + \
        struct.pack("!HH8s", 0x0006, 8, b"zzzz:pee")
    peer.sendto(stranger, (info["ip"], info["port"]))
    assert wait_for(lambda: stats(worker)["drops"].get("stun_unknown_ufrag", 0) == 1)
    stun = struct.pack("!HHI12s", 0x0001, 12, 0x2112A442, os.urandom(12)) + struct.pack("!HH8s", 0x0006, 8, b"abcd:pee")
    peer.sendto(stun, (info["ip"], info["port"]))
    buf = ffi.new("uint8_t[]", 1 << 16)
    assert wait_for(lambda: stats(worker)["to_py"] == 1)
    n = lib.sfu_loop_py_drain(worker.nl.ptr, buf, 1 << 16)
    rec = ffi.cast("sfu_py_rec_t *", buf)
    assert n >= ffi.sizeof("sfu_py_rec_t") + len(stun)
    assert rec.kind == lib.SFU_REC_PACKET and rec.pkt_class == lib.SFU_PKT_STUN and rec.len == len(stun)
    assert addr_from_c(getattr(rec, "from")) == peer.getsockname()
    assert bytes(ffi.buffer(buf + ffi.sizeof("sfu_py_rec_t"), rec.len)) == stun
    assert lib.sfu_loop_py_drain(worker.nl.ptr, buf, 1 << 16) == 0


def test_comedia_learns_remote(worker):
    pub, a = udp_socket(), udp_socket()
    info = plain(worker, 1, comedia=True)
    assert info["port"] != worker.mux_port
    plain(worker, 2, a)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "video",
                               "remote_workers": []})
    consumer(worker, 20, 2, 10, ssrc=9)
    pub.sendto(rtp_packet(1, 0, 7), (info["ip"], info["port"]))
    assert recv_rtp(a)[4] == 9
    # a PLI from the subscriber reaches the learned publisher address
    pli = struct.pack("!BBHII", 0x81, 206, 2, 1, 9)
    a.sendto(pli, ("127.0.0.1", worker.mux_port))
    got = pub.recv(2048)
    assert got[1] == 206 and struct.unpack("!I", got[8:12])[0] == 7
    # a second PLI inside the throttle window is not forwarded
    a.sendto(pli, ("127.0.0.1", worker.mux_port))
    pub.settimeout(0.2)
    with pytest.raises(socket.timeout):
        pub.recv(2048)
    asyncio.run(worker.on_transport_close({"id": 1}))
    assert worker.on_worker_stats({})["transports"] == 1


def test_srtp_transport_decrypts_once_encrypts_per_consumer(worker):
    key_pub, key_a = os.urandom(28), os.urandom(28)
    gcm = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM
    pub, a = udp_socket(), udp_socket()
    info = plain(worker, 1, pub)
    plain(worker, 2, a)
    worker.on_transport_set_srtp({"id": 1, "profile": srtp.AEAD_AES_128_GCM, "recv_key": key_pub.hex(),
                                  "send_key": os.urandom(28).hex()})
    worker.on_transport_set_srtp({"id": 2, "profile": srtp.AEAD_AES_128_GCM, "recv_key": os.urandom(28).hex(),
                                  "send_key": key_a.hex()})
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "video",
                               "remote_workers": []})
    consumer(worker, 20, 2, 10, ssrc=9, seq_start=50)
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=key_pub, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=gcm))
    rx = pylibsrtp.Session(pylibsrtp.Policy(key=key_a, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=gcm))
    plain_pkt = rtp_packet(1, 1234, 7, payload=b"secret media" * 10)
    pub.sendto(tx.protect(plain_pkt), (info["ip"], info["port"]))
    out = rx.unprotect(a.recv(2048))
    assert out[12:] == plain_pkt[12:] and struct.unpack("!HII", out[2:12]) == (50, 1234, 9)
    # plain RTP on an SRTP transport fails authentication and is counted
    pub.sendto(plain_pkt, (info["ip"], info["port"]))
    assert wait_for(lambda: stats(worker)["drops"].get("srtp_unprotect", 0) == 1)


def test_comedia_with_srtp_learns_only_from_an_authenticated_packet(worker):
    """a forged packet from elsewhere must not take the stream: the remote is learnt from the
    first packet that passes SRTP authentication"""
    key = os.urandom(28)
    gcm = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM
    forger, pub, a = udp_socket(), udp_socket(), udp_socket()
    info = plain(worker, 1, comedia=True)
    plain(worker, 2, a)
    worker.on_transport_set_srtp({"id": 1, "profile": srtp.AEAD_AES_128_GCM, "recv_key": key.hex(),
                                  "send_key": os.urandom(28).hex()})
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "audio",
                               "remote_workers": []})
    consumer(worker, 20, 2, 10, ssrc=9)
    dest = (info["ip"], info["port"])
    forger.sendto(rtp_packet(1, 100, 7, payload=b"x" * 40), dest)            # in the clear
    forged = pylibsrtp.Session(pylibsrtp.Policy(key=os.urandom(28), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                                                srtp_profile=gcm))
    forger.sendto(forged.protect(rtp_packet(2, 200, 7, payload=b"y" * 40)), dest)   # another key
    assert wait_for(lambda: stats(worker)["drops"].get("srtp_unprotect", 0) == 2)
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=gcm))
    pub.sendto(tx.protect(rtp_packet(3, 300, 7, payload=b"z" * 40)), dest)     # the real sender
    a.settimeout(2)
    got = a.recv(2048)
    assert got[12:] == b"z" * 40                   # decrypted once, forwarded
    # learnt: the real sender's further packets go on, the forger's are strangers now
    forger.sendto(tx.protect(rtp_packet(4, 400, 7, payload=b"w" * 40)), dest)
    assert wait_for(lambda: stats(worker)["drops"].get("unknown_source", 0) == 1)
    pub.sendto(tx.protect(rtp_packet(5, 500, 7, payload=b"v" * 40)), dest)
    assert a.recv(2048)[12:] == b"v" * 40


def test_command_errors_map_to_exceptions(worker):
    plain(worker, 1)
    with pytest.raises(errors.AlreadyExistsError):
        plain(worker, 1)
    with pytest.raises(errors.NotFoundError):
        worker.on_producer_create({"id": 5, "transport_id": 99, "ssrc": 1, "payload_type": 96, "kind": "audio",
                                   "remote_workers": []})
    worker.on_producer_create({"id": 5, "transport_id": 1, "ssrc": 1, "payload_type": 96, "kind": "audio",
                               "remote_workers": []})
    with pytest.raises(errors.AlreadyExistsError):  # same SSRC twice on one transport
        worker.on_producer_create({"id": 6, "transport_id": 1, "ssrc": 1, "payload_type": 96, "kind": "audio",
                                   "remote_workers": []})
    with pytest.raises(errors.NotFoundError):
        consumer(worker, 7, 1, 999, ssrc=1)
    a, b = udp_socket(), udp_socket()
    plain(worker, 2, a)
    with pytest.raises(errors.AlreadyExistsError):  # two transports cannot share one remote address
        plain(worker, 3, a)
    plain(worker, 4, b)


def test_header_extension_ids_are_rewritten_per_consumer(worker):
    pub, a, b = udp_socket(), udp_socket(), udp_socket()
    info = plain(worker, 1, pub)
    plain(worker, 2, a)
    plain(worker, 3, b)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 111, "kind": "audio",
                               "remote_workers": []})
    base = {"transport_id": 2, "producer_id": 10, "ssrc": 9, "payload_type": 111, "seq_start": 1,
            "ts_offset": 0, "paused": False}
    worker.on_consumer_create({"id": 20, **base, "ext_map": {"1": 5, "4": 1}})   # 3 (not mapped) goes
    worker.on_consumer_create({"id": 21, **base, "transport_id": 3})             # no map: untouched
    # one-byte form: id 1 (1 byte), id 3 (2 bytes), id 4 (1 byte "0"), padding
    ext = bytes([0x10, 0xAA, 0x31, 0x01, 0x02, 0x40, ord("0"), 0x00])
    hdr = struct.pack("!BBHII", 0x90, 111, 1, 0, 7) + struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    pub.sendto(hdr + b"payload", (info["ip"], info["port"]))
    got = a.recv(2048)
    assert got[12:16] == struct.pack("!HH", 0xBEDE, 2)
    assert got[16:24] == bytes([0x50, 0xAA, 0, 0, 0, 0x10, ord("0"), 0]) and got[24:] == b"payload"
    untouched = b.recv(2048)
    assert untouched[12:24] == hdr[12:24]
    # two-byte form: ids above 14 are always removed
    ext2 = bytes([1, 1, 0xAA, 200, 2, 1, 2, 4, 0, 0, 0, 0])
    hdr2 = struct.pack("!BBHII", 0x90, 111, 2, 0, 7) + struct.pack("!HH", 0x1000, len(ext2) // 4) + ext2
    pub.sendto(hdr2 + b"x", (info["ip"], info["port"]))
    got = a.recv(2048)
    assert got[16:28] == bytes([5, 1, 0xAA, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    with pytest.raises(Exception, match="1..14"):
        worker.on_consumer_create({"id": 22, **base, "ext_map": {"15": 1}})


def test_an_audio_consumer_keeps_a_send_history_from_its_first_nack_on(worker):
    """audio: no send history until the subscriber first NACKs (that NACK is not answered);
    from then on NACKs are answered like video's"""
    pub, a = udp_socket(), udp_socket()
    info = plain(worker, 1, pub, rtcp=True)
    plain(worker, 2, a, rtcp=True)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 111, "kind": "audio",
                               "remote_workers": []})
    consumer(worker, 20, 2, 10, ssrc=9, seq_start=1000)
    dest = (info["ip"], info["port"])

    def send(first: int, n: int) -> None:
        for i in range(first, first + n):
            pub.sendto(rtp_packet(100 + i, 960 * i, 7, pt=111, payload=bytes([i]) * 30), dest)
        assert [recv_rtp(a)[2] for _ in range(n)] == list(range(1000 + first, 1000 + first + n))

    def nack(seq: int) -> None:
        a.sendto(struct.pack("!BBHII", 0x81, 205, 3, 9, 9) + struct.pack("!HH", seq, 0), ("127.0.0.1", worker.mux_port))

    send(0, 5)
    nack(1002)
    assert wait_for(lambda: stats(worker)["nack_misses"] == 1)
    assert stats(worker)["retransmits"] == 0
    send(5, 5)
    nack(1007)
    pt, m, seq, ts, ssrc, payload = recv_rtp(a)
    assert (seq, payload) == (1007, bytes([7]) * 30) and stats(worker)["retransmits"] == 1


def test_nack_answered_from_cache_and_reports_sent(worker):
    """RTCP plain transports: NACKs are answered from the packet cache (with the
    consumer's rewrite, at most 3 times), and SR/RR go out once a second."""
    pub, a = udp_socket(), udp_socket()
    info = plain(worker, 1, pub, rtcp=True)
    plain(worker, 2, a, rtcp=True)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "video",
                               "remote_workers": []})
    consumer(worker, 20, 2, 10, ssrc=9, seq_start=1000, ts_offset=10)
    dest = (info["ip"], info["port"])
    for i in range(20):
        pub.sendto(rtp_packet(100 + i, 3000 * i, 7, payload=bytes([i]) * 30), dest)
    sent = [recv_rtp(a) for _ in range(20)]
    assert [s[2] for s in sent] == list(range(1000, 1020))
    # NACK for out seq 1003 and, through the bitmask, 1005
    nack = struct.pack("!BBHII", 0x81, 205, 3, 9, 9) + struct.pack("!HH", 1003, 0b10)
    a.sendto(nack, ("127.0.0.1", worker.mux_port))
    got = {}
    for _ in range(2):
        pt, m, seq, ts, ssrc, payload = recv_rtp(a)
        got[seq] = (ts, ssrc, payload)
    assert got == {1003: (9000 + 10, 9, bytes([3]) * 30), 1005: (15000 + 10, 9, bytes([5]) * 30)}
    st = stats(worker)
    assert st["nacks"] == 2 and st["retransmits"] == 2
    # a repeat inside 100 ms is not resent
    a.sendto(nack, ("127.0.0.1", worker.mux_port))
    assert wait_for(lambda: stats(worker)["nacks"] == 4)
    assert stats(worker)["retransmits"] == 2
    # within ~1 s: an SR to the subscriber (its SSRC, 21 packets) and an RR to the publisher
    pub.sendto(rtp_packet(120, 3000 * 20, 7, payload=bytes([20]) * 30), dest)
    assert recv_rtp(a)[2] == 1020
    pub.settimeout(3)
    a.settimeout(3)
    # (an RR the timer sent while the burst was still being read names an older highest)
    rr = pub.recv(2048)
    while rr[1] != 201 or struct.unpack("!I", rr[16:20])[0] not in (119, 120):
        rr = pub.recv(2048)
    assert struct.unpack("!I", rr[8:12])[0] == 7 and struct.unpack("!I", rr[16:20])[0] in (119, 120)  # highest
    while True:   # the SR sent after the 21st packet
        d = a.recv(2048)
        if d[1] == 200 and struct.unpack("!I", d[20:24])[0] == 21:
            break
    ssrc, _, _, _, packets, octets = struct.unpack("!IIIIII", d[4:28])
    assert ssrc == 9 and packets == 21 and octets == 21 * 42


def test_layer_switch_waits_for_a_key_frame(worker):
    pub, a = udp_socket(), udp_socket()
    info = plain(worker, 1, pub)
    plain(worker, 2, a)
    for pid, ssrc in ((10, 100), (11, 200)):   # two simulcast layers of one track
        worker.on_producer_create({"id": pid, "transport_id": 1, "ssrc": ssrc, "payload_type": 96,
                                   "kind": "video", "codec": "vp8", "remote_workers": []})
    consumer(worker, 20, 2, 10, ssrc=9, seq_start=500, pt=96)
    dest = (info["ip"], info["port"])
    delta, key = b"\x10\x01" + b"d" * 20, b"\x10\x00" + b"k" * 20   # VP8: S=1 PID=0, then P bit
    for i in range(3):
        pub.sendto(rtp_packet(10 + i, 1000 + 3000 * i, 100, payload=delta), dest)
    assert [recv_rtp(a)[2] for _ in range(3)] == [500, 501, 502]
    worker.on_consumer_set_producer({"id": 20, "producer_id": 11})
    # the target layer's delta frames are not taken; the old layer keeps flowing
    pub.sendto(rtp_packet(7000, 50000, 200, payload=delta), dest)
    pub.sendto(rtp_packet(13, 1000 + 3000 * 3, 100, payload=delta), dest)
    got = recv_rtp(a)
    assert got[2] == 503 and got[5] == delta
    # the key frame switches; sequence numbers stay continuous, the old layer stops
    pub.sendto(rtp_packet(7001, 53000, 200, payload=key), dest)
    pub.sendto(rtp_packet(14, 1000 + 3000 * 4, 100, payload=delta), dest)
    pub.sendto(rtp_packet(7002, 56000, 200, payload=delta), dest)
    first, second = recv_rtp(a), recv_rtp(a)
    assert (first[2], first[5]) == (504, key) and (second[2], second[5]) == (505, delta)
    assert 0 < (first[3] - got[3]) % (1 << 32) < 90000       # timestamps move on, by < 1 s
    assert (second[3] - first[3]) % (1 << 32) == 3000         # and keep the new layer's spacing
    a.settimeout(0.3)
    with pytest.raises(socket.timeout):
        recv_rtp(a)
    assert worker.on_producer_stats({"id": 10})["packets"] == 5


def parse_twcc(fb: bytes) -> tuple[int, list[bool]]:
    """(base seq, received flags) from a transport-cc feedback packet"""
    assert fb[0] & 0x1F == 15 and fb[1] == 205
    base, count = struct.unpack("!HH", fb[12:16])
    flags: list[bool] = []
    off = 20
    while len(flags) < count:
        chunk = struct.unpack("!H", fb[off:off + 2])[0]
        off += 2
        if chunk & 0x8000:                     # status vector
            two = chunk & 0x4000
            syms = [(chunk >> (12 - 2 * i)) & 3 for i in range(7)] if two else \
                   [(chunk >> (13 - i)) & 1 for i in range(14)]
        else:                                  # run length
            syms = [(chunk >> 13) & 3] * (chunk & 0x1FFF)
        flags += [s != 0 for s in syms]
    return base, flags[:count]


def test_transport_cc_feedback(worker):
    pub = udp_socket()
    info = plain(worker, 1, pub)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "video",
                               "remote_workers": []})
    worker.nl.transport_set_header_extensions(1, {"transport_cc": 3})
    lost = {65533, 0, 2}
    sent = [s & 0xFFFF for s in range(65530, 65540)]            # wraps
    for i, tseq in enumerate(sent):
        if tseq in lost:
            continue
        ext = struct.pack("!HH", 0xBEDE, 1) + bytes([0x31]) + struct.pack("!H", tseq) + b"\0"
        pkt = struct.pack("!BBHII", 0x90, 96, i, 0, 7) + ext + b"x" * 50
        pub.sendto(pkt, (info["ip"], info["port"]))
        time.sleep(0.002)
    pub.settimeout(2)
    got: dict[int, bool] = {}
    while len(got) < len(sent):
        fb = pub.recv(2048)
        if fb[1] != 205 or fb[0] & 0x1F != 15:
            continue
        base, flags = parse_twcc(fb)
        for k, f in enumerate(flags):
            got[(base + k) & 0xFFFF] = f
    assert got == {s: s not in lost for s in sent}


def test_burst_fans_out_in_gso_runs(worker):
    """a received burst goes to each consumer as one run: the datagrams arrive
    separately and intact, in far fewer send calls than datagrams"""
    pub, a, b = udp_socket(), udp_socket(), udp_socket()
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    info = plain(worker, 1, pub)
    plain(worker, 2, a)
    plain(worker, 3, b)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "audio",
                               "remote_workers": []})
    consumer(worker, 20, 2, 10, ssrc=21, seq_start=100)
    consumer(worker, 21, 3, 10, ssrc=22, seq_start=200)
    n = 200
    before = stats(worker)
    # one sendmmsg-sized burst at a time from a C generator keeps the receive batches full
    sent = engine.lib.sfu_gen_rtp(pub.fileno(), addr_to_c(info["ip"], info["port"], ffi=engine.ffi), 7, 96, 1000,
                                  n, 0.0, 32, 5.0, engine.ffi.NULL)
    assert sent == n
    for s, ssrc, start in ((a, 21, 100), (b, 22, 200)):
        got = [recv_rtp(s) for _ in range(n)]
        assert [g[2] for g in got] == [(start + i) & 0xFFFF for i in range(n)]
        assert all(g[4] == ssrc and len(g[5]) == 1000 - 12 for g in got)
    after = stats(worker)
    datagrams = after["tx_packets"] - before["tx_packets"]
    assert datagrams == 2 * n
    # nearly all of them left as UDP_SEGMENT runs (the very first packets may trickle in alone)
    assert after["tx_gso"] - before["tx_gso"] > 0.8 * datagrams, after


def _plis_arriving(s: socket.socket, wait: float) -> int:
    s.settimeout(0.05)
    n, end = 0, time.monotonic() + wait
    while time.monotonic() < end:
        try:
            d = s.recv(2048)
        except socket.timeout:
            continue
        n += d[1] == 206
    return n


def test_one_subscriber_cannot_storm_the_publisher_with_plis(worker):
    """a subscriber sending a PLI every 50 ms for 3 s is passed on 2 times (at 0 and after 2 s:
    its interval doubled), a second subscriber's own PLI still goes through, and a paused
    consumer's PLIs are not passed on at all.  The publisher hears the new consumer's own
    request, the storm's first one when that request's 500 ms end (held, not lost), and the
    one after 2 s"""
    pub, a, b = udp_socket(), udp_socket(), udp_socket()
    info = plain(worker, 1, pub)
    plain(worker, 2, a)
    plain(worker, 3, b)
    worker.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 7, "payload_type": 96, "kind": "video",
                               "remote_workers": []})
    consumer(worker, 20, 2, 10, ssrc=9)
    consumer(worker, 21, 3, 10, ssrc=11, paused=True)
    pub.sendto(rtp_packet(1, 0, 7), (info["ip"], info["port"]))
    assert recv_rtp(a)[4] == 9
    before = stats(worker).get("plis_throttled", 0)
    storm = struct.pack("!BBHII", 0x81, 206, 2, 1, 9)
    paused_pli = struct.pack("!BBHII", 0x81, 206, 2, 1, 11)
    end, sent = time.monotonic() + 3.0, 0
    while time.monotonic() < end:
        a.sendto(storm, ("127.0.0.1", worker.mux_port))
        b.sendto(paused_pli, ("127.0.0.1", worker.mux_port))
        sent += 1
        time.sleep(0.05)
    got = _plis_arriving(pub, 0.3)
    assert 2 <= got <= 3, got          # 3 when the run spans the 2 s boundary, as it should
    assert stats(worker)["plis_throttled"] - before >= 2 * sent - 2
