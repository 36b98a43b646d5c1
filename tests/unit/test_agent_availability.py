"""The availability handshake with one agent worker (sfu.agents.availability) and the job token
its acceptance leads to (sfu.agents.tokens), without a server: a WorkerConnection over a
stand-in WebSocket that records what is sent."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from livekit.protocol import agent, models

from sfu import auth
from sfu.agents import availability
from sfu.agents.availability import Verdict
from sfu.agents.dispatcher import WorkerInfo
from sfu.agents.tokens import AGENT_NAME_ATTRIBUTE, JOB_TOKEN_TTL, job_token
from sfu.agents.worker_connection import WorkerConnection


class RecordingWs:
    """the part of aiohttp's WebSocketResponse a WorkerConnection uses"""

    def __init__(self, fail: bool = False) -> None:
        self.closed = False
        self.fail = fail
        self.sent: list[agent.ServerMessage] = []

    async def send_bytes(self, data: bytes) -> None:
        if self.fail:
            raise ConnectionError("gone")
        self.sent.append(agent.ServerMessage.FromString(data))

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        self.closed = True


def request(job_id: str = "AJ_1") -> agent.AvailabilityRequest:
    return agent.AvailabilityRequest(job=agent.Job(id=job_id, room=models.Room(name="r")))


def test_judge():
    assert availability.judge(None, "AJ_1") == availability.Answer(Verdict.DECLINED)
    no = agent.AvailabilityResponse(job_id="AJ_1", available=False, participant_identity="x")
    assert availability.judge(no, "AJ_1").verdict is Verdict.DECLINED
    done = agent.AvailabilityResponse(job_id="AJ_1", available=True, terminate=True)
    assert availability.judge(done, "AJ_1") == availability.Answer(Verdict.FINISHED)
    yes = agent.AvailabilityResponse(job_id="AJ_1", available=True)
    assert availability.judge(yes, "AJ_1") == availability.Answer(Verdict.ACCEPTED, "agent-AJ_1")
    named = agent.AvailabilityResponse(job_id="AJ_1", available=True, participant_identity="bot")
    assert availability.judge(named, "AJ_1").identity == "bot"


async def test_ask_sends_the_request_and_returns_the_answer():
    ws = RecordingWs()
    conn = WorkerConnection(ws, "test")
    task = asyncio.ensure_future(availability.ask(conn, request(), 5.0, "AW_1"))
    await asyncio.sleep(0)
    assert [m.WhichOneof("message") for m in ws.sent] == ["availability"]
    assert ws.sent[0].availability.job.id == "AJ_1" and "AJ_1" in conn.answers
    availability.answered(conn, agent.AvailabilityResponse(job_id="AJ_other", available=True))   # not for it
    assert not task.done()
    resp = agent.AvailabilityResponse(job_id="AJ_1", available=True, participant_identity="bot")
    availability.answered(conn, resp)
    assert await task == resp
    assert conn.answers == {}
    availability.answered(conn, resp)          # a repeated answer finds nobody waiting: ignored


async def test_ask_times_out(caplog):
    conn = WorkerConnection(RecordingWs(), "test")
    with caplog.at_level(logging.INFO, "sfu.agents"):
        assert await availability.ask(conn, request(), 0.05, "AW_1") is None
    assert conn.answers == {}
    assert "did not answer availability for job AJ_1" in caplog.text


async def test_ask_does_not_wait_when_the_request_cannot_be_sent():
    conn = WorkerConnection(RecordingWs(fail=True), "test")
    start = time.monotonic()
    assert await availability.ask(conn, request(), 30.0, "AW_1") is None
    assert time.monotonic() - start < 1.0 and conn.answers == {}


@pytest.mark.parametrize("end", ["withdraw", "close"])
async def test_a_withdrawn_answer_or_a_closing_connection_ends_the_wait(end):
    conn = WorkerConnection(RecordingWs(), "test")
    task = asyncio.ensure_future(availability.ask(conn, request(), 30.0, "AW_1"))
    await asyncio.sleep(0)
    if end == "withdraw":
        availability.withdraw(conn, "AJ_1")
    else:
        await conn.close(1000, "bye")
    assert await asyncio.wait_for(task, 1.0) is None
    assert conn.answers == {}


async def test_assign_sends_the_job_and_its_token():
    ws = RecordingWs()
    conn = WorkerConnection(ws, "test")
    job = request().job
    assert await availability.assign(conn, job, "TOKEN")
    [msg] = ws.sent
    assert msg.assignment.job.id == "AJ_1" and msg.assignment.token == "TOKEN"
    assert not await availability.assign(WorkerConnection(RecordingWs(fail=True), "t"), job, "TOKEN")


def test_job_token():
    keys = auth.KeyProvider({"k1": "s" * 32})
    w = WorkerInfo(id="AW_1", api_key="k1",
                   permissions=models.ParticipantPermission(can_subscribe=True, can_publish=False, hidden=True))
    resp = agent.AvailabilityResponse(job_id="AJ_1", available=True, participant_name="Bot",
                                      participant_metadata="m", participant_attributes={"a": "1"})
    claims = keys.verify(job_token(keys, "room1", "helper", w, resp, "bot"))
    assert claims.api_key == "k1" and claims.identity == "bot" and claims.name == "Bot" and claims.kind == "agent"
    v = claims.video
    assert v.roomJoin and v.room == "room1" and v.agent and v.canSubscribe and not v.canPublish and v.hidden
    assert claims.attributes == {"a": "1", AGENT_NAME_ATTRIBUTE: "helper"} and claims.metadata == "m"
    assert JOB_TOKEN_TTL - 5 <= claims.expires_at - time.time() <= JOB_TOKEN_TTL
    with pytest.raises(auth.AuthError):
        job_token(keys, "room1", "helper", WorkerInfo(id="AW_2", api_key="gone"), resp, "bot")
