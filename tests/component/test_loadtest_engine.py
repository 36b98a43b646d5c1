"""The load-test packet engine (csrc/loadtest.c, sfu.loadtest.engine):
paced senders and the checking receiver, over loopback."""

from __future__ import annotations

import asyncio
import math
import os
import random
import socket
import struct
import time

import pytest

from helpers.packets import rtp_packet
from sfu.loadtest import Engine, SenderSpec
from sfu.loadtest.engine import _stream_dict
from sfu.loadtest.engine import ffi, lib
from sfu.native import addr_to_c
from sfu.srtp import AEAD_AES_128_GCM, AES128_CM_SHA1_80, Session, key_length

pytestmark = pytest.mark.timeout(30)

LT_BUF = lib.SFU_MTU + lib.SFU_SRTP_TRAILER_MAX


def _sock(rcvbuf: int = 4 << 20) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind(("127.0.0.1", 0))
    return s


def _run(eng: Engine, seconds: float, drain: float = 0.3) -> None:
    eng.start(seconds, recv_grace=drain + 2.0)
    assert eng.wait_senders(seconds + 5)
    time.sleep(drain)
    eng.stop()


def _stream(stats: dict, ssrc: int) -> dict:
    for st in stats["streams"]:
        if st["ssrc"] == ssrc:
            return st
    raise AssertionError(f"no stream {ssrc:#x} in {[hex(s['ssrc']) for s in stats['streams']]}")


def _video(fd: int, addr, ssrc=0x1111, srtp=None, **kw) -> SenderSpec:
    kw.setdefault("bitrate", 500_000)
    kw.setdefault("fps", 30.0)
    kw.setdefault("keyframe_interval", 1.0)
    kw.setdefault("codec", "vp8")
    return SenderSpec(fd=fd, addr=addr, srtp=srtp, ssrc=ssrc, pt=96, kind="video", **kw)


def _audio(fd: int, addr, ssrc=0x2222, srtp=None, **kw) -> SenderSpec:
    kw.setdefault("bitrate", 32_000)
    kw.setdefault("fps", 50.0)
    return SenderSpec(fd=fd, addr=addr, srtp=srtp, ssrc=ssrc, pt=111, kind="audio", codec="opus",
                      clock_rate=48000, **kw)


def _check_exact(eng: Engine, sender: int, st: dict) -> None:
    s = eng.sender_stats(sender)
    assert s["errors"] == 0
    assert s["packets"] > 0
    assert st["packets"] == s["packets"], (st, s)
    assert st["bytes"] == s["bytes"]
    assert st["lost"] == 0 and st["duplicates"] == 0
    assert st["expected"] == s["packets"]
    assert st["frames"] == s["frames"]


