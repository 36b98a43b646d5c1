"""Signalling without media: join, JoinResponse, ping, updates, leave, room
lifetime, duplicate identities, grants, malformed requests (protobuf over a
real WebSocket to an in-process server)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import time

import aiohttp
import pytest
from livekit.protocol import models
from livekit.protocol import rtc as lk

from helpers.app_server import server_fixture
from helpers.signal_client import Client
from helpers.tokens import join_token, kp
from sfu.auth import VideoGrant
from sfu.rooms.server_info import LIVEKIT_FEATURE_LEVEL

server = server_fixture(room={"empty_timeout": 2, "departure_timeout": 1, "max_participants": 3})


def tok(identity: str, room: str = "r", metadata: str = "", **grant) -> str:
    return join_token(identity, room, name=identity.upper(), metadata=metadata, **grant)


async def test_join_response_has_what_clients_need(server):
    async with Client(server, tok("alice", metadata="m")) as a:
        j = (await a.next("join")).join
        assert j.room.name == "r" and j.room.sid.startswith("RM_")
        assert j.participant.identity == "alice" and j.participant.sid.startswith("PA_")
        assert j.participant.name == "ALICE" and j.participant.metadata == "m"
        assert j.participant.permission.can_publish and j.participant.permission.can_subscribe
        assert j.ping_interval > 0 and j.ping_timeout > j.ping_interval
        assert j.server_info.protocol > 0 and j.server_version
        # the LiveKit feature level clients gate on (RPC needs >= 1.8.0), ours in debug_info
        assert j.server_version == j.server_info.version == LIVEKIT_FEATURE_LEVEL
        assert j.server_info.debug_info.startswith("sfu ")
        assert j.subscriber_primary
        offer = (await a.next("offer")).offer   # the subscriber PC starts with a data channel
        assert offer.type == "offer" and "m=application" in offer.sdp and "a=ice-lite" in offer.sdp
        await a.send(lk.SignalRequest(ping_req=lk.Ping(timestamp=42)))
        assert (await a.next("pong_resp")).pong_resp.last_ping_timestamp == 42
        await a.send(lk.SignalRequest(ping=7))
        assert abs((await a.next("pong")).pong - time.time() * 1000) < 5000


async def test_updates_duplicate_identity_and_leave(server):
    async with Client(server, tok("alice")) as a:
        await a.next("join")
        async with Client(server, tok("bob")) as b:
            jb = (await b.next("join")).join
            assert [p.identity for p in jb.other_participants] == ["alice"]
            up = (await a.next("update")).update
            assert [p.identity for p in up.participants] == ["bob"]
            # a second connection with bob's identity replaces the first
            async with Client(server, tok("bob")) as b2:
                await b2.next("join")
                leave = (await b.next("leave")).leave
                assert leave.reason == models.DisconnectReason.DUPLICATE_IDENTITY
                await b2.send(lk.SignalRequest(leave=lk.LeaveRequest(reason=models.DisconnectReason.CLIENT_INITIATED)))
                for _ in range(5):
                    up = (await a.next("update")).update
                    if any(p.identity == "bob" and p.state == models.ParticipantInfo.DISCONNECTED
                           for p in up.participants):
                        break
                else:
                    raise AssertionError("no DISCONNECTED update for bob")
        room = server.rooms.manager.get("r")
        assert room is not None and list(room.participants) == ["alice"]


async def test_hidden_participant_is_not_announced(server):
    async with Client(server, tok("alice")) as a:
        await a.next("join")
        async with Client(server, tok("ghost", hidden=True)) as g:
            await g.next("join")
            async with Client(server, tok("bob")) as b:
                jb = (await b.next("join")).join
                assert [p.identity for p in jb.other_participants] == ["alice"]
                up = (await a.next("update")).update
                assert [p.identity for p in up.participants] == ["bob"]


async def test_room_closes_after_departure_and_empty_timeouts(server):
    mgr = server.rooms.manager
    async with Client(server, tok("alice", room="dep")) as a:
        await a.next("join")
        assert mgr.get("dep") is not None
        # an agent does not keep the room open
        async with Client(server, tok("agent-1", room="dep", agent=True)) as ag:
            await ag.next("join")
            await a.send(lk.SignalRequest(leave=lk.LeaveRequest()))
            await asyncio.sleep(0.3)
            assert mgr.get("dep") is not None           # departure_timeout (1 s) not over yet
            await asyncio.sleep(2.0)
            assert mgr.get("dep") is None
            leave = (await ag.next("leave")).leave       # the agent is told the room closed
            assert leave.reason == models.DisconnectReason.ROOM_CLOSED
    room, created = mgr.create("never-joined")
    assert created
    await asyncio.sleep(3.2)                              # empty_timeout 2 s
    assert mgr.get("never-joined") is None


async def test_join_refusals(server):
    port = server.settings.port
    async with aiohttp.ClientSession() as s:
        for token, status in ((tok("x", roomJoin=False, roomAdmin=True), 401),
                              (kp.create("devkey", identity="", video=VideoGrant(roomJoin=True, room="r")), 400),
                              ("garbage", 401)):
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await s.ws_connect(f"ws://127.0.0.1:{port}/rtc", headers={"Authorization": f"Bearer {token}"})
            assert e.value.status == status
        async with s.get(f"http://127.0.0.1:{port}/rtc/validate", headers={"Authorization": "Bearer garbage"}) as r:
            assert r.status == 401 and "malformed" in await r.text()
        # /rtc/v1 needs its join_request; a plain GET is not a signal connection
        async with s.get(f"http://127.0.0.1:{port}/rtc/v1", headers={"Upgrade": "websocket",
                                                                    "Authorization": f"Bearer {tok('x')}"}) as r:
            assert r.status == 400 and "join_request" in await r.text()
        async with s.get(f"http://127.0.0.1:{port}/rtc/v1") as r:
            assert r.status == 404
    # max_participants = 3
    async with Client(server, tok("p1", room="full")) as c1, Client(server, tok("p2", room="full")) as c2, \
            Client(server, tok("p3", room="full")) as c3:
        for c in (c1, c2, c3):
            await c.next("join")
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await s.ws_connect(f"ws://127.0.0.1:{port}/rtc", headers={"Authorization": f"Bearer {tok('p4', room='full')}"})
            assert e.value.status == 503


async def test_bad_requests_get_errors_and_leave_others_alone(server):
    async with Client(server, tok("alice")) as a, Client(server, tok("mallory")) as m:
        await a.next("join")
        await m.next("join")
        # an add_track without the grant
        async with Client(server, tok("viewer", canPublish=False)) as v:
            await v.next("join")
            await v.send(lk.SignalRequest(add_track=lk.AddTrackRequest(cid="c1", type=models.TrackType.AUDIO)))
            rr = (await v.next("request_response")).request_response
            assert rr.reason == lk.RequestResponse.NOT_ALLOWED
        # an answer nobody asked for, and an unparseable one
        await m.send(lk.SignalRequest(answer=lk.SessionDescription(type="answer", sdp="v=0\r\nbroken", id=99)))
        rr = (await m.next("request_response")).request_response
        assert rr.reason == lk.RequestResponse.INVALID_REQUEST
        # undecodable bytes close mallory's connection with 1003 ...
        await m.ws.send_bytes(b"\x0a\xff\xff\xff\xff\xff")
        leave = (await m.next("leave")).leave
        assert leave.reason == models.DisconnectReason.STATE_MISMATCH
        msg = await m.ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and m.ws.close_code == 1003
        # ... and alice's session is untouched
        await a.send(lk.SignalRequest(ping_req=lk.Ping(timestamp=5)))
        assert (await a.next("pong_resp")).pong_resp.last_ping_timestamp == 5


async def test_refresh_token_ping_timeout_and_resume(server, monkeypatch):
    import sfu.rooms.session as session
    monkeypatch.setattr(session, "PING_TIMEOUT", 2)
    async with Client(server, tok("alice")) as a:
        sid = (await a.next("join")).join.participant.sid
        fresh = (await a.next("refresh_token")).refresh_token
        claims = kp.verify(fresh)
        assert claims.identity == "alice" and claims.video.room == "r" and claims.video.roomJoin
        assert 500 < claims.expires_at - time.time() <= 600
        # no pings: the server drops the signal connection but keeps the participant
        msg = await a.ws.receive(timeout=6)
        while msg.type == aiohttp.WSMsgType.BINARY:
            msg = await a.ws.receive(timeout=6)
        assert a.ws.close_code == 1000
    room = server.rooms.manager.get("r")
    assert room is not None and "alice" in room.participants
    # resume with the participant sid: ReconnectResponse, then the room state again
    async with Client(server, tok("alice"), query=f"protocol=16&reconnect=1&sid={sid}") as a2:
        rec = await a2.next("reconnect")
        assert rec.reconnect.server_info.protocol > 0
        up = (await a2.next("update")).update
        assert [p.sid for p in up.participants] == [sid]
    # resuming someone who is gone is refused with leave(RECONNECT)
    async with Client(server, tok("nobody"), query="protocol=16&reconnect=1&sid=PA_missing") as n:
        leave = (await n.next("leave")).leave
        assert leave.action == lk.LeaveRequest.RECONNECT and leave.reason == models.DisconnectReason.STATE_MISMATCH


async def test_v1_join_with_offer_gets_join_then_answer(server):
    """/rtc/v1: the publisher offer rides in the gzip'ed join request; the answer pairs with its id"""
    import pathlib

    offer = (pathlib.Path(__file__).parents[1] / "data" / "sdp" / "livekit_publisher_offer.sdp").read_text()
    jr = lk.JoinRequest(publisher_offer=lk.SessionDescription(type="offer", sdp=offer, id=1))
    jr.client_info.protocol = 18
    jr.connection_settings.auto_subscribe = True
    wrapped = lk.WrappedJoinRequest(compression=lk.WrappedJoinRequest.GZIP,
                                    join_request=gzip.compress(jr.SerializeToString()))
    q = "join_request=" + base64.urlsafe_b64encode(wrapped.SerializeToString()).decode()
    url = f"ws://127.0.0.1:{server.settings.port}/rtc/v1?{q}"
    async with aiohttp.ClientSession() as s:
        ws = await s.ws_connect(url, headers={"Authorization": f"Bearer {tok('v1user')}"})
        msgs = []
        while len(msgs) < 2:
            m = await ws.receive(timeout=5)
            r = lk.SignalResponse.FromString(m.data)
            if r.WhichOneof("message") in ("join", "answer"):
                msgs.append(r)
        join, answer = msgs
        assert join.WhichOneof("message") == "join" and not join.join.subscriber_primary
        assert answer.answer.type == "answer" and answer.answer.id == 1
        assert "a=ice-lite" in answer.answer.sdp and "a=setup:active" in answer.answer.sdp
        assert dict(answer.answer.mid_to_track_id) == {}
        # no subscriber offer in single-PC mode
        with pytest.raises(asyncio.TimeoutError):
            while True:
                m = await ws.receive(timeout=1.0)
                assert lk.SignalResponse.FromString(m.data).WhichOneof("message") != "offer"
        await ws.close()


