"""RFC 4571 framing for ICE over TCP (csrc/loop/tcp_framing.c): frames out of a byte stream
however it is cut, oversized and empty frames skipped and counted, a bounded send queue that
drops whole frames when full and survives partial writes; a round trip gives the frames back."""

from __future__ import annotations

import random
import struct

from sfu._units import ffi, lib


def framed(*frames: bytes) -> bytes:
    return b"".join(struct.pack("!H", len(f)) + f for f in frames)


class Rx:
    def __init__(self) -> None:
        self.rx = ffi.new("sfu_tcp_rx_t *")
        lib.sfu_tcp_rx_init(self.rx)
        self._f = ffi.new("const uint8_t **")
        self._n = ffi.new("uint32_t *")

    def feed(self, data: bytes) -> list[bytes]:
        """push all of data (as much as fits at a time, taking frames in between)"""
        out = []
        while data:
            took = lib.sfu_tcp_rx_push(self.rx, data, len(data))
            data = data[took:]
            out += self.frames()
            assert took or out, "no room and no frame: stuck"
        return out + self.frames()

    def frames(self) -> list[bytes]:
        out = []
        while lib.sfu_tcp_rx_next(self.rx, self._f, self._n):
            out.append(bytes(ffi.buffer(self._f[0], self._n[0])))
        return out


def test_frames_come_out_however_the_stream_is_cut():
    frames = [bytes([i]) * n for i, n in enumerate([1, 20, 1500, 2048, 3, 700])]
    stream = framed(*frames)
    rng = random.Random(7)
    for _ in range(50):
        rx, got, i = Rx(), [], 0
        while i < len(stream):
            step = rng.choice([1, 2, 3, 100, 1501, 5000])
            got += rx.feed(stream[i:i + step])
            i += step
        assert got == frames
        assert rx.rx.frames == len(frames) and rx.rx.bytes == len(stream)


def test_one_byte_at_a_time_and_a_half_frame_waits():
    rx = Rx()
    stun = bytes(range(20))
    assert rx.feed(framed(stun)[:1]) == [] and rx.feed(framed(stun)[1:2]) == []
    assert rx.feed(stun[:10]) == []
    assert rx.feed(stun[10:]) == [stun]


def test_oversized_frames_are_skipped_and_the_connection_goes_on():
    rx = Rx()
    big = b"x" * 3000
    got = rx.feed(framed(b"a", big, b"b") + struct.pack("!H", 65535) + b"y" * 65535 + framed(b"c"))
    assert got == [b"a", b"b", b"c"]
    assert rx.rx.oversized == 2 and rx.rx.frames == 3


def test_empty_frames_are_skipped():
    rx = Rx()
    assert rx.feed(b"\x00\x00" + framed(b"z") + b"\x00\x00") == [b"z"]
    assert rx.rx.empty == 2


class Tx:
    def __init__(self, cap: int = 0) -> None:
        self.tx = ffi.new("sfu_tcp_tx_t *")
        lib.sfu_tcp_tx_init(self.tx, cap)
        self._p = ffi.new("const uint8_t **")

    def put(self, frame: bytes) -> int:
        return lib.sfu_tcp_tx_enqueue(self.tx, frame, len(frame))

    def write(self, at_most: int) -> bytes:
        """what a partial write of at most `at_most` bytes would send"""
        out = b""
        while len(out) < at_most:
            n = lib.sfu_tcp_tx_peek(self.tx, self._p)
            if n == 0:
                break
            n = min(n, at_most - len(out))
            out += bytes(ffi.buffer(self._p[0], n))
            lib.sfu_tcp_tx_consume(self.tx, n)
        return out


def test_send_queue_prefixes_frames_and_survives_partial_writes():
    tx = Tx()
    assert tx.put(b"hello") and tx.put(b"") and tx.put(b"w" * 1200)
    assert tx.write(3) + tx.write(10_000) == framed(b"hello", b"", b"w" * 1200)
    assert tx.tx.len == 0 and tx.tx.frames == 3


def test_a_full_queue_drops_whole_frames_and_counts_them():
    tx = Tx(cap=1000)
    assert tx.put(b"a" * 600) == 1
    assert tx.put(b"b" * 500) == 0            # 502 > 398 left: dropped whole, never split
    assert tx.put(b"c" * 396) == 1            # exactly fills it
    assert tx.put(b"d") == 0
    assert (tx.tx.dropped, tx.tx.dropped_bytes, tx.tx.len) == (2, 501, 1000)
    assert tx.write(10_000) == framed(b"a" * 600, b"c" * 396)
    assert tx.put(b"e" * 0x10000) == 0         # longer than a 16-bit length can say


def test_the_ring_wraps_and_the_stream_is_intact():
    rng = random.Random(3)
    tx, rx = Tx(cap=4096), Rx()
    sent, got = [], []
    for i in range(2000):
        f = bytes([i % 256]) * rng.randint(1, 1400)
        if tx.put(f):
            sent.append(f)
        got += rx.feed(tx.write(rng.randint(1, 1000)))     # slower than it is filled: some drops
    got += rx.feed(tx.write(1 << 20))
    assert got == sent and tx.tx.dropped > 0 and len(sent) + tx.tx.dropped == 2000
