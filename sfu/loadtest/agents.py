"""The agent load test (as `lk perf agent-load-test`): N rooms, in each one simulated participant
that dispatches an agent by name (AgentDispatchService.CreateDispatch) and measures

* dispatch latency: CreateDispatch sent -> the agent participant (kind AGENT) in the room, as
  the participant learns it (its ParticipantUpdate);
* with an agent that echoes (``examples/echo_agent.py``, a livekit-agents worker): RoomService.
  SendData to the agent on ECHO_TOPIC, its reply (publish_data on REPLY_TOPIC) decoded on the
  participant's data channel.  Warm-up pings every WARMUP_INTERVAL until one comes back give the
  time until the agent answers (CreateDispatch sent -> first echo: its data channels are up);
  then `pings` measured round trips per room.

A room whose participant could not join, whose dispatch failed or whose agent never came is
reported as failed with the reason, never left out; echoes that did not come back within
ECHO_TIMEOUT are counted as lost.  Percentiles over every room's measurements.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

from livekit.protocol import models

from .. import auth
from ..api.client import AgentDispatchClient, RoomClient, TwirpError
from .livekit import Participant, SignalError
from .cli_run import run_report
from .peer import PeerError, local_ip_towards

ECHO_TOPIC = "sfu-echo"            # what the load test sends the agent
REPLY_TOPIC = "sfu-echo-reply"     # what the echo agent answers with (the same payload)
ECHO_TIMEOUT = 5.0                 # s: an echo later than this is lost
WARMUP_INTERVAL = 0.25             # s between two warm-up pings
IDENTITY = "echo-participant"


@dataclass
class Options:
    url: str
    agent_name: str
    api_key: str = "devkey"
    api_secret: str = "secret"
    rooms: int = 1
    room_prefix: str = "agent-load"
    pings: int = 10                 # echo round trips per room (0: dispatch only)
    ping_interval: float = 0.2      # s between two pings of a room
    join_timeout: float = 20.0      # s for the agent to join after its dispatch
    concurrency: int = 16           # rooms set up at once
    bind_ip: str = ""


@dataclass
class RoomResult:
    room: str
    dispatch_ms: float | None = None
    answer_ms: float | None = None  # CreateDispatch sent -> the first warm-up echo back
    agent: str = ""                 # the agent participant's identity
    echo_ms: list[float] = field(default_factory=list)
    echo_lost: int = 0
    error: str = ""


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * len(s)))], 1)


def _token(opts: Options, room: str) -> str:
    grant = auth.VideoGrant(room=room, roomJoin=True, canPublish=False, canSubscribe=True, canPublishData=False)
    return auth.KeyProvider({opts.api_key: opts.api_secret}).create(opts.api_key, identity=IDENTITY,
                                                                   video=grant, ttl=3600)


def _agent_in(p: Participant) -> models.ParticipantInfo | None:
    return next((i for i in p.others.values() if i.kind == models.ParticipantInfo.AGENT), None)


async def _room(opts: Options, room: str, bind_ip: str, api: RoomClient, dispatch: AgentDispatchClient) -> RoomResult:
    res = RoomResult(room)
    replies: dict[bytes, float] = {}

    def on_data(label: str, data: bytes) -> None:
        pkt = models.DataPacket.FromString(data)
        if pkt.WhichOneof("value") == "user" and pkt.user.topic == REPLY_TOPIC:
            replies.setdefault(pkt.user.payload, time.monotonic())

    p = Participant(opts.url, _token(opts, room), IDENTITY, bind_ip, auto_subscribe=False, on_data=on_data)
    try:
        await p.connect()
        (await p.subscriber_connected()).start_consent()
        t0 = time.monotonic()
        try:
            await dispatch.create_dispatch(room, opts.agent_name)
        except TwirpError as exc:
            res.error = f"dispatch: {exc}"
            return res
        deadline = t0 + opts.join_timeout
        while (agent := _agent_in(p)) is None and time.monotonic() < deadline and not p.left:
            p.others_changed.clear()
            try:
                await asyncio.wait_for(p.others_changed.wait(), max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
        if agent is None:
            res.error = f"left: {p.left}" if p.left else f"no agent within {opts.join_timeout:.0f} s"
            return res
        res.dispatch_ms = round(1000 * (time.monotonic() - t0), 1)
        res.agent = agent.identity
        if opts.pings:
            k = 0
            while not any(tag.startswith(b"warm/") for tag in replies) and time.monotonic() < deadline:
                await api.send_data(room, b"warm/%d" % k, destination_identities=[agent.identity], topic=ECHO_TOPIC)
                k += 1
                await asyncio.sleep(WARMUP_INTERVAL)
            first = min((t for tag, t in replies.items() if tag.startswith(b"warm/")), default=None)
            if first is None:
                res.error = f"the agent did not echo within {opts.join_timeout:.0f} s of its dispatch"
                return res
            res.answer_ms = round(1000 * (first - t0), 1)
        sent: dict[bytes, float] = {}
        for k in range(opts.pings):
            tag = f"{room}/{k}/{time.time_ns()}".encode()
            sent[tag] = time.monotonic()
            await api.send_data(room, tag, destination_identities=[agent.identity], topic=ECHO_TOPIC)
            await asyncio.sleep(opts.ping_interval)
        until = time.monotonic() + ECHO_TIMEOUT
        while len(replies.keys() & sent.keys()) < len(sent) and time.monotonic() < until:
            await asyncio.sleep(0.02)
        for tag, t in sent.items():
            back = replies.get(tag)
            if back is not None and back - t <= ECHO_TIMEOUT:
                res.echo_ms.append(round(1000 * (back - t), 2))
            else:
                res.echo_lost += 1
        return res
    except (SignalError, PeerError, OSError, asyncio.TimeoutError, TwirpError) as exc:
        res.error = str(exc) or type(exc).__name__
        return res
    finally:
        await p.close()


async def run(opts: Options, out: Callable[[str], None] = print) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(opts.url if "://" in opts.url else f"ws://{opts.url}")
    bind_ip = opts.bind_ip or local_ip_towards(parts.hostname or "127.0.0.1")
    stamp = int(time.time())
    names = [f"{opts.room_prefix}-{stamp}-{i}" for i in range(opts.rooms)]
    sem = asyncio.Semaphore(max(1, opts.concurrency))
    t0 = time.monotonic()
    async with RoomClient(opts.url, opts.api_key, opts.api_secret) as api, \
            AgentDispatchClient(opts.url, opts.api_key, opts.api_secret) as dispatch:
        async def one(room: str) -> RoomResult:
            async with sem:
                return await _room(opts, room, bind_ip, api, dispatch)
        out(f"agent load test: {opts.rooms} rooms, agent {opts.agent_name!r}, {opts.pings} echoes each, "
            f"on {opts.url}")
        results = await asyncio.gather(*(one(r) for r in names))
    dispatch_ms = [r.dispatch_ms for r in results if r.dispatch_ms is not None]
    answer_ms = [r.answer_ms for r in results if r.answer_ms is not None]
    echo = [x for r in results for x in r.echo_ms]
    lost = sum(r.echo_lost for r in results)
    failed = [r for r in results if r.error]
    summary = {
        "rooms": opts.rooms, "agents_joined": len(dispatch_ms), "failed": len(failed),
        "dispatch_ms_p50": percentile(dispatch_ms, 0.5), "dispatch_ms_p95": percentile(dispatch_ms, 0.95),
        "dispatch_ms_p99": percentile(dispatch_ms, 0.99), "dispatch_ms_max": max(dispatch_ms, default=None),
        "answer_ms_p50": percentile(answer_ms, 0.5), "answer_ms_p99": percentile(answer_ms, 0.99),
        "answer_ms_max": max(answer_ms, default=None),
        "echo_sent": len(echo) + lost, "echo_received": len(echo), "echo_lost": lost,
        "echo_ms_p50": percentile(echo, 0.5), "echo_ms_p95": percentile(echo, 0.95),
        "echo_ms_p99": percentile(echo, 0.99), "echo_ms_max": max(echo, default=None),
        "echo_ms_mean": round(statistics.fmean(echo), 2) if echo else None,
        "seconds": round(time.monotonic() - t0, 1),
    }
    return {"summary": summary, "rooms": [r.__dict__ for r in results]}


def format_report(rep: dict[str, Any]) -> str:
    s = rep["summary"]
    lines = [f"rooms {s['rooms']}: agent joined in {s['agents_joined']}, failed {s['failed']} "
             f"({s['seconds']} s)",
             f"dispatch -> agent in the room: p50 {s['dispatch_ms_p50']} ms, p95 {s['dispatch_ms_p95']} ms, "
             f"p99 {s['dispatch_ms_p99']} ms, max {s['dispatch_ms_max']} ms",
             f"dispatch -> first echo (the agent answers): p50 {s['answer_ms_p50']} ms, "
             f"p99 {s['answer_ms_p99']} ms, max {s['answer_ms_max']} ms",
             f"echo round trip: {s['echo_received']} of {s['echo_sent']} back (lost {s['echo_lost']}), "
             f"p50 {s['echo_ms_p50']} ms, p95 {s['echo_ms_p95']} ms, p99 {s['echo_ms_p99']} ms, "
             f"max {s['echo_ms_max']} ms"]
    for r in rep["rooms"]:
        if r["error"]:
            lines.append(f"  FAILED {r['room']}: {r['error']}")
    return "\n".join(lines)


def main(opts: Options, json_path: str | None) -> int:
    rep = run_report("sfu agent-load-test", lambda out: run(opts, out=out), format_report, json_path,
                     (OSError, TwirpError))
    return 0 if rep is not None and rep["summary"]["failed"] == 0 and rep["summary"]["echo_lost"] == 0 else 1
