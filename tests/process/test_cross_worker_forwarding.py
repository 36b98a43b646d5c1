"""A room spanning two workers: media over the shared ring, feedback back."""

from __future__ import annotations

import asyncio
import os
import struct

from helpers.net import udp_socket
from helpers.packets import rtp_packet, vp9_layer_payload
from sfu.media import MediaService


async def publisher_and_subscriber(pool, name: str):
    """a room with a plain transport on worker 0 (the publisher's) and one on worker 1 (the
    subscriber's), each connected to a loopback socket of its own"""
    room = MediaService(pool).router(name)
    pub, sub = udp_socket(), udp_socket()
    tp = await room.create_plain_transport(worker=0)
    await tp.connect(*pub.getsockname())
    ts = await room.create_plain_transport(worker=1)
    await ts.connect(*sub.getsockname())
    return pub, sub, tp, ts


async def test_pli_from_remote_subscriber_reaches_publisher(pool2):
    pub, sub, tp, ts = await publisher_and_subscriber(pool2, "r")
    prod = await tp.produce("video", 0x5151, 96)
    cons = await ts.consume(prod)
    pub.sendto(rtp_packet(1, 0, 0x5151), (tp.ip, tp.port))
    assert struct.unpack("!I", sub.recv(2048)[8:12])[0] == cons.ssrc
    sub.sendto(struct.pack("!BBHII", 0x81, 206, 2, 77, cons.ssrc), (ts.ip, ts.port))
    got = await asyncio.to_thread(pub.recv, 2048)
    assert got[1] == 206 and got[0] & 0x1F == 1 and struct.unpack("!I", got[8:12])[0] == 0x5151
    # FIR carries the media SSRC in its FCI
    fir = struct.pack("!BBHIIIB3x", 0x84, 206, 4, 77, 0, cons.ssrc, 1)
    await asyncio.sleep(1.1)  # past both throttles: this subscriber once a second, the producer every 500 ms
    sub.sendto(fir, (ts.ip, ts.port))
    got = await asyncio.to_thread(pub.recv, 2048)
    assert got[1] == 206 and struct.unpack("!I", got[8:12])[0] == 0x5151


async def test_consumers_close_updates_remote_workers(pool2):
    svc = MediaService(pool2)
    room = svc.router("r2")
    pub, s1, s2 = udp_socket(), udp_socket(), udp_socket()
    tp = await room.create_plain_transport(worker=0)
    await tp.connect(*pub.getsockname())
    prod = await tp.produce("audio", 7, 111)
    t1 = await room.create_plain_transport(worker=1)
    await t1.connect(*s1.getsockname())
    c1 = await t1.consume(prod)
    t2 = await room.create_plain_transport(worker=1)
    await t2.connect(*s2.getsockname())
    await t2.consume(prod)
    assert prod.remote_refs == {1: 2}
    await c1.close()
    assert prod.remote_refs == {1: 1}
    await t2.close()
    assert prod.remote_refs == {}
    before = (await pool2.stats())[0]["stats"]["ring_tx"]
    pub.sendto(rtp_packet(1, 0, 7), (tp.ip, tp.port))
    await asyncio.sleep(0.2)
    st = await pool2.stats()
    assert st[0]["stats"]["ring_tx"] == before  # nothing goes to worker 1 any more
    assert st[0]["stats"]["rx_packets"] >= 1


async def test_control_packets_wake_python_per_batch_not_per_packet(pool1):
    """A burst of STUN datagrams reaches the worker's Python side in few wake-ups."""
    w = pool1.workers[0]
    await w.request("TRANSPORT_CREATE", {"id": 1, "kind": "webrtc", "ice_ufrag": "burst", "ice_pwd": "p" * 24})
    peer = udp_socket()
    # checks naming the transport's ufrag (others are dropped in C), integrity not checked here
    username = struct.pack("!HH", 0x0006, 7) + b"burst:x\x00"
    stun = [struct.pack("!HHI12s", 0x0001, len(username), 0x2112A442, os.urandom(12)) + username
            for _ in range(2000)]
    for m in stun:
        peer.sendto(m, (w.ip, w.port))
    for _ in range(100):
        st = await w.request("WORKER_STATS")
        if st["queue_records"] >= 2000:
            break
        await asyncio.sleep(0.02)
    assert st["queue_records"] == 2000 and st["stats"]["to_py"] == 2000
    # one wake-up per datagram would be 2000; batching gives far fewer
    assert st["queue_wakeups"] < 2000 / 5, st["queue_wakeups"]