async def test_validate_answers_like_the_path_it_validates():
    """livekit-client asks /rtc/v1/validate why /rtc/v1 failed: a 404 without "requested room does
    not exist" makes it fall back to /rtc; so validate must say 404 when /rtc/v1 is not served, and
    a missing room must be told in LiveKit's words (else the client would fall back for it)"""
    from helpers.app_server import running_server
    join = lk.JoinRequest()
    join.client_info.protocol = 16
    jr = lk.WrappedJoinRequest(join_request=join.SerializeToString())
    q = "join_request=" + base64.urlsafe_b64encode(jr.SerializeToString()).decode()
    for single_pc in (False, True):
        async with running_server(single_pc=single_pc, room={"auto_create": False}) as srv, \
                aiohttp.ClientSession() as s:
            base = f"http://127.0.0.1:{srv.settings.port}"
            auth = {"Authorization": f"Bearer {tok('x', roomCreate=True)}"}
            async with s.get(f"{base}/rtc/v1/validate?{q}", headers=auth) as r:
                assert (r.status, await r.text()) == ((200, "success") if single_pc else
                                                      (404, "single peer connection signalling not enabled"))
            async with s.get(f"{base}/rtc/v1", headers=auth) as r:     # served: not a WebSocket upgrade
                assert (r.status, await r.text()) == (404, "WebSocket upgrade required" if single_pc else
                                                      "single peer connection signalling not enabled")
            async with s.get(f"{base}/rtc/validate", headers=auth) as r:
                assert (r.status, await r.text()) == (200, "success")
            no_create = {"Authorization": f"Bearer {tok('x')}"}
            async with s.get(f"{base}/rtc/validate", headers=no_create) as r:
                assert r.status == 404 and "requested room does not exist" in await r.text()


