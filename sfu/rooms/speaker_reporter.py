"""Every INTERVAL seconds: the audio levels of every published audio track of this node's
rooms (the data plane counts them, PRODUCER_AUDIO_LEVEL), who started or stopped speaking
(sfu.rooms.active_speakers), and a SpeakersChanged to everyone in the room when that changed.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

from livekit.protocol import rtc

from .. import errors
from .active_speakers import ActiveSpeakers, Levels
from .periodic import Periodic

log = logging.getLogger("sfu.rooms")

INTERVAL = 0.5


class SpeakerReporter:
    def __init__(self, rooms: Callable[[], Iterable[Any]], interval: float = INTERVAL) -> None:
        self.rooms = rooms
        self.interval = interval
        self.speakers: dict[int, ActiveSpeakers] = {}     # id(room) -> its speakers
        self._timer = Periodic(interval, self._tick, "active speakers")
        self.start, self.stop = self._timer.start, self._timer.stop

    async def _tick(self) -> None:
        rooms = list(self.rooms())
        for key in set(self.speakers) - {id(r) for r in rooms}:
            del self.speakers[key]
        for room in rooms:
            try:
                await self.look(room)
            except Exception:
                log.exception("active speakers of room %s", getattr(room, "name", "?"))

    async def look(self, room: Any) -> None:
        reads: dict[str, tuple[str, Levels]] = {}
        for pub in room.all_tracks():
            layer = pub.layers.get("") if pub.kind == "audio" else None
            if layer is None or pub.info.muted or pub.participant.closed:
                continue
            try:
                got = await layer.producer.audio_level()
            except errors.SfuError:          # closed meanwhile
                continue
            reads[pub.sid] = (pub.participant.sid, Levels(int(got["packets"]), int(got["loud"]),
                                                          int(got["loud_dbov_sum"])))
        changes = self.speakers.setdefault(id(room), ActiveSpeakers()).look(reads)
        if not changes:
            return
        msg = rtc.SignalResponse(speakers_changed=rtc.SpeakersChanged(speakers=changes))
        for p in list(room.participants.values()):
            if not p.closed:
                await p.send(msg)
