"""Agent workers: the `/agent` WebSocket and dispatch of jobs to workers.

A worker (livekit-agents `python worker.py start`) connects with a token
carrying `video.agent`, sends `register` and gets `register{worker_id}` back
as the first server message; it then reports `update_worker{status, load,
job_count}` every few seconds.  Frames are binary protobuf WorkerMessage /
ServerMessage; a text frame switches that connection to protobuf JSON.

Every room gets dispatches: the ones its options name (CreateRoom `agents`,
the token's `roomConfig.agents`), else one implicit dispatch with an empty
agent name, which only workers registered without a name receive.  Each
dispatch starts a JT_ROOM job when the room is created (JT_PARTICIPANT /
JT_PUBLISHER jobs when a participant joins / publishes its first track, if
workers of that type are registered).  A job is offered to one worker at a
time (AvailabilityRequest, up to AVAILABILITY_TIMEOUT for the answer), chosen
at random weighted by (1 - load) among available workers; the one that
accepts gets JobAssignment with a job token.  With no worker left to ask the
job stays pending until a matching worker registers or becomes available.
With a cluster, workers connected to other nodes are candidates too
(sfu.agents.federation).

The connection itself is in worker_connection.py, the availability handshake
in availability.py, the job token in tokens.py; the decisions (which worker,
job states) in the sans-IO dispatcher.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Coroutine

from aiohttp import web
from livekit.protocol import agent, agent_dispatch, models

from .. import auth, errors
from ..ids import new_sid
from ..rooms.room import Room, RoomOptions
from . import availability
from .availability import AVAILABILITY_TIMEOUT, Verdict
from .dispatcher import ASKING, PENDING, RUNNING, SUCCESS, Dispatcher, DispatchRecord, JobRecord, WorkerInfo
from .federation import REMOTE_MAX_AGE, ClusterLink, Federation
from .tokens import job_token
from .worker_connection import WorkerConnection, next_message

if TYPE_CHECKING:
    from ..rooms.participant import Participant
    from ..rooms.service import RoomService

log = logging.getLogger("sfu.agents")

MAX_MESSAGE = 2 * 1024 * 1024
REGISTER_TIMEOUT = 10.0
WS_HEARTBEAT = 30.0
LEAVE_GRACE = 3.0                  # after a termination, the agent participant gets this long to leave
# a job every available worker declined is offered again after these pauses (then the last one,
# for as long as it is pending), or at once when a worker registers or becomes available:
# livekit-agents declines while the job processes it reserved are still starting, and says
# nothing when that passes (its status stays AVAILABLE)
DECLINED_RETRY = (0.5, 1.0, 2.0, 5.0)


class AgentService:
    def __init__(self, keys: auth.KeyProvider, rooms: "RoomService", dispatcher: Dispatcher | None = None) -> None:
        self.keys = keys
        self.rooms = rooms
        self.dispatcher = dispatcher or Dispatcher()
        self.availability_timeout = AVAILABILITY_TIMEOUT
        self.register_timeout = REGISTER_TIMEOUT
        self._assigning: dict[str, asyncio.Task] = {}    # job id -> its assignment task
        self._retry_now: dict[str, asyncio.Event] = {}   # job id -> ends its pause after every worker declined
        # called with the seconds from a job's creation to its assignment (the metrics' histogram)
        self.on_job_assigned: Callable[[float], None] | None = None
        self._tasks: set[asyncio.Task] = set()
        self.stopping = False
        self.draining = False
        self._publishers: set[str] = set()                 # participant sids that got publisher jobs
        self.federation: Federation | None = None          # when running multi-node
        rooms.manager.on_created(self._room_created)

    def use_cluster(self, cluster: ClusterLink) -> None:
        """multi-node: workers of every node are candidates, workers here serve every node"""
        self.federation = Federation(cluster, self)

    def install(self, app: web.Application) -> None:
        app.router.add_get("/agent", self.handle)

    def start(self) -> None:
        self.stopping = False
        if self.federation is not None:
            self.federation.start()

    def drain(self) -> None:
        """no new workers here (they connect to another node), and none of the workers here
        offered to other nodes' rooms; the jobs of this node's rooms go on"""
        self.draining = True
        if self.federation is not None:
            self.federation.workers_changed()

    async def stop(self) -> None:
        self.stopping = True
        for w in list(self.dispatcher.workers.values()):
            if w.conn is not None:
                await w.conn.close(1001, "server shutting down")
        for t in list(self._assigning.values()) + list(self._tasks):
            t.cancel()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._done)

    def _done(self, t: asyncio.Task) -> None:
        self._tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("agent task failed", exc_info=t.exception())

    # -- public API (AgentDispatchService) -----------------------------------------------------
    async def create_dispatch(self, req: agent_dispatch.CreateAgentDispatchRequest) -> agent_dispatch.AgentDispatch:
        if not req.room:
            raise errors.ProtocolError("room is required")
        room = self.rooms.manager.get(req.room)
        if room is None and not self.rooms.manager.auto_create:
            raise errors.NotFoundError(f"room {req.room} does not exist")
        spec = agent_dispatch.RoomAgentDispatch(agent_name=req.agent_name, metadata=req.metadata)
        spec.attributes.update(req.attributes)
        if room is None:
            opts = RoomOptions(**{**vars(self.rooms.manager.defaults), "agents": [spec]})
            room, _ = self.rooms.manager.create(req.room, opts)   # _room_created adds the dispatch
            return self.dispatcher.room_dispatches(room.name)[-1].to_proto()
        return self._dispatch(room, spec).to_proto()

    async def delete_dispatch(self, dispatch_id: str, room: str) -> agent_dispatch.AgentDispatch:
        d = self.dispatcher.remove_dispatch(room, dispatch_id)
        if d is None:
            raise errors.NotFoundError(f"dispatch {dispatch_id} not found in room {room}")
        log.info("dispatch %s (%r) in %s deleted", d.id, d.agent_name, room)
        await self._terminate(d, agent.JSR_DISPATCH_DELETED)
        out = d.to_proto()
        self.dispatcher.forget(d)
        return out

    async def list_dispatch(self, room: str, dispatch_id: str = "") -> list[agent_dispatch.AgentDispatch]:
        return [d.to_proto() for d in self.dispatcher.room_dispatches(room) if not dispatch_id or d.id == dispatch_id]

    # -- rooms --------------------------------------------------------------------------------------
    def _room_created(self, room: Room) -> None:
        specs = list(room.options.agents)
        if not specs:
            self._dispatch(room, agent_dispatch.RoomAgentDispatch(), implicit=True)
        for spec in specs:
            self._dispatch(room, spec)
        room.on(lambda event, arg: self._room_event(room, event, arg))

    def _dispatch(self, room: Room, spec: agent_dispatch.RoomAgentDispatch, implicit: bool = False) -> DispatchRecord:
        d = self.dispatcher.add_dispatch(room.name, spec.agent_name, spec.metadata, dict(spec.attributes),
                                         implicit=implicit, room_sid=room.sid)
        log.info("dispatch %s (%s) in %s", d.id, repr(d.agent_name) if d.agent_name else "automatic", room.name)
        self._launch(self.dispatcher.add_job(d, agent.JT_ROOM, room.to_proto()))
        return d

    def _room_event(self, room: Room, event: str, arg: Any) -> None:
        if self.stopping:
            return
        if event == "closed":
            self._room_closed(room)
        elif event == "participant_joined" and not arg.dependent:
            self._target_jobs(room, agent.JT_PARTICIPANT, arg)
        elif event == "track_published" and not arg.participant.dependent \
                and arg.participant.sid not in self._publishers:
            self._publishers.add(arg.participant.sid)         # one publisher job per participant
            self._target_jobs(room, agent.JT_PUBLISHER, arg.participant)
        elif event == "participant_left":
            self._publishers.discard(arg.sid)

    def _target_jobs(self, room: Room, type_: int, p: "Participant") -> None:
        for d in self.dispatcher.room_dispatches(room.name):
            if self.dispatcher.has_worker_for(d.agent_name, type_):
                self._launch(self.dispatcher.add_job(d, type_, room.to_proto(), p.to_proto()))

    def _room_closed(self, room: Room) -> None:
        # synchronous: a room of the same name created right after must keep its own dispatches
        ended: list[tuple[DispatchRecord, list]] = []
        for d in self.dispatcher.room_dispatches(room.name):
            if d.room_sid == room.sid:
                self.dispatcher.remove_dispatch(room.name, d.id)
                ended.append((d, self._cancel_jobs(d, agent.JSR_ROOM_CLOSED)))
                self.dispatcher.forget(d)
        self.spawn(self._notify([x for _d, stopped in ended for x in stopped], wait_leave=False))

    async def _terminate(self, d: DispatchRecord, reason: int) -> None:
        await self._notify(self._cancel_jobs(d, reason))

    def _cancel_jobs(self, d: DispatchRecord, reason: int) -> list[tuple[WorkerInfo, JobRecord]]:
        """cancel the dispatch's jobs; returns the (worker, job) pairs that were running"""
        running = []
        for job in d.jobs:
            task = self._assigning.pop(job.id, None)
            if task is not None:
                task.cancel()
            was_running = job.state == RUNNING
            was_asking = job.state == ASKING
            w = self.dispatcher.workers.get(self.dispatcher.cancel(job, reason))
            if w is not None and (was_running or (was_asking and w.node)):
                running.append((w, job))
        return running

    async def _notify(self, stopped: list[tuple[WorkerInfo, JobRecord]], wait_leave: bool = True) -> None:
        for w, job in stopped:
            if w.node:
                await self.federation.terminate(w.node, w.id, job.id)
            else:
                await w.conn.send(agent.ServerMessage(termination=agent.JobTermination(job_id=job.id)))
            if wait_leave and job.participant_identity:
                self.spawn(self._remove_agent(job.dispatch.room, job.participant_identity))

    async def _remove_agent(self, room_name: str, identity: str) -> None:
        end = time.monotonic() + LEAVE_GRACE
        while time.monotonic() < end:
            room = self.rooms.manager.get(room_name)
            if room is None or identity not in room.participants:
                return
            await asyncio.sleep(0.1)
        room = self.rooms.manager.get(room_name)
        p = room.participants.get(identity) if room else None
        if p is not None:
            log.info("agent %s did not leave %s after its job ended, removing it", identity, room_name)
            await p.disconnect(models.DisconnectReason.PARTICIPANT_REMOVED)

    # -- assignment -----------------------------------------------------------------------------------
    def _launch(self, job: JobRecord) -> None:
        if job.id in self._assigning:
            retry = self._retry_now.get(job.id)
            if retry is not None:
                retry.set()            # a worker came or became available: offer it now, not after the pause
            return
        if self.stopping or job.state != PENDING:
            return
        if not job.queued_at:
            job.queued_at = time.monotonic()
        t = asyncio.get_running_loop().create_task(self._assign(job))
        self._assigning[job.id] = t

        def done(_t: asyncio.Task, jid: str = job.id) -> None:
            if self._assigning.get(jid) is _t:
                del self._assigning[jid]
            if not _t.cancelled() and _t.exception() is not None:
                log.error("assigning job %s failed", jid, exc_info=_t.exception())
        t.add_done_callback(done)

    async def _assign(self, job: JobRecord) -> None:
        tried: set[str] = set()
        rounds = 0
        if self.federation is not None:
            await self.federation.refresh(REMOTE_MAX_AGE)
        while job.state == PENDING and not self.stopping:
            w = self.dispatcher.choose(job, tried)
            if w is None and tried and self.dispatcher.candidates(job):
                # every available worker declined it: again after a pause, the same as when
                # one of them reports itself available again (a status change relaunches it)
                delay = DECLINED_RETRY[min(rounds, len(DECLINED_RETRY) - 1)]
                rounds += 1
                log.info("job %s (%r, %s): declined by every available worker, offered again in %.1f s",
                         job.id, job.agent_name, job.dispatch.room, delay)
                retry = self._retry_now[job.id] = asyncio.Event()
                try:
                    await asyncio.wait_for(retry.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                finally:
                    self._retry_now.pop(job.id, None)
                tried.clear()
                continue
            if w is None:
                log.info("job %s (%r, %s): no available worker, pending", job.id, job.agent_name, job.dispatch.room)
                return
            tried.add(w.id)
            # the job may be pending again after this (declined, or the worker went away even
            # after accepting): the loop goes on while this task is the job's only assigner
            await self._offer(job, w)

    async def _offer(self, job: JobRecord, w: WorkerInfo) -> None:
        """one availability handshake"""
        if w.node:
            await self.federation.offer(job, w)
            return
        conn: WorkerConnection = w.conn
        self.asking(job, w)
        resp = await availability.ask(conn, agent.AvailabilityRequest(job=job.to_proto()), self.availability_timeout,
                                      w.id)
        if job.state != ASKING or job.worker_id != w.id:
            return      # cancelled meanwhile, or the worker went away
        answer = availability.judge(resp, job.id)
        if answer.verdict is Verdict.DECLINED:
            self.dispatcher.declined(job, w)
            return
        if answer.verdict is Verdict.FINISHED:
            self.finished(job, w)
            return
        try:
            token = job_token(self.keys, job.dispatch.room, job.agent_name, w, resp, answer.identity)
        except auth.AuthError as e:      # the worker's API key was removed meanwhile
            log.error("cannot sign a token for job %s: %s", job.id, e)
            self.dispatcher.declined(job, w)
            return
        self.dispatcher.accepted(job, w, answer.identity)
        if not await availability.assign(conn, job.to_proto(), token):
            return      # the worker's disconnect put the job back to pending
        log.info("job %s (%r, room %s) assigned to worker %s as %s", job.id, job.agent_name, job.dispatch.room,
                 w.id, answer.identity)
        if self.on_job_assigned is not None:
            self.on_job_assigned(time.monotonic() - job.queued_at)

    def asking(self, job: JobRecord, w: WorkerInfo) -> None:
        """the job is offered to `w` now, with the room as it is now (participants, metadata)"""
        room = self.rooms.manager.get(job.dispatch.room)
        if room is not None:
            job.room = room.to_proto()
        self.dispatcher.asking(job, w)

    def finished(self, job: JobRecord, w: WorkerInfo) -> None:
        """`w` answered that the job is done without joining"""
        job.to(SUCCESS)
        w.jobs.discard(job.id)

    def relaunch(self, jobs: list[JobRecord]) -> None:
        for job in jobs:
            self._launch(job)

    # -- the /agent WebSocket ----------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(status=404, text="WebSocket upgrade required")
        try:
            claims = self.keys.verify(auth.bearer(request.headers.get("Authorization"),
                                                  request.query.get("access_token")))
        except auth.AuthError as e:
            return web.Response(status=e.status, text=str(e))
        if not claims.video.agent:
            return web.Response(status=403, text="the token needs the video.agent grant")
        if self.draining:      # before the upgrade: the worker retries and its load balancer picks another node
            return web.Response(status=503, text="this node is draining")
        ws = web.WebSocketResponse(heartbeat=WS_HEARTBEAT, max_msg_size=MAX_MESSAGE)
        await ws.prepare(request)
        conn = WorkerConnection(ws, request.remote or "")
        try:
            await self._session(conn, claims)
        except Exception:
            log.exception("agent worker session from %s failed", conn.remote)
            await conn.close(1011, "internal error")
        return ws

    async def _session(self, conn: WorkerConnection, claims: auth.Claims) -> None:
        first = await next_message(conn, self.register_timeout)
        if isinstance(first, str) or first.WhichOneof("message") != "register":
            why = first if isinstance(first, str) else f"expected register, got {first.WhichOneof('message')}"
            log.info("agent worker from %s: %s", conn.remote, why)
            await conn.close(1008, "register expected" if why != "closed" else "")
            return
        reg = first.register
        w = WorkerInfo(id=new_sid("AW_"), agent_name=reg.agent_name, namespace=reg.namespace, job_type=reg.type,
                       version=reg.version, api_key=claims.api_key, conn=conn,
                       permissions=reg.allowed_permissions if reg.HasField("allowed_permissions") else None)
        await conn.send(agent.ServerMessage(register=agent.RegisterWorkerResponse(
            worker_id=w.id, server_info=self.rooms.server_info())))
        log.info("agent worker %s registered: %s, type %s, version %s, from %s", w.id,
                 repr(w.agent_name) if w.agent_name else "automatic", agent.JobType.Name(w.job_type), w.version,
                 conn.remote)
        self.relaunch(self.dispatcher.register(w))
        self._workers_changed()
        why = "closed"
        try:
            while True:
                m = await next_message(conn)
                if isinstance(m, str):
                    why = m
                    break
                await self._on_message(w, conn, m)
        finally:
            await conn.close(1003 if why.startswith("bad message") else 1000, why[:100])
            back = self.dispatcher.unregister(w.id)
            log.info("agent worker %s gone (%s); %d job(s) to re-dispatch", w.id, why, len(back))
            self.relaunch(back)
            if self.federation is not None:
                self.federation.worker_gone(w.id)
            self._workers_changed()

    async def _on_message(self, w: WorkerInfo, conn: WorkerConnection, m: agent.WorkerMessage) -> None:
        which = m.WhichOneof("message")
        if which == "update_worker":
            u = m.update_worker
            was = w.available
            self.relaunch(self.dispatcher.update_worker(w.id, u.status, u.load, u.job_count))
            if w.available != was:
                self._workers_changed()
        elif which == "availability":
            availability.answered(conn, m.availability)
        elif which == "update_job":
            u = m.update_job
            job = self.dispatcher.job_update(w.id, u.job_id, u.status, u.error)
            if job is not None:
                log.info("job %s on worker %s: %s%s", job.id, w.id, job.state, f" ({job.error})" if job.error else "")
            elif self.federation is not None:
                await self.federation.job_update(w, u)
        elif which == "ping":
            now = int(time.time() * 1000)
            await conn.send(agent.ServerMessage(pong=agent.WorkerPong(last_timestamp=m.ping.timestamp, timestamp=now)))
        elif which == "register":
            log.debug("worker %s registered twice; ignored", w.id)
        else:
            log.debug("worker %s: %s not supported", w.id, which)

    # -- multi-node (sfu.agents.federation) -----------------------------------------------------------
    def _workers_changed(self) -> None:
        if self.federation is not None:
            self.federation.workers_changed()

    async def on_cluster_message(self, mid: str, f: dict[bytes, bytes]) -> None:
        """an agent message from another node (Cluster inbox)"""
        if self.federation is not None:
            await self.federation.on_message(mid, f)
