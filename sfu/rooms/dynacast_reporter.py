"""Every INTERVAL seconds: for each simulcast video track of this node's rooms, the highest
quality its subscribers need (sfu.rooms.dynacast), and a SubscribedQualityUpdate to its
publisher when that changed.  Clients that publish with `dynacast` on pause the layers
nobody needs; others ignore the message."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable

from livekit.protocol import rtc

from .dynacast import DynacastQuality, enabled_qualities, needed_quality
from .periodic import Periodic

log = logging.getLogger("sfu.rooms")

INTERVAL = 0.5


def quality_update(track_sid: str, codec: str, quality: int) -> rtc.SignalResponse:
    qualities = [rtc.SubscribedQuality(quality=q, enabled=on) for q, on in enabled_qualities(quality)]
    return rtc.SignalResponse(subscribed_quality_update=rtc.SubscribedQualityUpdate(
        track_sid=track_sid, subscribed_qualities=qualities,
        subscribed_codecs=[rtc.SubscribedCodec(codec=codec, qualities=qualities)]))


class DynacastReporter:
    def __init__(self, rooms: Callable[[], Iterable[Any]], interval: float = INTERVAL) -> None:
        self.rooms = rooms
        self.interval = interval
        self.tracks: dict[str, DynacastQuality] = {}      # track sid -> its decision
        self._timer = Periodic(interval, self._tick, "dynacast")
        self.start, self.stop = self._timer.start, self._timer.stop

    async def _tick(self) -> None:
        await self.look(list(self.rooms()), time.monotonic())

    async def look(self, rooms: list[Any], now: float) -> None:
        seen = set()
        for room in rooms:
            for pub in list(room.all_tracks()):
                if pub.kind != "video" or len(pub.expected_rids) < 2 or pub.participant.closed:
                    continue
                seen.add(pub.sid)
                d = self.tracks.get(pub.sid)
                if d is None:
                    d = self.tracks[pub.sid] = DynacastQuality(now)
                told = d.update(needed_quality(pub.subscriptions.values()), now)
                if told is None:
                    continue
                codec = (pub.codec.name if pub.codec else "").lower()
                log.info("%s: dynacast %s: layers up to quality %d", pub.participant.identity, pub.sid, told)
                for layer in pub.layers.values():       # the stops we ask for are no flapping
                    layer.activity.suppress(layer.quality > told, now)
                await pub.participant.send(quality_update(pub.sid, codec, told))
        for sid in set(self.tracks) - seen:
            del self.tracks[sid]
