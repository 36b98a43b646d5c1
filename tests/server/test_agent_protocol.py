"""Agent dispatch through the server: fake workers over a real /agent
WebSocket against an in-process server."""

from __future__ import annotations

import asyncio
import random
import time

import aiohttp
import jwt
import pytest
from livekit.protocol import agent, agent_dispatch
from livekit.protocol import rtc as lk

from helpers.app_server import running_server
from helpers.fake_agent_worker import FakeWorker
from helpers.tokens import kp, token
from helpers.waiting import until
from sfu.auth import VideoGrant

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def server():
    async with running_server(room={"empty_timeout": 30, "departure_timeout": 1}) as srv:
        srv.agents.dispatcher.rng = random.Random(7)      # the weighted choices repeat
        yield srv


def worker_token(**grant) -> str:
    grant.setdefault("agent", True)
    return token(**grant)


def dispatch_req(room: str = "my-room", name: str = "test-agent", metadata: str = "my_job_metadata"):
    return agent_dispatch.CreateAgentDispatchRequest(agent_name=name, room=room, metadata=metadata)


async def test_register_first_then_assignment_with_a_job_token(server):
    async with FakeWorker(server, "test-agent") as w:
        assert w.id.startswith("AW_")
        d = await server.agents.create_dispatch(dispatch_req())
        assert d.id.startswith("AD_") and d.room == "my-room" and d.metadata == "my_job_metadata"
        assert server.rooms.manager.get("my-room") is not None            # the room was created
        await until(lambda: w.assigned, what="assignment")
        a = w.assigned[0]
        assert a.job.id.startswith("AJ_") and a.job.dispatch_id == d.id and a.job.metadata == "my_job_metadata"
        assert a.job.room.name == "my-room" and a.job.agent_name == "test-agent" and a.url == ""
        claims = kp.verify(a.token)
        assert claims.identity == f"agent-{a.job.id}" and claims.kind == "agent"
        v = claims.video
        assert v.roomJoin and v.room == "my-room" and v.agent and v.canPublish and v.canSubscribe
        assert v.canPublishData and v.canUpdateOwnMetadata
        assert claims.attributes["lk.agent.name"] == "test-agent"
        raw = jwt.decode(a.token, options={"verify_signature": False})
        assert 3500 <= raw["exp"] - raw["nbf"] <= 3700
        # only the explicit dispatch: no implicit one in a room created by create_dispatch
        [listed] = await server.agents.list_dispatch("my-room")
        assert listed.id == d.id and listed.state.jobs[0].state.status == agent.JS_RUNNING
        assert listed.state.jobs[0].state.worker_id == w.id
        await w.job_status(a.job.id, agent.JS_SUCCESS)
        await until(lambda: server.agents.dispatcher.jobs[a.job.id].terminal, what="job success")
        [listed] = await server.agents.list_dispatch("my-room", d.id)
        assert listed.state.jobs[0].state.status == agent.JS_SUCCESS
        assert await server.agents.list_dispatch("my-room", "AD_nope") == []


async def test_automatic_dispatch_reaches_only_unnamed_workers(server):
    async with FakeWorker(server, "") as anon, FakeWorker(server, "named") as named:
        async with aiohttp.ClientSession() as s:
            tok = kp.create("devkey", identity="alice", video=VideoGrant(roomJoin=True, room="auto"))
            ws = await s.ws_connect(f"ws://127.0.0.1:{server.settings.port}/rtc?protocol=16",
                                    headers={"Authorization": f"Bearer {tok}"})
            msg = await ws.receive(timeout=5)
            assert lk.SignalResponse.FromString(msg.data).WhichOneof("message") == "join"
            await until(lambda: anon.assigned, what="automatic job")
            assert anon.assigned[0].job.agent_name == "" and anon.assigned[0].job.room.name == "auto"
            assert named.asked == []
            [d] = await server.agents.list_dispatch("auto")
            assert d.agent_name == ""
            await ws.close()


