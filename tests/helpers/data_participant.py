"""A LiveKit participant with real data channels, in this process: sfu.loadtest's signalling
and peer (ICE, DTLS, SCTP over UDP on 127.0.0.1, one PeerConnection per direction).  It keeps
the DataPackets it receives, sends its own, and answers the server's RPCs with the methods
registered in `methods`, as an SDK's register_rpc_method does (ack, then the response; an
unregistered method gets the SDK's error 1400)."""

from __future__ import annotations

import asyncio
from typing import Callable

from livekit.protocol import models

from sfu.loadtest import livekit as lt

UNSUPPORTED_METHOD = 1400       # the SDKs' RpcError.ErrorCode.UNSUPPORTED_METHOD


class DataParticipant:
    def __init__(self, url: str, token: str, identity: str, auto_subscribe: bool = True) -> None:
        self.identity = identity
        self.received: list[models.DataPacket] = []          # everything but RPC requests
        self.rpc_requests: list[models.RpcRequest] = []
        self.methods: dict[str, Callable[[str], str]] = {}   # name -> payload -> answer
        self._arrived = asyncio.Event()
        self.peer = lt.Participant(url, token, identity, "127.0.0.1", auto_subscribe=auto_subscribe,
                                   on_data=self._on_data)

    async def __aenter__(self) -> DataParticipant:
        await self.peer.connect()
        sub = await self.peer.subscriber_connected()
        for _ in range(200):            # the server opens _reliable and _lossy once SCTP is up
            if sub.sctp is not None and {c.label for c in sub.sctp.channels.values()} >= {"_reliable", "_lossy"}:
                return self
            await asyncio.sleep(0.025)
        raise AssertionError(f"{self.identity}: the data channels did not open")

    async def __aexit__(self, *exc: object) -> None:
        await self.peer.close()

    def send(self, pkt: models.DataPacket, label: str = "_reliable") -> None:
        sub = self.peer.subscriber
        assert sub is not None and sub.sctp is not None
        channel = next(c for c in sub.sctp.channels.values() if c.label == label)
        channel.send(pkt.SerializeToString())

    async def next_packet(self, pred: Callable[[models.DataPacket], bool] = lambda p: True,
                          timeout: float = 5.0) -> models.DataPacket:
        """the first received packet `pred` accepts (waiting for it)"""
        async def wait() -> models.DataPacket:
            while True:
                for pkt in self.received:
                    if pred(pkt):
                        return pkt
                self._arrived.clear()
                await self._arrived.wait()
        return await asyncio.wait_for(wait(), timeout)

    def offered_tracks(self) -> set[str]:
        """the sids of the tracks the server has offered on the subscriber PC so far"""
        return {r.track_sid for r in self.peer.recv.values()}

    def _on_data(self, label: str, raw: bytes) -> None:
        pkt = models.DataPacket.FromString(raw)
        if pkt.WhichOneof("value") == "rpc_request":
            self._answer(pkt.rpc_request)
            return
        self.received.append(pkt)
        self._arrived.set()

    def _answer(self, req: models.RpcRequest) -> None:
        self.rpc_requests.append(req)
        self.send(models.DataPacket(kind=models.DataPacket.RELIABLE, rpc_ack=models.RpcAck(request_id=req.id)))
        fn = self.methods.get(req.method)
        if fn is None:
            res = models.RpcResponse(request_id=req.id, error=models.RpcError(
                code=UNSUPPORTED_METHOD, message="Method not supported at destination"))
        else:
            res = models.RpcResponse(request_id=req.id, payload=fn(req.payload))
        self.send(models.DataPacket(kind=models.DataPacket.RELIABLE, rpc_response=res))
