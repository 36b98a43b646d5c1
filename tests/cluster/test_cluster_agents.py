"""Agent dispatch across nodes: 2-3 `sfu serve --redis` processes and a real
redis-server; protocol-level agent workers (helpers.fake_agent_worker.FakeWorker)
connected to one node get the jobs of rooms another node hosts."""

from __future__ import annotations

import asyncio
import signal
import time

import orjson
import pytest
from livekit.protocol import agent, models

from helpers.fake_agent_worker import FakeWorker
from helpers.server_process import ServerProcess
from helpers.signal_client import SignalClient
from helpers.tokens import kp
from helpers.waiting import until
from sfu.api.client import AgentDispatchClient, RoomClient
from sfu.cluster.registry import AGENT_WORKERS, HEARTBEAT, STALE
from sfu.cluster.room_map import ROOM_NODE

FAILOVER_BOUND = STALE + HEARTBEAT + 1.0      # documented: a killed node is gone within 8 s

pytestmark = pytest.mark.timeout(25)


def worker(node: ServerProcess, name: str) -> FakeWorker:
    return FakeWorker(node, name)


def dispatcher(node: ServerProcess) -> AgentDispatchClient:
    return AgentDispatchClient(f"http://127.0.0.1:{node.port}", "devkey", "secret")


def rooms(node: ServerProcess) -> RoomClient:
    return RoomClient(f"http://127.0.0.1:{node.port}", "devkey", "secret")


async def advertised(r, node: ServerProcess) -> dict[str, dict]:
    raw = await r.hget(AGENT_WORKERS, node.id)
    return {w["id"]: w for w in orjson.loads(raw)["workers"]} if raw else {}


async def test_worker_on_a_gets_jobs_of_a_room_on_b_and_its_agent_joins_through_a(nodes, r):
    a, b = nodes
    await r.hset(ROOM_NODE, "xa-room", b.id)
    async with worker(a, "xa-agent") as w:
        await until(lambda: _has(r, a, w.id), 5, "worker advertised")
        async with dispatcher(a) as da, dispatcher(b) as db:
            d1 = await da.create_dispatch("xa-room", "xa-agent", metadata="meta-from-a")   # forwarded to B
            await until(lambda: len(w.assigned) == 1, 10, "assignment of the dispatch created on A")
            d2 = await db.create_dispatch("xa-room", "xa-agent", metadata="meta-from-b")
            await until(lambda: len(w.assigned) == 2, 10, "assignment of the dispatch created on B")
        j1, j2 = w.assigned[0], w.assigned[1]
        assert [x.job.room.name for x in (j1, j2)] == ["xa-room", "xa-room"]
        assert (j1.job.dispatch_id, j1.job.metadata) == (d1.id, "meta-from-a")
        assert (j2.job.dispatch_id, j2.job.metadata) == (d2.id, "meta-from-b")
        assert j1.job.agent_name == "xa-agent" and j1.job.state.worker_id == w.id
        assert j1.job.state.status == agent.JS_RUNNING
        assert [x.id for x in w.asked] == [j1.job.id, j2.job.id]      # one handshake each
        claims = kp.verify(j1.token)
        assert claims.kind == "agent" and claims.video.room == "xa-room" and claims.video.agent

        # the job token joins through A (the node the worker is on); the room is on B
        url = f"ws://127.0.0.1:{a.port}/rtc?protocol=16&sdk=python"
        async with SignalClient(url, j1.token) as ag:
            join = (await ag.next("join")).join
            assert join.server_info.node_id == b.id
            async with rooms(b) as rb:
                [p] = await rb.list_participants("xa-room")
            assert p.identity == f"agent-{j1.job.id}" and p.kind == models.ParticipantInfo.AGENT
            assert p.attributes["lk.agent.name"] == "xa-agent"

            # the host owns the job state: it sees the assignment and the worker's reports
            async with dispatcher(a) as da:
                listed = {x.id: x for x in await da.list_dispatch("xa-room")}
                s1 = listed[d1.id].state.jobs[0].state
                assert s1.status == agent.JS_RUNNING and s1.worker_id == w.id
                assert s1.participant_identity == p.identity
                await w.job_status(j2.job.id, agent.JS_SUCCESS)
                await until(lambda: _job_status(da, d2.id, agent.JS_SUCCESS), 5, "job success on B")

                # DeleteDispatch (through A, run on B): the termination reaches the worker on A
                gone = await da.delete_dispatch(d1.id, "xa-room")
                assert gone.state.jobs[0].state.status == agent.JS_CANCELLED
                await until(lambda: w.terminated == [j1.job.id], 5, "termination on A")
            # the agent ignores it: the host removes it after the grace period
            assert (await ag.next("leave", timeout=8)).leave is not None
        assert w.terminated == [j1.job.id]           # the finished job is not terminated


