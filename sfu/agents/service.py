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
With a cluster, workers connected to other nodes are candidates too (see the
multi-node section at the end).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from livekit.protocol import agent, agent_dispatch, models

from .. import auth, errors
from ..ids import new_sid
from ..rooms.room import Room, RoomOptions
from ..wire import decode_frame
from .dispatcher import ASKING, PENDING, RUNNING, SUCCESS, Dispatcher, DispatchRecord, JobRecord, WorkerInfo

if TYPE_CHECKING:
    from ..rooms.participant import Participant
    from ..rooms.service import RoomService

log = logging.getLogger("sfu.agents")

MAX_MESSAGE = 2 * 1024 * 1024
REGISTER_TIMEOUT = 10.0
AVAILABILITY_TIMEOUT = 10.0
WS_HEARTBEAT = 30.0
JOB_TOKEN_TTL = 3600
LEAVE_GRACE = 3.0                  # after a termination, the agent participant gets this long to leave
AGENT_NAME_ATTRIBUTE = "lk.agent.name"
REMOTE_TIMEOUT = 3.0               # multi-node: bound on one Redis exchange about agents
REMOTE_MAX_AGE = 1.0               # s; an assignment re-reads other nodes' workers when older


class WorkerConnection:
    """The server end of one worker WebSocket."""

    def __init__(self, ws: web.WebSocketResponse, remote: str) -> None:
        self.ws = ws
        self.remote = remote
        self.json = False
        self.closing = False                              # close() started: nothing more is sent or awaited
        self.answers: dict[str, asyncio.Future] = {}     # job id -> AvailabilityResponse future

    async def send(self, msg: agent.ServerMessage) -> bool:
        if self.ws.closed or self.closing:
            return False
        try:
            if self.json:
                await self.ws.send_str(json_format.MessageToJson(msg, indent=None))
            else:
                await self.ws.send_bytes(msg.SerializeToString())
            return True
        except (ConnectionError, RuntimeError) as e:
            log.debug("send to worker %s failed: %s", self.remote, e)
            return False

    def decode(self, msg: Any) -> agent.WorkerMessage:
        m, self.json = decode_frame(msg, agent.WorkerMessage)
        return m

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closing = True       # the close handshake may take seconds: no offer may wait on it
        for f in self.answers.values():
            if not f.done():
                f.set_result(None)
        if not self.ws.closed:
            try:
                await self.ws.close(code=code, message=reason.encode()[:120])
            except (ConnectionError, RuntimeError):
                pass


class ForeignJob:
    """A job of a room another node hosts, offered to or running on a worker here."""

    def __init__(self, job_id: str, host: str, worker_id: str) -> None:
        self.id = job_id
        self.host = host
        self.worker_id = worker_id
        self.assigned = False
        self.cancelled = False