async def test_layer_switches_across_workers(pool2, monkeypatch):
    import sfu.media.router as router_mod
    monkeypatch.setattr(router_mod, "SWITCH_GRACE", 0.2)
    pub, sub, tp, ts = await publisher_and_subscriber(pool2, "sim")
    low = await tp.produce("video", 100, 96, codec="vp8")
    high = await tp.produce("video", 200, 96, codec="vp8")
    c = await ts.consume(high)
    delta, key = b"\x10\x01" + b"d" * 20, b"\x10\x00" + b"k" * 20
    dest = (tp.ip, tp.port)
    seqs = {100: 0, 200: 0}

    async def send(ssrc, payload):
        seqs[ssrc] += 1
        pub.sendto(rtp_packet(seqs[ssrc], seqs[ssrc] * 3000, ssrc, payload=payload), dest)

    async def expect(payload):
        d = await asyncio.to_thread(sub.recv, 2048)
        while 200 <= d[1] <= 206:
            d = await asyncio.to_thread(sub.recv, 2048)
        assert d[12:] == payload
        return struct.unpack("!H", d[2:4])[0]

    await send(200, delta)
    first = await expect(delta)
    for target, ssrc in ((low, 100), (high, 200), (low, 100)):
        other = 300 - ssrc
        await c.set_producer(target)
        await send(ssrc, delta)       # not a key frame: not taken
        await send(other, delta)      # the current source still flows
        first += 1
        assert await expect(delta) == first
        await send(ssrc, key)         # the switch
        first += 1
        assert await expect(key) == first
        await asyncio.sleep(0.4)      # past the grace period: the old remote source is released
    assert c.producer is low
    st = (await pool2.stats())[1]["stats"]
    assert set(st["drops"]) <= {"ring_unknown_producer"}, st["drops"]


async def test_svc_layers_selected_across_workers(pool2):
    """a VP9 SVC producer on worker 0, its consumer on worker 1: the remote producer reads each
    ring packet's layers too, so the consumer forwards only spatial layer 0, its numbers
    contiguous, each picture ending on layer 0's packet"""
    pub, sub, tp, ts = await publisher_and_subscriber(pool2, "svc")
    prod = await tp.produce("video", 0x5353, 96, codec="vp9")
    cons = await ts.consume(prod)
    await cons.set_layers(0, -1)
    sub.settimeout(0.5)
    got = []
    seq = 100
    for picture in range(6):
        for sid in range(3):
            pkt = rtp_packet(seq, 3000 * picture, 0x5353, payload=vp9_layer_payload(sid, 0, picture == 0, picture),
                             marker=sid == 2)
            pub.sendto(pkt, (tp.ip, tp.port))
            seq += 1
        await asyncio.sleep(0.01)
    try:
        while True:
            d = await asyncio.to_thread(sub.recv, 2048)
            if not 200 <= d[1] <= 206:
                got.append(d)
    except TimeoutError:
        pass
    layers = [(d[12 + 3] >> 1) & 7 for d in got]
    seqs = [struct.unpack("!H", d[2:4])[0] for d in got]
    assert layers == [0] * 6 and all(d[1] & 0x80 for d in got), (layers, [d[1] for d in got])
    assert seqs == list(range(seqs[0], seqs[0] + 6))
    st = await pool2.stats()
    assert st[1]["stats"]["svc_filtered"] == 12 and st[0]["stats"]["svc_filtered"] == 0
