"""An async control client for the server API (Twirp, protobuf on the wire).

    async with RoomClient("http://127.0.0.1:7880", "devkey", "secret") as rooms:
        room = await rooms.create_room("demo", empty_timeout=60)
        for p in await rooms.list_participants("demo"):
            print(p.identity)

Each call carries a short-lived token with just the grant it needs
(roomCreate, roomList, or roomAdmin for the request's room).  Failures raise
TwirpError(code, msg, status).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import aiohttp
from google.protobuf.message import DecodeError, Message
from livekit.protocol import agent_dispatch, models, room as room_pb

from ..auth import KeyProvider, VideoGrant

TOKEN_TTL = 600


class TwirpError(Exception):
    """A failed server-API call: the Twirp error `code` (not_found, permission_denied, ...),
    its message `msg`, the HTTP `status` and `meta` (e.g. rpc_code of a PerformRpc)."""

    def __init__(self, code: str, msg: str, status: int, meta: dict | None = None) -> None:
        super().__init__(f"{code} ({status}): {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.meta = meta or {}


def http_url(url: str) -> str:
    """ws(s):// URLs, as LiveKit clients are given, name the same server"""
    url = url.rstrip("/")
    if url.startswith("ws://"):
        return "http://" + url[5:]
    if url.startswith("wss://"):
        return "https://" + url[6:]
    return url


class _TwirpClient:
    service = ""

    def __init__(self, url: str, api_key: str, api_secret: str, session: aiohttp.ClientSession | None = None,
                 timeout: float = 10.0) -> None:
        self.url = http_url(url)
        self.api_key = api_key
        self._keys = KeyProvider({api_key: api_secret})
        self._session = session
        self._own_session = session is None
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def __aenter__(self) -> "_TwirpClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    def token(self, **grant: Any) -> str:
        return self._keys.create(self.api_key, video=VideoGrant(**grant), ttl=TOKEN_TTL)

    async def call(self, method: str, req: Message, reply: type[Message], **grant: Any) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Authorization": f"Bearer {self.token(**grant)}", "Content-Type": "application/protobuf"}
        async with self._session.post(f"{self.url}/twirp/{self.service}/{method}", data=req.SerializeToString(),
                                      headers=headers, timeout=self.timeout) as r:
            body = await r.read()
            if r.status != 200:
                try:
                    err = json.loads(body)
                    raise TwirpError(str(err.get("code", "unknown")), str(err.get("msg", "")), r.status,
                                     err.get("meta") or {})
                except (ValueError, AttributeError):
                    raise TwirpError("unknown", body[:200].decode(errors="replace"), r.status) from None
        try:
            return reply.FromString(body)
        except DecodeError as e:
            raise TwirpError("malformed", f"undecodable {reply.DESCRIPTOR.name}: {e}", 200) from None


