"""A raw LiveKit signalling client for tests: protobuf over a real WebSocket."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from livekit.protocol import rtc as lk

from .net import http_port


class SignalClient:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.msgs: list[lk.SignalResponse] = []

    async def __aenter__(self) -> "SignalClient":
        self.session = aiohttp.ClientSession()
        try:
            self.ws = await self.session.ws_connect(self.url, headers={"Authorization": f"Bearer {self.token}"})
        except BaseException:
            await self.session.close()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        await self.session.close()

    async def send(self, req: lk.SignalRequest) -> None:
        await self.ws.send_bytes(req.SerializeToString())

    async def next(self, which: str, timeout: float = 5.0) -> lk.SignalResponse:
        """the next response of that kind (others are kept for later calls)"""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for i, m in enumerate(self.msgs):
                if m.WhichOneof("message") == which:
                    return self.msgs.pop(i)
            msg = await self.ws.receive(timeout=max(0.01, end - time.monotonic()))
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise AssertionError(f"socket ended while waiting for {which}: {msg.type}")
            self.msgs.append(lk.SignalResponse.FromString(msg.data))
        raise AssertionError(f"no {which} within {timeout} s")

    async def closed(self, timeout: float) -> bool:
        """True when the server closes the socket within `timeout`"""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msg = await self.ws.receive(timeout=max(0.01, end - time.monotonic()))
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return True
        return False


class Client(SignalClient):
    """a signalling client of a server on this machine: an in-process Server, a ServerProcess or a port"""

    def __init__(self, server: Any, token: str, query: str = "protocol=16&sdk=python", host: str = "127.0.0.1") -> None:
        super().__init__(f"ws://{host}:{http_port(server)}/rtc?{query}", token)
