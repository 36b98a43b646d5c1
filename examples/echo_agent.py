"""An agent worker (the unmodified livekit-agents package) that echoes data: each data message on
topic "sfu-echo" goes back to the room, reliable, on topic "sfu-echo-reply".  It is the agent
`sfu agent-load-test` measures the round trip through.

    LIVEKIT_URL=ws://HOST:7880 LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret \\
        python examples/echo_agent.py start            # in a venv with livekit-agents

Environment: AGENT_NAME (the name dispatches use, default "echo"), AGENT_PORT (the worker's
health server port, default 8081), AGENT_JOB_EXECUTOR ("process", livekit-agents' default: one
process per job; "thread": every job in this process, lighter for a load test), and
AGENT_LOAD_THRESHOLD (the worker's load above which it takes no job; above 1 it always takes
them: a load test measures the server, not the worker's CPU).
"""

from __future__ import annotations

import asyncio
import os

from livekit import rtc
from livekit.agents import JobContext, JobExecutorType, WorkerOptions, cli

ECHO_TOPIC = "sfu-echo"            # sfu.loadtest.agents.ECHO_TOPIC
REPLY_TOPIC = "sfu-echo-reply"     # sfu.loadtest.agents.REPLY_TOPIC


async def entrypoint(ctx: JobContext) -> None:
    done = asyncio.Event()
    replies: set[asyncio.Task] = set()

    @ctx.room.on("data_received")
    def _echo(pkt: rtc.DataPacket) -> None:
        if pkt.topic == ECHO_TOPIC:
            task = asyncio.ensure_future(ctx.room.local_participant.publish_data(pkt.data, reliable=True,
                                                                                 topic=REPLY_TOPIC))
            replies.add(task)
            task.add_done_callback(replies.discard)

    @ctx.room.on("participant_disconnected")
    def _left(p: rtc.RemoteParticipant) -> None:
        if not ctx.room.remote_participants:
            done.set()                 # the last human left: the job is over

    await ctx.connect()
    await done.wait()
    ctx.shutdown(reason="room empty")


if __name__ == "__main__":
    extra: dict = {}
    if os.environ.get("AGENT_JOB_EXECUTOR"):
        extra["job_executor_type"] = JobExecutorType(os.environ["AGENT_JOB_EXECUTOR"])
    if os.environ.get("AGENT_LOAD_THRESHOLD"):
        extra["load_threshold"] = float(os.environ["AGENT_LOAD_THRESHOLD"])
    cli.run_app(WorkerOptions(entrypoint_fnc=entrypoint, agent_name=os.environ.get("AGENT_NAME", "echo"),
                              port=int(os.environ.get("AGENT_PORT", "8081")), **extra))
