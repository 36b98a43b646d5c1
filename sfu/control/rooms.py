"""The RoomService operations without HTTP: the same calls, arguments, checks and answers as
LiveKit's server API (sfu.api.twirp serves them over Twirp; livekit-api's RoomService has the
same method names).  Answers are livekit.protocol messages (models.Room, ParticipantInfo,
TrackInfo); failures raise sfu.api.TwirpError with the code the Twirp API would answer."""

from __future__ import annotations

from typing import Any, Awaitable, Iterable

from livekit.protocol import agent_dispatch, models, room as room_pb

from ..api.client import TwirpError
from ..api.twirp import STATUS, TwirpServer, map_error


async def _call(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except Exception as e:
        err = map_error(e)
        raise TwirpError(err.code, err.msg, STATUS.get(err.code, 500), err.meta) from None


class Rooms:
    """`server.rooms`: rooms and their participants on this server.  In a cluster (`redis:`)
    these calls act on this node's rooms only; sfu.api.RoomClient reaches every node's."""

    def __init__(self, twirp: TwirpServer) -> None:
        self._twirp = twirp

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        return await _call(awaitable)

    # -- rooms -----------------------------------------------------------------------------------
    async def create_room(self, name: str, empty_timeout: int = 0, departure_timeout: int = 0,
                          max_participants: int = 0, metadata: str = "",
                          agents: Iterable[agent_dispatch.RoomAgentDispatch] = ()) -> models.Room:
        """create a room (or return the existing one, with the options given applied); 0 keeps
        the server's default; `agents`: the agents dispatched to it"""
        return await self._call(self._twirp.create_room(room_pb.CreateRoomRequest(
            name=name, empty_timeout=empty_timeout, departure_timeout=departure_timeout,
            max_participants=max_participants, metadata=metadata, agents=list(agents))))

    async def list_rooms(self, names: Iterable[str] = ()) -> list[models.Room]:
        """the open rooms (only those named, if `names` is given)"""
        reply = await self._call(self._twirp.list_rooms(room_pb.ListRoomsRequest(names=list(names))))
        return list(reply.rooms)

    async def delete_room(self, room: str) -> None:
        """close a room: its participants leave with reason ROOM_DELETED"""
        await self._call(self._twirp.delete_room(room_pb.DeleteRoomRequest(room=room)))

    async def update_room_metadata(self, room: str, metadata: str) -> models.Room:
        """set the room's metadata; every participant gets a RoomUpdate"""
        return await self._call(self._twirp.update_room_metadata(
            room_pb.UpdateRoomMetadataRequest(room=room, metadata=metadata)))

    # -- participants ----------------------------------------------------------------------------
    async def list_participants(self, room: str) -> list[models.ParticipantInfo]:
        """the room's participants (none if there is no such room)"""
        reply = await self._call(self._twirp.list_participants(room_pb.ListParticipantsRequest(room=room)))
        return list(reply.participants)

    async def get_participant(self, room: str, identity: str) -> models.ParticipantInfo:
        """one participant (TwirpError not_found if the room or the participant is not there)"""
        return await self._call(self._twirp.get_participant(
            room_pb.RoomParticipantIdentity(room=room, identity=identity)))

    async def remove_participant(self, room: str, identity: str) -> None:
        """disconnect a participant (reason PARTICIPANT_REMOVED)"""
        await self._call(self._twirp.remove_participant(
            room_pb.RoomParticipantIdentity(room=room, identity=identity)))

    async def update_participant(self, room: str, identity: str, metadata: str = "", name: str = "",
                                 attributes: dict[str, str] | None = None,
                                 permission: models.ParticipantPermission | None = None
                                 ) -> models.ParticipantInfo:
        """change a participant's metadata, name, attributes (an empty value removes the key)
        or permissions (revoking publish unpublishes its tracks); "" leaves a field as it is"""
        req = room_pb.UpdateParticipantRequest(room=room, identity=identity, metadata=metadata, name=name,
                                               attributes=attributes or {})
        if permission is not None:
            req.permission.CopyFrom(permission)
        return await self._call(self._twirp.update_participant(req))

    async def mute_published_track(self, room: str, identity: str, track_sid: str,
                                   muted: bool = True) -> models.TrackInfo:
        """mute (or, with room.enable_remote_unmute, unmute) one of a participant's tracks"""
        reply = await self._call(self._twirp.mute_published_track(room_pb.MuteRoomTrackRequest(
            room=room, identity=identity, track_sid=track_sid, muted=muted)))
        return reply.track

    async def update_subscriptions(self, room: str, identity: str, track_sids: Iterable[str],
                                   subscribe: bool = True) -> None:
        """subscribe a participant to tracks (or unsubscribe it)"""
        await self._call(self._twirp.update_subscriptions(room_pb.UpdateSubscriptionsRequest(
            room=room, identity=identity, track_sids=list(track_sids), subscribe=subscribe)))

    async def send_data(self, room: str, data: bytes, kind: int = models.DataPacket.RELIABLE,
                        destination_identities: Iterable[str] = (), topic: str | None = None) -> None:
        """a data packet from the server to everyone in the room, or to the identities given
        (`kind`: models.DataPacket.RELIABLE or LOSSY)"""
        req = room_pb.SendDataRequest(room=room, data=data, kind=kind,
                                      destination_identities=list(destination_identities))
        if topic is not None:
            req.topic = topic
        await self._call(self._twirp.send_data(req))

    async def perform_rpc(self, room: str, destination_identity: str, method: str, payload: str = "",
                          response_timeout_ms: int = 0) -> str:
        """call `method`, registered by the participant (its SDK's register_rpc_method), and return
        its answer; 0 ms: the default 10 s.  An RPC error raises TwirpError `unknown` with
        meta["rpc_code"] (and "rpc_data"); a participant who is not there, `not_found`"""
        reply = await self._call(self._twirp.perform_rpc(room_pb.PerformRpcRequest(
            room=room, destination_identity=destination_identity, method=method, payload=payload,
            response_timeout_ms=response_timeout_ms)))
        return reply.payload


class Dispatch:
    """`server.dispatch`: agent dispatches (AgentDispatchService without HTTP; the same method
    names as sfu.api.AgentDispatchClient and livekit-api)."""

    def __init__(self, twirp: TwirpServer) -> None:
        self._twirp = twirp

    async def create_dispatch(self, room: str, agent_name: str, metadata: str = "") -> agent_dispatch.AgentDispatch:
        """dispatch the agent workers registered as `agent_name` to `room` (created if needed)"""
        return await _call(self._twirp.create_dispatch(agent_dispatch.CreateAgentDispatchRequest(
            room=room, agent_name=agent_name, metadata=metadata)))

    async def list_dispatch(self, room: str, dispatch_id: str = "") -> list[agent_dispatch.AgentDispatch]:
        """the room's dispatches (only `dispatch_id`, if given)"""
        reply = await _call(self._twirp.list_dispatch(agent_dispatch.ListAgentDispatchRequest(
            room=room, dispatch_id=dispatch_id)))
        return list(reply.agent_dispatches)

    async def delete_dispatch(self, dispatch_id: str, room: str) -> agent_dispatch.AgentDispatch:
        """remove a dispatch (its jobs are ended); the dispatch removed, or TwirpError not_found"""
        return await _call(self._twirp.delete_dispatch(agent_dispatch.DeleteAgentDispatchRequest(
            dispatch_id=dispatch_id, room=room)))