class RoomClient(_TwirpClient):
    """livekit.RoomService"""

    service = "livekit.RoomService"

    def _admin(self, room: str) -> dict[str, Any]:
        return {"roomAdmin": True, "room": room}

    async def create_room(self, name: str, empty_timeout: int = 0, departure_timeout: int = 0,
                          max_participants: int = 0, metadata: str = "",
                          agents: Iterable[agent_dispatch.RoomAgentDispatch] = ()) -> models.Room:
        req = room_pb.CreateRoomRequest(name=name, empty_timeout=empty_timeout, departure_timeout=departure_timeout,
                                        max_participants=max_participants, metadata=metadata, agents=list(agents))
        return await self.call("CreateRoom", req, models.Room, roomCreate=True)

    async def list_rooms(self, names: Iterable[str] = ()) -> list[models.Room]:
        res = await self.call("ListRooms", room_pb.ListRoomsRequest(names=list(names)), room_pb.ListRoomsResponse,
                              roomList=True)
        return list(res.rooms)

    async def delete_room(self, room: str) -> None:
        await self.call("DeleteRoom", room_pb.DeleteRoomRequest(room=room), room_pb.DeleteRoomResponse,
                        roomCreate=True)

    async def list_participants(self, room: str) -> list[models.ParticipantInfo]:
        res = await self.call("ListParticipants", room_pb.ListParticipantsRequest(room=room),
                              room_pb.ListParticipantsResponse, **self._admin(room))
        return list(res.participants)

    async def get_participant(self, room: str, identity: str) -> models.ParticipantInfo:
        return await self.call("GetParticipant", room_pb.RoomParticipantIdentity(room=room, identity=identity),
                               models.ParticipantInfo, **self._admin(room))

    async def remove_participant(self, room: str, identity: str) -> None:
        await self.call("RemoveParticipant", room_pb.RoomParticipantIdentity(room=room, identity=identity),
                        room_pb.RemoveParticipantResponse, **self._admin(room))

    async def mute_published_track(self, room: str, identity: str, track_sid: str,
                                   muted: bool = True) -> models.TrackInfo:
        res = await self.call("MutePublishedTrack", room_pb.MuteRoomTrackRequest(
            room=room, identity=identity, track_sid=track_sid, muted=muted), room_pb.MuteRoomTrackResponse,
            **self._admin(room))
        return res.track

    async def update_participant(self, room: str, identity: str, metadata: str = "", name: str = "",
                                 attributes: dict[str, str] | None = None,
                                 permission: models.ParticipantPermission | None = None) -> models.ParticipantInfo:
        req = room_pb.UpdateParticipantRequest(room=room, identity=identity, metadata=metadata, name=name,
                                               attributes=attributes or {})
        if permission is not None:
            req.permission.CopyFrom(permission)
        return await self.call("UpdateParticipant", req, models.ParticipantInfo, **self._admin(room))

    async def update_subscriptions(self, room: str, identity: str, track_sids: Iterable[str],
                                   subscribe: bool = True) -> None:
        await self.call("UpdateSubscriptions", room_pb.UpdateSubscriptionsRequest(
            room=room, identity=identity, track_sids=list(track_sids), subscribe=subscribe),
            room_pb.UpdateSubscriptionsResponse, **self._admin(room))

    async def send_data(self, room: str, data: bytes, kind: int = models.DataPacket.RELIABLE,
                        destination_identities: Iterable[str] = (), topic: str | None = None) -> None:
        req = room_pb.SendDataRequest(room=room, data=data, kind=kind,
                                      destination_identities=list(destination_identities))
        if topic is not None:
            req.topic = topic
        await self.call("SendData", req, room_pb.SendDataResponse, **self._admin(room))

    async def update_room_metadata(self, room: str, metadata: str) -> models.Room:
        return await self.call("UpdateRoomMetadata", room_pb.UpdateRoomMetadataRequest(room=room, metadata=metadata),
                               models.Room, **self._admin(room))

    async def perform_rpc(self, room: str, destination_identity: str, method: str, payload: str = "",
                          response_timeout_ms: int = 0) -> str:
        """call `method` registered by the participant; its answer (TwirpError on an RPC error:
        meta["rpc_code"])"""
        req = room_pb.PerformRpcRequest(room=room, destination_identity=destination_identity, method=method,
                                        payload=payload, response_timeout_ms=response_timeout_ms)
        res = await self.call("PerformRpc", req, room_pb.PerformRpcResponse, **self._admin(room))
        return res.payload


class AgentDispatchClient(_TwirpClient):
    """livekit.AgentDispatchService"""

    service = "livekit.AgentDispatchService"

    async def create_dispatch(self, room: str, agent_name: str, metadata: str = "") -> agent_dispatch.AgentDispatch:
        req = agent_dispatch.CreateAgentDispatchRequest(room=room, agent_name=agent_name, metadata=metadata)
        return await self.call("CreateDispatch", req, agent_dispatch.AgentDispatch, roomAdmin=True, room=room)

    async def delete_dispatch(self, dispatch_id: str, room: str) -> agent_dispatch.AgentDispatch:
        req = agent_dispatch.DeleteAgentDispatchRequest(dispatch_id=dispatch_id, room=room)
        return await self.call("DeleteDispatch", req, agent_dispatch.AgentDispatch, roomAdmin=True, room=room)

    async def list_dispatch(self, room: str, dispatch_id: str = "") -> list[agent_dispatch.AgentDispatch]:
        req = agent_dispatch.ListAgentDispatchRequest(room=room, dispatch_id=dispatch_id)
        res = await self.call("ListDispatch", req, agent_dispatch.ListAgentDispatchResponse, roomAdmin=True,
                              room=room)
        return list(res.agent_dispatches)