class AgentService:
    def __init__(self, keys: auth.KeyProvider, rooms: "RoomService", dispatcher: Dispatcher | None = None) -> None:
        self.keys = keys
        self.rooms = rooms
        self.dispatcher = dispatcher or Dispatcher()
        self.availability_timeout = AVAILABILITY_TIMEOUT
        self.register_timeout = REGISTER_TIMEOUT
        self._assigning: dict[str, asyncio.Task] = {}    # job id -> its assignment task
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False
        self._publishers: set[str] = set()                 # participant sids that got publisher jobs
        self.cluster: Any = None                           # sfu.cluster.Cluster when running multi-node
        self._foreign: dict[str, ForeignJob] = {}          # jobs of rooms on other nodes, for workers here
        self._refreshing: asyncio.Future | None = None     # the read of other nodes' workers under way
        self._refreshed = float("-inf")                    # loop time it last succeeded
        rooms.manager.on_created(self._room_created)

    def install(self, app: web.Application) -> None:
        app.router.add_get("/agent", self.handle)

    def start(self) -> None:
        self._stopping = False
        if self.cluster is not None:
            self._spawn(self._cluster_loop())

    async def stop(self) -> None:
        self._stopping = True
        for w in list(self.dispatcher.workers.values()):
            if w.conn is not None:
                await w.conn.close(1001, "server shutting down")
        for t in list(self._assigning.values()) + list(self._tasks):
            t.cancel()

    def _spawn(self, coro: Any) -> None:
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

    def _dispatch(self, room: Room, spec: Any, implicit: bool = False) -> DispatchRecord:
        d = self.dispatcher.add_dispatch(room.name, spec.agent_name, spec.metadata, dict(spec.attributes),
                                         implicit=implicit, room_sid=room.sid)
        log.info("dispatch %s (%s) in %s", d.id, repr(d.agent_name) if d.agent_name else "automatic", room.name)
        self._launch(self.dispatcher.add_job(d, agent.JT_ROOM, room.to_proto()))
        return d

    def _room_event(self, room: Room, event: str, arg: Any) -> None:
        if self._stopping:
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
        self._spawn(self._notify([x for _d, stopped in ended for x in stopped], wait_leave=False))

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
                await self._terminate_remote(w.node, w.id, job.id)
            else:
                await w.conn.send(agent.ServerMessage(termination=agent.JobTermination(job_id=job.id)))
            if wait_leave and job.participant_identity:
                self._spawn(self._remove_agent(job.dispatch.room, job.participant_identity))

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
        if self._stopping or job.state != PENDING or job.id in self._assigning:
            return
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
        if self.cluster is not None:
            await self._refresh_remote(REMOTE_MAX_AGE)
        while job.state == PENDING:
            w = self.dispatcher.choose(job, tried)
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
            await self._offer_remote(job, w)
            return
        conn: WorkerConnection = w.conn
        room = self.rooms.manager.get(job.dispatch.room)
        if room is not None:
            job.room = room.to_proto()          # the room as it is now (participants, metadata)
        self.dispatcher.asking(job, w)
        fut = asyncio.get_running_loop().create_future()
        conn.answers[job.id] = fut
        try:
            if not await conn.send(agent.ServerMessage(availability=agent.AvailabilityRequest(job=job.to_proto()))):
                resp = None
            else:
                resp = await asyncio.wait_for(fut, self.availability_timeout)
        except asyncio.TimeoutError:
            log.info("worker %s did not answer availability for job %s in %.1f s", w.id, job.id,
                     self.availability_timeout)
            resp = None
        finally:
            conn.answers.pop(job.id, None)
        if job.state != ASKING or job.worker_id != w.id:
            return      # cancelled meanwhile, or the worker went away
        if resp is None or not resp.available:
            self.dispatcher.declined(job, w)
            return
        if resp.terminate:
            job.to(SUCCESS)
            w.jobs.discard(job.id)
            return
        identity = resp.participant_identity or f"agent-{job.id}"
        try:
            token = self._job_token(job.dispatch.room, job.agent_name, w, resp, identity)
        except auth.AuthError as e:      # the worker's API key was removed meanwhile
            log.error("cannot sign a token for job %s: %s", job.id, e)
            self.dispatcher.declined(job, w)
            return
        self.dispatcher.accepted(job, w, identity)
        if not await conn.send(agent.ServerMessage(assignment=agent.JobAssignment(job=job.to_proto(), token=token))):
            return      # the worker's disconnect put the job back to pending
        log.info("job %s (%r, room %s) assigned to worker %s as %s", job.id, job.agent_name, job.dispatch.room,
                 w.id, identity)

    def _job_token(self, room: str, agent_name: str, w: WorkerInfo, resp: agent.AvailabilityResponse,
                   identity: str) -> str:
        perm = w.grants()
        attrs = dict(resp.participant_attributes)
        attrs[AGENT_NAME_ATTRIBUTE] = agent_name
        video = auth.VideoGrant(roomJoin=True, room=room, agent=True, canPublish=perm.can_publish,
                                canSubscribe=perm.can_subscribe, canPublishData=perm.can_publish_data,
                                canUpdateOwnMetadata=perm.can_update_metadata, hidden=perm.hidden)
        return self.keys.create(w.api_key, identity=identity, video=video, ttl=JOB_TOKEN_TTL,
                                name=resp.participant_name, metadata=resp.participant_metadata,
                                attributes=attrs, kind="agent")

    def _relaunch(self, jobs: list[JobRecord]) -> None:
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
        ws = web.WebSocketResponse(heartbeat=WS_HEARTBEAT, max_msg_size=MAX_MESSAGE)
        await ws.prepare(request)
        conn = WorkerConnection(ws, request.remote or "")
        try:
            await self._session(conn, claims)
        except Exception:
            log.exception("agent worker session from %s failed", conn.remote)
            await conn.close(1011, "internal error")
        return ws

    async def _next(self, conn: WorkerConnection, timeout: float | None = None) -> agent.WorkerMessage | str:
        """the next WorkerMessage, or why the connection ended"""
        while True:
            try:
                msg = await conn.ws.receive(timeout=timeout)
            except asyncio.TimeoutError:
                return "timeout"
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return "closed"
            if msg.type == WSMsgType.ERROR:
                return f"error: {conn.ws.exception()}"
            if msg.type in (WSMsgType.PING, WSMsgType.PONG):
                continue
            try:
                return conn.decode(msg)
            except errors.ProtocolError as e:
                return f"bad message: {e}"

    async def _session(self, conn: WorkerConnection, claims: auth.Claims) -> None:
        first = await self._next(conn, self.register_timeout)
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
        self._relaunch(self.dispatcher.register(w))
        self._workers_changed()
        why = "closed"
        try:
            while True:
                m = await self._next(conn)
                if isinstance(m, str):
                    why = m
                    break
                await self._on_message(w, conn, m)
        finally:
            await conn.close(1003 if why.startswith("bad message") else 1000, why[:100])
            back = self.dispatcher.unregister(w.id)
            log.info("agent worker %s gone (%s); %d job(s) to re-dispatch", w.id, why, len(back))
            self._relaunch(back)
            for fj in [fj for fj in self._foreign.values() if fj.worker_id == w.id]:
                del self._foreign[fj.id]      # their hosts re-dispatch them when they see the worker gone
            self._workers_changed()

    async def _on_message(self, w: WorkerInfo, conn: WorkerConnection, m: agent.WorkerMessage) -> None:
        which = m.WhichOneof("message")
        if which == "update_worker":
            u = m.update_worker
            was = w.available
            self._relaunch(self.dispatcher.update_worker(w.id, u.status, u.load, u.job_count))
            if w.available != was:
                self._workers_changed()
        elif which == "availability":
            fut = conn.answers.get(m.availability.job_id)
            if fut is not None and not fut.done():
                fut.set_result(m.availability)
        elif which == "update_job":
            u = m.update_job
            job = self.dispatcher.job_update(w.id, u.job_id, u.status, u.error)
            if job is not None:
                log.info("job %s on worker %s: %s%s", job.id, w.id, job.state, f" ({job.error})" if job.error else "")
            elif (fj := self._foreign.get(u.job_id)) is not None and fj.worker_id == w.id:
                if u.status in (agent.JS_SUCCESS, agent.JS_FAILED):
                    del self._foreign[fj.id]
                await self._cluster_post(fj.host, "job", w.id, fj.id, u.SerializeToString())
        elif which == "ping":
            now = int(time.time() * 1000)
            await conn.send(agent.ServerMessage(pong=agent.WorkerPong(last_timestamp=m.ping.timestamp, timestamp=now)))
        elif which == "register":
            log.debug("worker %s registered twice; ignored", w.id)
        else:
            log.debug("worker %s: %s not supported", w.id, which)

    # -- multi-node (sfu.cluster) -------------------------------------------------------------------------
    # Every node advertises its workers in Redis (Cluster.advertise_workers: on
    # every heartbeat, and at once when one registers, leaves or changes
    # availability, followed by a `workers` message to the other nodes).  The
    # node hosting a room owns its dispatches and jobs: its Dispatcher holds
    # the workers of other nodes too (WorkerInfo.node), synced from Redis
    # before every assignment round and on every `workers` message.  Messages
    # between nodes (inbox entries t=agent, one schema: op, worker id, job id,
    # protobuf body):
    #   offer      host -> worker's node, with a reply: the availability handshake and the
    #              JobAssignment there; the reply is an AvailabilityResponse (available only
    #              if the assignment was sent)
    #   job        worker's node -> host: an UpdateJobStatus of the worker
    #   terminate  host -> worker's node: the job ended (dispatch deleted, room closed)
    #   workers    any -> every node: re-read the advertised workers

    def _local_ads(self) -> list[dict[str, Any]]:
        return [{"id": w.id, "agent_name": w.agent_name, "namespace": w.namespace, "type": w.job_type,
                 "status": w.status, "load": w.load, "jobs": w.job_count}
                for w in self.dispatcher.workers.values() if not w.node and not w.closed]

    def _workers_changed(self) -> None:
        if self.cluster is not None and not self._stopping:
            self._spawn(self._publish_workers(notify=True))

    async def _publish_workers(self, notify: bool = False) -> None:
        try:
            await self.cluster.advertise_workers(self._local_ads())
            if notify:
                await self.cluster.agent_broadcast("workers")
        except errors.SfuError as e:         # ClusterUnavailable: the heartbeat loop tries again
            log.warning("advertising agent workers: %s", e)

    async def _refresh_remote(self, max_age: float = 0.0) -> None:
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
        self._relaunch(back)

    async def _cluster_loop(self) -> None:
        from ..cluster.registry import HEARTBEAT
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self._publish_workers()
                await self._refresh_remote()
            except Exception:
                log.exception("agent worker sync failed")

    async def _cluster_post(self, node: str, op: str, worker: str, job: str, body: bytes = b"") -> bool:
        try:
            await asyncio.wait_for(self.cluster.agent_post(node, op, worker, job, body), REMOTE_TIMEOUT)
            return True
        except (errors.SfuError, asyncio.TimeoutError) as e:
            log.warning("agent message %s for job %s to node %s failed: %s", op, job, node, e or "timeout")
            return False

    async def _terminate_remote(self, node: str, worker_id: str, job_id: str) -> None:
        body = agent.JobTermination(job_id=job_id).SerializeToString()
        await self._cluster_post(node, "terminate", worker_id, job_id, body)

    async def _offer_remote(self, job: JobRecord, w: WorkerInfo) -> None:
        """the availability handshake and assignment, run by the node the worker is connected to"""
        room = self.rooms.manager.get(job.dispatch.room)
        if room is not None:
            job.room = room.to_proto()
        self.dispatcher.asking(job, w)
        req = agent.AvailabilityRequest(job=job.to_proto())
        resp: agent.AvailabilityResponse | None = None
        lost = False
        try:
            data = await self.cluster.agent_request(w.node, "offer", w.id, job.id, req.SerializeToString(),
                                                    self.availability_timeout)
            resp = agent.AvailabilityResponse.FromString(data)
        except (errors.SfuError, TimeoutError, asyncio.TimeoutError, DecodeError) as e:
            log.info("offering job %s to worker %s on node %s: %s", job.id, w.id, w.node, e or "timeout")
            lost = True           # unknown whether the worker got it
        except asyncio.CancelledError:
            # cancelled (dispatch deleted, room closed): _cancel_jobs tells the worker's node
            raise
        taken = resp is not None and resp.available and not resp.terminate
        if job.state != ASKING or job.worker_id != w.id:
            if taken or lost:      # cancelled meanwhile, or the worker went away: it must let go
                self._spawn(self._terminate_remote(w.node, w.id, job.id))
            return
        if not taken:
            if lost:
                self._spawn(self._terminate_remote(w.node, w.id, job.id))
            if resp is not None and resp.available and resp.terminate:
                job.to(SUCCESS)
                w.jobs.discard(job.id)
            else:
                self.dispatcher.declined(job, w)
            return
        self.dispatcher.accepted(job, w, resp.participant_identity or f"agent-{job.id}")
        log.info("job %s (%r, room %s) assigned to worker %s on node %s as %s", job.id, job.agent_name,
                 job.dispatch.room, w.id, w.node, job.participant_identity)

    async def on_cluster_message(self, mid: str, f: dict[bytes, bytes]) -> None:
        """an agent message from another node (Cluster inbox)"""
        op = f.get(b"op", b"").decode()
        origin = f.get(b"origin", b"").decode()
        wid = f.get(b"w", b"").decode()
        jid = f.get(b"j", b"").decode()
        body = f.get(b"b", b"")
        if op == "workers":
            await self._refresh_remote()
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
            fut = w.conn.answers.get(jid)
            if fut is not None and not fut.done():
                fut.set_result(None)          # still asking: the answer no longer matters
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
        if w is None or w.node or not w.available or self._stopping:
            return no
        conn: WorkerConnection = w.conn
        fj = ForeignJob(job.id, host, wid)
        self._foreign[job.id] = fj
        fut = asyncio.get_running_loop().create_future()
        conn.answers[job.id] = fut
        wait = min(self.availability_timeout, timeout) if timeout > 0 else self.availability_timeout
        try:
            if not await conn.send(agent.ServerMessage(availability=req)):
                answer = None
            else:
                answer = await asyncio.wait_for(fut, wait)
        except asyncio.TimeoutError:
            log.info("worker %s did not answer availability for job %s in %.1f s", w.id, job.id, wait)
            answer = None
        finally:
            conn.answers.pop(job.id, None)
        if fj.cancelled or answer is None or not answer.available or answer.terminate or w.closed:
            if self._foreign.get(job.id) is fj:
                del self._foreign[job.id]
            if answer is not None and answer.available and answer.terminate and not fj.cancelled:
                return agent.AvailabilityResponse(job_id=job.id, available=True, terminate=True)
            return no
        identity = answer.participant_identity or f"agent-{job.id}"
        try:
            token = self._job_token(job.room.name, job.agent_name, w, answer, identity)
        except auth.AuthError as e:
            log.error("cannot sign a token for job %s: %s", job.id, e)
            del self._foreign[job.id]
            return no
        job.state.status = agent.JS_RUNNING
        job.state.participant_identity = identity
        job.state.worker_id = w.id
        job.state.started_at = job.state.updated_at = int(time.time() * 1000)
        fj.assigned = True
        if not await conn.send(agent.ServerMessage(assignment=agent.JobAssignment(job=job, token=token))):
            self._foreign.pop(job.id, None)
            return no
        log.info("job %s (%r, room %s on node %s) assigned to worker %s as %s", job.id, job.agent_name,
                 job.room.name, host, w.id, identity)
        return agent.AvailabilityResponse(job_id=job.id, available=True, participant_identity=identity)
