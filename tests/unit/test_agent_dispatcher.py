"""The agent Dispatcher alone (sfu.agents.dispatcher, no I/O): weighted choice,
workers of other nodes, the job state machine."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from livekit.protocol import agent

from sfu.agents.dispatcher import Dispatcher, InvalidTransition, JobRecord, WorkerInfo


def _job(d: Dispatcher, agent_name: str = "a") -> JobRecord:
    from livekit.protocol import models
    return d.add_job(d.add_dispatch("r", agent_name), agent.JT_ROOM, models.Room(name="r"))


def test_choice_is_weighted_by_one_minus_load_and_skips_full_workers():
    d = Dispatcher(random.Random(1234))
    loads = {"AW_a": 0.0, "AW_b": 0.5, "AW_c": 0.75, "AW_full": 0.0, "AW_other": 0.0}
    for wid, load in loads.items():
        d.register(WorkerInfo(id=wid, agent_name="x" if wid == "AW_other" else "a", load=load,
                              status=agent.WS_FULL if wid == "AW_full" else agent.WS_AVAILABLE))
    job = _job(d)
    picks = Counter(d.choose(job).id for _ in range(20000))
    assert set(picks) == {"AW_a", "AW_b", "AW_c"}        # FULL and other-named workers never chosen
    # weights 1 : 0.5 : 0.25 -> 4/7, 2/7, 1/7
    for wid, share in (("AW_a", 4 / 7), ("AW_b", 2 / 7), ("AW_c", 1 / 7)):
        assert abs(picks[wid] / 20000 - share) < 0.015, picks
    assert d.choose(job, exclude={"AW_a", "AW_b", "AW_c"}) is None
    # all fully loaded (but still reporting available): a uniform choice rather than none
    for wid in ("AW_a", "AW_b", "AW_c"):
        d.workers[wid].load = 1.0
    assert {d.choose(job).id for _ in range(200)} == {"AW_a", "AW_b", "AW_c"}


def test_workers_of_other_nodes_are_synced_chosen_and_their_jobs_returned_when_gone():
    d = Dispatcher(random.Random(1))
    d.register(WorkerInfo(id="AW_local", agent_name="a", status=agent.WS_FULL))
    job = _job(d)
    assert d.choose(job) is None
    # a FULL remote worker: nothing to launch; becoming available: the pending job
    assert d.sync_remote([WorkerInfo(id="AW_r", node="n2", agent_name="a", status=agent.WS_FULL)]) == []
    assert d.choose(job) is None
    assert d.sync_remote([WorkerInfo(id="AW_r", node="n2", agent_name="a", load=0.5)]) == [job]
    w = d.choose(job)
    assert w.id == "AW_r" and w.node == "n2" and w.load == 0.5
    d.asking(job, w)
    d.accepted(job, w, "agent-x")
    assert d.sync_remote([WorkerInfo(id="AW_r", node="n2", agent_name="a", load=0.9)]) == []  # still there
    assert job.state == "running"
    # gone from what the nodes advertise: its job is pending again; local workers are kept
    assert d.sync_remote([]) == [job] and job.state == "pending" and job.error == "worker disconnected"
    assert set(d.workers) == {"AW_local"}


def test_job_state_machine():
    d = Dispatcher()
    w = WorkerInfo(id="AW_1", agent_name="a")
    assert d.register(w) == []
    job = _job(d)
    assert d.pending_for(w) == [job]
    d.asking(job, w)
    assert job.to_proto().state.status == agent.JS_PENDING and job.worker_id == "AW_1"
    d.declined(job, w)
    assert job.state == "pending" and job.worker_id == ""
    d.asking(job, w)
    d.accepted(job, w, "agent-x")
    assert job.to_proto().state.status == agent.JS_RUNNING and job.started_at > 0
    assert d.job_update("AW_other", job.id, agent.JS_SUCCESS) is None     # not its job
    # the worker goes away: the job is pending again, for someone else
    assert d.unregister("AW_1") == [job] and job.state == "pending"
    w2 = WorkerInfo(id="AW_2", agent_name="a")
    assert d.register(w2) == [job]
    d.asking(job, w2)
    d.accepted(job, w2, "agent-x")
    assert d.job_update("AW_2", job.id, agent.JS_SUCCESS) is job
    assert job.terminal and job.to_proto().state.status == agent.JS_SUCCESS and job.ended_at > 0
    with pytest.raises(InvalidTransition):
        job.to("running")
    assert d.job_update("AW_2", job.id, agent.JS_FAILED) is None          # terminal stays terminal
    # FULL -> AVAILABLE hands the worker the pending jobs; staying available does not repeat them
    j2 = _job(d)
    assert d.update_worker("AW_2", agent.WS_FULL, 0.9, 3) == []
    assert d.update_worker("AW_2", agent.WS_AVAILABLE, 0.2, 2) == [j2]
    assert d.update_worker("AW_2", agent.WS_AVAILABLE, 0.2, 2) == []
    assert d.cancel(j2, agent.JSR_DISPATCH_DELETED) == "" and j2.state == "cancelled"
