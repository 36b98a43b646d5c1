"""Agent workers across the nodes of a cluster (sfu.cluster).

Every node advertises its workers in Redis (ClusterLink.advertise_workers: on every
heartbeat, and at once when one registers, leaves or changes availability, followed by a
`workers` message to the other nodes).  The node hosting a room owns its dispatches and
jobs: its Dispatcher holds the workers of other nodes too (WorkerInfo.node), synced from
Redis before every assignment round and on every `workers` message.  Messages between nodes
(inbox entries t=agent, one schema: op, worker id, job id, protobuf body):

  offer      host -> worker's node, with a reply: the availability handshake and the
             JobAssignment there; the reply is an AvailabilityResponse (available only
             if the assignment was sent)
  job        worker's node -> host: an UpdateJobStatus of the worker
  terminate  host -> worker's node: the job ended (dispatch deleted, room closed)
  workers    any -> every node: re-read the advertised workers
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Coroutine, Protocol

from google.protobuf.message import DecodeError
from livekit.protocol import agent

from .. import auth, errors
from . import availability
from .availability import Verdict
from .dispatcher import ASKING, Dispatcher, JobRecord, WorkerInfo
from .tokens import job_token

log = logging.getLogger("sfu.agents")

REMOTE_TIMEOUT = 3.0               # bound on one Redis exchange about agents
REMOTE_MAX_AGE = 1.0               # s; an assignment re-reads other nodes' workers when older


class ClusterLink(Protocol):
    """What the federation needs of the cluster (sfu.cluster.Cluster)."""

    heartbeat: float               # s between the node's registry writes

    async def advertise_workers(self, workers: list[dict[str, Any]]) -> None: ...

    async def remote_workers(self) -> dict[str, list[dict[str, Any]]]: ...

    async def agent_post(self, node: str, op: str, worker: str = "", job: str = "", body: bytes = b"") -> None: ...

    async def agent_request(self, node: str, op: str, worker: str, job: str, body: bytes,
                            timeout: float) -> bytes: ...

    async def agent_broadcast(self, op: str) -> None: ...

    async def reply(self, rid: str, data: bytes) -> None: ...


class JobHost(Protocol):
    """The node's agent service as the federation uses it (sfu.agents.service.AgentService)."""

    dispatcher: Dispatcher
    keys: auth.KeyProvider
    availability_timeout: float
    stopping: bool
    draining: bool

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...

    def relaunch(self, jobs: list[JobRecord]) -> None: ...

    def asking(self, job: JobRecord, w: WorkerInfo) -> None:
        """the job is offered to `w` now (with the room as it is now)"""

    def finished(self, job: JobRecord, w: WorkerInfo) -> None:
        """`w` answered that the job is done without joining"""


class ForeignJob:
    """A job of a room another node hosts, offered to or running on a worker here."""

    def __init__(self, job_id: str, host: str, worker_id: str) -> None:
        self.id = job_id
        self.host = host
        self.worker_id = worker_id
        self.assigned = False
        self.cancelled = False


