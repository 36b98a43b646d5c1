"""An agent worker speaking the worker protocol over a real /agent WebSocket
(register, availability, job status), without livekit-agents."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import aiohttp
from livekit.protocol import agent

from .net import http_port
from .tokens import token


class FakeWorker:
    """Registers (optionally as a named agent), reports itself available, answers availability as
    told (True, False or None: silence) and records what it is asked, assigned and told to
    terminate; a job it is assigned is reported running.  `on_assignment` is called with each
    JobAssignment as it arrives (before the running report)."""

    def __init__(self, server: Any, agent_name: str = "", answer: bool | None = True, load: float = 0.0,
                 job_type: int = agent.JT_ROOM, host: str = "127.0.0.1",
                 on_assignment: Callable[[agent.JobAssignment], None] | None = None) -> None:
        self.url = f"ws://{host}:{http_port(server)}/agent"
        self.agent_name, self.answer, self.load, self.job_type = agent_name, answer, load, job_type
        self.on_assignment = on_assignment
        self.asked: list[agent.Job] = []
        self.assigned: list[agent.JobAssignment] = []
        self.terminated: list[str] = []
        self.id = ""
        self.changed = asyncio.Event()

    async def __aenter__(self) -> "FakeWorker":
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(self.url, headers={"Authorization": f"Bearer {token(agent=True)}"})
        await self.send(agent.WorkerMessage(register=agent.RegisterWorkerRequest(
            type=self.job_type, agent_name=self.agent_name, version="fake")))
        msg = await self.ws.receive(timeout=5)
        first = agent.ServerMessage.FromString(msg.data)
        assert first.WhichOneof("message") == "register"
        self.id = first.register.worker_id
        await self.status(agent.WS_AVAILABLE, self.load)
        self.reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()
        await self.session.close()

    async def send(self, m: agent.WorkerMessage) -> None:
        await self.ws.send_bytes(m.SerializeToString())

    async def status(self, status: int, load: float = 0.0, jobs: int = 0) -> None:
        await self.send(agent.WorkerMessage(update_worker=agent.UpdateWorkerStatus(status=status, load=load,
                                                                                  job_count=jobs)))

    async def job_status(self, job_id: str, status: int) -> None:
        await self.send(agent.WorkerMessage(update_job=agent.UpdateJobStatus(job_id=job_id, status=status)))

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            m = agent.ServerMessage.FromString(msg.data)
            which = m.WhichOneof("message")
            if which == "availability":
                self.asked.append(m.availability.job)
                if self.answer is not None:
                    await self.send(agent.WorkerMessage(availability=agent.AvailabilityResponse(
                        job_id=m.availability.job.id, available=self.answer,
                        participant_attributes={"lk.agent.name": self.agent_name})))
            elif which == "assignment":
                self.assigned.append(m.assignment)
                if self.on_assignment is not None:
                    self.on_assignment(m.assignment)
                await self.job_status(m.assignment.job.id, agent.JS_RUNNING)
            elif which == "termination":
                self.terminated.append(m.termination.job_id)
            self.changed.set()
