"""Agent dispatch decisions, without I/O.

The Dispatcher keeps the registry of agent workers, the dispatches of every
room and their jobs, and decides which worker is asked next.  The WebSocket
driver (sfu.agents.service) feeds it what workers report and carries out what
it decides; these objects never send anything themselves.

Job states (JobRecord.state):

    PENDING --ask--> ASKING --accepted--> RUNNING --worker reports--> SUCCESS | FAILED
       ^               |                     |
       +---declined----+                     +--worker gone--> PENDING (re-dispatched)
    any non-terminal state --dispatch deleted / room closed--> CANCELLED

SUCCESS, FAILED and CANCELLED are terminal.  An availability answer with
`terminate` set goes ASKING -> SUCCESS (the worker is done without joining).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from livekit.protocol import agent, agent_dispatch, models

from ..ids import new_sid

PENDING, ASKING, RUNNING, SUCCESS, FAILED, CANCELLED = "pending", "asking", "running", "success", "failed", "cancelled"
TERMINAL = frozenset((SUCCESS, FAILED, CANCELLED))
TRANSITIONS = {
    PENDING: {ASKING, FAILED, CANCELLED},
    ASKING: {PENDING, RUNNING, SUCCESS, FAILED, CANCELLED},
    RUNNING: {PENDING, SUCCESS, FAILED, CANCELLED},
    SUCCESS: set(), FAILED: set(), CANCELLED: set(),
}
STATUS = {PENDING: agent.JS_PENDING, ASKING: agent.JS_PENDING, RUNNING: agent.JS_RUNNING,
          SUCCESS: agent.JS_SUCCESS, FAILED: agent.JS_FAILED, CANCELLED: agent.JS_CANCELLED}
JOB_TYPE_NAMES = {agent.JT_ROOM: "room", agent.JT_PUBLISHER: "publisher", agent.JT_PARTICIPANT: "participant"}


class InvalidTransition(Exception):
    pass


def _ms() -> int:
    return int(time.time() * 1000)


@dataclass
class WorkerInfo:
    """One registered worker (a WebSocket on the /agent endpoint)."""
    id: str
    agent_name: str = ""
    namespace: str = ""
    job_type: int = agent.JT_ROOM
    version: str = ""
    permissions: models.ParticipantPermission | None = None
    api_key: str = ""                       # the key the worker authenticated with signs its job tokens
    status: int = agent.WS_AVAILABLE
    load: float = 0.0
    job_count: int = 0
    jobs: set[str] = field(default_factory=set)    # ids of jobs asked of or running on it
    closed: bool = False
    conn: Any = None                        # the driver's connection object
    node: str = ""                          # multi-node: the node it is connected to ("" = this one)

    @property
    def available(self) -> bool:
        return not self.closed and self.status == agent.WS_AVAILABLE

    def serves(self, job: "JobRecord") -> bool:
        return (self.agent_name == job.agent_name and self.namespace == job.namespace
                and self.job_type == job.type)

    def grants(self) -> models.ParticipantPermission:
        if self.permissions is None:
            return models.ParticipantPermission(can_subscribe=True, can_publish=True, can_publish_data=True,
                                                can_update_metadata=True)
        return self.permissions


class JobRecord:
    def __init__(self, dispatch: "DispatchRecord", type_: int, room: models.Room,
                 participant: models.ParticipantInfo | None = None) -> None:
        self.id = new_sid("AJ_")
        self.dispatch = dispatch
        self.type = type_
        self.room = room
        self.participant = participant
        self.agent_name = dispatch.agent_name
        self.namespace = ""
        self.metadata = dispatch.metadata
        self.state = PENDING
        self.worker_id = ""
        self.participant_identity = ""
        self.error = ""
        self.reason = agent.JSR_UNSPECIFIED
        self.started_at = 0
        self.queued_at = 0.0     # monotonic s when its assignment began (the service's clock)
        self.ended_at = 0
        self.updated_at = _ms()
        self.attempts = 0                  # availability requests sent, over all rounds

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def to(self, state: str, error: str = "") -> None:
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"job {self.id}: {self.state} -> {state}")
        self.state = state
        self.updated_at = _ms()
        if state == RUNNING:
            self.started_at = self.updated_at
        elif state == PENDING:
            self.worker_id = ""
        if state in TERMINAL:
            self.ended_at = self.updated_at
        if error:
            self.error = error

    def to_proto(self) -> agent.Job:
        job = agent.Job(id=self.id, dispatch_id=self.dispatch.id, type=self.type, room=self.room,
                        namespace=self.namespace, metadata=self.metadata, agent_name=self.agent_name,
                        state=agent.JobState(status=STATUS[self.state], error=self.error,
                                             started_at=self.started_at, ended_at=self.ended_at,
                                             updated_at=self.updated_at,
                                             participant_identity=self.participant_identity,
                                             worker_id=self.worker_id, reason=self.reason))
        if self.participant is not None:
            job.participant.CopyFrom(self.participant)
        job.attributes.update(self.dispatch.attributes)
        return job


class DispatchRecord:
    def __init__(self, room: str, agent_name: str = "", metadata: str = "",
                 attributes: dict[str, str] | None = None, implicit: bool = False, room_sid: str = "") -> None:
        self.id = new_sid("AD_")
        self.room = room
        self.room_sid = room_sid
        self.agent_name = agent_name
        self.metadata = metadata
        self.attributes = dict(attributes or {})
        self.implicit = implicit
        self.created_at = _ms()
        self.deleted_at = 0
        self.jobs: list[JobRecord] = []

    def to_proto(self) -> agent_dispatch.AgentDispatch:
        d = agent_dispatch.AgentDispatch(
            id=self.id, agent_name=self.agent_name, room=self.room, metadata=self.metadata,
            state=agent_dispatch.AgentDispatchState(jobs=[j.to_proto() for j in self.jobs],
                                                    created_at=self.created_at, deleted_at=self.deleted_at))
        d.attributes.update(self.attributes)
        return d


class Dispatcher:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.workers: dict[str, WorkerInfo] = {}
        self.dispatches: dict[str, dict[str, DispatchRecord]] = {}    # room -> id -> dispatch
        self.jobs: dict[str, JobRecord] = {}

    # -- workers ---------------------------------------------------------------------------
    def register(self, w: WorkerInfo) -> list[JobRecord]:
        """add a worker; returns the pending jobs it could take now"""
        self.workers[w.id] = w
        return self.pending_for(w)

    def update_worker(self, worker_id: str, status: int, load: float, job_count: int) -> list[JobRecord]:
        """record a status report; a worker that became available again gets the pending jobs it serves"""
        w = self.workers.get(worker_id)
        if w is None:
            return []
        was = w.available
        w.status = status if status in (agent.WS_AVAILABLE, agent.WS_FULL) else w.status
        w.load = min(1.0, max(0.0, float(load))) if load == load else w.load   # NaN keeps the old value
        w.job_count = int(job_count)
        return self.pending_for(w) if w.available and not was else []

    def unregister(self, worker_id: str) -> list[JobRecord]:
        """the worker is gone: its asked and running jobs go back to PENDING (returned, to re-dispatch)"""
        w = self.workers.pop(worker_id, None)
        if w is None:
            return []
        w.closed = True
        back = []
        for jid in sorted(w.jobs):
            job = self.jobs.get(jid)
            if job is not None and not job.terminal and job.worker_id == worker_id:
                job.to(PENDING, error="worker disconnected")
                back.append(job)
        w.jobs.clear()
        return back

    def sync_remote(self, ads: list[WorkerInfo]) -> list[JobRecord]:
        """multi-node: replace the workers of other nodes with `ads` (what those
        nodes advertise now); returns the jobs to (re)launch: those of remote
        workers that are gone, and the pending jobs a new or newly available
        remote worker serves"""
        seen = {a.id for a in ads}
        out: dict[str, JobRecord] = {}
        for wid, w in list(self.workers.items()):
            if w.node and wid not in seen:
                out.update((j.id, j) for j in self.unregister(wid))
        for a in ads:
            cur = self.workers.get(a.id)
            if cur is None:
                self.workers[a.id] = a
                if a.available:
                    out.update((j.id, j) for j in self.pending_for(a))
            elif cur.node:
                was = cur.available
                cur.status, cur.load, cur.job_count = a.status, a.load, a.job_count
                if cur.available and not was:
                    out.update((j.id, j) for j in self.pending_for(cur))
        return list(out.values())

    def pending_for(self, w: WorkerInfo) -> list[JobRecord]:
        return [j for j in self.jobs.values() if j.state == PENDING and w.serves(j)]

    def has_worker_for(self, agent_name: str, job_type: int) -> bool:
        return any(w.agent_name == agent_name and w.job_type == job_type for w in self.workers.values())

    def candidates(self, job: JobRecord, exclude: set[str] = frozenset()) -> list[WorkerInfo]:
        return [w for w in self.workers.values() if w.available and w.serves(job) and w.id not in exclude]

    def choose(self, job: JobRecord, exclude: set[str] = frozenset()) -> WorkerInfo | None:
        """random among the available workers serving the job, weighted by (1 - load);
        None when there is none"""
        cands = self.candidates(job, exclude)
        if not cands:
            return None
        weights = [max(0.0, 1.0 - w.load) for w in cands]
        if sum(weights) <= 0.0:
            return self.rng.choice(cands)
        return self.rng.choices(cands, weights=weights, k=1)[0]

    # -- job progress --------------------------------------------------------------------------
    def asking(self, job: JobRecord, w: WorkerInfo) -> None:
        job.to(ASKING)
        job.worker_id = w.id
        job.attempts += 1
        w.jobs.add(job.id)

    def declined(self, job: JobRecord, w: WorkerInfo) -> None:
        w.jobs.discard(job.id)
        if job.state == ASKING and job.worker_id == w.id:
            job.to(PENDING)

    def accepted(self, job: JobRecord, w: WorkerInfo, identity: str) -> None:
        job.participant_identity = identity
        job.to(RUNNING)

    def job_update(self, worker_id: str, job_id: str, status: int, error: str = "") -> JobRecord | None:
        """an update_job from a worker; only the worker running the job may change it"""
        job = self.jobs.get(job_id)
        if job is None or job.worker_id != worker_id or job.terminal:
            return None
        if status == agent.JS_SUCCESS:
            job.to(SUCCESS, error)
        elif status == agent.JS_FAILED:
            job.to(FAILED, error or "failed")
        elif status == agent.JS_RUNNING and job.state == ASKING:
            return None     # the assignment is on its way
        else:
            return None
        w = self.workers.get(worker_id)
        if w is not None:
            w.jobs.discard(job.id)
        return job

    def cancel(self, job: JobRecord, reason: int) -> str:
        """job ends without finishing; returns the worker that must be told ('' if none)"""
        if job.terminal:
            return ""
        wid = job.worker_id if job.state in (ASKING, RUNNING) else ""
        job.reason = reason
        job.to(CANCELLED)
        w = self.workers.get(wid)
        if w is not None:
            w.jobs.discard(job.id)
        return wid

    # -- dispatches ---------------------------------------------------------------------------------
    def add_dispatch(self, room: str, agent_name: str = "", metadata: str = "",
                     attributes: dict[str, str] | None = None, implicit: bool = False,
                     room_sid: str = "") -> DispatchRecord:
        d = DispatchRecord(room, agent_name, metadata, attributes, implicit, room_sid)
        self.dispatches.setdefault(room, {})[d.id] = d
        return d

    def add_job(self, d: DispatchRecord, type_: int, room: models.Room,
                participant: models.ParticipantInfo | None = None) -> JobRecord:
        job = JobRecord(d, type_, room, participant)
        d.jobs.append(job)
        self.jobs[job.id] = job
        return job

    def remove_dispatch(self, room: str, dispatch_id: str) -> DispatchRecord | None:
        d = self.dispatches.get(room, {}).pop(dispatch_id, None)
        if d is None:
            return None
        if not self.dispatches.get(room):
            self.dispatches.pop(room, None)
        d.deleted_at = _ms()
        return d

    def room_dispatches(self, room: str) -> list[DispatchRecord]:
        return list(self.dispatches.get(room, {}).values())

    def forget(self, d: DispatchRecord) -> None:
        for j in d.jobs:
            self.jobs.pop(j.id, None)