async def test_token_room_config_dispatches_named_agents(server):
    async with FakeWorker(server, "") as anon, FakeWorker(server, "helper") as named:
        tok = kp.create("devkey", identity="bob", video=VideoGrant(roomJoin=True, room="cfg"),
                        roomConfig={"agents": [{"agentName": "helper", "metadata": "from-token"}]})
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"ws://127.0.0.1:{server.settings.port}/rtc?protocol=16",
                                    headers={"Authorization": f"Bearer {tok}"})
            await ws.receive(timeout=5)
            await until(lambda: named.assigned, what="named job")
            assert named.assigned[0].job.metadata == "from-token" and anon.asked == []
            await ws.close()


async def test_full_workers_get_nothing_and_pending_jobs_wait_for_a_worker(server):
    d = await server.agents.create_dispatch(dispatch_req())     # nobody registered yet
    [listed] = await server.agents.list_dispatch("my-room")
    assert listed.state.jobs[0].state.status == agent.JS_PENDING
    async with FakeWorker(server, "test-agent", load=0.9) as w:
        await w.status(agent.WS_FULL, 0.9)
        # it registered available, so it is asked at once; a FULL worker must not be asked again
        await until(lambda: w.assigned, what="job on registration")
        assert w.assigned[0].job.dispatch_id == d.id
        job2 = (await server.agents.create_dispatch(dispatch_req(metadata="second"))).id
        await asyncio.sleep(0.3)
        assert len(w.asked) == 1
        await w.status(agent.WS_AVAILABLE, 0.1)                        # available again: gets the pending job
        await until(lambda: len(w.assigned) == 2, what="pending job after FULL -> AVAILABLE")
        assert w.assigned[1].job.dispatch_id == job2


async def test_decline_and_silence_move_on_to_the_next_worker(server):
    server.agents.availability_timeout = 0.5
    async with FakeWorker(server, "test-agent", answer=False) as no, \
            FakeWorker(server, "test-agent", answer=None) as silent:
        await server.agents.create_dispatch(dispatch_req())
        await until(lambda: no.asked and silent.asked, timeout=3, what="both workers asked")
        await asyncio.sleep(0.1)
        [d] = await server.agents.list_dispatch("my-room")
        assert d.state.jobs[0].state.status == agent.JS_PENDING    # nobody took it: pending
        async with FakeWorker(server, "test-agent") as yes:         # a new worker gets it
            await until(lambda: yes.assigned, what="assignment to the new worker")
            assert not no.assigned and not silent.assigned


async def test_a_declined_job_is_offered_again_after_a_pause(server):
    """livekit-agents declines while the processes it reserved start, and reports no status change
    when it has room again: the job is offered again (0.5 s, 1 s, 2 s, then every 5 s)"""
    async with FakeWorker(server, "test-agent", answer=False) as w:
        t0 = time.monotonic()
        await server.agents.create_dispatch(dispatch_req())
        await until(lambda: len(w.asked) >= 2, timeout=3, what="the job offered again")
        assert 0.4 < time.monotonic() - t0 and not w.assigned
        [d] = await server.agents.list_dispatch("my-room")
        assert d.state.jobs[0].state.status == agent.JS_PENDING
        w.answer = True                               # room again, without a status report
        await until(lambda: w.assigned, timeout=5, what="the job taken on a later offer")
        assert w.assigned[0].job.id == w.asked[0].id and len(w.asked) >= 3


async def test_a_worker_registering_during_the_pause_gets_the_job_at_once(server):
    async with FakeWorker(server, "test-agent", answer=False) as no:
        await server.agents.create_dispatch(dispatch_req())
        await until(lambda: len(no.asked) >= 3, timeout=5, what="the job offered three times")   # pause now 2 s
        t0 = time.monotonic()
        async with FakeWorker(server, "test-agent") as yes:
            await until(lambda: yes.assigned, timeout=3, what="assignment to the new worker")
            assert time.monotonic() - t0 < 1.0              # not after the rest of the pause
            assert not no.assigned


async def test_worker_disconnect_redispatches_its_jobs(server):
    w1 = await FakeWorker(server, "test-agent").__aenter__()
    await server.agents.create_dispatch(dispatch_req())
    await until(lambda: w1.assigned, what="first assignment")
    job_id = w1.assigned[0].job.id
    async with FakeWorker(server, "test-agent") as w2:
        await w1.close()
        await until(lambda: w2.assigned, what="re-dispatch")
        assert w2.assigned[0].job.id == job_id
        [d] = await server.agents.list_dispatch("my-room")
        assert d.state.jobs[0].state.worker_id == w2.id


