"""Rooms and their membership (never sees packets).

A Room holds participants and their published tracks, produces the
LiveKit protobuf views (Room, ParticipantInfo, TrackInfo) and decides when a
room closes: `empty_timeout` after creation while nobody has joined,
`departure_timeout` after the last non-dependent (non-agent, non-egress)
participant left.  Media objects live in `room.router` (sfu.media).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from livekit.protocol import agent_dispatch, models

from .. import errors
from ..ids import new_sid
from ..media import MediaService, Router
from ..signaling.prepared_response import UpdateParts
from .participant_updates import BATCH_INTERVAL, UpdateBatch
from .track import Member, TrackPublication

log = logging.getLogger("sfu.rooms")

DEFAULT_EMPTY_TIMEOUT = 300
DEFAULT_DEPARTURE_TIMEOUT = 20
MAX_NAME_BYTES = 256


@dataclass
class RoomOptions:
    empty_timeout: int = DEFAULT_EMPTY_TIMEOUT
    departure_timeout: int = DEFAULT_DEPARTURE_TIMEOUT
    max_participants: int = 0
    metadata: str = ""
    agents: list[agent_dispatch.RoomAgentDispatch] = field(default_factory=list)


class Room:
    def __init__(self, manager: RoomManager, name: str, options: RoomOptions, router: Router) -> None:
        self.manager = manager
        self.name = name
        self.sid = new_sid("RM_")
        self.options = options
        self.metadata = options.metadata
        self.router = router
        self.created_at = time.time()
        self.participants: dict[str, Member] = {}   # identity -> participant
        self.version = 0
        self.closed = False
        self.ever_joined = False
        self.last_departure: float | None = None
        self._listeners: list[Callable[[str, Any], None]] = []
        self.updates = UpdateBatch()     # ParticipantUpdates about subscriber-only participants

    # -- views -----------------------------------------------------------------
    def to_proto(self) -> models.Room:
        visible = [p for p in self.participants.values() if not p.hidden]
        return models.Room(
            sid=self.sid, name=self.name, empty_timeout=self.options.empty_timeout,
            departure_timeout=self.options.departure_timeout, max_participants=self.options.max_participants,
            creation_time=int(self.created_at), creation_time_ms=int(self.created_at * 1000),
            metadata=self.metadata, num_participants=len(visible),
            num_publishers=sum(1 for p in visible if p.tracks),
            version=models.TimedVersion(unix_micro=int(self.created_at * 1e6), ticks=self.version))

    def on(self, fn: Callable[[str, Any], None]) -> None:
        self._listeners.append(fn)

    def emit(self, event: str, arg: Any) -> None:
        for fn in list(self._listeners):
            try:
                fn(event, arg)
            except Exception:
                log.exception("room %s: %s listener failed", self.name, event)

    # -- membership --------------------------------------------------------------
    def check_can_join(self, identity: str) -> None:
        if self.closed:
            raise errors.InvalidStateError(f"room {self.name} is closed")
        if self.options.max_participants:
            others = [p for p in self.participants.values() if not p.dependent and p.identity != identity]
            if len(others) >= self.options.max_participants:
                raise errors.LimitReachedError(f"room {self.name} is full")

    def add(self, p: Member) -> None:
        self.participants[p.identity] = p
        if not p.dependent:       # an agent alone keeps no room open
            self.ever_joined = True
            self.last_departure = None
        self.version += 1
        self.emit("participant_joined", p)

    def remove(self, p: Member) -> None:
        if self.participants.get(p.identity) is p:
            del self.participants[p.identity]
            self.version += 1
            if not p.dependent:
                self.last_departure = time.time()
            self.emit("participant_left", p)
        if not any(not q.dependent for q in self.participants.values()):
            self.last_departure = self.last_departure or time.time()

    def all_tracks(self) -> list[TrackPublication]:
        return [t for p in self.participants.values() for t in p.tracks.values()]

    def find_track(self, sid: str) -> TrackPublication | None:
        return next((t for t in self.all_tracks() if t.sid == sid), None)

    def others(self, p: Member) -> list[Member]:
        return [q for q in self.participants.values() if q is not p]

    async def broadcast(self, infos: list[models.ParticipantInfo], exclude: Member | None = None) -> None:
        """a ParticipantUpdate to every open participant but `exclude`"""
        if not infos:
            return
        msg = UpdateParts(infos).update()      # encoded once for everyone
        for q in list(self.participants.values()):
            if q is not exclude and not q.closed:
                await q.send(msg)

    async def broadcast_participant(self, p: Member, exclude: Member | None = None) -> None:
        """p's ParticipantInfo to the room: now for a publisher or a participant leaving, with
        the next batch for a subscriber-only one (sfu.rooms.participant_updates); p itself
        (unless excluded) hears of it at once either way"""
        info = p.to_proto()
        now = self.updates.push(info)
        if now:
            await self.broadcast(now, exclude)
        elif p is not exclude and not p.closed and self.participants.get(p.identity) is p:
            await p.send_participant_update([info])

    async def announce_now(self, p: Member) -> None:
        """p's queued ParticipantUpdate, sent at once (p is about to reach the others)"""
        info = self.updates.take_one(p.identity)
        if info is not None:
            await self.broadcast([info], exclude=p)

    async def flush_updates(self) -> None:
        """the batched ParticipantUpdates, one message per participant (not its own info);
        each info is encoded once, not once per recipient"""
        infos = self.updates.take()
        if not infos:
            return
        parts = UpdateParts(infos)
        for q in list(self.participants.values()):
            mine = parts.update(q.identity)
            if mine is not None and not q.closed:
                await q.send(mine)

    def should_close(self, now: float) -> bool:
        humans = [p for p in self.participants.values() if not p.dependent]
        if humans:
            return False
        if not self.ever_joined:
            return now - self.created_at >= self.options.empty_timeout
        if self.last_departure is None:
            return False
        return now - self.last_departure >= self.options.departure_timeout

    async def close(self, reason: int = models.DisconnectReason.ROOM_DELETED) -> None:
        if self.closed:
            return
        self.closed = True
        for p in list(self.participants.values()):
            await p.disconnect(reason)
        await self.router.close()
        self.manager.rooms.pop(self.name, None)
        self.emit("closed", reason)
        log.info("room %s (%s) closed", self.name, self.sid)


