"""The server API (Twirp): every RoomService method through sfu.api's client,
JSON bodies, Twirp errors, effects seen by connected signalling clients,
SendData delivery, AgentDispatchService and the CLI verbs -- against an
in-process server.  The real `livekit-api` package and the rtc SDK against the
server API: tests/interop/test_livekit_api.py, test_livekit_rtc_sdk.py."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from livekit.protocol import agent_dispatch, models, room as room_pb
from livekit.protocol import rtc as lk

from helpers.app_server import server_fixture
from helpers.commands import run
from helpers.data_peer import DataPeer, RecordingWorker
from helpers.signal_client import Client
from helpers.tokens import join_token, kp
from sfu.api import AgentDispatchClient, RoomClient, TwirpError
from sfu.app import Server
from sfu.auth import KeyProvider, VideoGrant
from sfu.rooms.data import data_recipients
from sfu.rooms.track import Subscription

REPO = Path(__file__).resolve().parents[2]

server = server_fixture(room={"empty_timeout": 30, "departure_timeout": 10})


def url(server: Server) -> str:
    return f"http://127.0.0.1:{server.settings.port}"


def tok(identity: str, room: str = "r", **grant) -> str:
    return join_token(identity, room, name=identity.upper(), **grant)


async def post(server: Server, path: str, body: bytes = b"", token: str | None = None,
               ctype: str = "application/protobuf", method: str = "POST") -> tuple[int, str, bytes]:
    headers = {"Content-Type": ctype}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as s:
        async with s.request(method, url(server) + path, data=body, headers=headers) as r:
            return r.status, r.content_type, await r.read()


async def next_update(c: Client, pred, tries: int = 6) -> models.ParticipantInfo:
    for _ in range(tries):
        for p in (await c.next("update")).update.participants:
            if pred(p):
                return p
    raise AssertionError("no matching ParticipantUpdate")


async def test_room_service_with_our_client(server):
    async with RoomClient(url(server), "devkey", "secret") as api:
        room = await api.create_room("r", empty_timeout=60, departure_timeout=5, max_participants=4,
                                     metadata="m0", agents=[agent_dispatch.RoomAgentDispatch(agent_name="bot")])
        assert room.name == "r" and room.sid.startswith("RM_") and room.empty_timeout == 60
        assert room.departure_timeout == 5 and room.max_participants == 4 and room.metadata == "m0"
        r = server.rooms.manager.get("r")
        assert [a.agent_name for a in r.options.agents] == ["bot"]
        again = await api.create_room("r")                       # idempotent
        assert again.sid == room.sid and again.metadata == "m0"
        await api.create_room("other")
        assert sorted(x.name for x in await api.list_rooms()) == ["other", "r"]
        assert [x.name for x in await api.list_rooms(["other", "nope"])] == ["other"]

        async with Client(server, tok("alice")) as a, Client(server, tok("bob")) as b:
            await a.next("join")
            await b.next("join")
            assert sorted(p.identity for p in await api.list_participants("r")) == ["alice", "bob"]
            info = await api.get_participant("r", "alice")
            assert info.identity == "alice" and info.sid.startswith("PA_") and info.name == "ALICE"

            # UpdateParticipant: bob sees alice's new metadata, name and attributes
            got = await api.update_participant("r", "alice", metadata="hello", name="Alice A",
                                               attributes={"k": "v"})
            assert got.metadata == "hello" and got.name == "Alice A" and dict(got.attributes) == {"k": "v"}
            seen = await next_update(b, lambda p: p.identity == "alice" and p.metadata == "hello")
            assert seen.name == "Alice A" and dict(seen.attributes) == {"k": "v"}
            got = await api.update_participant("r", "alice", attributes={"k": ""})     # "" deletes
            assert dict(got.attributes) == {}

            # permission changes apply to the grants, are announced and reach the token
            perm = models.ParticipantPermission(can_subscribe=True, can_publish=False, can_publish_data=True,
                                                can_update_metadata=True)
            got = await api.update_participant("r", "alice", permission=perm)
            assert not got.permission.can_publish and got.permission.can_update_metadata
            p = r.participants["alice"]
            assert not p.grants.canPublish and p.grants.canUpdateOwnMetadata
            for _ in range(3):     # the first one may be the refresh sent at join
                fresh = kp.verify((await a.next("refresh_token")).refresh_token)
                if fresh.video.canUpdateOwnMetadata:
                    break
            assert fresh.video.canPublish is False and fresh.video.canUpdateOwnMetadata
            await next_update(b, lambda p: p.identity == "alice" and not p.permission.can_publish)
            await a.send(lk.SignalRequest(add_track=lk.AddTrackRequest(cid="c1", type=models.TrackType.AUDIO)))
            rr = (await a.next("request_response")).request_response
            assert rr.reason == lk.RequestResponse.NOT_ALLOWED

            # UpdateSubscriptions reaches the participant's subscription logic
            await api.update_subscriptions("r", "bob", ["TR_unknown"], subscribe=True)
            sr = (await b.next("subscription_response")).subscription_response
            assert sr.track_sid == "TR_unknown" and sr.err == models.SubscriptionError.SE_TRACK_NOTFOUND

            # UpdateRoomMetadata: everyone gets a RoomUpdate
            room = await api.update_room_metadata("r", "m1")
            assert room.metadata == "m1"
            for c in (a, b):
                assert (await c.next("room_update")).room_update.room.metadata == "m1"

            # RemoveParticipant: alice is told why; bob sees her leave
            await api.remove_participant("r", "alice")
            leave = (await a.next("leave")).leave
            assert leave.reason == models.DisconnectReason.PARTICIPANT_REMOVED
            await next_update(b, lambda p: p.identity == "alice" and p.state == models.ParticipantInfo.DISCONNECTED)
            assert [p.identity for p in await api.list_participants("r")] == ["bob"]
            with pytest.raises(TwirpError) as e:
                await api.get_participant("r", "alice")
            assert (e.value.code, e.value.status) == ("not_found", 404)

            # DeleteRoom: the remaining participant gets leave(ROOM_DELETED)
            await api.delete_room("r")
            assert (await b.next("leave")).leave.reason == models.DisconnectReason.ROOM_DELETED
        assert [x.name for x in await api.list_rooms()] == ["other"]
        assert await api.list_participants("r") == []
        with pytest.raises(TwirpError) as e:
            await api.delete_room("r")
        assert e.value.code == "not_found"


async def test_mute_published_track(server):
    async with RoomClient(url(server), "devkey", "secret") as api, Client(server, tok("pub")) as c:
        await c.next("join")
        await c.send(lk.SignalRequest(add_track=lk.AddTrackRequest(cid="mic", name="mic", type=models.TrackType.AUDIO)))
        sid = (await c.next("track_published")).track_published.track.sid
        pub = server.rooms.manager.get("r").participants["pub"].pending["mic"]

        class FakeConsumer:                      # a subscriber's consumer: pause/resume recorded
            paused = closed = False

            async def pause(self):
                self.paused = True

            async def resume(self):
                self.paused = False

        watcher = SimpleNamespace(identity="watcher")
        pub.subscriptions["watcher"] = Subscription(track=pub, subscriber=watcher, consumer=FakeConsumer(),
                                                       signaled=True)
        try:
            track = await api.mute_published_track("r", "pub", sid, muted=True)
            assert track.sid == sid and track.muted
            m = (await c.next("mute")).mute          # the publisher's SDK is told to mute
            assert m.sid == sid and m.muted
            assert pub.info.muted and pub.subscriptions["watcher"].consumer.paused

            # as LiveKit: no remote unmute unless room.enable_remote_unmute
            with pytest.raises(TwirpError) as e:
                await api.mute_published_track("r", "pub", sid, muted=False)
            assert (e.value.code, e.value.status) == ("failed_precondition", 412)
            twirp = next(r.handler.__self__ for r in server.app.router.routes()
                         if getattr(r.handler, "__name__", "") == "handle")
            twirp.remote_unmute = True
            track = await api.mute_published_track("r", "pub", sid, muted=False)
            assert not track.muted and not (await c.next("mute")).mute.muted
            assert not pub.subscriptions["watcher"].consumer.paused

            # a server mute, then the publisher unmutes itself: forwarding resumes
            await api.mute_published_track("r", "pub", sid, muted=True)
            await c.send(lk.SignalRequest(mute=lk.MuteTrackRequest(sid=sid, muted=False)))
            for _ in range(50):
                if not pub.info.muted:
                    break
                await asyncio.sleep(0.02)
            assert not pub.info.muted and not pub.server_muted and not pub.subscriptions["watcher"].consumer.paused

            with pytest.raises(TwirpError) as e:
                await api.mute_published_track("r", "pub", "TR_nope", muted=True)
            assert e.value.code == "not_found"
        finally:
            pub.subscriptions.pop("watcher", None)


def fake_participant(identity: str, hidden: bool = False, worker: RecordingWorker | None = None) -> SimpleNamespace:
    return SimpleNamespace(identity=identity, sid="PA_" + identity, closed=False, hidden=hidden,
                           kind=models.ParticipantInfo.STANDARD,
                           data_pc=DataPeer(worker), grants=SimpleNamespace(canPublishData=True))


async def test_send_data_delivery(server):
    """SendData goes through the same delivery helper as client data; the recipients'
    data channels are stand-ins (this path has no WebRTC in the test)"""
    async with RoomClient(url(server), "devkey", "secret") as api:
        await api.create_room("d")
        room = server.rooms.manager.get("d")
        worker = RecordingWorker()      # all three on one media worker
        people = {i: fake_participant(i, worker=worker) for i in ("a", "b", "c")}
        for p in people.values():
            p.room = room
        room.participants.update(people)
        try:
            await api.send_data("d", b"to-all", topic="news")
            assert worker.requests == 1          # one request for the three recipients, not three
            for p in people.values():
                [(label, pkt)] = p.data_pc.sent
                assert label == "_reliable" and pkt.user.payload == b"to-all" and pkt.user.topic == "news"
                assert pkt.participant_identity == "" and pkt.user.participant_identity == ""   # from the server
                p.data_pc.sent.clear()
            await api.send_data("d", b"psst", kind=models.DataPacket.LOSSY, destination_identities=["b"])
            assert [len(p.data_pc.sent) for p in people.values()] == [0, 1, 0]
            label, pkt = people["b"].data_pc.sent.pop()
            assert label == "_lossy" and pkt.kind == models.DataPacket.LOSSY
            assert list(pkt.destination_identities) == ["b"]
            # a payload no data-channel message can carry: a clear error, nothing sent
            with pytest.raises(TwirpError) as e:
                await api.send_data("d", b"x" * 70_000)
            assert e.value.code == "invalid_argument" and "message limit" in str(e.value)
            assert [len(p.data_pc.sent) for p in people.values()] == [0, 0, 0]

            # a client's packet takes the same path, stamped with the sender
            pkt = models.DataPacket(kind=models.DataPacket.RELIABLE, user=models.UserPacket(payload=b"x"))
            await server.rooms.on_data(people["a"], "_reliable", pkt.SerializeToString())
            assert [len(p.data_pc.sent) for p in people.values()] == [0, 1, 1]
            got = people["c"].data_pc.sent[0][1]
            assert got.participant_identity == "a" and got.user.participant_sid == "PA_a"
        finally:
            for i in people:
                room.participants.pop(i, None)
    # recipients: everyone but the sender and closed ones; identities or sids narrow it
    room = SimpleNamespace(participants={i: fake_participant(i) for i in "abcd"})
    room.participants["d"].closed = True
    a = room.participants["a"]
    assert [q.identity for q in data_recipients(room, models.DataPacket(), a)] == ["b", "c"]
    assert [q.identity for q in data_recipients(room, models.DataPacket(destination_identities=["c", "d"]))] == ["c"]
    sids = models.DataPacket(user=models.UserPacket(destination_sids=["PA_b"]))
    assert [q.identity for q in data_recipients(room, sids, a)] == ["b"]


async def test_twirp_errors(server):
    async def err(path, body=b"", token=None, **kw):
        status, ctype, raw = await post(server, path, body, token, **kw)
        assert ctype == "application/json", raw
        e = json.loads(raw)
        assert set(e) == {"code", "msg", "meta"} and isinstance(e["meta"], dict)
        return status, e["code"]

    rs = "/twirp/livekit.RoomService/"
    create = kp.create("devkey", video=VideoGrant(roomCreate=True))
    admin_r = kp.create("devkey", video=VideoGrant(roomAdmin=True, room="r"))
    assert await err(rs + "ListRooms") == (401, "unauthenticated")
    assert await err(rs + "ListRooms", token="garbage") == (401, "unauthenticated")
    wrong = KeyProvider({"devkey": "other"}).create("devkey", video=VideoGrant(roomList=True))
    assert await err(rs + "ListRooms", token=wrong) == (401, "unauthenticated")
    assert await err(rs + "ListRooms", token=create) == (403, "permission_denied")
    assert await err(rs + "CreateRoom", room_pb.CreateRoomRequest(name="x").SerializeToString(),
                     kp.create("devkey", video=VideoGrant(roomList=True))) == (403, "permission_denied")
    body = room_pb.ListParticipantsRequest(room="other").SerializeToString()
    assert await err(rs + "ListParticipants", body, admin_r) == (403, "permission_denied")     # wrong room
    no_admin = kp.create("devkey", video=VideoGrant(roomJoin=True, room="other"))
    assert await err(rs + "ListParticipants", body, no_admin) == (403, "permission_denied")
    assert await err(rs + "Nope", token=create) == (404, "bad_route")
    for name, req in (("ForwardParticipant", room_pb.ForwardParticipantRequest(room="r", identity="a",
                                                                               destination_room="r2")),
                      ("MoveParticipant", room_pb.MoveParticipantRequest(room="r", identity="a",
                                                                         destination_room="r2"))):
        assert await err(rs + name, req.SerializeToString()) == (401, "unauthenticated")   # checked first
        status, _, raw = await post(server, rs + name, req.SerializeToString(), admin_r)
        assert status == 501 and json.loads(raw)["code"] == "unimplemented", raw
        assert f"{name} is not implemented" in json.loads(raw)["msg"]
    assert await err("/twirp/livekit.Nope/CreateRoom", token=create) == (404, "bad_route")
    assert await err(rs + "ListRooms", token=create, method="GET") == (404, "bad_route")
    assert await err(rs + "CreateRoom", b"{}", create, ctype="text/plain") == (404, "bad_route")
    assert await err(rs + "CreateRoom", b"\x0a\x05ab", create) == (400, "malformed")
    assert await err(rs + "CreateRoom", b"{nope", create, ctype="application/json") == (400, "malformed")
    assert await err(rs + "CreateRoom", b"", create) == (400, "invalid_argument")        # no name
    gp = room_pb.RoomParticipantIdentity(room="r", identity="ghost").SerializeToString()
    assert await err(rs + "GetParticipant", gp, admin_r) == (404, "not_found")           # no room
    server.rooms.manager.create("r")
    assert await err(rs + "GetParticipant", gp, admin_r) == (404, "not_found")           # no participant
    dp = agent_dispatch.ListAgentDispatchRequest(room="r").SerializeToString()
    assert await err("/twirp/livekit.AgentDispatchService/ListDispatch", dp, admin_r[:-5] + "xxxxx") == \
        (401, "unauthenticated")
    dd = agent_dispatch.DeleteAgentDispatchRequest(dispatch_id="AD_none", room="r").SerializeToString()
    assert await err("/twirp/livekit.AgentDispatchService/DeleteDispatch", dd, admin_r) == (404, "not_found")
    status, _, raw = await post(server, "/", method="GET")
    assert status == 200 and raw == b"OK"


async def test_json_and_empty_bodies(server):
    create = kp.create("devkey", video=VideoGrant(roomCreate=True))
    lst = kp.create("devkey", video=VideoGrant(roomList=True))
    rs = "/twirp/livekit.RoomService/"
    status, ctype, raw = await post(server, rs + "CreateRoom", json.dumps(
        {"name": "j", "emptyTimeout": 42, "metadata": "meta", "unknown_field": 1}).encode(), create,
        ctype="application/json")
    assert status == 200 and ctype == "application/json"
    room = json.loads(raw)
    assert room["name"] == "j" and room["empty_timeout"] == 42 and room["sid"].startswith("RM_")
    status, ctype, raw = await post(server, rs + "ListRooms", b"", lst, ctype="application/json")
    assert status == 200 and [r["name"] for r in json.loads(raw)["rooms"]] == ["j"]
    status, ctype, raw = await post(server, rs + "ListRooms", b"", lst)          # empty protobuf body
    assert status == 200 and ctype == "application/protobuf"
    assert [r.name for r in room_pb.ListRoomsResponse.FromString(raw).rooms] == ["j"]


async def test_agent_dispatch_service(server, monkeypatch):
    class Backend:                      # stands in for the agent dispatcher (server.twirp.agents)
        def __init__(self):
            self.items: dict[str, agent_dispatch.AgentDispatch] = {}

        async def create_dispatch(self, req):
            d = agent_dispatch.AgentDispatch(id=f"AD_{len(self.items)}", agent_name=req.agent_name, room=req.room,
                                             metadata=req.metadata)
            self.items[d.id] = d
            return d

        async def delete_dispatch(self, dispatch_id, room):
            from sfu import errors
            if dispatch_id not in self.items:
                raise errors.NotFoundError("no such dispatch")
            return self.items.pop(dispatch_id)

        async def list_dispatch(self, room, dispatch_id=""):
            return [d for d in self.items.values() if d.room == room and (not dispatch_id or d.id == dispatch_id)]

    from sfu.api.twirp import DispatchBackend
    monkeypatch.setattr(server.twirp, "agents", Backend())   # what AgentDispatchService calls
    assert isinstance(server.agents, DispatchBackend) and isinstance(server.twirp.agents, DispatchBackend)
    async with AgentDispatchClient(url(server), "devkey", "secret") as api:
        d = await api.create_dispatch("r", "helper", metadata="{}")
        assert d.id == "AD_0" and d.agent_name == "helper" and d.room == "r"
        await api.create_dispatch("other", "x")
        assert [x.id for x in await api.list_dispatch("r")] == ["AD_0"]
        assert (await api.delete_dispatch("AD_0", "r")).agent_name == "helper"
        with pytest.raises(TwirpError) as e:
            await api.delete_dispatch("AD_0", "r")
        assert (e.value.code, e.value.status) == ("not_found", 404)
        assert await api.list_dispatch("r") == []


async def test_cli_verbs(server, monkeypatch):
    env = dict(os.environ, PYTHONPATH=str(REPO), LIVEKIT_URL=url(server), LIVEKIT_API_KEY="devkey",
               LIVEKIT_API_SECRET="secret")
    cli = (sys.executable, "-m", "sfu.cli")
    rc, out, err = await run(*cli, "token", "create", "--identity", "ann", "--room", "c",
                             "--grant", "roomJoin,canSubscribe", "--ttl", "10m", env=env)
    assert rc == 0, err
    claims = kp.verify(out.strip())
    assert claims.identity == "ann" and claims.video.room == "c" and claims.video.roomJoin
    assert claims.video.canSubscribe and not claims.video.canPublish
    assert 500 < claims.expires_at - claims.raw["nbf"] <= 600
    rc, out, err = await run(*cli, "room", "create", "c", "--empty-timeout", "77", "--metadata", "x", "--json",
                             env=env)
    assert rc == 0, err
    assert json.loads(out)["name"] == "c" and server.rooms.manager.get("c").options.empty_timeout == 77
    rc, out, err = await run(*cli, "room", "list", "--json", env=env)
    assert rc == 0 and [r["name"] for r in json.loads(out)] == ["c"]
    rc, out, err = await run(*cli, "dispatch", "list", "--room", "c", "--json", env=env)
    assert rc == 0 and [d.get("agentName", d.get("agent_name", "")) for d in json.loads(out)] == [""], err  # automatic

    class Backend:
        async def create_dispatch(self, req):
            return agent_dispatch.AgentDispatch(id="AD_1", agent_name=req.agent_name, room=req.room,
                                                metadata=req.metadata)

        async def list_dispatch(self, room, dispatch_id=""):
            return [agent_dispatch.AgentDispatch(id="AD_1", agent_name="bot", room=room)]

    monkeypatch.setattr(server.twirp, "agents", Backend())   # what AgentDispatchService calls
    rc, out, err = await run(*cli, "dispatch", "create", "--room", "c", "--agent-name", "bot", "--metadata", "m",
                             "--json", env=env)
    assert rc == 0 and json.loads(out)["agent_name"] == "bot", err
    rc, out, err = await run(*cli, "dispatch", "list", "--room", "c", "--json", env=env)
    assert rc == 0 and [d["id"] for d in json.loads(out)] == ["AD_1"], err
    rc, out, err = await run(*cli, "room", "delete", "c", env=env)
    assert rc == 0 and server.rooms.manager.get("c") is None, err
    rc, out, err = await run(*cli, "room", "delete", "c", env=env)
    assert rc == 1 and "not_found" in err
    rc, out, err = await run(*cli, "room", "list", "--api-secret", "wrong", env=env)
    assert rc == 1 and "unauthenticated" in err
