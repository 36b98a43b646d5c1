"""Signal relay between nodes over Redis Streams.

A participant may connect to any node (the *front*); when its room lives on
another node (the *host*), the front adds an `open` entry to the host's inbox
stream `sfu:inbox:<node>` carrying the original JWT, the request query and
the endpoint (v0/v1).  The host re-verifies the token itself and runs the
ordinary session with a RelayConnection.  Frames then flow over two streams
per session: `sfu:relay:<sid>:up` (SignalRequest bytes, front -> host) and
`sfu:relay:<sid>:down` (SignalResponse bytes, host -> front).

Every entry has a per-direction sequence number starting at 1: a duplicate
(seq below the next expected) is dropped, a gap (seq above it: the reader
fell more than MAXLEN entries behind and the stream was trimmed) ends the
session.  A `close` entry ends it in either direction.  Each side also ends
the session when the other side's node drops out of the registry.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any, AsyncIterator, Awaitable, Callable

from google.protobuf.message import DecodeError
from livekit.protocol import models, rtc

from .. import errors
from ..signaling.connection import Connection, leave_response
from ..signaling.prepared_response import Prepared, wire_bytes
from .inbox_signature import sign

log = logging.getLogger("sfu.cluster")

MAXLEN = 1000              # entries kept per stream (approximate trim)
STREAM_TTL = 300           # s; refreshed on every write
READ_BLOCK_MS = 1000
PEER_CHECK = 2.0           # s between liveness checks of the other node


def inbox(node: str) -> str:
    return f"sfu:inbox:{node}"


def stream_keys(sid: str) -> tuple[str, str]:
    return f"sfu:relay:{sid}:up", f"sfu:relay:{sid}:down"


class RelayGap(Exception):
    pass


class StreamWriter:
    """ordered writes with sequence numbers to one stream"""

    def __init__(self, redis: Any, key: str) -> None:
        self.redis = redis
        self.key = key
        self.seq = 0
        self._lock = asyncio.Lock()

    async def write(self, kind: str, data: bytes = b"", code: int = 0, reason: str = "") -> None:
        async with self._lock:
            self.seq += 1
            fields = {"s": self.seq, "k": kind, "d": data, "c": code, "r": reason}
            async with self.redis.pipeline(transaction=False) as p:
                p.xadd(self.key, fields, maxlen=MAXLEN, approximate=True)
                p.expire(self.key, STREAM_TTL)
                await p.execute()


class StreamReader:
    """reads one stream in order; yields (kind, data, code, reason)"""

    def __init__(self, redis: Any, key: str) -> None:
        self.redis = redis
        self.key = key
        self.last_id = "0-0"
        self.expected = 1
        self.duplicates = 0

    async def read(self) -> list[tuple[str, bytes, int, str]]:
        """entries after the last one read; [] after READ_BLOCK_MS without any"""
        res = await self.redis.xread({self.key: self.last_id}, block=READ_BLOCK_MS, count=100)
        out = []
        for _key, entries in res or ():
            for eid, f in entries:
                self.last_id = eid
                seq = int(f[b"s"])
                if seq < self.expected:
                    self.duplicates += 1
                    continue
                if seq > self.expected:
                    raise RelayGap(f"relay stream {self.key}: expected #{self.expected}, got #{seq}")
                self.expected += 1
                out.append((f[b"k"].decode(), f[b"d"], int(f[b"c"]), f[b"r"].decode()))
        return out


class RelayConnection:
    """The host's end of a relayed signal connection: the same interface as
    SignalConnection (send / close / decode / frames)."""

    def __init__(self, redis: Any, sid: str, origin: str, peer_alive: Callable[[str], Awaitable[bool]]) -> None:
        up, down = stream_keys(sid)
        self.sid = sid
        self.origin = origin
        self.remote = f"relay:{origin}"
        self.json = False
        self.closed = False
        self.end_reason = "closed"
        self.messages_in = 0
        self.messages_out = 0
        self._out = StreamWriter(redis, down)
        self._in = StreamReader(redis, up)
        self._peer_alive = peer_alive
        self.redis = redis

    async def send(self, msg: rtc.SignalResponse | Prepared) -> None:
        if self.closed:
            return
        try:
            await self._out.write("m", wire_bytes(msg))
            self.messages_out += 1
        except Exception as e:  # redis gone: the session ends (the front is told if it can be)
            log.warning("relay %s: send failed: %s", self.sid, e)
            await self.close(1011, "relay failed")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self._out.write("c", code=code, reason=reason[:120])
        except Exception as e:
            log.debug("relay %s: close failed: %s", self.sid, e)

    def decode(self, frame: bytes) -> rtc.SignalRequest:
        req = rtc.SignalRequest()
        try:
            req.ParseFromString(frame)
        except DecodeError:
            raise errors.ProtocolError("malformed SignalRequest") from None
        if req.WhichOneof("message") is None:
            raise errors.ProtocolError("empty SignalRequest")
        return req

    async def frames(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        next_check = loop.time() + PEER_CHECK
        try:
            while not self.closed:
                try:
                    entries = await self._in.read()
                except RelayGap as e:
                    self.end_reason = f"error: {e}"
                    return
                except Exception as e:
                    self.end_reason = f"error: relay read failed: {e}"
                    return
                for kind, data, code, reason in entries:
                    if kind == "c":
                        # 1003: the front node refused a malformed frame, as read_requests would
                        self.end_reason = f"bad message: {reason}" if code == 1003 else "closed"
                        self.closed = True
                        return
                    yield data
                if loop.time() >= next_check:
                    next_check = loop.time() + PEER_CHECK
                    if not await self._peer_alive(self.origin):
                        self.end_reason = "error: relay origin node is gone"
                        return
        finally:
            try:
                await self.redis.delete(self._in.key)
            except Exception:
                pass


async def relay_front(redis: Any, me: str, host: str, open_fields: dict[str, Any], conn: Connection,
                      peer_alive: Callable[[str], Awaitable[bool]], signing_key: bytes = b"") -> str:
    """Run the front side of a relayed session for the signal connection
    `conn` (a SignalConnection); returns why it ended."""
    sid = secrets.token_hex(12)
    up_key, down_key = stream_keys(sid)
    up = StreamWriter(redis, up_key)
    down = StreamReader(redis, down_key)
    await redis.xadd(inbox(host), sign({"t": "open", "sid": sid, "origin": me, "ts": int(time.time() * 1000),
                                        **open_fields}, signing_key),
                     maxlen=MAXLEN, approximate=True)

    async def pump_up() -> str:
        async for frame in conn.frames():
            try:
                req = conn.decode(frame)
            except errors.ProtocolError as e:
                await up.write("c", code=1003, reason=str(e)[:120])
                await conn.send(leave_response(models.DisconnectReason.STATE_MISMATCH))
                await conn.close(1003, str(e)[:100])
                return f"bad message: {e}"
            conn.messages_in += 1
            await up.write("m", req.SerializeToString())
        await up.write("c", code=1000, reason="client closed")
        return conn.end_reason

    async def pump_down() -> str:
        loop = asyncio.get_running_loop()
        next_check = loop.time() + PEER_CHECK
        while True:
            try:
                entries = await down.read()
            except RelayGap as e:
                await conn.close(1011, "relay gap")
                return f"error: {e}"
            for kind, data, code, reason in entries:
                if kind == "c":
                    await conn.close(code or 1000, reason)
                    return "host closed"
                await conn.send(rtc.SignalResponse.FromString(data))
            if loop.time() >= next_check:
                next_check = loop.time() + PEER_CHECK
                if not await peer_alive(host):
                    await conn.close(1011, "room node gone")
                    return "host gone"

    tasks = [asyncio.ensure_future(pump_up()), asyncio.ensure_future(pump_down())]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        t = done.pop()
        why = t.result() if t.exception() is None else f"error: {t.exception()}"
        return why
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await conn.close(1000, "")
        try:
            await redis.delete(down_key)
        except Exception:
            pass