class RoomManager:
    """All rooms of this node; closes idle rooms once a second."""

    def __init__(self, media: MediaService, auto_create: bool = True, defaults: RoomOptions | None = None) -> None:
        self.media = media
        self.auto_create = auto_create
        self.defaults = defaults or RoomOptions()
        self.rooms: dict[str, Room] = {}
        self._reaper: asyncio.Task | None = None
        self._batcher: asyncio.Task | None = None
        self._created_listeners: list[Callable[[Room], None]] = []
        self.draining = False      # the node is going away: its rooms go on, no new one starts

    def on_created(self, fn: Callable[[Room], None]) -> None:
        self._created_listeners.append(fn)

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap())
        self._batcher = asyncio.get_running_loop().create_task(self._send_batches())

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        if self._batcher is not None:
            self._batcher.cancel()
        for r in list(self.rooms.values()):
            await r.close(models.DisconnectReason.SERVER_SHUTDOWN)

    def create(self, name: str, options: RoomOptions | None = None) -> tuple[Room, bool]:
        """(room, created)"""
        if not name or len(name.encode()) > MAX_NAME_BYTES:
            raise errors.ProtocolError("room name must be 1..256 bytes")
        r = self.rooms.get(name)
        if r is not None and not r.closed:
            return r, False
        if self.draining:
            raise errors.DrainingError(f"this node is draining: room {name} cannot start here")
        opts = options or RoomOptions(**vars(self.defaults))
        r = Room(self, name, opts, self.media.router(name))
        self.rooms[name] = r
        log.info("room %s (%s) created", name, r.sid)
        for fn in self._created_listeners:
            fn(r)
        return r, True

    def participant_count(self) -> int:
        """participants other than agents and other dependents, in every room (what a drain waits for)"""
        return sum(1 for r in self.rooms.values() if not r.closed
                   for p in r.participants.values() if not p.dependent)

    def get(self, name: str) -> Room | None:
        r = self.rooms.get(name)
        return r if r is not None and not r.closed else None

    async def _send_batches(self) -> None:
        while True:
            await asyncio.sleep(BATCH_INTERVAL)
            for r in list(self.rooms.values()):
                if r.closed:
                    continue
                try:
                    await r.flush_updates()
                except Exception:        # one room's failure must not stop the others' updates
                    log.exception("room %s: batched participant updates", r.name)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.time()
            for r in list(self.rooms.values()):
                if r.should_close(now):
                    try:
                        await r.close(models.DisconnectReason.ROOM_CLOSED)
                    except Exception:
                        log.exception("closing room %s failed", r.name)
