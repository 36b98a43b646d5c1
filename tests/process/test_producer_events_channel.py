"""producer_inactive / producer_active cross the worker channel: a worker
process reports them and sfu.media hands them to the transport's listeners."""

from __future__ import annotations

import asyncio

from helpers.packets import rtp_packet
from helpers.net import udp_socket
from sfu.media import MediaService


async def test_producer_events_reach_transport_listeners(pool1):
    router = MediaService(pool1).router("events")
    pub = udp_socket()
    t = await router.create_plain_transport(worker=0)
    await t.connect(*pub.getsockname())
    got: list[tuple[str, dict]] = []
    t.listeners.append(lambda event, data: got.append((event, data)))
    producer = await t.produce("video", 0x77, 96, "vp8")
    loop = asyncio.get_running_loop()

    async def until(pred, timeout: float) -> bool:
        end = loop.time() + timeout
        while loop.time() < end and not pred():
            await asyncio.sleep(0.02)
        return pred()

    # never sent anything: inactive after 1 s (the loop's timer runs at least once a second)
    assert await until(lambda: ("producer_inactive", {"id": t.id, "producer_id": producer.id}) in got, 3.0), got
    pub.sendto(rtp_packet(1, 0, 0x77), (t.ip, t.port))
    assert await until(lambda: ("producer_active", {"id": t.id, "producer_id": producer.id}) in got, 2.0), got
    await router.close()
