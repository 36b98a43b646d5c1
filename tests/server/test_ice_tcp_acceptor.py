"""The node's ICE-TCP acceptor (sfu.worker.ice_tcp) on real loopback TCP: what it hands to a
worker, and what it closes, by reason."""

from __future__ import annotations

import asyncio
import socket
import struct

from aioice import stun

from sfu.worker.ice_tcp import IceTcpAcceptor


def check(ufrag: str) -> bytes:
    msg = stun.Message(stun.Method.BINDING, stun.Class.REQUEST, transaction_id=b"0123456789ab")
    msg.attributes["USERNAME"] = f"{ufrag}:peer"
    msg.attributes["PRIORITY"] = 1
    msg.add_message_integrity(b"p" * 22)
    data = bytes(msg)
    return struct.pack("!H", len(data)) + data


class Workers:
    def __init__(self, take: bool = True) -> None:
        self.take = take
        self.got: list[tuple[int, bytes, tuple]] = []

    def hand_off(self, index: int, sock: socket.socket, data: bytes) -> bool:
        if self.take:
            self.got.append((index, data, sock.getpeername()))
        return self.take


async def started(workers: Workers, **kw) -> IceTcpAcceptor:
    acc = IceTcpAcceptor({"abcd": 1, "wxyz": 0}.get, workers.hand_off, **kw)
    acc.start("127.0.0.1", 0)
    return acc


async def connect(acc: IceTcpAcceptor) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", acc.port)


async def until(cond, timeout: float = 2.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < end, "timed out"
        await asyncio.sleep(0.01)


async def test_a_check_naming_our_ufrag_goes_to_its_worker_with_the_bytes_read():
    w = Workers()
    acc = await started(w)
    try:
        r, wr = await connect(acc)
        first = check("abcd") + b"\x00\x05dtls!"         # and the start of what follows
        for i in range(0, len(first), 9):                # however the bytes arrive
            wr.write(first[i:i + 9])
            await wr.drain()
            await asyncio.sleep(0.005)
        await until(lambda: w.got)
        index, data, peer = w.got[0]
        assert index == 1 and data.startswith(check("abcd")) and len(data) <= len(first)
        assert peer == wr.get_extra_info("sockname")
        assert acc.stats["handed_off"] == 1 and acc.stats["pending"] == 0
        # the acceptor's copy is closed; the worker's keeps the connection open (here: none took
        # it really, so it ends)
        assert await asyncio.wait_for(r.read(10), 2) == b""
        wr.close()
    finally:
        acc.close()


async def test_what_is_not_a_check_for_us_is_closed_by_reason():
    w = Workers()
    acc = await started(w, first_frame_timeout=0.3)
    try:
        cases = [(check("nope"), "unknown_ufrag"), (struct.pack("!H", 40) + b"\x17" * 40, "not_stun"),
                 (struct.pack("!H", 0), "bad_frame"), (struct.pack("!H", 5000), "bad_frame"),
                 (b"", "timeout")]
        for data, reason in cases:
            before = acc.closed[reason]
            r, wr = await connect(acc)
            if data:
                wr.write(data)
                await wr.drain()
            assert await asyncio.wait_for(r.read(10), 2) == b"", reason
            await until(lambda: acc.closed[reason] == before + 1)
            wr.close()
        r, wr = await connect(acc)                       # hung up before a whole frame
        wr.write(check("abcd")[:10])
        await wr.drain()
        wr.close()
        await until(lambda: acc.closed["closed"] == 1)
        assert not w.got and acc.stats["pending"] == 0
    finally:
        acc.close()


async def test_a_worker_that_cannot_take_it_and_too_many_waiting():
    w = Workers(take=False)
    acc = await started(w, pending_max=2)
    try:
        r, wr = await connect(acc)
        wr.write(check("wxyz"))
        await wr.drain()
        assert await asyncio.wait_for(r.read(10), 2) == b""
        assert acc.closed["worker_unavailable"] == 1
        waiting = [await connect(acc) for _ in range(2)]
        await until(lambda: acc.stats["pending"] == 2)
        r3, wr3 = await connect(acc)
        assert await asyncio.wait_for(r3.read(10), 2) == b""
        assert acc.closed["pending_full"] == 1
        for _, wr_ in waiting + [(r3, wr3), (r, wr)]:
            wr_.close()
    finally:
        acc.close()
