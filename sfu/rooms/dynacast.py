"""Dynacast: which simulcast layers one published video track's publisher is asked to encode.

The highest quality any subscriber needs goes to the publisher (SubscribedQualityUpdate), so
an encoder nobody watches stops spending the publisher's uplink and CPU.  As LiveKit does
(pkg/rtc/dynacast): a higher need is said at once; a lower one only once it held for
PAUSE_DELAY (`video.dynacast_pause_delay`), and not before INITIAL_WAIT after publishing (the
first subscribers are still arriving).  Pure: `now` is an argument.
"""

from __future__ import annotations

from livekit.protocol import models

PAUSE_DELAY = 5.0
INITIAL_WAIT = 10.0
NONE = -1                      # nobody needs any layer
QUALITIES = (models.VideoQuality.LOW, models.VideoQuality.MEDIUM, models.VideoQuality.HIGH)


class DynacastQuality:
    def __init__(self, now: float, pause_delay: float = PAUSE_DELAY, initial_wait: float = INITIAL_WAIT) -> None:
        self.started = now
        self.pause_delay = pause_delay
        self.initial_wait = initial_wait
        self.told: int | None = None       # what the publisher was last told; None: nothing (it sends all)
        self._lower_since: float | None = None
        self._lower_max = NONE             # the highest need seen while it stayed lower

    @property
    def current(self) -> int:
        return models.VideoQuality.HIGH if self.told is None else self.told

    def update(self, needed: int, now: float) -> int | None:
        """`needed`: the highest quality a subscriber needs now (NONE for nobody); the quality
        to announce to the publisher now, or None when nothing is to be said"""
        if needed >= self.current:
            self._lower_since = None
            if needed > self.current:
                self.told = needed
                return needed
            return None
        if self._lower_since is None:
            self._lower_since, self._lower_max = now, needed
        else:
            self._lower_max = max(self._lower_max, needed)
        due = max(self._lower_since + self.pause_delay, self.started + self.initial_wait)
        if now < due:
            return None
        self.told, self._lower_since = self._lower_max, None
        return self.told


def needed_quality(subscriptions) -> int:
    """the highest quality among the subscriptions that receive the track (asked for, not
    turned off); NONE when none does"""
    wanted = [s.quality for s in subscriptions if not s.disabled and s.consumer is not None]
    return max(wanted, default=NONE)


def enabled_qualities(quality: int) -> list[tuple[int, bool]]:
    """(quality, enabled) for LOW, MEDIUM, HIGH: every layer up to `quality`"""
    return [(q, q <= quality) for q in QUALITIES]