# ---------------------------------------------------------------------------
def test_plain_rtp_counts_latency_bitrate():
    tx, rx = _sock(), _sock()
    dest = rx.getsockname()
    eng = Engine()
    v = eng.add_sender(_video(tx.fileno(), dest))
    a = eng.add_sender(_audio(tx.fileno(), dest))
    j = eng.add_socket(rx.fileno(), None, clock_rates={111: 48000}, label="sub")
    _run(eng, 2.5)
    stats = eng.socket_stats(j)
    assert stats["bad"] == 0 and stats["streams_full"] == 0
    vs, as_ = _stream(stats, 0x1111), _stream(stats, 0x2222)
    _check_exact(eng, v, vs)
    _check_exact(eng, a, as_)
    sv, sa = eng.sender_stats(v), eng.sender_stats(a)
    # 2.5 s at 30 fps, 50 pps
    assert 70 <= sv["frames"] <= 77 and 120 <= sa["frames"] <= 127
    # key frames: the first, then every second; the receiver saw each of them
    assert sv["keyframes"] in (3, 4)
    assert vs["keyframes"] == sv["keyframes"]
    assert as_["keyframes"] == 0
    # every video frame is split into <= 1200 B payloads: 2083 B -> 2 packets
    assert sv["packets"] == 2 * sv["frames"]
    assert sa["packets"] == sa["frames"]
    for st, rate, fps in ((vs, 500_000, 30.0), (as_, 32_000, 50.0)):
        lat = st["latency_ms"]
        assert lat["count"] == st["packets"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p99"] <= lat["max"]
        assert lat["p50"] < 5.0, lat
        assert math.isfinite(st["jitter_ms"]) and 0 <= st["jitter_ms"] < 20
        bps = st["bytes"] * 8 * fps / st["frames"]
        assert abs(bps - rate) / rate < 0.10, (bps, rate)
        # and over the wall clock the receiver observed
        wall = (st["last_ns"] - st["first_ns"]) / 1e9
        assert abs(st["bytes"] * 8 / wall - rate) / rate < 0.10
    assert as_["clock_rate"] == 48000 and vs["clock_rate"] == 90000
    tx.close(), rx.close()


@pytest.mark.parametrize("profile", [AEAD_AES_128_GCM, AES128_CM_SHA1_80])
def test_srtp_counts_and_wrong_key(profile):
    key = os.urandom(key_length(profile))
    wrong = os.urandom(key_length(profile))
    tx, rx, rx_bad = _sock(), _sock(), _sock()
    eng = Engine()
    v = eng.add_sender(_video(tx.fileno(), rx.getsockname(), srtp=Session(profile, key, True)))
    a = eng.add_sender(_audio(tx.fileno(), rx.getsockname(), srtp=Session(profile, key, True)))
    b = eng.add_sender(_audio(tx.fileno(), rx_bad.getsockname(), ssrc=0x3333, srtp=Session(profile, key, True)))
    j = eng.add_socket(rx.fileno(), Session(profile, key, False), clock_rates={111: 48000})
    k = eng.add_socket(rx_bad.fileno(), Session(profile, wrong, False))
    _run(eng, 1.5)
    good = eng.socket_stats(j)
    assert good["bad"] == 0
    _check_exact(eng, v, _stream(good, 0x1111))
    _check_exact(eng, a, _stream(good, 0x2222))
    assert _stream(good, 0x1111)["keyframes"] == eng.sender_stats(v)["keyframes"] >= 2
    assert _stream(good, 0x1111)["latency_ms"]["p50"] < 5.0
    bad = eng.socket_stats(k)
    assert bad["streams"] == []
    assert bad["bad"] == bad["datagrams"] == eng.sender_stats(b)["packets"] > 50


# ---------------------------------------------------------------------------
class _Relay(asyncio.DatagramProtocol):
    """Drops every 10th packet, duplicates every 50th, delays all by 30 ms and
    every 7th by 8 ms more (so it arrives after its successor)."""

    def __init__(self, dest):
        self.dest = dest
        self.n = 0
        self.dropped: list[int] = []
        self.forwarded: list[int] = []
        self.duplicated = 0
        self.out: asyncio.DatagramTransport | None = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        i = self.n
        self.n += 1
        if i % 10 == 5:
            self.dropped.append(i)
            return
        self.forwarded.append(i)
        delay = 0.030 + (0.008 if i % 7 == 3 else 0.0)
        loop = asyncio.get_running_loop()
        loop.call_later(delay, self.transport.sendto, data, self.dest)
        if i % 50 == 11:
            self.duplicated += 1
            loop.call_later(delay + 0.001, self.transport.sendto, data, self.dest)


def test_loss_reorder_duplicates_latency_through_relay():
    async def main():
        tx, rx = _sock(), _sock()
        loop = asyncio.get_running_loop()
        relay = _Relay(rx.getsockname())
        transport, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", 0))
        eng = Engine()
        s = eng.add_sender(_audio(tx.fileno(), transport.get_extra_info("sockname"), fps=200.0, bitrate=64_000))
        j = eng.add_socket(rx.fileno(), None, clock_rates={111: 48000})
        eng.start(2.0, recv_grace=3.0)
        while eng.wait_senders(0) is False:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        eng.stop()
        transport.close()
        tx.close(), rx.close()
        return eng, s, j, relay

    eng, s, j, relay = asyncio.run(main())
    sent = eng.sender_stats(s)["packets"]
    assert relay.n == sent and 380 <= sent <= 410
    st = _stream(eng.socket_stats(j), 0x2222)
    last = max(relay.forwarded)
    first = min(relay.forwarded)
    assert st["packets"] == len(relay.forwarded)
    assert st["duplicates"] == relay.duplicated > 0
    assert st["expected"] == last - first + 1
    assert st["lost"] == sum(1 for d in relay.dropped if first < d < last)
    assert abs(st["lost"] / st["expected"] - 0.10) < 0.01
    lat = st["latency_ms"]
    assert 20 < lat["p50"] < 40, lat
    assert lat["min"] >= 29.0
    assert math.isfinite(st["jitter_ms"])


# ---------------------------------------------------------------------------
def test_stun_to_drain_control_and_pli_forces_keyframe():
    pub, sink, peer = _sock(), _sock(), _sock()
    eng = Engine()
    got: list[tuple[bytes, tuple[str, int]]] = []
    v = eng.add_sender(_video(pub.fileno(), sink.getsockname(), keyframe_interval=30.0))
    # the publisher's own socket: RTCP and STUN from "the server"
    j = eng.add_socket(pub.fileno(), None, on_control=lambda d, a: got.append((d, a)), label="pub")
    eng.start(1.6, recv_grace=1.0)
    time.sleep(0.5)
    assert eng.sender_stats(v)["keyframes"] == 1
    stun = struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, os.urandom(12))
    dtls = bytes([22, 0xFE, 0xFD]) + os.urandom(20)
    peer.sendto(stun, pub.getsockname())
    peer.sendto(dtls, pub.getsockname())
    pli = struct.pack("!BBHII", 0x81, 206, 2, 0xAAAA, 0x1111)
    peer.sendto(pli, pub.getsockname())
    deadline = time.monotonic() + 2.0
    n = 0
    while n < 2 and time.monotonic() < deadline:
        n += eng.drain_control()
        time.sleep(0.01)
    assert n == 2
    assert got == [(stun, peer.getsockname()), (dtls, peer.getsockname())]
    deadline = time.monotonic() + 0.5
    while eng.sender_stats(v)["keyframes"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert eng.sender_stats(v)["keyframes"] == 2, "a PLI must force a key frame before the 30 s interval"
    assert eng.sender_stats(v)["keyframe_requests"] == 1
    eng.stop()
    st = eng.socket_stats(j)
    assert st["rtcp"] == 1 and st["plis"] == 1 and st["control"] == 2 and st["bad"] == 0
    for c in (pub, sink, peer):
        c.close()


def test_fir_and_foreign_pli_through_recv_packet():
    socks = ffi.new("sfu_lt_socket_t[1]")
    senders = ffi.new("sfu_lt_sender_t[2]")
    senders[0].ssrc, senders[1].ssrc = 0x1111, 0x2222
    buf = ffi.new("uint8_t[]", LT_BUF)

    def feed(data: bytes) -> int:
        ffi.memmove(buf, data, len(data))
        return lib.sfu_lt_recv_packet(socks, 0, buf, len(data), ffi.NULL, senders, 2, ffi.NULL)

    assert feed(struct.pack("!BBHII", 0x81, 206, 2, 1, 0x9999)) == lib.SFU_PKT_RTCP
    assert senders[0].keyframe_request == 0 and senders[1].keyframe_request == 0
    fir = struct.pack("!BBHIIIBBH", 0x84, 206, 4, 1, 0, 0x2222, 7, 0, 0)
    assert feed(fir) == lib.SFU_PKT_RTCP
    assert senders[1].keyframe_request == 1 and senders[0].keyframe_request == 0
    assert socks[0].firs == 1 and socks[0].plis == 1 and socks[0].rtcp == 2
    # STUN with no control queue: counted as dropped, not crashed
    assert feed(struct.pack("!HHI12s", 1, 0, 0x2112A442, b"x" * 12)) == lib.SFU_PKT_STUN
    assert socks[0].control_dropped == 1


# ---------------------------------------------------------------------------
def _parse(data: bytes):
    buf = ffi.new("uint8_t[]", data)
    rtp = ffi.new("sfu_rtp_t *")
    assert lib.sfu_rtp_parse(buf, len(data), rtp) == 0
    return buf, rtp


def _ext(buf, rtp, ext_id: int) -> bytes | None:
    off = ffi.new("uint16_t *")
    n = lib.sfu_rtp_find_ext(buf, rtp, ext_id, off)
    return None if n < 0 else bytes(ffi.buffer(buf + off[0], n))


def test_mid_rid_extensions_on_the_wire():
    tx, cap = _sock(), _sock()
    cap.settimeout(2.0)
    eng = Engine()
    eng.add_sender(_video(tx.fileno(), cap.getsockname(), mid_ext_id=4, mid="v0", rid_ext_id=10, rid="hi"))
    eng.add_sender(_audio(tx.fileno(), cap.getsockname(), mid_ext_id=4, mid="a1"))
    eng.start(0.3)
    seen = {}
    try:
        while len(seen) < 2:
            data = cap.recv(2048)
            buf, rtp = _parse(data)
            seen[rtp.ssrc] = (rtp.ext_profile, _ext(buf, rtp, 4), _ext(buf, rtp, 10), rtp.payload_type)
    finally:
        eng.stop()
    assert seen[0x1111] == (0xBEDE, b"v0", b"hi", 96)
    assert seen[0x2222] == (0xBEDE, b"a1", None, 111)
    tx.close(), cap.close()


def test_vp8_keyframe_flag_and_frame_layout():
    s = ffi.new("sfu_lt_sender_t *")
    s.ssrc, s.pt, s.kind, s.codec = 0x4242, 96, lib.SFU_LT_VIDEO, lib.SFU_CODEC_VP8
    s.clock_rate, s.bitrate_bps, s.fps, s.keyframe_interval_ms = 90000, 1_000_000, 25.0, 10_000
    s.fd = -1
    bufs = ffi.new("uint8_t[]", 64 * LT_BUF)
    lens = ffi.new("int[]", 64)

    def frame():
        n = lib.sfu_lt_build_frame(s, bufs, lens, 64)
        assert n > 0
        return [bytes(ffi.buffer(bufs + i * LT_BUF, lens[i])) for i in range(n)]

    def flags(pkts):
        out = []
        for p in pkts:
            buf, rtp = _parse(p)
            out.append((lib.sfu_rtp_is_keyframe(buf, rtp, lib.SFU_CODEC_VP8), rtp.marker, rtp.ts, rtp.seq,
                        rtp.payload_len))
        return out

    f0, f1 = flags(frame()), flags(frame())
    # 1 Mbps / 25 fps = 5000 B per frame -> 5 packets of <= 1200 B
    assert len(f0) == len(f1) == 5
    assert [k for k, *_ in f0] == [1, 0, 0, 0, 0]
    assert [k for k, *_ in f1] == [0, 0, 0, 0, 0]
    for f in (f0, f1):
        assert [m for _, m, *_ in f] == [0, 0, 0, 0, 1]
        assert len({ts for _, _, ts, *_ in f}) == 1
        assert sum(p for *_, p in f) == 5000 and max(p for *_, p in f) <= 1200
    assert f1[0][2] - f0[0][2] == 90000 // 25
    assert [sq for *_, sq, _ in f0 + f1] == [(f0[0][3] + i) & 0xFFFF for i in range(10)]
    s.keyframe_request = 1
    f2 = flags(frame())
    assert [k for k, *_ in f2] == [1, 0, 0, 0, 0]
    assert s.keyframes == 2 and s.frames == 3 and s.keyframe_requests == 1 and s.keyframe_request == 0
    # every payload ends with the latency trailer
    p = frame()[0]
    assert struct.unpack("!I", p[-12:-8])[0] == lib.SFU_LT_MAGIC
    assert abs(struct.unpack("!Q", p[-8:])[0] - time.time_ns()) < 1e9


# ---------------------------------------------------------------------------
def _rtp(seq: int, ts: int = 0, ssrc: int = 5, marker: bool = False) -> bytes:
    return rtp_packet(seq, ts, ssrc, payload=bytes(20), marker=marker)


def test_sequence_wrap_reorder_duplicates_and_stream_cap():
    socks = ffi.new("sfu_lt_socket_t[1]")
    buf = ffi.new("uint8_t[]", LT_BUF)

    def feed(data: bytes) -> int:
        ffi.memmove(buf, data, len(data))
        return lib.sfu_lt_recv_packet(socks, 0, buf, len(data), ffi.NULL, ffi.NULL, 0, ffi.NULL)

    # 65531, then 65530 (reordered before the first), wrap, 3 missing, 65535 twice
    for seq in (65531, 65530, 65532, 65533, 65534, 65535, 65535, 0, 1, 2, 4, 5, 6, 1):
        assert feed(_rtp(seq)) == lib.SFU_PKT_RTP
    st = _stream_dict(socks[0].streams[0])
    assert st["expected"] == 65536 + 7 - 65530
    assert st["packets"] == 12 and st["duplicates"] == 2 and st["lost"] == 1
    # more SSRCs than the socket tracks: counted, not stored
    for ssrc in range(100, 100 + lib.SFU_LT_STREAMS_MAX + 8):
        feed(_rtp(1, ssrc=ssrc))
    assert socks[0].n_streams == lib.SFU_LT_STREAMS_MAX
    assert socks[0].streams_full == 9


def test_receiver_survives_random_and_truncated_datagrams():
    """The receiver parses untrusted input: garbage is counted, never trusted."""
    rng = random.Random(20240611)
    good = [_rtp(i, ts=i * 3000, ssrc=0x77, marker=True) for i in range(50)]
    rtcp = struct.pack("!BBHII", 0x81, 206, 2, 1, 0x1111) + struct.pack("!BBHI", 0x80, 201, 1, 9)
    inputs: list[bytes] = []
    for _ in range(2000):
        base = rng.choice(good + [rtcp])
        kind = rng.randrange(3)
        if kind == 0:
            inputs.append(base[: rng.randrange(len(base) + 1)])
        elif kind == 1:
            m = bytearray(base)
            for _ in range(rng.choice((1, 2, 4, 8))):
                m[rng.randrange(len(m))] = rng.randrange(256)
            inputs.append(bytes(m))
        else:
            inputs.append(bytes([rng.randrange(128, 192)]) + os.urandom(rng.randrange(0, 1600)))
    socks = ffi.new("sfu_lt_socket_t[1]")
    senders = ffi.new("sfu_lt_sender_t[1]")
    senders[0].ssrc = 0x1111
    q = ffi.new("sfu_lt_ctl_queue_t *")
    buf = ffi.new("uint8_t[]", 4096)
    for data in inputs:
        ffi.memmove(buf, data, len(data))
        lib.sfu_lt_recv_packet(socks, 0, buf, len(data), ffi.NULL, senders, 1, q)
    s = socks[0]
    assert s.datagrams == len(inputs)
    assert s.bad > 300
    assert s.n_streams <= lib.SFU_LT_STREAMS_MAX

    # and through the real receive thread with SRTP: every forged datagram is bad
    key = os.urandom(key_length(AEAD_AES_128_GCM))
    tx, rx, forger = _sock(), _sock(), _sock()
    eng = Engine()
    v = eng.add_sender(_audio(tx.fileno(), rx.getsockname(), srtp=Session(AEAD_AES_128_GCM, key, True)))
    j = eng.add_socket(rx.fileno(), Session(AEAD_AES_128_GCM, key, False))
    eng.start(1.5, recv_grace=2.0)
    n_sent = 0
    for data in inputs:
        if data and 128 <= data[0] <= 191 and len(data) <= 1500:
            forger.sendto(data, rx.getsockname())
            n_sent += 1
            if n_sent % 200 == 0:
                time.sleep(0.005)
    assert eng.wait_senders(5)
    time.sleep(0.3)
    eng.stop()
    st = eng.socket_stats(j)
    assert st["bad"] == n_sent
    _check_exact(eng, v, _stream(st, 0x2222))
    tx.close(), rx.close(), forger.close()


def test_engine_api_guards():
    eng = Engine()
    with pytest.raises(ValueError):
        eng.add_sender(_video(0, ("127.0.0.1", 9), mid_ext_id=15, mid="x"))
    with pytest.raises(ValueError):
        eng.add_sender(_video(0, ("127.0.0.1", 9), bitrate=100_000_000))
    with pytest.raises(ValueError):
        eng.add_sender(SenderSpec(0, ("127.0.0.1", 9), None, 1, 96, "data"))
    eng.add_socket(7, None)
    with pytest.raises(ValueError):
        eng.add_socket(7, None)
    eng = Engine()
    eng.start(0.01)
    with pytest.raises(RuntimeError):
        eng.add_socket(0, None)
    eng.stop()
    assert eng.drain_control() == 0


def test_ctl_queue_full_counts_drops():
    q = ffi.new("sfu_lt_ctl_queue_t *")
    a = addr_to_c("127.0.0.1", 5, ffi=ffi)
    for i in range(lib.SFU_LT_CTL_SLOTS + 3):
        lib.sfu_lt_ctl_push(q, 0, a, bytes([1, i & 0xFF]) + b"z" * 18, 20)
    assert q.dropped == 3
    out = ffi.new("sfu_lt_ctl_slot_t *")
    n = 0
    while lib.sfu_lt_ctl_pop(q, out):
        assert out.len == 20 and out.data[1] == n & 0xFF and getattr(out, "from").port == 5
        n += 1
    assert n == lib.SFU_LT_CTL_SLOTS
    assert lib.sfu_lt_ctl_push(q, 0, a, b"x" * 1501, 1501) == 0


def test_receivers_share_the_sockets_and_each_control_reaches_its_socket():
    """three receiver threads over seven sockets: every socket's stream counted exactly, a
    STUN datagram to any socket handed to that socket's callback, each thread's CPU read"""
    tx, peer = _sock(), _sock()
    rxs = [_sock() for _ in range(7)]
    eng = Engine(receivers=3)
    got: dict[int, list[bytes]] = {k: [] for k in range(7)}
    senders, socks = [], []
    for k, rx in enumerate(rxs):
        senders.append(eng.add_sender(_audio(tx.fileno(), rx.getsockname(), ssrc=0x5000 + k)))
        socks.append(eng.add_socket(rx.fileno(), None, on_control=lambda d, a, k=k: got[k].append(d),
                                    clock_rates={111: 48000}, label=f"sub{k}"))
    eng.start(1.5, recv_grace=2.0)
    time.sleep(0.3)
    stuns = {k: struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, os.urandom(12)) for k in range(7)}
    for k, rx in enumerate(rxs):
        peer.sendto(stuns[k], rx.getsockname())
    deadline = time.monotonic() + 2.0
    n = 0
    while n < 7 and time.monotonic() < deadline:
        n += eng.drain_control()
        time.sleep(0.01)
    assert eng.wait_senders(5)
    time.sleep(0.3)
    cpu = eng.receiver_cpu()
    eng.stop()
    assert n == 7 and got == {k: [stuns[k]] for k in range(7)}
    for k in range(7):
        _check_exact(eng, senders[k], _stream(eng.socket_stats(socks[k]), 0x5000 + k))
    assert len(cpu) == 3 and all(c >= 0 for c in cpu)
    assert eng.control_dropped() == 0
    for s in (tx, peer, *rxs):
        s.close()


