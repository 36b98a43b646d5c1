"""The server API: LiveKit's Twirp services over HTTP POST.

Routes: `POST /twirp/livekit.RoomService/<Method>` and
`POST /twirp/livekit.AgentDispatchService/<Method>`.  A request body is a
binary protobuf message (`application/protobuf`; an empty body is the
default message) or protobuf JSON (`application/json`); the reply uses the
same encoding.  Errors are Twirp JSON `{"code", "msg", "meta"}` with the
HTTP status Twirp assigns to the code.

Every call carries `Authorization: Bearer <JWT>`.  Grants as in LiveKit:
CreateRoom and DeleteRoom need `roomCreate`, ListRooms needs `roomList`,
everything else needs `roomAdmin` with `video.room` equal to the room of
the request.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol, runtime_checkable

import orjson
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit.protocol import agent_dispatch, models, room as room_pb, rtc

from .. import auth, errors, limits
from ..rooms import data
from ..rooms.server_rpc import RpcFailed
from ..rooms.room import RoomOptions

if TYPE_CHECKING:
    from ..rooms.participant import Participant
    from ..rooms.room import Room
    from ..rooms.service import RoomService
    from ..rooms.track import TrackPublication

log = logging.getLogger("sfu.api")

ROOM_SERVICE = "livekit.RoomService"
DISPATCH_SERVICE = "livekit.AgentDispatchService"

# Twirp error code -> HTTP status
STATUS = {
    "canceled": 408, "unknown": 500, "invalid_argument": 400, "malformed": 400, "deadline_exceeded": 408,
    "not_found": 404, "bad_route": 404, "already_exists": 409, "permission_denied": 403,
    "unauthenticated": 401, "resource_exhausted": 429, "failed_precondition": 412, "aborted": 409,
    "out_of_range": 400, "unimplemented": 501, "internal": 500, "unavailable": 503, "dataloss": 500,
}

# reply message of each method (to decode replies of forwarded calls)
REPLY_TYPES: dict[tuple[str, str], type[Message]] = {
    (ROOM_SERVICE, "CreateRoom"): models.Room,
    (ROOM_SERVICE, "ListRooms"): room_pb.ListRoomsResponse,
    (ROOM_SERVICE, "DeleteRoom"): room_pb.DeleteRoomResponse,
    (ROOM_SERVICE, "ListParticipants"): room_pb.ListParticipantsResponse,
    (ROOM_SERVICE, "GetParticipant"): models.ParticipantInfo,
    (ROOM_SERVICE, "RemoveParticipant"): room_pb.RemoveParticipantResponse,
    (ROOM_SERVICE, "MutePublishedTrack"): room_pb.MuteRoomTrackResponse,
    (ROOM_SERVICE, "UpdateParticipant"): models.ParticipantInfo,
    (ROOM_SERVICE, "UpdateSubscriptions"): room_pb.UpdateSubscriptionsResponse,
    (ROOM_SERVICE, "SendData"): room_pb.SendDataResponse,
    (ROOM_SERVICE, "UpdateRoomMetadata"): models.Room,
    (ROOM_SERVICE, "PerformRpc"): room_pb.PerformRpcResponse,
    (ROOM_SERVICE, "ForwardParticipant"): room_pb.ForwardParticipantResponse,
    (ROOM_SERVICE, "MoveParticipant"): room_pb.MoveParticipantResponse,
    (DISPATCH_SERVICE, "CreateDispatch"): agent_dispatch.AgentDispatch,
    (DISPATCH_SERVICE, "DeleteDispatch"): agent_dispatch.AgentDispatch,
    (DISPATCH_SERVICE, "ListDispatch"): agent_dispatch.ListAgentDispatchResponse,
}

PROTOBUF_TYPES = ("application/protobuf", "application/x-protobuf", "application/octet-stream")
JSON_TYPES = ("application/json",)


class TwirpError(Exception):
    def __init__(self, code: str, msg: str, meta: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.meta = meta or {}

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 500)

    def response(self) -> web.Response:
        return web.Response(body=orjson.dumps({"code": self.code, "msg": self.msg, "meta": self.meta}),
                             status=self.status, content_type="application/json")


@runtime_checkable
class DispatchBackend(Protocol):
    """What AgentDispatchService needs from the agent dispatcher (`server.agents`).
    Raise errors.NotFoundError / ProtocolError / SfuError for failures."""

    async def create_dispatch(self, req: agent_dispatch.CreateAgentDispatchRequest) -> agent_dispatch.AgentDispatch:
        ...

    async def delete_dispatch(self, dispatch_id: str, room: str) -> agent_dispatch.AgentDispatch:
        ...

    async def list_dispatch(self, room: str, dispatch_id: str = "") -> list[agent_dispatch.AgentDispatch]:
        ...


@dataclass
class Method:
    request: type[Message]
    handler: Callable[[Any], Awaitable[Message]]
    grant: str              # "create" | "list" | "admin"


def map_error(e: BaseException) -> TwirpError:
    """our exceptions -> Twirp codes"""
    if isinstance(e, TwirpError):
        return e
    if isinstance(e, auth.AuthError):
        return TwirpError("unauthenticated" if e.status == 401 else "permission_denied", str(e))
    return TwirpError(errors.kind_of(e).twirp_code, str(e) or type(e).__name__)


class TwirpRoute(Protocol):
    """Multi-node: where a room lives and running a call on another node (sfu.cluster.Cluster)."""

    node_id: str

    async def route(self, room: str) -> str: ...

    async def host_of(self, room: str) -> str | None: ...

    async def call(self, node: str, service: str, method: str, body: bytes,
                   timeout: float = ...) -> tuple[bool, bytes]: ...

    async def alive_nodes(self) -> list[str]: ...


class TwirpServer:
    def __init__(self, rooms: RoomService, keys: auth.KeyProvider, agents: DispatchBackend | None = None,
                 remote_unmute: bool = False) -> None:
        self.rooms = rooms
        self.keys = keys
        self.agents = agents                     # None: AgentDispatchService answers unimplemented
        self.remote_unmute = remote_unmute       # room.enable_remote_unmute
        self.cluster: TwirpRoute | None = None   # when running multi-node
        self.methods: dict[tuple[str, str], Method] = {
            (ROOM_SERVICE, "CreateRoom"): Method(room_pb.CreateRoomRequest, self.create_room, "create"),
            (ROOM_SERVICE, "ListRooms"): Method(room_pb.ListRoomsRequest, self.list_rooms, "list"),
            (ROOM_SERVICE, "DeleteRoom"): Method(room_pb.DeleteRoomRequest, self.delete_room, "create"),
            (ROOM_SERVICE, "ListParticipants"): Method(room_pb.ListParticipantsRequest, self.list_participants,
                                                       "admin"),
            (ROOM_SERVICE, "GetParticipant"): Method(room_pb.RoomParticipantIdentity, self.get_participant, "admin"),
            (ROOM_SERVICE, "RemoveParticipant"): Method(room_pb.RoomParticipantIdentity, self.remove_participant,
                                                        "admin"),
            (ROOM_SERVICE, "MutePublishedTrack"): Method(room_pb.MuteRoomTrackRequest, self.mute_published_track,
                                                         "admin"),
            (ROOM_SERVICE, "UpdateParticipant"): Method(room_pb.UpdateParticipantRequest, self.update_participant,
                                                        "admin"),
            (ROOM_SERVICE, "UpdateSubscriptions"): Method(room_pb.UpdateSubscriptionsRequest,
                                                          self.update_subscriptions, "admin"),
            (ROOM_SERVICE, "SendData"): Method(room_pb.SendDataRequest, self.send_data, "admin"),
            (ROOM_SERVICE, "UpdateRoomMetadata"): Method(room_pb.UpdateRoomMetadataRequest,
                                                         self.update_room_metadata, "admin"),
            (ROOM_SERVICE, "PerformRpc"): Method(room_pb.PerformRpcRequest, self.perform_rpc, "admin"),
            # RoomService methods we do not have: a caller learns that, not that the route is wrong
            (ROOM_SERVICE, "ForwardParticipant"): Method(room_pb.ForwardParticipantRequest,
                                                         self.forward_participant, "admin"),
            (ROOM_SERVICE, "MoveParticipant"): Method(room_pb.MoveParticipantRequest, self.move_participant,
                                                      "admin"),
            (DISPATCH_SERVICE, "CreateDispatch"): Method(agent_dispatch.CreateAgentDispatchRequest,
                                                         self.create_dispatch, "admin"),
            (DISPATCH_SERVICE, "DeleteDispatch"): Method(agent_dispatch.DeleteAgentDispatchRequest,
                                                         self.delete_dispatch, "admin"),
            (DISPATCH_SERVICE, "ListDispatch"): Method(agent_dispatch.ListAgentDispatchRequest,
                                                       self.list_dispatch, "admin"),
        }

    def install(self, app: web.Application) -> None:
        app.router.add_route("*", "/twirp/{service}/{method}", self.handle)

    # -- transport -----------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.Response:
        try:
            return await self._handle(request)
        except Exception as e:  # every failure leaves as a Twirp error
            err = map_error(e)
            if err.code == "internal":
                log.exception("%s failed", request.path)
            return err.response()

    async def _handle(self, request: web.Request) -> web.Response:
        service, name = request.match_info["service"], request.match_info["method"]
        route = f"{request.method} {request.path}"
        if request.method != "POST":
            raise TwirpError("bad_route", f"unsupported method {request.method} (only POST is allowed)",
                             {"twirp_invalid_route": route})
        method = self.methods.get((service, name))
        if method is None:
            raise TwirpError("bad_route", f"no handler for path {request.path!r}", {"twirp_invalid_route": route})
        ctype = request.content_type.lower()
        if ctype not in PROTOBUF_TYPES + JSON_TYPES:
            raise TwirpError("bad_route", f"unexpected Content-Type: {ctype!r}", {"twirp_invalid_route": route})
        as_json = ctype in JSON_TYPES
        claims = self.keys.verify(auth.bearer(request.headers.get("Authorization")))
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise TwirpError("malformed", "request body too large") from None
        req = method.request()
        try:
            if as_json:
                if body.strip():
                    json_format.Parse(body, req, ignore_unknown_fields=True)
            else:
                req.ParseFromString(body)
        except (DecodeError, json_format.ParseError, UnicodeDecodeError) as e:
            kind = "json" if as_json else "protobuf"
            raise TwirpError("malformed", f"the request could not be decoded as {kind}: {e}") from None
        self._authorize(claims, method.grant, getattr(req, "room", ""))
        if self.cluster is not None:
            reply = await self._clustered(self.cluster, service, name, method, req)
        else:
            reply = await method.handler(req)
        if as_json:
            text = json_format.MessageToJson(reply, preserving_proto_field_name=True, indent=None)
            return web.Response(text=text, content_type="application/json")
        return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")

    # -- multi-node (sfu.cluster) --------------------------------------------------------------------
    async def _clustered(self, cluster: TwirpRoute, service: str, name: str, method: Method, req: Message) -> Message:
        """run a call on the node hosting its room: CreateRoom places the room
        first; ListRooms merges every live node's rooms; a call for a room no
        live node hosts runs here (and answers not_found as usual)"""
        if (service, name) == (ROOM_SERVICE, "ListRooms"):
            return await self._list_rooms_everywhere(cluster, req)  # type: ignore[arg-type]
        room = getattr(req, "room", "") or (getattr(req, "name", "") if name == "CreateRoom" else "")
        if not room:
            return await method.handler(req)
        try:
            node = await cluster.route(room) if name == "CreateRoom" else await cluster.host_of(room)
        except errors.SfuError as e:          # ClusterUnavailable
            raise TwirpError("unavailable", str(e)) from None
        if node is None or node == cluster.node_id:
            return await method.handler(req)
        try:
            ok, body = await cluster.call(node, service, name, req.SerializeToString())
        except Exception as e:      # timeout or Redis unreachable
            raise TwirpError("unavailable", f"room node {node}: {e}") from None
        if not ok:
            err = orjson.loads(body)
            raise TwirpError(err.get("code", "internal"), err.get("msg", ""))
        return self._reply_type(service, name).FromString(body)

    def _reply_type(self, service: str, name: str) -> type[Message]:
        return REPLY_TYPES[(service, name)]

    async def run_forwarded(self, service: str, name: str, body: bytes) -> bytes:
        """a call another node authorized and forwarded to us (the room is here)"""
        method = self.methods.get((service, name))
        if method is None:
            raise TwirpError("bad_route", f"no handler for {service}/{name}")
        req = method.request.FromString(body)
        if (service, name) == (ROOM_SERVICE, "ListRooms"):
            reply = await self.list_rooms(req)  # type: ignore[arg-type]
        else:
            reply = await method.handler(req)
        return reply.SerializeToString()

    async def _list_rooms_everywhere(self, cluster: TwirpRoute,
                                     req: room_pb.ListRoomsRequest) -> room_pb.ListRoomsResponse:
        out = room_pb.ListRoomsResponse()
        out.rooms.extend((await self.list_rooms(req)).rooms)
        try:
            nodes = [n for n in await cluster.alive_nodes() if n != cluster.node_id]
        except Exception as e:
            log.warning("ListRooms: cannot list nodes: %s", e)
            return out

        async def one(node: str) -> list[models.Room]:
            try:
                ok, body = await cluster.call(node, ROOM_SERVICE, "ListRooms", req.SerializeToString(), timeout=2.0)
            except Exception as e:
                log.warning("ListRooms: node %s did not answer: %s", node, e)
                return []
            return list(room_pb.ListRoomsResponse.FromString(body).rooms) if ok else []

        seen = {r.name for r in out.rooms}
        for rooms in await asyncio.gather(*(one(n) for n in nodes)):
            for r in rooms:
                if r.name not in seen:
                    seen.add(r.name)
                    out.rooms.append(r)
        return out

    @staticmethod
    def _authorize(claims: auth.Claims, grant: str, room: str) -> None:
        v = claims.video
        if grant == "create" and not v.roomCreate:
            raise TwirpError("permission_denied", "roomCreate grant required")
        if grant == "list" and not v.roomList:
            raise TwirpError("permission_denied", "roomList grant required")
        if grant == "admin" and (not v.roomAdmin or not room or v.room != room):
            raise TwirpError("permission_denied", f"roomAdmin grant for room {room!r} required")

    # -- lookups ----------------------------------------------------------------------------------------
    def _room(self, name: str) -> "Room":
        r = self.rooms.manager.get(name)
        if r is None:
            raise TwirpError("not_found", f"room {name!r} not found")
        return r

    def _participant(self, room: str, identity: str) -> "Participant":
        p = self._room(room).participants.get(identity)
        if p is None or p.closed:
            raise TwirpError("not_found", f"participant {identity!r} not found in room {room!r}")
        return p

    # -- RoomService ------------------------------------------------------------------------------------
    async def create_room(self, req: room_pb.CreateRoomRequest) -> models.Room:
        if not req.name:
            raise TwirpError("invalid_argument", "name is required")
        if len(req.metadata.encode()) > limits.MAX_METADATA:
            raise TwirpError("invalid_argument", "metadata exceeds the size limit")
        mgr = self.rooms.manager
        existing = mgr.get(req.name)
        opts = existing.options if existing is not None else RoomOptions(**vars(mgr.defaults))
        if req.empty_timeout:
            opts.empty_timeout = req.empty_timeout
        if req.departure_timeout:
            opts.departure_timeout = req.departure_timeout
        if req.max_participants:
            opts.max_participants = req.max_participants
        if req.metadata:
            opts.metadata = req.metadata
        if req.agents:
            opts.agents = [agent_dispatch.RoomAgentDispatch.FromString(a.SerializeToString()) for a in req.agents]
        if existing is not None:       # idempotent: the room, with the options given now applied
            if req.metadata and req.metadata != existing.metadata:
                existing.metadata = req.metadata
                existing.version += 1
            return existing.to_proto()
        r, _ = mgr.create(req.name, opts)
        return r.to_proto()

    async def list_rooms(self, req: room_pb.ListRoomsRequest) -> room_pb.ListRoomsResponse:
        names = set(req.names)
        rooms = [r.to_proto() for r in list(self.rooms.manager.rooms.values())
                 if not r.closed and (not names or r.name in names)]
        return room_pb.ListRoomsResponse(rooms=rooms)

    async def delete_room(self, req: room_pb.DeleteRoomRequest) -> room_pb.DeleteRoomResponse:
        await self._room(req.room).close(models.DisconnectReason.ROOM_DELETED)
        return room_pb.DeleteRoomResponse()

    async def list_participants(self, req: room_pb.ListParticipantsRequest) -> room_pb.ListParticipantsResponse:
        r = self.rooms.manager.get(req.room)       # as LiveKit: no room, no participants (not an error)
        return room_pb.ListParticipantsResponse(
            participants=[p.to_proto() for p in list(r.participants.values()) if not p.closed] if r else [])

    async def get_participant(self, req: room_pb.RoomParticipantIdentity) -> models.ParticipantInfo:
        return self._participant(req.room, req.identity).to_proto()

    async def remove_participant(self, req: room_pb.RoomParticipantIdentity) -> room_pb.RemoveParticipantResponse:
        p = self._participant(req.room, req.identity)
        await p.disconnect(models.DisconnectReason.PARTICIPANT_REMOVED)
        return room_pb.RemoveParticipantResponse()

    async def mute_published_track(self, req: room_pb.MuteRoomTrackRequest) -> room_pb.MuteRoomTrackResponse:
        p = self._participant(req.room, req.identity)
        pub: TrackPublication | None = p.tracks.get(req.track_sid) or next(
            (t for t in p.pending.values() if t.sid == req.track_sid), None)
        if pub is None:
            raise TwirpError("not_found", f"track {req.track_sid!r} not found")
        if not req.muted and not self.remote_unmute:
            # as LiveKit: only the publisher may unmute unless room.enable_remote_unmute is set
            raise TwirpError("failed_precondition", "remote unmute not enabled")
        await p.server_mute(pub, req.muted)
        return room_pb.MuteRoomTrackResponse(track=pub.info)

    async def update_participant(self, req: room_pb.UpdateParticipantRequest) -> models.ParticipantInfo:
        problem = limits.participant_fields_problem(req.metadata, req.name, dict(req.attributes))
        if problem:
            raise TwirpError("invalid_argument", problem)
        p = self._participant(req.room, req.identity)
        await self.rooms.admin_update_participant(
            p, metadata=req.metadata or None, name=req.name or None, attributes=dict(req.attributes),
            permission=req.permission if req.HasField("permission") else None)
        return p.to_proto()

    async def update_subscriptions(self, req: room_pb.UpdateSubscriptionsRequest
                                   ) -> room_pb.UpdateSubscriptionsResponse:
        p = self._participant(req.room, req.identity)
        await p.update_subscription(rtc.UpdateSubscription(
            track_sids=req.track_sids, subscribe=req.subscribe, participant_tracks=req.participant_tracks))
        return room_pb.UpdateSubscriptionsResponse()

    async def send_data(self, req: room_pb.SendDataRequest) -> room_pb.SendDataResponse:
        r = self._room(req.room)
        user = models.UserPacket(payload=req.data, destination_sids=req.destination_sids,
                                 destination_identities=req.destination_identities, nonce=req.nonce)
        if req.HasField("topic"):
            user.topic = req.topic
        pkt = models.DataPacket(kind=req.kind, user=user, destination_identities=req.destination_identities)
        problem = data.too_large(pkt)
        if problem:
            raise TwirpError("invalid_argument", problem)
        await self.rooms.deliver_data(r, pkt, sender=None)
        return room_pb.SendDataResponse()

    async def perform_rpc(self, req: room_pb.PerformRpcRequest) -> room_pb.PerformRpcResponse:
        """call a method the participant registered (its SDK's register_rpc_method) and return
        its answer; an RPC error comes back as Twirp `unknown` with the RPC code in meta"""
        if not req.destination_identity or not req.method:
            raise TwirpError("invalid_argument", "destination_identity and method are required")
        r = self._room(req.room)
        try:
            payload = await self.rooms.rpc.perform(r, req.destination_identity, req.method, req.payload,
                                                   req.response_timeout_ms)
        except RpcFailed as e:
            raise TwirpError("unknown", e.message, {"rpc_code": str(e.code), "rpc_data": e.data}) from None
        return room_pb.PerformRpcResponse(payload=payload)

    async def forward_participant(self, req: room_pb.ForwardParticipantRequest
                                  ) -> room_pb.ForwardParticipantResponse:
        raise TwirpError("unimplemented", "ForwardParticipant is not implemented by this server "
                                          "(a participant is in one room only)")

    async def move_participant(self, req: room_pb.MoveParticipantRequest) -> room_pb.MoveParticipantResponse:
        raise TwirpError("unimplemented", "MoveParticipant is not implemented by this server "
                                          "(a participant is in one room only)")

    async def update_room_metadata(self, req: room_pb.UpdateRoomMetadataRequest) -> models.Room:
        if len(req.metadata.encode()) > limits.MAX_METADATA:
            raise TwirpError("invalid_argument", "metadata exceeds the size limit")
        r = self._room(req.room)
        await self.rooms.update_room_metadata(r, req.metadata)
        return r.to_proto()

    # -- AgentDispatchService ---------------------------------------------------------------------------
    def _agents(self) -> DispatchBackend:
        backend = self.agents
        if backend is None:
            raise TwirpError("unimplemented", "agent dispatch is not available on this server")
        return backend

    async def create_dispatch(self, req: agent_dispatch.CreateAgentDispatchRequest) -> agent_dispatch.AgentDispatch:
        return await self._agents().create_dispatch(req)

    async def delete_dispatch(self, req: agent_dispatch.DeleteAgentDispatchRequest) -> agent_dispatch.AgentDispatch:
        if not req.dispatch_id:
            raise TwirpError("invalid_argument", "dispatch_id is required")
        return await self._agents().delete_dispatch(req.dispatch_id, req.room)

    async def list_dispatch(self, req: agent_dispatch.ListAgentDispatchRequest
                            ) -> agent_dispatch.ListAgentDispatchResponse:
        items = await self._agents().list_dispatch(req.room, req.dispatch_id)
        return agent_dispatch.ListAgentDispatchResponse(agent_dispatches=list(items))