async def test_sync_state_applies_subscriptions_and_refuses_unknown_published_tracks(server):
    """a resuming client's SyncState, as LiveKit takes it: its subscriptions and disabled tracks
    are applied; a published track the server does not know asks for a full reconnect"""
    async with Client(server, tok("alice")) as a:
        await a.next("join")
        p = server.rooms.manager.get("r").participants["alice"]
        calls = []

        async def record_sub(req):
            calls.append(("subscription", list(req.track_sids), req.subscribe))

        async def record_settings(req):
            calls.append(("settings", list(req.track_sids), req.disabled))
        p.update_subscription, p.update_track_settings = record_sub, record_settings
        await a.send(lk.SignalRequest(sync_state=lk.SyncState(
            subscription=lk.UpdateSubscription(track_sids=["TR_a"], subscribe=False),
            track_sids_disabled=["TR_b"])))
        await a.send(lk.SignalRequest(ping_req=lk.Ping(timestamp=1)))
        await a.next("pong_resp")                       # handled in order: the sync state before it
        assert calls == [("settings", ["TR_b"], True), ("subscription", ["TR_a"], False)], calls
        await a.send(lk.SignalRequest(sync_state=lk.SyncState(publish_tracks=[
            lk.TrackPublishedResponse(cid="mic", track=models.TrackInfo(sid="TR_unknown"))])))
        leave = (await a.next("leave")).leave
        assert leave.action == lk.LeaveRequest.RECONNECT and leave.reason == models.DisconnectReason.STATE_MISMATCH
