"""The server's events, as the Python API gives them: the room, participant and track
lifecycle LiveKit's webhooks carry (the same source: sfu.webhooks.RoomEvents) and the data
packets participants send."""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

from livekit.protocol import models

log = logging.getLogger("sfu.control")

ROOM_STARTED = "room_started"
ROOM_FINISHED = "room_finished"
PARTICIPANT_JOINED = "participant_joined"
PARTICIPANT_LEFT = "participant_left"
PARTICIPANT_CONNECTION_ABORTED = "participant_connection_aborted"
TRACK_PUBLISHED = "track_published"
TRACK_UNPUBLISHED = "track_unpublished"
DATA_RECEIVED = "data_received"
EVENTS = (ROOM_STARTED, ROOM_FINISHED, PARTICIPANT_JOINED, PARTICIPANT_LEFT, PARTICIPANT_CONNECTION_ABORTED,
          TRACK_PUBLISHED, TRACK_UNPUBLISHED, DATA_RECEIVED)

QUEUE_LIMIT = 10_000      # events an iterator that is not read holds before it drops the oldest


@dataclass
class Event:
    """One event.  `name` is one of `EVENTS`; `room` the room as it is now (name, sid,
    metadata, ...).  `participant` is set for participant, track and data events (for a
    track event only its sid and identity), `track` for track events; `room_end_reason`
    (a livekit RoomEndReason) for room_finished.  For data_received: `data_packet` is the
    LiveKit DataPacket as delivered (stamped with the sender), `data` and `topic` its user
    payload and topic (empty for other packet kinds: RPC, chat, transcription ...), `label`
    the data channel (`_reliable` or `_lossy`)."""

    name: str
    room: models.Room
    participant: models.ParticipantInfo | None = None
    track: models.TrackInfo | None = None
    room_end_reason: int = 0
    data_packet: models.DataPacket | None = None
    label: str = ""

    @property
    def data(self) -> bytes:
        """the user payload of a data_received event (b"" for other packets and events)"""
        p = self.data_packet
        return bytes(p.user.payload) if p is not None and p.HasField("user") else b""

    @property
    def topic(self) -> str:
        """the user packet's topic ("" when it has none)"""
        p = self.data_packet
        return p.user.topic if p is not None and p.HasField("user") else ""


Callback = Callable[[Event], Awaitable[None] | None]


def _known(names: Iterable[str]) -> frozenset[str]:
    """the names, all of them in EVENTS: a misspelt one would otherwise never match"""
    wanted = frozenset(names)
    unknown = wanted - set(EVENTS)
    if unknown:
        raise ValueError(f"unknown event(s) {', '.join(sorted(unknown))}; known: {', '.join(EVENTS)}")
    return wanted


class EventStream:
    """`async for event in stream`: the events since the stream was made, in order.  It holds
    at most QUEUE_LIMIT events not yet read (older ones are dropped)."""

    def __init__(self, hub: EventHub, names: frozenset[str] | None) -> None:
        self._hub = hub
        self._names = names
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        hub._queues.append(self._queue)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        while True:
            ev = await self._queue.get()
            if ev is None:
                self.close()
                raise StopAsyncIteration
            if self._names is None or ev.name in self._names:
                return ev

    def close(self) -> None:
        """stop receiving events"""
        if self._queue in self._hub._queues:
            self._hub._queues.remove(self._queue)


class EventHub:
    """Fans each event out to the iterators (`subscribe()`) and callbacks (`on()`) registered."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[Event | None]] = []
        self._callbacks: list[tuple[frozenset[str], Callback]] = []
        self._tasks: set[asyncio.Task] = set()
        self.dropped = 0

    def on(self, names: str | tuple[str, ...] | list[str] | None, fn: Callback) -> Callable[[], None]:
        """call `fn(event)` for every event named in `names` (None: every event); `fn` may be a
        coroutine function (each call then runs as a task of its own).  Returns a function
        that removes the callback."""
        wanted = _known(EVENTS if names is None else ([names] if isinstance(names, str) else names))
        entry = (wanted, fn)
        self._callbacks.append(entry)
        return lambda: self._callbacks.remove(entry) if entry in self._callbacks else None

    def subscribe(self, names: str | tuple[str, ...] | list[str] | None = None) -> EventStream:
        """an async iterator of every event from now on (only those named in `names`, if
        given; an unknown name raises ValueError, as in on()), in order, until the server
        stops or the stream is closed"""
        if isinstance(names, str):
            names = [names]
        return EventStream(self, None if names is None else _known(names))

    def emit(self, ev: Event) -> None:
        for q in list(self._queues):
            if q.qsize() >= QUEUE_LIMIT:
                q.get_nowait()
                self.dropped += 1
            q.put_nowait(ev)
        for names, fn in list(self._callbacks):
            if ev.name not in names:
                continue
            try:
                out: Any = fn(ev)
            except Exception:
                log.exception("%s callback failed", ev.name)
                continue
            if inspect.isawaitable(out):
                task = asyncio.ensure_future(out)
                self._tasks.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event callback failed", exc_info=task.exception())

    async def close(self) -> None:
        """end every iterator; wait (at most 2 s) for the callbacks still running"""
        for q in list(self._queues):
            q.put_nowait(None)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
