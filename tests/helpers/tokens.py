"""The development key pair (`sfu serve --dev`) and access tokens signed with it."""

from __future__ import annotations

from sfu.auth import KeyProvider, VideoGrant

API_KEY = "devkey"
API_SECRET = "secret"
KEYS = {API_KEY: API_SECRET}
kp = KeyProvider(KEYS)          # kp.create(API_KEY, ...) for anything special, kp.verify(token)


def token(identity: str = "", name: str = "", **grant) -> str:
    """a token for `identity` with these VideoGrant fields (room=, roomJoin=, roomAdmin=, agent=, ...)"""
    return kp.create(API_KEY, identity=identity, video=VideoGrant(**grant), name=name)


def join_token(identity: str, room: str, name: str | None = None, metadata: str = "", **grant) -> str:
    """a participant's token: roomJoin for `room` (unless `grant` says otherwise), named after its identity"""
    grant.setdefault("roomJoin", True)
    return kp.create(API_KEY, identity=identity, video=VideoGrant(room=room, **grant),
                     name=identity if name is None else name, metadata=metadata)
