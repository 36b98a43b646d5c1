"""RPC from the server to a participant (RoomService.PerformRpc): the request goes to the
participant as a DataPacket rpc_request from the server (no caller identity), as a client's
would; its rpc_ack and rpc_response come back addressed to the server and are taken here, not
forwarded.  The participant's SDK answers with the method it registered."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from livekit.protocol import models

from .. import errors
from .data import deliver_data
from .room import Room

ACK_TIMEOUT = 5.0          # s for the callee's SDK to acknowledge (it is connected and reads its data)
DEFAULT_TIMEOUT_MS = 10_000
RPC_VERSION = 1


class RpcFailed(errors.SfuError):
    """the callee answered with an RPC error (or did not answer in time)"""

    def __init__(self, code: int, message: str, data: str = "") -> None:
        super().__init__(f"rpc error {code}: {message}")
        self.code, self.message, self.data = code, message, data


# LiveKit's RPC error codes (the SDKs' RpcError.ErrorCode)
RESPONSE_TIMEOUT = 1502
CONNECTION_TIMEOUT = 1501


@dataclass
class _Call:
    acked: asyncio.Event
    answer: asyncio.Future


class ServerRpc:
    def __init__(self) -> None:
        self.pending: dict[str, _Call] = {}

    async def perform(self, room: Room, identity: str, method: str, payload: str, timeout_ms: int = 0) -> str:
        p = room.participants.get(identity)
        if p is None or p.closed:
            raise errors.NotFoundError(f"participant {identity!r} not found in room {room.name}")
        timeout_ms = timeout_ms or DEFAULT_TIMEOUT_MS
        rid = str(uuid.uuid4())
        call = _Call(asyncio.Event(), asyncio.get_running_loop().create_future())
        self.pending[rid] = call
        try:
            pkt = models.DataPacket(kind=models.DataPacket.RELIABLE, destination_identities=[identity],
                                    rpc_request=models.RpcRequest(id=rid, method=method, payload=payload,
                                                                  response_timeout_ms=timeout_ms,
                                                                  version=RPC_VERSION))
            if not await deliver_data(room, pkt, sender=None):
                raise RpcFailed(CONNECTION_TIMEOUT, f"{identity} has no open data channel")
            try:
                await asyncio.wait_for(call.acked.wait(), ACK_TIMEOUT)
            except asyncio.TimeoutError:
                raise RpcFailed(CONNECTION_TIMEOUT, "no acknowledgement from the participant") from None
            try:
                return await asyncio.wait_for(asyncio.shield(call.answer), timeout_ms / 1000)
            except asyncio.TimeoutError:
                raise RpcFailed(RESPONSE_TIMEOUT, "no response from the participant in time") from None
        finally:
            self.pending.pop(rid, None)

    def take(self, pkt: models.DataPacket) -> bool:
        """an rpc_ack / rpc_response for a call the server made: taken (True), not forwarded"""
        which = pkt.WhichOneof("value")
        if which == "rpc_ack":
            call = self.pending.get(pkt.rpc_ack.request_id)
            if call is None:
                return False
            call.acked.set()
            return True
        if which == "rpc_response":
            r = pkt.rpc_response
            call = self.pending.get(r.request_id)
            if call is None:
                return False
            call.acked.set()
            if not call.answer.done():
                if r.HasField("error"):
                    call.answer.set_exception(RpcFailed(r.error.code, r.error.message, r.error.data))
                else:
                    call.answer.set_result(r.payload)
            return True
        return False
