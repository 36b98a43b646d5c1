"""`--simulate-speakers`: which simulated audio publisher speaks when, and how soon the
server said so.  Pure: time is an argument, randomness is a seeded generator.

The audio publishers take turns: one speaks (its RFC 6464 audio level loud) for a random
TURN_MIN..TURN_MAX seconds while the others are silent, then another one (never the same
twice in a row) takes over; a lone publisher speaks once, for the whole run.  Each turn is a speaker change the server's active-speaker
detection should report (SpeakersChanged naming the new speaker active); `detection`
measures the delay per turn and subscriber from what each subscriber's signalling saw.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

TURN_MIN = 2.0            # s a speaker keeps the floor, at least
TURN_MAX = 4.0
LOUD_DBOV = 25            # -dBov of a speaking publisher's audio level (RFC 6464)
SILENT_DBOV = 127


@dataclass(frozen=True)
class Turn:
    at: float             # when this publisher started speaking (monotonic s)
    speaker: str          # its identity


class SpeakerSchedule:
    def __init__(self, speakers: list[str], seed: int | None = None) -> None:
        if not speakers:
            raise ValueError("no audio publisher to speak")
        self.speakers = list(speakers)
        self._rng = random.Random(seed)
        self.turns: list[Turn] = []
        self._next = 0.0

    def step(self, now: float) -> Turn | None:
        """the turn starting now, if one is due (None: the current speaker goes on)"""
        if self.turns and (now < self._next or len(self.speakers) == 1):
            return None
        last = self.turns[-1].speaker if self.turns else None
        choices = [s for s in self.speakers if s != last] or self.speakers
        turn = Turn(now, self._rng.choice(choices))
        self.turns.append(turn)
        self._next = now + self._rng.uniform(TURN_MIN, TURN_MAX)
        return turn

    def level(self, identity: str) -> int:
        """the -dBov a publisher sends now"""
        return LOUD_DBOV if self.turns and self.turns[-1].speaker == identity else SILENT_DBOV


def detection(turns: list[Turn], seen: dict[str, list[tuple[float, set[str]]]],
              sid_of: dict[str, str], end: float) -> tuple[list[float], int]:
    """per turn and subscriber: the delay (s) until that subscriber was told the new speaker is
    active (a SpeakersChanged naming it; `seen[subscriber]` = [(time, active sids)]) before
    the next turn began (or `end`; a last turn shorter than TURN_MIN is not judged); and how
    many (turn, subscriber) pairs were never told"""
    delays: list[float] = []
    missed = 0
    for k, t in enumerate(turns):
        until = turns[k + 1].at if k + 1 < len(turns) else end
        if until - t.at < TURN_MIN:
            continue             # the last turn, cut short by the end of the run: not judged
        sid = sid_of.get(t.speaker)
        for events in seen.values():
            hit = next((at for at, active in events if t.at <= at < until and sid in active), None)
            if hit is None:
                missed += 1
            else:
                delays.append(hit - t.at)
    return delays, missed


def summary(turns: int, observers: int, delays: list[float], missed: int) -> dict:
    """the report's speakers section"""
    d = sorted(delays)

    def pct(q: float) -> float | None:
        return round(1000 * d[min(len(d) - 1, int(q * len(d)))], 1) if d else None
    return {"turns": turns, "observers": observers, "detected": len(d), "missed": missed,
            "delay_ms_p50": pct(0.5), "delay_ms_p99": pct(0.99)}
