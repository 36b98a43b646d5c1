"""Differential test: the C fan-out (two worker processes, shared ring) against
the pure-Python reference forwarder on identical, seeded input."""

from __future__ import annotations

import asyncio
import random
import socket

from helpers.net import udp_socket
from helpers.packets import rtp_packet
from .reference_forwarder import RefConsumer
from sfu.media import MediaService

SEEDS = [1, 2, 3]


def make_stream(rng: random.Random, ssrc: int, n: int) -> list[bytes]:
    """n packets with loss, reordering, wrap-around, markers and odd sizes"""
    seq = rng.randrange(0, 0x10000)
    ts = rng.randrange(0, 1 << 32)
    out = []
    for _ in range(n):
        if rng.random() < 0.05:
            seq += rng.randint(1, 5)  # loss
        elif rng.random() < 0.01:
            seq += rng.choice([5000, 40000])  # a discontinuity (publisher restart)
        size = rng.choice([1, 20, 160, 900, 1188])
        payload = bytes(rng.getrandbits(8) for _ in range(size))
        out.append(rtp_packet(seq, ts, ssrc, pt=rng.choice([96, 111]), payload=payload, marker=rng.random() < 0.1))
        seq += 1
        ts += rng.choice([0, 960, 3000])
    for _ in range(n // 20):  # swap neighbours
        i = rng.randrange(0, n - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


async def recv_n(sock: socket.socket, n: int, timeout: float = 5.0) -> list[bytes]:
    loop = asyncio.get_running_loop()
    got: list[bytes] = []
    sock.setblocking(False)
    end = loop.time() + timeout
    while len(got) < n and loop.time() < end:
        try:
            got.append(await asyncio.wait_for(loop.sock_recv(sock, 2048), max(0.01, end - loop.time())))
        except asyncio.TimeoutError:
            break
    return got


async def test_c_fanout_matches_reference(pool2):
    svc = MediaService(pool2)
    for seed in SEEDS:
        rng = random.Random(seed)
        router = svc.router(f"room-{seed}")
        pubs = [udp_socket(), udp_socket()]
        producers, streams = [], []
        for i, s in enumerate(pubs):
            t = await router.create_plain_transport(worker=0)
            await t.connect(*s.getsockname())
            ssrc = rng.randrange(1, 1 << 32)
            producers.append((await t.produce("video", ssrc, 96), t))
            streams.append(make_stream(rng, ssrc, 240))
        subs = []  # (socket, consumer, reference, producer index)
        for k in range(6):
            s = udp_socket()
            t = await router.create_plain_transport(worker=k % 2)  # half of them behind the ring
            await t.connect(*s.getsockname())
            pi = k % 2
            c = await t.consume(producers[pi][0], payload_type=rng.choice([96, 100, 127]))
            subs.append((s, c, RefConsumer(c.ssrc, c.payload_type, c.seq_start, c.ts_offset), pi))
        # phases of traffic separated by pause/resume of some consumers
        expected = [[] for _ in subs]
        received = [[] for _ in subs]
        n_phases = 4
        per_phase = len(streams[0]) // n_phases
        for phase in range(n_phases):
            for j in range(phase * per_phase, (phase + 1) * per_phase):
                for pi, (prod, t) in enumerate(producers):
                    pkt = streams[pi][j]
                    pubs[pi].sendto(pkt, (t.ip, t.port))
                    for k, (_, _, ref, spi) in enumerate(subs):
                        if spi == pi:
                            out = ref.forward(pkt)
                            if out is not None:
                                expected[k].append(out)
                if j % 40 == 39:
                    await asyncio.sleep(0.002)  # stay well inside socket buffers
            for k, (s, _, _, _) in enumerate(subs):
                received[k] += await recv_n(s, len(expected[k]) - len(received[k]))
            # toggle some consumers between phases
            for k, (_, c, ref, _) in enumerate(subs):
                if rng.random() < 0.5:
                    if c.paused:
                        await c.resume()
                        ref.resume()
                    else:
                        await c.pause()
                        ref.pause()
        for k in range(len(subs)):
            assert len(received[k]) == len(expected[k]), f"seed {seed} consumer {k}"
            assert received[k] == expected[k], f"seed {seed} consumer {k}: output differs from reference"
        await router.close()
        for s in pubs + [x[0] for x in subs]:
            s.close()
    stats = await pool2.stats()
    assert stats[0]["stats"]["ring_tx"] > 0 and stats[1]["stats"]["ring_rx"] == stats[0]["stats"]["ring_tx"]
    for w in stats:
        assert set(w["stats"]["drops"]) <= {"consumer_paused"}, w["stats"]["drops"]
