"""Drives the server API with the real `livekit-api` package (run with the client
venv's Python by tests/server/test_twirp.py).  Prints one JSON object per step.

Usage: python lkapi_script.py URL API_KEY API_SECRET ROOM IDENTITY
"""

import asyncio
import json
import sys

from livekit import api


def out(step, **kw):
    print(json.dumps({"step": step, **kw}), flush=True)


async def main(url, key, secret, room, identity):
    async with api.LiveKitAPI(url, key, secret) as lk:
        r = await lk.room.create_room(api.CreateRoomRequest(name=room, empty_timeout=120, metadata="m1"))
        out("create", sid=r.sid, name=r.name, empty_timeout=r.empty_timeout, metadata=r.metadata)
        r2 = await lk.room.create_room(api.CreateRoomRequest(name=room))
        out("create_again", sid=r2.sid)
        rooms = await lk.room.list_rooms(api.ListRoomsRequest())
        out("list_rooms", names=[x.name for x in rooms.rooms])
        rooms = await lk.room.list_rooms(api.ListRoomsRequest(names=["no-such-room"]))
        out("list_rooms_filtered", names=[x.name for x in rooms.rooms])
        ps = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
        out("list_participants", identities=[p.identity for p in ps.participants])
        p = await lk.room.get_participant(api.RoomParticipantIdentity(room=room, identity=identity))
        out("get_participant", identity=p.identity, sid=p.sid)
        try:
            await lk.room.get_participant(api.RoomParticipantIdentity(room=room, identity="ghost"))
            out("get_missing", code=None)
        except api.TwirpError as e:
            out("get_missing", code=e.code, status=e.status)
        p = await lk.room.update_participant(api.UpdateParticipantRequest(room=room, identity=identity,
                                                                          metadata="hello", attributes={"a": "1"}))
        out("update_participant", metadata=p.metadata, attributes=dict(p.attributes))
        r = await lk.room.update_room_metadata(api.UpdateRoomMetadataRequest(room=room, metadata="m2"))
        out("update_room_metadata", metadata=r.metadata)
        await lk.room.send_data(api.SendDataRequest(room=room, data=b"hi", kind=api.DataPacket.RELIABLE, topic="t"))
        out("send_data")
        try:
            d = await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                agent_name="a", room=room, metadata="my_job_metadata"))
            ds = await lk.agent_dispatch.list_dispatch(room_name=room)
            out("create_dispatch", code=None, id=d.id, agent_name=d.agent_name,
                listed=sorted((x.agent_name, x.metadata) for x in ds))
        except api.TwirpError as e:
            out("create_dispatch", code=e.code, status=e.status)
        await lk.room.remove_participant(api.RoomParticipantIdentity(room=room, identity=identity))
        ps = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
        out("after_remove", identities=[p.identity for p in ps.participants])
        await lk.room.delete_room(api.DeleteRoomRequest(room=room))
        rooms = await lk.room.list_rooms(api.ListRoomsRequest())
        out("after_delete", names=[x.name for x in rooms.rooms])


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
