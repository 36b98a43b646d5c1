"""An agent worker built on the unmodified livekit-agents package (run with the
agents venv's Python):

    LIVEKIT_URL=ws://... LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=... python agent_worker.py start

Environment: AGENT_NAME ("" = automatic dispatch), AGENT_PORT (health server port;
two workers on one host must differ), AGENT_RESULT (a file the job appends JSON
lines to), AGENT_WAIT_AUDIO (seconds to wait for a remote audio track, 0 = don't),
AGENT_HOLD (seconds to stay in the room before ending the job).  Job metadata
{"hold": N, "wait_audio": M} overrides the last two.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from livekit import rtc
from livekit.agents import JobContext, WorkerOptions, cli

RESULT = os.environ["AGENT_RESULT"]


def record(**kw) -> None:
    kw["t"] = time.time()
    with open(RESULT, "a") as f:
        f.write(json.dumps(kw) + "\n")


async def entrypoint(ctx: JobContext) -> None:
    job = {"job_id": ctx.job.id, "job_room": ctx.job.room.name}     # in every record: jobs run concurrently

    def rec(**kw) -> None:
        record(**job, **kw)

    rec(event="entrypoint", metadata=ctx.job.metadata, agent_name=ctx.job.agent_name, room=ctx.job.room.name,
        dispatch_id=ctx.job.dispatch_id)
    audio: asyncio.Future = asyncio.get_running_loop().create_future()

    @ctx.room.on("track_subscribed")
    def _subscribed(track: rtc.Track, pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant) -> None:
        rec(event="track_subscribed", kind=int(track.kind), participant=p.identity, sid=pub.sid)
        if track.kind == rtc.TrackKind.KIND_AUDIO and not audio.done():
            audio.set_result((track, p.identity))

    await ctx.connect()
    lp = ctx.room.local_participant
    rec(event="connected", room=ctx.room.name, identity=lp.identity, kind=int(lp.kind),
           attributes=dict(lp.attributes), remote=sorted(ctx.room.remote_participants))
    opts = json.loads(ctx.job.metadata) if ctx.job.metadata.startswith("{") else {}
    wait_audio = float(opts.get("wait_audio", os.environ.get("AGENT_WAIT_AUDIO", "0")))
    if wait_audio > 0:
        try:
            track, who = await asyncio.wait_for(audio, wait_audio)
            frames, end = 0, time.monotonic() + 2.0
            stream = rtc.AudioStream(track)
            async for _ev in stream:
                frames += 1
                if time.monotonic() > end:
                    break
            await stream.aclose()
            rec(event="audio", participant=who, frames=frames)
        except asyncio.TimeoutError:
            rec(event="audio_timeout")
    hold = float(opts.get("hold", os.environ.get("AGENT_HOLD", "1")))
    await asyncio.sleep(hold)
    rec(event="done")
    ctx.shutdown(reason="test done")


if __name__ == "__main__":
    cli.run_app(WorkerOptions(
        entrypoint_fnc=entrypoint,
        agent_name=os.environ.get("AGENT_NAME", ""),
        port=int(os.environ.get("AGENT_PORT", "8081")),
        num_idle_processes=1,
        # a busy 2-core test machine must not make the worker report itself FULL
        load_fnc=lambda: 0.1,
        load_threshold=0.9,
    ))
