"""One /agent connection: the server end of an agent worker's WebSocket.

Frames are binary protobuf WorkerMessage / ServerMessage; a text frame switches that
connection to protobuf JSON.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMsgType, web
from google.protobuf import json_format
from livekit.protocol import agent

from .. import errors
from ..wire import decode_frame

log = logging.getLogger("sfu.agents")


class WorkerConnection:
    """The server end of one worker WebSocket."""

    def __init__(self, ws: web.WebSocketResponse, remote: str) -> None:
        self.ws = ws
        self.remote = remote
        self.json = False
        self.closing = False                              # close() started: nothing more is sent or awaited
        self.answers: dict[str, asyncio.Future] = {}     # job id -> AvailabilityResponse future

    async def send(self, msg: agent.ServerMessage) -> bool:
        if self.ws.closed or self.closing:
            return False
        try:
            if self.json:
                await self.ws.send_str(json_format.MessageToJson(msg, indent=None))
            else:
                await self.ws.send_bytes(msg.SerializeToString())
            return True
        except (ConnectionError, RuntimeError) as e:
            log.debug("send to worker %s failed: %s", self.remote, e)
            return False

    def decode(self, msg: Any) -> agent.WorkerMessage:
        m, self.json = decode_frame(msg, agent.WorkerMessage)
        return m

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closing = True       # the close handshake may take seconds: no offer may wait on it
        for f in self.answers.values():
            if not f.done():
                f.set_result(None)
        if not self.ws.closed:
            try:
                await self.ws.close(code=code, message=reason.encode()[:120])
            except (ConnectionError, RuntimeError):
                pass


async def next_message(conn: WorkerConnection, timeout: float | None = None) -> agent.WorkerMessage | str:
    """the next WorkerMessage, or why the connection ended"""
    while True:
        try:
            msg = await conn.ws.receive(timeout=timeout)
        except asyncio.TimeoutError:
            return "timeout"
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return "closed"
        if msg.type == WSMsgType.ERROR:
            return f"error: {conn.ws.exception()}"
        if msg.type in (WSMsgType.PING, WSMsgType.PONG):
            continue
        try:
            return conn.decode(msg)
        except errors.ProtocolError as e:
            return f"bad message: {e}"
