"""Who is speaking in a room, from the RFC 6464 levels the data plane counts per audio track
(sfu_audio_level_stats_t: packets with a level, the loud ones at or above -35 dBov, and their
-dBov summed; cumulative, so each look compares two reads).

A participant speaks when, since the last look, at least ACTIVE_FRACTION of the packets of one
of its audio tracks were loud (LiveKit's defaults: active level 35, min percentile 40); its
level is the loud packets' mean, as amplitude (10^(-dBov/20), 0..1).  A look reports what
changed: who started (with the level), whose level moved by more than LEVEL_STEP, and who
stopped (active false) -- the SpeakersChanged livekit-client merges into its speaker list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from livekit.protocol import models

ACTIVE_FRACTION = 0.4
LEVEL_STEP = 0.1


@dataclass(frozen=True)
class Levels:
    packets: int = 0
    loud: int = 0
    loud_dbov_sum: int = 0


def speaking_level(before: Levels, now: Levels) -> float | None:
    """the level of a track between two reads, None when it was not speaking"""
    packets, loud = now.packets - before.packets, now.loud - before.loud
    if packets <= 0 or loud <= 0 or loud < ACTIVE_FRACTION * packets:
        return None
    mean_dbov = (now.loud_dbov_sum - before.loud_dbov_sum) / loud
    return round(10 ** (-mean_dbov / 20), 3)


class ActiveSpeakers:
    """the speakers of one room across looks"""

    def __init__(self) -> None:
        self.last: dict[str, Levels] = {}        # track key -> its last read
        self.speaking: dict[str, float] = {}     # participant sid -> level reported

    def look(self, reads: Mapping[str, tuple[str, Levels]]) -> list[models.SpeakerInfo]:
        """`reads`: track key -> (its participant's sid, its levels now); the changes to report"""
        levels: dict[str, float] = {}
        for key, (sid, now) in reads.items():
            before = self.last.get(key)
            self.last[key] = now
            if before is None:
                continue
            level = speaking_level(before, now)
            if level is not None:
                levels[sid] = max(level, levels.get(sid, 0.0))
        for key in [k for k in self.last if k not in reads]:
            del self.last[key]
        changes = []
        for sid, level in sorted(levels.items(), key=lambda kv: -kv[1]):
            old = self.speaking.get(sid)
            if old is None or abs(old - level) > LEVEL_STEP:
                self.speaking[sid] = level
                changes.append(models.SpeakerInfo(sid=sid, level=level, active=True))
        for sid in [s for s in self.speaking if s not in levels]:
            del self.speaking[sid]
            changes.append(models.SpeakerInfo(sid=sid, level=0.0, active=False))
        return changes