class Federation:
    def __init__(self, cluster: ClusterLink, host: JobHost) -> None:
        self.cluster = cluster
        self.host = host
        self._foreign: dict[str, ForeignJob] = {}          # jobs of rooms on other nodes, for workers here
        self._refreshing: asyncio.Future | None = None     # the read of other nodes' workers under way
        self._refreshed = float("-inf")                    # loop time it last succeeded

    @property
    def dispatcher(self) -> Dispatcher:
        return self.host.dispatcher

    def start(self) -> None:
        self.host.spawn(self._loop())

    # -- the workers of every node ---------------------------------------------------------------
    def _local_ads(self) -> list[dict[str, Any]]:
        return [{"id": w.id, "agent_name": w.agent_name, "namespace": w.namespace, "type": w.job_type,
                 "status": w.status, "load": w.load, "jobs": w.job_count}
                for w in self.dispatcher.workers.values()
                if not w.node and not w.closed and not self.host.draining]

    def workers_changed(self) -> None:
        """a worker here registered, left or changed availability"""
        if not self.host.stopping:
            self.host.spawn(self._publish_workers(notify=True))

    async def _publish_workers(self, notify: bool = False) -> None:
        try:
            await self.cluster.advertise_workers(self._local_ads())
            if notify:
                await self.cluster.agent_broadcast("workers")
        except errors.SfuError as e:         # ClusterUnavailable: the heartbeat loop tries again
            log.warning("advertising agent workers: %s", e)

    async def refresh(self, max_age: float = 0.0) -> None:
        """sync the workers of other nodes from Redis.  With max_age, a read younger
        than that is enough (changes are announced by `workers` messages, which
        read again), and one read under way serves every caller meanwhile"""
        loop = asyncio.get_running_loop()
        if max_age:
            if loop.time() - self._refreshed < max_age:
                return
            if self._refreshing is not None:
                await asyncio.shield(self._refreshing)
                return
        fut = loop.create_future()
        if max_age:
            self._refreshing = fut
        try:
            await self._read_remote()
        finally:
            fut.set_result(None)
            if self._refreshing is fut:
                self._refreshing = None

    async def _read_remote(self) -> None:
        started = asyncio.get_running_loop().time()
        try:
            ads = await asyncio.wait_for(self.cluster.remote_workers(), REMOTE_TIMEOUT)
        except (errors.SfuError, asyncio.TimeoutError) as e:
            log.warning("reading the agent workers of other nodes: %s", e or "timeout")
            return
        self._refreshed = max(self._refreshed, started)
        infos = []
        for node, ws in ads.items():
            for a in ws:
                try:
                    infos.append(WorkerInfo(id=str(a["id"]), node=node, agent_name=str(a["agent_name"]),
                                            namespace=str(a.get("namespace", "")), job_type=int(a["type"]),
                                            status=int(a["status"]), load=float(a.get("load", 0.0)),
                                            job_count=int(a.get("jobs", 0))))
                except (KeyError, TypeError, ValueError):
                    continue
        back = self.dispatcher.sync_remote(infos)
        if back:
            log.info("agent workers of other nodes changed: %d job(s) to (re)dispatch", len(back))
        self.host.relaunch(back)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.cluster.heartbeat)
            try:
                await self._publish_workers()
                await self.refresh()
            except Exception:
                log.exception("agent worker sync failed")

    # -- jobs hosted here, on workers of other nodes -------------------------------------------------
    async def _post(self, node: str, op: str, worker: str, job: str, body: bytes = b"") -> bool:
        try:
            await asyncio.wait_for(self.cluster.agent_post(node, op, worker, job, body), REMOTE_TIMEOUT)
            return True
        except (errors.SfuError, asyncio.TimeoutError) as e:
            log.warning("agent message %s for job %s to node %s failed: %s", op, job, node, e or "timeout")
            return False

    async def terminate(self, node: str, worker_id: str, job_id: str) -> None:
        """tell the worker's node that the job ended"""
        body = agent.JobTermination(job_id=job_id).SerializeToString()
        await self._post(node, "terminate", worker_id, job_id, body)

    async def offer(self, job: JobRecord, w: WorkerInfo) -> None:
        """the availability handshake and assignment, run by the node the worker is connected to"""
        self.host.asking(job, w)
        req = agent.AvailabilityRequest(job=job.to_proto())
        resp: agent.AvailabilityResponse | None = None
        lost = False
        try:
            data = await self.cluster.agent_request(w.node, "offer", w.id, job.id, req.SerializeToString(),
                                                    self.host.availability_timeout)
            resp = agent.AvailabilityResponse.FromString(data)
        except (errors.SfuError, TimeoutError, asyncio.TimeoutError, DecodeError) as e:
            log.info("offering job %s to worker %s on node %s: %s", job.id, w.id, w.node, e or "timeout")
            lost = True           # unknown whether the worker got it
        except asyncio.CancelledError:
            # cancelled (dispatch deleted, room closed): the canceller tells the worker's node
            raise
        answer = availability.judge(resp, job.id)
        taken = answer.verdict is Verdict.ACCEPTED
        if job.state != ASKING or job.worker_id != w.id:
            if taken or lost:      # cancelled meanwhile, or the worker went away: it must let go
                self.host.spawn(self.terminate(w.node, w.id, job.id))
            return
        if not taken:
            if lost:
                self.host.spawn(self.terminate(w.node, w.id, job.id))
            if answer.verdict is Verdict.FINISHED:
                self.host.finished(job, w)
            else:
                self.dispatcher.declined(job, w)
            return
        self.dispatcher.accepted(job, w, answer.identity)
        log.info("job %s (%r, room %s) assigned to worker %s on node %s as %s", job.id, job.agent_name,
                 job.dispatch.room, w.id, w.node, job.participant_identity)

    # -- jobs of other nodes, on workers here ---------------------------------------------------------
    def worker_gone(self, worker_id: str) -> None:
        for fj in [fj for fj in self._foreign.values() if fj.worker_id == worker_id]:
            del self._foreign[fj.id]      # their hosts re-dispatch them when they see the worker gone

    async def job_update(self, w: WorkerInfo, u: agent.UpdateJobStatus) -> None:
        """a worker here reports on a job another node hosts: pass it on"""
        fj = self._foreign.get(u.job_id)
        if fj is None or fj.worker_id != w.id:
            return
        if u.status in (agent.JS_SUCCESS, agent.JS_FAILED):
            del self._foreign[fj.id]
        await self._post(fj.host, "job", w.id, fj.id, u.SerializeToString())

    async def on_message(self, mid: str, f: dict[bytes, bytes]) -> None:
        """an agent message from another node (Cluster inbox)"""
        op = f.get(b"op", b"").decode()
        origin = f.get(b"origin", b"").decode()
        wid = f.get(b"w", b"").decode()
        jid = f.get(b"j", b"").decode()
        body = f.get(b"b", b"")
        if op == "workers":
            await self.refresh()
        elif op == "offer":
            resp = await self._serve_offer(origin, wid, body, int(f.get(b"to") or 0) / 1000.0)
            try:
                await self.cluster.reply(mid, resp.SerializeToString())
            except Exception as e:         # Redis gone: the host times out and moves on
                log.warning("answering the offer of job %s: %s", jid, e)
        elif op == "job":
            u = agent.UpdateJobStatus.FromString(body)
            job = self.dispatcher.job_update(wid, u.job_id, u.status, u.error)
            if job is not None:
                log.info("job %s on worker %s (node %s): %s%s", job.id, wid, origin, job.state,
                         f" ({job.error})" if job.error else "")
        elif op == "terminate":
            fj = self._foreign.pop(jid, None)
            if fj is None:
                return
            fj.cancelled = True
            w = self.dispatcher.workers.get(fj.worker_id)
            if w is None or w.node:
                return
            availability.withdraw(w.conn, jid)       # still asking: the answer no longer matters
            if fj.assigned:
                await w.conn.send(agent.ServerMessage(termination=agent.JobTermination(job_id=jid)))
        else:
            log.debug("agent message %r from %s ignored", op, origin)

    async def _serve_offer(self, host: str, wid: str, body: bytes, timeout: float) -> agent.AvailabilityResponse:
        """a host node offers one of its jobs to worker `wid` here: ask it, and assign the job if it accepts"""
        req = agent.AvailabilityRequest.FromString(body)
        job = req.job
        no = agent.AvailabilityResponse(job_id=job.id, available=False)
        w = self.dispatcher.workers.get(wid)
        if w is None or w.node or not w.available or self.host.stopping:
            return no
        fj = ForeignJob(job.id, host, wid)
        self._foreign[job.id] = fj
        timeout_here = self.host.availability_timeout
        wait = min(timeout_here, timeout) if timeout > 0 else timeout_here
        resp = await availability.ask(w.conn, req, wait, w.id)
        answer = availability.judge(resp, job.id)
        if fj.cancelled or answer.verdict is not Verdict.ACCEPTED or w.closed:
            if self._foreign.get(job.id) is fj:
                del self._foreign[job.id]
            if answer.verdict is Verdict.FINISHED and not fj.cancelled:
                return agent.AvailabilityResponse(job_id=job.id, available=True, terminate=True)
            return no
        assert resp is not None
        try:
            token = job_token(self.host.keys, job.room.name, job.agent_name, w, resp, answer.identity)
        except auth.AuthError as e:
            log.error("cannot sign a token for job %s: %s", job.id, e)
            del self._foreign[job.id]
            return no
        job.state.status = agent.JS_RUNNING
        job.state.participant_identity = answer.identity
        job.state.worker_id = w.id
        job.state.started_at = job.state.updated_at = int(time.time() * 1000)
        fj.assigned = True
        if not await availability.assign(w.conn, job, token):
            self._foreign.pop(job.id, None)
            return no
        log.info("job %s (%r, room %s on node %s) assigned to worker %s as %s", job.id, job.agent_name,
                 job.room.name, host, w.id, answer.identity)
        return agent.AvailabilityResponse(job_id=job.id, available=True, participant_identity=answer.identity)