async def _has(r, node: ServerProcess, wid: str) -> bool:
    return wid in await advertised(r, node)


async def _job_status(client: AgentDispatchClient, dispatch_id: str, status: int) -> bool:
    [d] = await client.list_dispatch("xa-room", dispatch_id)
    return d.state.jobs[0].state.status == status


async def test_worker_leaving_mid_job_on_a_its_job_goes_to_a_worker_on_b(nodes, r):
    a, b = nodes
    await r.hset(ROOM_NODE, "xb-room", b.id)
    w1 = await worker(a, "xb-agent").__aenter__()
    try:
        await until(lambda: _has(r, a, w1.id), 5, "worker advertised")
        async with dispatcher(b) as db:
            d = await db.create_dispatch("xb-room", "xb-agent", metadata="m")
            await until(lambda: w1.assigned, 10, "assignment on A")
            job_id = w1.assigned[0].job.id
            async with worker(b, "xb-agent") as w2:
                await w1.close()
                await until(lambda: w2.assigned, 10, "re-dispatch to the worker on B")
                assert w2.assigned[0].job.id == job_id and w2.assigned[0].job.metadata == "m"
                [listed] = await db.list_dispatch("xb-room", d.id)
                assert listed.state.jobs[0].state.worker_id == w2.id
                assert not await _has(r, a, w1.id)
    finally:
        if not w1.ws.closed:
            await w1.close()


async def test_full_worker_on_a_is_skipped_until_available(nodes, r):
    a, b = nodes
    await r.hset(ROOM_NODE, "xc-room", b.id)
    async with worker(a, "xc-agent") as wa:
        await wa.status(agent.WS_FULL, 0.0)
        await until(lambda: _status(r, a, wa.id, agent.WS_FULL), 5, "FULL advertised")
        async with worker(b, "xc-agent") as wb, dispatcher(a) as da:
            for i in range(6):
                await da.create_dispatch("xc-room", "xc-agent", metadata=str(i))
            await until(lambda: len(wb.assigned) == 6, 10, "six assignments on B")
            for x in wb.assigned:           # done: nothing to re-dispatch when wb leaves
                await wb.job_status(x.job.id, agent.JS_SUCCESS)
            await asyncio.sleep(0.2)
        assert wa.asked == []                     # 1/64 if FULL were not skipped
        await until(lambda: _has_not(r, b, wb.id), 5, "worker on B gone")
        async with dispatcher(a) as da:
            d = await da.create_dispatch("xc-room", "xc-agent", metadata="waits")
            await asyncio.sleep(1.0)
            assert wa.asked == []
            [listed] = await da.list_dispatch("xc-room", d.id)
            assert listed.state.jobs[0].state.status == agent.JS_PENDING
            await wa.status(agent.WS_AVAILABLE, 0.0)     # the pending job goes to it now
            await until(lambda: wa.assigned, 5, "assignment once available")
            assert [x.job.dispatch_id for x in wa.assigned] == [d.id] and wa.assigned[0].job.metadata == "waits"


async def _no_ad(r, node: ServerProcess) -> bool:
    return await r.hget(AGENT_WORKERS, node.id) is None


async def _status(r, node: ServerProcess, wid: str, status: int) -> bool:
    return (await advertised(r, node)).get(wid, {}).get("status") == status


async def _has_not(r, node: ServerProcess, wid: str) -> bool:
    return wid not in await advertised(r, node)


@pytest.mark.timeout(30)
async def test_jobs_of_a_killed_workers_node_go_to_another_worker(nodes, r, redis_proc):
    a, b = nodes
    c = ServerProcess(redis=redis_proc.url)
    try:
        c.ready()
        await r.hset(ROOM_NODE, "xd-room", b.id)
        async with worker(c, "xd-agent") as wc:
            async with dispatcher(b) as db:
                await until(lambda: _has(r, c, wc.id), 5, "worker advertised")
                d = await db.create_dispatch("xd-room", "xd-agent")
                await until(lambda: wc.assigned, 10, "assignment on C")
                async with worker(a, "xd-agent") as wa:
                    t0 = time.monotonic()
                    c.stop(signal.SIGKILL)
                    await until(lambda: wa.assigned, FAILOVER_BOUND + 3, "re-dispatch after node C died")
                    assert time.monotonic() - t0 < FAILOVER_BOUND + 3
                    assert wa.assigned[0].job.id == wc.assigned[0].job.id
                    [listed] = await db.list_dispatch("xd-room", d.id)
                    assert listed.state.jobs[0].state.worker_id == wa.id
                    await until(lambda: _no_ad(r, c), HEARTBEAT + 1, "dead node's workers pruned")
            wc.reader.cancel()
    finally:
        c.stop(signal.SIGKILL)