def test_more_receivers_than_sockets_and_bad_counts():
    tx, rx = _sock(), _sock()
    eng = Engine(receivers=4)
    s = eng.add_sender(_audio(tx.fileno(), rx.getsockname()))
    j = eng.add_socket(rx.fileno(), None, clock_rates={111: 48000})
    _run(eng, 0.5)
    _check_exact(eng, s, _stream(eng.socket_stats(j), 0x2222))
    assert len(eng.receiver_cpu()) == 1          # one socket: one thread
    for bad in (0, 65):
        with pytest.raises(ValueError):
            Engine(receivers=bad)
    tx.close(), rx.close()


def test_audio_level_extension_follows_set_audio_level():
    """RFC 6464 on the wire: the level set while the sender runs, the V bit on when not silent"""
    tx, cap = _sock(), _sock()
    cap.settimeout(2.0)
    eng = Engine()
    a = eng.add_sender(_audio(tx.fileno(), cap.getsockname(), mid_ext_id=4, mid="a1", audio_level_ext_id=1))
    eng.start(1.5)
    levels: list[int] = []
    try:
        t_switch = time.monotonic() + 0.3
        switched = False
        while time.monotonic() < t_switch + 0.5:
            if not switched and time.monotonic() >= t_switch:
                eng.set_audio_level(a, 20)
                switched = True
            buf, rtp = _parse(cap.recv(2048))
            assert _ext(buf, rtp, 4) == b"a1"
            levels.append(_ext(buf, rtp, 1)[0])
    finally:
        eng.stop()
    assert levels[0] == 127 and levels[-1] == 0x80 | 20, levels      # silence, then voice at -20 dBov
    assert set(levels) == {127, 0x80 | 20}
    for bad in ({"audio_level_ext_id": 4}, {"audio_level_ext_id": 15}, {"audio_level": 128}):
        with pytest.raises(ValueError):
            Engine().add_sender(_audio(tx.fileno(), cap.getsockname(), mid_ext_id=4, mid="a1", **bad))
    with pytest.raises(ValueError):
        Engine().add_sender(_video(tx.fileno(), cap.getsockname(), audio_level_ext_id=2))
    tx.close(), cap.close()