async def test_delete_dispatch_and_room_close_terminate_jobs(server):
    async with FakeWorker(server, "test-agent") as w:
        d = await server.agents.create_dispatch(dispatch_req())
        await until(lambda: w.assigned, what="assignment")
        gone = await server.agents.delete_dispatch(d.id, "my-room")
        assert gone.state.deleted_at > 0 and gone.state.jobs[0].state.status == agent.JS_CANCELLED
        await until(lambda: w.terminated == [w.assigned[0].job.id], what="termination")
        assert await server.agents.list_dispatch("my-room") == []
        with pytest.raises(Exception, match="not found"):
            await server.agents.delete_dispatch(d.id, "my-room")
        await server.agents.create_dispatch(dispatch_req(metadata="again"))
        await until(lambda: len(w.assigned) == 2, what="second assignment")
        await server.rooms.manager.get("my-room").close()
        assert await server.agents.list_dispatch("my-room") == []
        # a room of the same name right after: its dispatch is its own
        d3 = await server.agents.create_dispatch(dispatch_req(metadata="new room"))
        await until(lambda: len(w.terminated) == 2 and len(w.assigned) == 3, what="termination on room close")
        assert [x.id for x in await server.agents.list_dispatch("my-room")] == [d3.id]
        assert w.assigned[2].job.dispatch_id == d3.id and w.terminated[1] == w.assigned[1].job.id


async def test_participant_jobs_for_participant_workers(server):
    async with FakeWorker(server, "", job_type=agent.JT_PARTICIPANT) as w:
        tok = kp.create("devkey", identity="carol", video=VideoGrant(roomJoin=True, room="pj"))
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"ws://127.0.0.1:{server.settings.port}/rtc?protocol=16",
                                    headers={"Authorization": f"Bearer {tok}"})
            await ws.receive(timeout=5)
            await until(lambda: w.assigned, what="participant job")
            job = w.assigned[0].job
            assert job.type == agent.JT_PARTICIPANT and job.participant.identity == "carol"
            await ws.close()


async def test_bad_workers_are_refused(server):
    url = f"ws://127.0.0.1:{server.settings.port}/agent"
    async with aiohttp.ClientSession() as s:
        for tok, status in ((None, 401), ("garbage", 401), (worker_token(agent=False, roomJoin=True), 403)):
            headers = {"Authorization": f"Bearer {tok}"} if tok else {}
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await s.ws_connect(url, headers=headers)
            assert e.value.status == status
        hdr = {"Authorization": f"Bearer {worker_token()}"}
        # no register in time: closed
        server.agents.register_timeout = 0.3
        ws = await s.ws_connect(url, headers=hdr)
        msg = await ws.receive(timeout=3)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 1008
        # something else first: closed
        ws = await s.ws_connect(url, headers=hdr)
        await ws.send_bytes(agent.WorkerMessage(ping=agent.WorkerPing(timestamp=1)).SerializeToString())
        msg = await ws.receive(timeout=3)
        assert ws.close_code == 1008
        # garbage after registering: closed with 1003, worker unregistered
        ws = await s.ws_connect(url, headers=hdr)
        reg = agent.WorkerMessage(register=agent.RegisterWorkerRequest(agent_name="g"))
        await ws.send_bytes(reg.SerializeToString())
        await ws.receive(timeout=3)
        assert len(server.agents.dispatcher.workers) == 1
        await ws.send_bytes(b"\xff\xfe garbage")
        msg = await ws.receive(timeout=3)
        assert ws.close_code == 1003
        await until(lambda: not server.agents.dispatcher.workers, what="unregister")
        # protobuf JSON text frames work too, with JSON answers
        ws = await s.ws_connect(url, headers=hdr)
        await ws.send_str('{"register": {"agentName": "json-agent"}}')
        msg = await ws.receive(timeout=3)
        assert msg.type == aiohttp.WSMsgType.TEXT and '"workerId": "AW_' in msg.data
        await ws.send_str('{"ping": {"timestamp": "42"}}')
        msg = await ws.receive(timeout=3)
        assert '"lastTimestamp": "42"' in msg.data
        await ws.close()


