"""A jump in a producer's sequence numbers must not silence an SRTP consumer.

Found by bench/bench_fanout.py: with 2 workers a starved worker 1 let the ring
overflow for long enough that its consumers saw the input sequence jump by
more than 2^15; libsrtp's sender-side index estimate (RFC 3711 3.3.1) takes
such a packet for an old one and every following srtp_protect failed
(replay_old) -- the subscriber got nothing for up to 2^15 packets.  A
publisher restarting its sequence on the same SSRC does the same.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct

import pylibsrtp
import pytest

from sfu import srtp
from sfu.media import MediaService
from sfu.worker.process import WorkerPool

SSRC = 0x1111


async def _forward(jump: int) -> tuple[list[int], dict]:
    pool = WorkerPool(1, log_level="WARNING", restart=False)
    await pool.start()
    try:
        room = MediaService(pool).router("seq")
        pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for s in (pub, sub):
            s.bind(("127.0.0.1", 0))
        sub.setblocking(False)
        tp = await room.create_plain_transport(worker=0)
        await tp.connect(*pub.getsockname())
        prod = await tp.produce("video", SSRC, 96)
        key = os.urandom(srtp.key_length(srtp.AEAD_AES_128_GCM))
        ts = await room.create_plain_transport(worker=0)
        await ts.connect(*sub.getsockname())
        await ts.set_srtp(srtp.AEAD_AES_128_GCM, os.urandom(len(key)), key)
        await ts.consume(prod)
        seqs = [1000 + i for i in range(10)] + [(1010 + jump + i) & 0xFFFF for i in range(10)]
        for i, seq in enumerate(seqs):
            pub.sendto(struct.pack("!BBHII", 0x80, 96, seq, 3000 * i, SSRC) + b"\x55" * 100, (tp.ip, tp.port))
        rx = pylibsrtp.Session(pylibsrtp.Policy(
            key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM))
        out: list[int] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3.0
        while len(out) < len(seqs) and loop.time() < deadline:
            try:
                d = sub.recv(2048)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            out.append(struct.unpack_from("!H", rx.unprotect(d), 2)[0])
        stats = (await pool.stats())[0]["stats"]
        pub.close()
        sub.close()
        return out, stats["drops"]
    finally:
        await pool.stop()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("jump", [20000, 40000, 60000])
def test_large_jump_continues_the_output_sequence(jump):
    out, drops = asyncio.run(_forward(jump))
    assert drops == {}, drops
    assert len(out) == 20
    # the output continues without a gap across the discontinuity
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(out, out[1:])), out


@pytest.mark.timeout(60)
def test_loss_stays_visible():
    """an ordinary gap (lost packets) is passed on so receivers can NACK it"""
    out, drops = asyncio.run(_forward(500))
    assert drops == {}, drops
    assert len(out) == 20
    assert (out[10] - out[9]) & 0xFFFF == 501
