"""Which ParticipantUpdates go to a room at once and which wait for the next batch.

Like LiveKit (pkg/rtc/room.go, PushAndDequeueUpdates): an update about a publisher (a
session that published once), or a participant leaving, goes out at once; one about a
subscriber-only participant (a viewer joining, changing metadata) waits for the batch sent
every BATCH_INTERVAL, where a newer update of the same participant replaces an older one.
Subscriber-only here means its grant does not let it publish media: a participant that may
publish but has not yet is announced at once (clients name the sender of a data packet only
if they know it, and conference participants often send data before their first track), and
a viewer that sends data is announced before its packet (`take_one`).  A join storm of N
viewers costs each participant a few messages instead of N.  Pure: no IO, no clock.
"""

from __future__ import annotations

from livekit.protocol import models

BATCH_INTERVAL = 3.0


class UpdateBatch:
    def __init__(self) -> None:
        self.pending: dict[str, models.ParticipantInfo] = {}     # identity -> its latest info
        # sessions that published once: their updates stay immediate (the one saying its last
        # track is gone too)
        self.publishers: set[str] = set()

    def push(self, info: models.ParticipantInfo) -> list[models.ParticipantInfo]:
        """the infos to send now (none when `info` waits for the batch)"""
        queued = self.pending.get(info.identity)
        if queued is not None and queued.sid == info.sid and info.version < queued.version:
            return []                                  # older than what is queued
        if info.is_publisher:
            self.publishers.add(info.sid)
        if info.sid in self.publishers or info.permission.can_publish or \
                info.state == models.ParticipantInfo.DISCONNECTED:
            self.pending.pop(info.identity, None)      # this one says more than what was queued
            if info.state == models.ParticipantInfo.DISCONNECTED:
                self.publishers.discard(info.sid)
            return [info]
        self.pending[info.identity] = info
        return []

    def take_one(self, identity: str) -> models.ParticipantInfo | None:
        """what is queued about one participant, taken out of the batch (to send it now)"""
        return self.pending.pop(identity, None)

    def take(self) -> list[models.ParticipantInfo]:
        """the batch: every queued info, once"""
        out = list(self.pending.values())
        self.pending.clear()
        return out
