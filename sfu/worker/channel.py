"""Length-prefixed orjson channel over a Unix socket (see messages.py)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import struct
from typing import Awaitable, Callable

import orjson

from .. import errors
from . import messages

log = logging.getLogger("sfu.channel")

_LEN = struct.Struct(">I")

Handler = Callable[[str, dict], Awaitable[dict | None]]
EventHandler = Callable[[str, dict], None]


class Channel:
    """One end of the channel.

    The main process uses request(); the worker serves requests with
    `handler` and sends events with emit().
    """

    def __init__(self, sock: socket.socket, name: str, handler: Handler | None = None,
                 on_event: EventHandler | None = None) -> None:
        self.name = name
        self._sock = sock
        self._handler = handler
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self.closed = asyncio.Event()
        self._close_reason: BaseException | None = None

    async def start(self) -> None:
        self._reader, self._writer = await asyncio.open_unix_connection(
            sock=self._sock, limit=messages.MAX_MESSAGE + 4)
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    def _send(self, obj: dict) -> None:
        if self._writer is None or self.closed.is_set():
            raise errors.WorkerDiedError(f"{self.name}: channel closed")
        body = orjson.dumps(obj)
        if len(body) > messages.MAX_MESSAGE:
            raise messages.SchemaError(f"message of {len(body)} bytes exceeds the channel limit")
        self._writer.write(_LEN.pack(len(body)) + body)

    async def request(self, method: str, data: dict | None = None, timeout: float = 10.0) -> dict:
        data = data or {}
        messages.check_request(method, data)
        rid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            self._send({"id": rid, "method": method, "data": data})
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)

    def emit(self, event: str, data: dict) -> None:
        messages.check_event(event, data)
        self._send({"event": event, "data": data})

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                hdr = await self._reader.readexactly(4)
                (n,) = _LEN.unpack(hdr)
                if n > messages.MAX_MESSAGE:
                    raise messages.SchemaError(f"incoming message of {n} bytes exceeds the limit")
                msg = orjson.loads(await self._reader.readexactly(n))
                if "method" in msg:
                    asyncio.get_running_loop().create_task(self._serve(msg))
                elif "event" in msg:
                    if self._on_event:
                        try:
                            self._on_event(msg["event"], msg.get("data") or {})
                        except Exception:
                            log.exception("%s: event handler failed", self.name)
                else:
                    fut = self._pending.get(msg.get("id"))
                    if fut is None or fut.done():
                        continue
                    if msg.get("ok"):
                        fut.set_result(msg.get("data") or {})
                    else:
                        fut.set_exception(errors.from_kind(msg.get("kind", ""), msg.get("error", "request failed")))
        except (asyncio.IncompleteReadError, ConnectionError) as e:
            self._close_reason = e
        except Exception as e:  # a malformed frame ends this channel only
            log.error("%s: closing channel: %s", self.name, e)
            self._close_reason = e
        finally:
            self._fail_pending()

    async def _serve(self, msg: dict) -> None:
        rid = msg.get("id")
        try:
            if self._handler is None:
                raise messages.SchemaError("this end serves no requests")
            method, data = msg["method"], msg.get("data") or {}
            messages.check_request(method, data)
            result = await self._handler(method, data)
            messages.check_reply(method, result)
            reply = {"id": rid, "ok": True, "data": result or {}}
        except Exception as e:
            reply = {"id": rid, "ok": False, "error": str(e) or type(e).__name__, "kind": errors.kind_of(e).name}
        try:
            self._send(reply)
        except errors.SfuError:
            pass  # channel closed: the other end fails its pending requests
        except (TypeError, ValueError, messages.SchemaError) as e:  # unserialisable result
            log.error("%s: reply to %s not serialisable: %s", self.name, msg.get("method"), e)
            self._send({"id": rid, "ok": False, "error": f"reply not serialisable: {e}", "kind": "Error"})

    def _fail_pending(self) -> None:
        self.closed.set()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(errors.WorkerDiedError(f"{self.name}: channel closed"))
        self._pending.clear()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self._fail_pending()
