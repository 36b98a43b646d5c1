"""Real livekit-agents workers against an in-process server, in a private
network namespace (see scenarios.py for why):

    unshare -n python -m interop.livekit_sdk.agent_scenarios dispatch      (from tests/)

Three workers (tests/interop/livekit_sdk/agent_worker.py, agents venv): two "test-agent"
(explicit dispatch only) and an unnamed one (automatic dispatch).
0. A dispatch created before the workers start waits for them.
1. test-agent is dispatched to my-room through `server.agents.create_dispatch`;
   a human participant (livekit rtc SDK, client venv) publishes audio in
   my-room and another in auto-room, which gets the automatic dispatch.
2. A dispatch is deleted while its agent is in the room: JobTermination.
3. The worker running a job is killed: the job moves to the other test-agent.
Prints one JSON summary on the last line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from livekit.protocol import agent, agent_dispatch, models

from sfu import config
from sfu.app import Server

from helpers.netns import add_veth
from helpers.sdk_venvs import AGENTS_PYTHON, CLIENT_PYTHON

from .scenarios import HERE, PORT, REPO, SERVER_IP, URL, client, result, token



def start_worker(name: str, agent_name: str, health_port: int, wait_audio: float, hold: float) -> tuple:
    if not os.path.exists(AGENTS_PYTHON):
        raise RuntimeError(f"no Python with livekit-agents at {AGENTS_PYTHON} (run scripts/setup)")
    res = Path(f"/tmp/sfu-agent-{name}.jsonl")
    res.unlink(missing_ok=True)
    logf = open(f"/tmp/sfu-agent-{name}.log", "w")
    env = dict(os.environ, LIVEKIT_URL=URL, LIVEKIT_API_KEY="devkey", LIVEKIT_API_SECRET="secret",
               AGENT_NAME=agent_name, AGENT_PORT=str(health_port), AGENT_RESULT=str(res),
               AGENT_WAIT_AUDIO=str(wait_audio), AGENT_HOLD=str(hold))
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen([AGENTS_PYTHON, str(HERE / "agent_worker.py"), "start"], env=env, cwd="/tmp",
                            stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, res, logf, name


def events(res: Path) -> list[dict]:
    if not res.exists():
        return []
    return [json.loads(ln) for ln in res.read_text().splitlines() if ln.strip()]


def stop_worker(w: tuple) -> str:
    proc, _res, logf, name = w
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)          # drain
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)     # leftovers of the worker's process group (job processes)
    except ProcessLookupError:
        pass
    logf.close()
    return Path(f"/tmp/sfu-agent-{name}.log").read_text()[-3000:]


def job_view(d: agent_dispatch.AgentDispatch) -> dict:
    return {"id": d.id, "agent_name": d.agent_name, "metadata": d.metadata,
            "jobs": [{"id": j.id, "status": agent.JobStatus.Name(j.state.status), "worker": j.state.worker_id,
                      "identity": j.state.participant_identity} for j in d.state.jobs]}


def agents_in(server: Server, room_name: str) -> list[str]:
    room = server.rooms.manager.get(room_name)
    return [p.identity for p in list(room.participants.values())
            if p.kind == models.ParticipantInfo.AGENT] if room else []


async def wait_for(cond, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


async def dispatch() -> dict:
    settings = config.load(dev=True, port=PORT, bind=[SERVER_IP], node_ip=SERVER_IP, workers=1)
    server = Server(settings)
    await server.start()
    out: dict = {"participants": {}}
    workers: list[tuple] = []
    humans = []
    t0 = time.monotonic()
    reg = server.agents.dispatcher.workers
    try:
        # 0. a dispatch made before any worker exists stays pending until one registers
        early = await server.agents.create_dispatch(agent_dispatch.CreateAgentDispatchRequest(
            agent_name="test-agent", room="early-room", metadata='{"hold": 0.5, "wait_audio": 0}'))
        out["early"] = {"created": job_view(early)}
        workers = [start_worker("named", "test-agent", 18081, wait_audio=20, hold=3),
                   start_worker("auto", "", 18082, wait_audio=20, hold=2),
                   start_worker("named2", "test-agent", 18083, wait_audio=20, hold=3)]
        end = time.monotonic() + 90
        while sorted(w.agent_name for w in reg.values()) != ["", "test-agent", "test-agent"]:
            if time.monotonic() > end or any(w[0].poll() is not None for w in workers):
                raise RuntimeError("agent workers did not register: " +
                                   " | ".join(Path(f"/tmp/sfu-agent-{w[3]}.log").read_text()[-1500:]
                                              for w in workers))
            await asyncio.sleep(0.2)
        out["register_s"] = round(time.monotonic() - t0, 1)
        await wait_for(lambda: any(e["event"] == "done" and e["job_room"] == "early-room"
                                   for w in workers for e in events(w[1])), 20, "the early job")
        await asyncio.sleep(0.5)
        out["early"]["listed"] = [job_view(x) for x in await server.agents.list_dispatch("early-room")]

        # 1. explicit dispatch to my-room (a human there publishes audio); automatic dispatch to auto-room
        out["t_dispatch"] = time.time()
        # through the server API, with the unmodified livekit-api package
        proc = await asyncio.create_subprocess_exec(
            CLIENT_PYTHON, str(HERE / "lkdispatch.py"), f"http://{SERVER_IP}:{PORT}", "devkey", "secret",
            "test-agent", "my-room", "my_job_metadata", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        so, se = await asyncio.wait_for(proc.communicate(), 60)
        if proc.returncode != 0:
            raise RuntimeError(f"livekit-api dispatch failed: {se.decode()[-2000:]}")
        api_out = json.loads(so.decode().strip().splitlines()[-1])
        out["api"] = api_out
        out["created"] = {**api_out["created"], "jobs": []}
        t_dispatch = time.monotonic()
        humans = [client(token("alice", room="my-room"), "publisher", 12),
                  client(token("bob", room="auto-room"), "publisher", 12)]
        end = time.monotonic() + 60
        seen: set = set()
        while time.monotonic() < end:
            for room_name in ("my-room", "auto-room"):
                room = server.rooms.manager.get(room_name)
                for p in list(room.participants.values()) if room else []:
                    key = (room_name, p.identity, models.ParticipantInfo.Kind.Name(p.kind),
                           p.attributes.get("lk.agent.name"))
                    if key not in seen:
                        seen.add(key)
                        out["participants"].setdefault(room_name, []).append(
                            {"identity": p.identity, "kind": key[2], "agent_name": key[3],
                             "t": round(time.monotonic() - t_dispatch, 2)})
            done = [e for w in workers for e in events(w[1]) if e["event"] == "done"]
            if len(done) >= 2:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)          # update_job(SUCCESS) after the agent left
        out["dispatches"] = {r: [job_view(x) for x in await server.agents.list_dispatch(r)]
                             for r in ("my-room", "auto-room")}

        # 2. deleting a dispatch terminates its job: the agent leaves by itself
        d = await server.agents.create_dispatch(agent_dispatch.CreateAgentDispatchRequest(
            agent_name="test-agent", room="term-room", metadata='{"hold": 60, "wait_audio": 0}'))
        await wait_for(lambda: agents_in(server, "term-room"), 20, "the agent in term-room")
        gone = await server.agents.delete_dispatch(d.id, "term-room")
        out["term"] = {"deleted": job_view(gone)}
        out["term"]["leave_s"] = round(await wait_for(lambda: not agents_in(server, "term-room"), 10,
                                                      "the terminated agent to leave"), 2)

        # 3. a worker dies mid-job: the job moves to the other test-agent worker
        d = await server.agents.create_dispatch(agent_dispatch.CreateAgentDispatchRequest(
            agent_name="test-agent", room="move-room", metadata='{"hold": 60, "wait_audio": 0}'))
        await wait_for(lambda: agents_in(server, "move-room"), 20, "the agent in move-room")
        job_id = d.state.jobs[0].id
        job = server.agents.dispatcher.jobs[job_id]
        first_worker = job.worker_id
        victim = next(w for w in workers if any(e.get("job_id") == job_id for e in events(w[1])))
        os.killpg(victim[0].pid, signal.SIGKILL)
        t_kill = time.monotonic()
        out["move"] = {"job_id": job_id, "killed": victim[3]}
        await wait_for(lambda: job.state == "running" and job.worker_id not in ("", first_worker), 20,
                       "the job to run on another worker")
        out["move"]["reassigned_s"] = round(time.monotonic() - t_kill, 2)
        await wait_for(lambda: any(e["event"] == "connected" and e["room"] == "move-room"
                                   for w in workers if w is not victim for e in events(w[1])), 20,
                       "the new agent to connect")
        out["move"]["rejoined_s"] = round(time.monotonic() - t_kill, 2)
        out["move"]["agents"] = agents_in(server, "move-room")
        out["move"]["dispatch"] = [job_view(x) for x in await server.agents.list_dispatch("move-room")]
        await server.agents.delete_dispatch(d.id, "move-room")     # so the worker can drain at once
        await wait_for(lambda: not agents_in(server, "move-room"), 10, "the moved agent to leave")
        out["events"] = {w[3]: events(w[1]) for w in workers}
    finally:
        # blocking waits off the event loop: the server must keep serving the leaving clients
        logs = await asyncio.gather(*(asyncio.to_thread(stop_worker, w) for w in workers))
        out["worker_logs"] = {w[3]: log for w, log in zip(workers, logs)}
        out["humans"] = [await asyncio.to_thread(result, h, 60) for h in humans]
        await server.stop()
    return out


async def agent_load() -> dict:
    """`sfu agent-load-test` (a subprocess, as a user runs it) against examples/echo_agent.py (a
    livekit-agents worker, agents venv): SFU_AGENT_LOAD_ROOMS rooms (3), SFU_AGENT_LOAD_PINGS
    echoes each (5), the worker's jobs in SFU_AGENT_LOAD_EXECUTOR (thread | process)"""
    rooms = int(os.environ.get("SFU_AGENT_LOAD_ROOMS", "3"))
    pings = int(os.environ.get("SFU_AGENT_LOAD_PINGS", "5"))
    executor = os.environ.get("SFU_AGENT_LOAD_EXECUTOR", "thread")
    settings = config.load(dev=True, port=PORT, bind=[SERVER_IP], node_ip=SERVER_IP,
                           workers=int(os.environ.get("SFU_AGENT_LOAD_WORKERS", "1")))
    server = Server(settings)
    await server.start()
    if not os.path.exists(AGENTS_PYTHON):
        raise RuntimeError(f"no Python with livekit-agents at {AGENTS_PYTHON} (run scripts/setup)")
    logf = open("/tmp/sfu-agent-echo.log", "w")
    env = dict(os.environ, LIVEKIT_URL=URL, LIVEKIT_API_KEY="devkey", LIVEKIT_API_SECRET="secret",
               AGENT_NAME="echo", AGENT_PORT="18091", AGENT_JOB_EXECUTOR=executor, AGENT_LOAD_THRESHOLD="2")
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen([AGENTS_PYTHON, str(REPO / "examples" / "echo_agent.py"), "start"], env=env,
                            cwd="/tmp", stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    worker = (proc, Path("/tmp/sfu-agent-echo.jsonl"), logf, "echo")
    out: dict = {"rooms": rooms, "pings": pings, "executor": executor}
    try:
        t0 = time.monotonic()
        reg = server.agents.dispatcher.workers
        while not any(w.agent_name == "echo" for w in reg.values()):
            if time.monotonic() - t0 > 90 or proc.poll() is not None:
                raise RuntimeError("the echo agent did not register: " +
                                   Path("/tmp/sfu-agent-echo.log").read_text()[-2000:])
            await asyncio.sleep(0.2)
        out["register_s"] = round(time.monotonic() - t0, 1)
        report = Path("/tmp/sfu-agent-load.json")
        report.unlink(missing_ok=True)
        lt = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sfu.cli", "agent-load-test", "--url", URL, "--agent-name", "echo",
            "--rooms", str(rooms), "--pings", str(pings), "--json", str(report),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(lt.communicate(), 60 + 3 * rooms)
        out.update(rc=lt.returncode, output=stdout.decode()[-3000:], stderr=stderr.decode()[-2000:],
                   report=json.loads(report.read_text()) if report.exists() else None)
    finally:
        out["worker_log"] = await asyncio.to_thread(stop_worker, worker)
        await server.stop()
    return out


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    add_veth()
    name = sys.argv[1]
    summary = {"dispatch": dispatch, "agent_load": agent_load}[name]
    print(json.dumps(asyncio.run(summary())))
