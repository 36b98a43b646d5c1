"""Every INTERVAL seconds, each participant of every room of this node gets a
ConnectionQualityUpdate: its own connection quality and that of the others it can see
(sfu.rooms.connection_quality rates each one), as LiveKit sends it every 5 s.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Protocol

from livekit.protocol import models, rtc

from .connection_quality import LinkState, rate
from .periodic import Periodic

log = logging.getLogger("sfu.rooms")

INTERVAL = 5.0


class Rated(Protocol):
    sid: str
    hidden: bool
    closed: bool
    state: int

    def link_state(self) -> LinkState: ...

    async def send(self, msg: rtc.SignalResponse) -> None: ...


def updates_for(participants: Iterable[Rated]) -> dict[int, rtc.ConnectionQualityUpdate]:
    """id(participant) -> the update it gets: every visible participant's quality, and its own"""
    present = [p for p in participants if not p.closed and p.state == models.ParticipantInfo.ACTIVE]
    infos = {}
    for p in present:
        quality, score = rate(p.link_state())
        infos[id(p)] = rtc.ConnectionQualityInfo(participant_sid=p.sid, quality=quality, score=score)
    visible = [infos[id(p)] for p in present if not p.hidden]
    out = {}
    for p in present:
        mine = visible if not p.hidden else [infos[id(p)], *visible]
        out[id(p)] = rtc.ConnectionQualityUpdate(updates=mine)
    return out


class QualityReporter:
    def __init__(self, rooms: Callable[[], Iterable[Any]], interval: float = INTERVAL) -> None:
        self.rooms = rooms
        self.interval = interval
        # called with (quality, score) of each participant rated (the metrics' histograms)
        self.on_rated: Callable[[int, float], None] | None = None
        self._timer = Periodic(interval, self._tick, "connection quality")
        self.start, self.stop = self._timer.start, self._timer.stop

    async def _tick(self) -> None:
        for room in list(self.rooms()):
            try:
                await self.report(list(room.participants.values()))
            except Exception:
                log.exception("connection quality of room %s", getattr(room, "name", "?"))

    async def report(self, participants: list[Rated]) -> None:
        for p in participants:
            measure = getattr(p, "measure_uplink", None)      # publishers' uplink loss (Participant)
            if measure is not None and not p.closed:
                await measure()
        updates = updates_for(participants)
        for p in participants:
            update = updates.get(id(p))
            if update is not None and not p.closed:
                if self.on_rated is not None:
                    own = next((u for u in update.updates if u.participant_sid == p.sid), None)
                    if own is not None:
                        self.on_rated(own.quality, own.score)
                await p.send(rtc.SignalResponse(connection_quality=update))
