"""Slow HTTP clients cannot take the server's descriptors (slowloris): with its descriptor
limit at 1024, 1,004 connections from one address that never finish their request head leave
joins from elsewhere working, and are closed after the header timeout."""

from __future__ import annotations

import asyncio
import resource
import socket
import time

import aiohttp
from livekit.protocol import rtc

from helpers.server_process import ServerProcess
from helpers.tokens import join_token
from sfu.http_guard import HEADER_TIMEOUT

SLOW = 1004


async def join_from(srv: ServerProcess, source_ip: str, identity: str) -> float:
    """seconds until a join from `source_ip` got its JoinResponse"""
    t0 = time.monotonic()
    conn = aiohttp.TCPConnector(local_addr=(source_ip, 0))
    async with aiohttp.ClientSession(connector=conn) as s:
        async with s.ws_connect(f"{srv.url}/rtc?access_token={join_token(identity, 'r')}", timeout=10) as ws:
            msg = await ws.receive(timeout=10)
            assert rtc.SignalResponse.FromString(msg.data).WhichOneof("message") == "join"
    return time.monotonic() - t0


async def test_a_thousand_unfinished_requests_leave_joins_working():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < SLOW + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    srv = ServerProcess(prefix=("prlimit", "--nofile=1024:1024")).ready()
    slow: list[socket.socket] = []
    try:
        for _ in range(SLOW):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")          # and never the blank line
            slow.append(s)
        # others still get in, right away
        took = await join_from(srv, "127.0.0.2", "alice")
        assert took < 5, took
        # the slow ones are closed after the header timeout, and the same address is served again
        await asyncio.sleep(HEADER_TIMEOUT + 2)
        closed = 0
        for s in slow:
            s.settimeout(0.01)
            try:
                closed += s.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except (socket.timeout, BlockingIOError):
                pass
        assert closed == SLOW, closed
        assert await join_from(srv, "127.0.0.1", "bob") < 5
    finally:
        for s in slow:
            s.close()
        srv.stop()