@pytest.mark.parametrize("codec", ["vp8", "vp9", "h264", "av1"])
def test_each_video_codec_has_its_payload_descriptors_and_key_frames(codec):
    """a sender of each codec writes the descriptors the SFU reads (its key frames are the ones
    sfu_rtp_is_keyframe finds for that codec, and only those); a receiver told the codec of the
    payload type counts them"""
    from sfu._native import lib as native
    tx, rx, tap = _sock(), _sock(), _sock()
    eng = Engine()
    v = eng.add_sender(_video(tx.fileno(), rx.getsockname(), codec=codec, bitrate=800_000))
    j = eng.add_socket(rx.fileno(), None, label="sub", codecs={96: codec})
    _run(eng, 1.2)
    sv, vs = eng.sender_stats(v), _stream(eng.socket_stats(j), 0x1111)
    _check_exact(eng, v, vs)
    assert sv["keyframes"] >= 2 and vs["keyframes"] == sv["keyframes"], (sv, vs)
    # the same frames through sfu_rtp_is_keyframe of the data plane, packet by packet
    bufs = ffi.new("uint8_t[]", 8 * LT_BUF)
    lens = ffi.new("int[]", 8)
    spec = _video(tx.fileno(), tap.getsockname(), codec=codec, bitrate=800_000, keyframe_interval=0)
    c = ffi.new("sfu_lt_sender_t *")
    c.fd, c.ssrc, c.pt, c.kind, c.clock_rate = spec.fd, spec.ssrc, spec.pt, lib.SFU_LT_VIDEO, 90000
    c.codec = {"vp8": lib.SFU_CODEC_VP8, "vp9": lib.SFU_CODEC_VP9, "h264": lib.SFU_CODEC_H264,
               "av1": lib.SFU_CODEC_AV1}[codec]
    c.bitrate_bps, c.fps = spec.bitrate, spec.fps
    from sfu.native import ffi as nffi
    for frame in range(3):
        if frame == 2:
            c.keyframe_request = 1
        n = lib.sfu_lt_build_frame(c, bufs, lens, 8)
        assert n >= 2, n                                  # 800 kbit/s at 30 fps: 3334 B, 3 packets
        keys = []
        for i in range(n):
            pkt = bytes(ffi.buffer(bufs + i * LT_BUF, lens[i]))
            rtp = nffi.new("sfu_rtp_t *")
            assert native.sfu_rtp_parse(pkt, len(pkt), rtp) == 0
            keys.append(native.sfu_rtp_is_keyframe(pkt, rtp, c.codec))
        assert keys == ([1] + [0] * (n - 1) if frame != 1 else [0] * n), (frame, keys)
    tx.close(), rx.close(), tap.close()