async def test_weighted_choice_over_the_wire(server):
    loads = (0.0, 0.5, 0.75)
    async with FakeWorker(server, "w", load=loads[0]) as a, FakeWorker(server, "w", load=loads[1]) as b, \
            FakeWorker(server, "w", load=loads[2]) as c, FakeWorker(server, "w") as full:
        await full.status(agent.WS_FULL, 0.0)
        reg = server.agents.dispatcher.workers
        await until(lambda: [reg[w.id].load for w in (a, b, c)] == list(loads) and
                    reg[full.id].status == agent.WS_FULL, what="load reports")
        n = 400
        for i in range(n):
            await server.agents.create_dispatch(dispatch_req(room="busy", name="w", metadata=str(i)))
        await until(lambda: len(a.assigned) + len(b.assigned) + len(c.assigned) == n, what="all assigned")
        assert full.asked == []
        shares = [len(w.assigned) / n for w in (a, b, c)]
        for got, want in zip(shares, (4 / 7, 2 / 7, 1 / 7)):
            assert abs(got - want) < 0.06, shares


async def test_agent_participant_is_removed_when_it_ignores_termination(server, monkeypatch):
    from sfu.agents import service as agent_service
    monkeypatch.setattr(agent_service, "LEAVE_GRACE", 0.5)
    async with FakeWorker(server, "test-agent") as w:
        d = await server.agents.create_dispatch(dispatch_req())
        await until(lambda: w.assigned, what="assignment")
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"ws://127.0.0.1:{server.settings.port}/rtc?protocol=16",
                                    headers={"Authorization": f"Bearer {w.assigned[0].token}"})
            join = lk.SignalResponse.FromString((await ws.receive(timeout=5)).data).join
            from livekit.protocol import models
            assert join.participant.kind == models.ParticipantInfo.AGENT
            assert join.participant.attributes["lk.agent.name"] == "test-agent"
            room = server.rooms.manager.get("my-room")
            p = room.participants[join.participant.identity]
            assert p.dependent and room.should_close(time.time() + 3600)   # agents keep no room open
            await server.agents.delete_dispatch(d.id, "my-room")
            await until(lambda: join.participant.identity not in room.participants, timeout=3,
                        what="agent removed after the grace period")
            await ws.close()


async def test_publisher_jobs_once_per_participant_and_failed_jobs_recorded(server):
    from types import SimpleNamespace
    async with FakeWorker(server, "", job_type=agent.JT_PUBLISHER) as w:
        tok = kp.create("devkey", identity="dora", video=VideoGrant(roomJoin=True, room="pub"))
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"ws://127.0.0.1:{server.settings.port}/rtc?protocol=16",
                                    headers={"Authorization": f"Bearer {tok}"})
            await ws.receive(timeout=5)
            room = server.rooms.manager.get("pub")
            dora = room.participants["dora"]
            await asyncio.sleep(0.2)
            assert w.asked == []                       # joining alone starts no publisher job
            # (media-free stand-in for the room's event when her first track carries packets)
            room.emit("track_published", SimpleNamespace(participant=dora))
            room.emit("track_published", SimpleNamespace(participant=dora))   # second track: no new job
            await until(lambda: w.assigned, what="publisher job")
            await asyncio.sleep(0.2)
            assert len(w.asked) == 1
            job = w.assigned[0].job
            assert job.type == agent.JT_PUBLISHER and job.participant.identity == "dora"
            await w.send(agent.WorkerMessage(update_job=agent.UpdateJobStatus(
                job_id=job.id, status=agent.JS_FAILED, error="boom")))
            await until(lambda: server.agents.dispatcher.jobs[job.id].terminal, what="failed job")
            [d] = await server.agents.list_dispatch("pub")
            [listed] = [j for j in d.state.jobs if j.id == job.id]
            assert listed.state.status == agent.JS_FAILED and listed.state.error == "boom"
            await ws.close()
