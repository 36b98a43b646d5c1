"""The token a JobAssignment carries: the agent joins its job's room with it.

Signed with the API key the worker authenticated with; roomJoin for the room and the `agent`
grant, the permissions the worker registered with, kind AGENT, and the attribute naming the
agent (as LiveKit does).
"""

from __future__ import annotations

from livekit.protocol import agent

from .. import auth
from .dispatcher import WorkerInfo

JOB_TOKEN_TTL = 3600
AGENT_NAME_ATTRIBUTE = "lk.agent.name"


def job_token(keys: auth.KeyProvider, room: str, agent_name: str, w: WorkerInfo, resp: agent.AvailabilityResponse,
              identity: str) -> str:
    """raises auth.AuthError when the worker's API key is gone"""
    perm = w.grants()
    attrs = dict(resp.participant_attributes)
    attrs[AGENT_NAME_ATTRIBUTE] = agent_name
    video = auth.VideoGrant(roomJoin=True, room=room, agent=True, canPublish=perm.can_publish,
                            canSubscribe=perm.can_subscribe, canPublishData=perm.can_publish_data,
                            canUpdateOwnMetadata=perm.can_update_metadata, hidden=perm.hidden)
    return keys.create(w.api_key, identity=identity, video=video, ttl=JOB_TOKEN_TTL,
                       name=resp.participant_name, metadata=resp.participant_metadata,
                       attributes=attrs, kind="agent")
