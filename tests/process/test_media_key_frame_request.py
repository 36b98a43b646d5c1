"""Consumer.request_key_frame() (sfu.media) through a worker process: the
channel request CONSUMER_REQUEST_KEY_FRAME reaches the data plane, which
sends the publisher a PLI."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from helpers.net import udp_socket
from sfu import errors
from sfu.media import MediaService


async def pli_for(s: socket.socket, ssrc: int, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    s.setblocking(False)
    end = loop.time() + timeout
    while loop.time() < end:
        try:
            d = await asyncio.wait_for(loop.sock_recv(s, 2048), max(0.01, end - loop.time()))
        except asyncio.TimeoutError:
            return False
        if d[1] == 206 and d[0] & 0x1F == 1 and struct.unpack("!I", d[8:12])[0] == ssrc:
            return True
    return False


async def test_request_key_frame(pool1):
    router = MediaService(pool1).router("kf")
    pub, sub = udp_socket(), udp_socket()
    tp = await router.create_plain_transport(worker=0)
    await tp.connect(*pub.getsockname())
    ts = await router.create_plain_transport(worker=0)
    await ts.connect(*sub.getsockname())
    producer = await tp.produce("video", 0x5151, 96, "vp8")
    consumer = await ts.consume(producer, paused=True)      # paused: no request of its own
    assert not await pli_for(pub, 0x5151, 0.3)
    await consumer.request_key_frame()
    assert await pli_for(pub, 0x5151, 1.0)
    assert consumer.paused                                  # asking changed nothing else
    await consumer.close()
    with pytest.raises(errors.InvalidStateError):
        await consumer.request_key_frame()
    await router.close()
