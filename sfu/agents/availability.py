"""The availability handshake with one agent worker connected to this node: an
AvailabilityRequest for a job, up to a timeout for the AvailabilityResponse, and what the
answer means.  The same exchange serves jobs of rooms on this node (sfu.agents.service) and
jobs another node offers to a worker here (sfu.agents.federation); the JobAssignment that
follows an acceptance carries a job token (sfu.agents.tokens).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass

from livekit.protocol import agent

from .worker_connection import WorkerConnection

log = logging.getLogger("sfu.agents")

AVAILABILITY_TIMEOUT = 10.0


class Verdict(enum.Enum):
    DECLINED = "declined"     # no answer in time, the worker went away, or available=false
    FINISHED = "finished"     # available with terminate: the job is done without the agent joining
    ACCEPTED = "accepted"


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    identity: str = ""        # accepted: the identity the agent joins as


def judge(resp: agent.AvailabilityResponse | None, job_id: str) -> Answer:
    """what a worker's answer (None: none came) to the availability request for `job_id` means"""
    if resp is None or not resp.available:
        return Answer(Verdict.DECLINED)
    if resp.terminate:
        return Answer(Verdict.FINISHED)
    return Answer(Verdict.ACCEPTED, resp.participant_identity or f"agent-{job_id}")


async def ask(conn: WorkerConnection, req: agent.AvailabilityRequest, timeout: float,
              worker_id: str) -> agent.AvailabilityResponse | None:
    """send the request and wait up to `timeout` for the worker's answer; None when it could
    not be sent, did not come in time, or was withdrawn (the connection closed, the job ended)"""
    job_id = req.job.id
    fut: asyncio.Future = asyncio.get_running_loop().create_future()
    conn.answers[job_id] = fut
    try:
        if not await conn.send(agent.ServerMessage(availability=req)):
            return None
        return await asyncio.wait_for(fut, timeout)
    except asyncio.TimeoutError:
        log.info("worker %s did not answer availability for job %s in %.1f s", worker_id, job_id, timeout)
        return None
    finally:
        conn.answers.pop(job_id, None)


def answered(conn: WorkerConnection, resp: agent.AvailabilityResponse) -> None:
    """the worker's AvailabilityResponse arrived: it ends the `ask` waiting for it, if any"""
    fut = conn.answers.get(resp.job_id)
    if fut is not None and not fut.done():
        fut.set_result(resp)


def withdraw(conn: WorkerConnection, job_id: str) -> None:
    """the answer no longer matters (the job ended meanwhile): the waiting `ask` returns None"""
    fut = conn.answers.get(job_id)
    if fut is not None and not fut.done():
        fut.set_result(None)


async def assign(conn: WorkerConnection, job: agent.Job, token: str) -> bool:
    """the JobAssignment after an acceptance; False when it could not be sent"""
    return await conn.send(agent.ServerMessage(assignment=agent.JobAssignment(job=job, token=token)))
