"""--simulate-speakers: the turn schedule and the detection delays (pure)."""

from __future__ import annotations

import pytest

from sfu.loadtest.speakers import (LOUD_DBOV, SILENT_DBOV, TURN_MAX, TURN_MIN, SpeakerSchedule, Turn,
                                   detection, summary)


def test_turns_change_speaker_within_the_bounds_and_never_repeat():
    s = SpeakerSchedule(["a", "b", "c"], seed=7)
    t, now = [], 0.0
    while now < 60:
        turn = s.step(now)
        if turn is not None:
            t.append(turn)
        now += 0.01
    assert len(t) >= 60 / TURN_MAX - 1 and len(t) <= 60 / TURN_MIN + 1
    for a, b in zip(t, t[1:]):
        assert a.speaker != b.speaker
        assert TURN_MIN - 0.011 <= b.at - a.at <= TURN_MAX + 0.011
    assert {x.speaker for x in t} == {"a", "b", "c"}
    assert s.level(t[-1].speaker) == LOUD_DBOV
    assert [s.level(x) for x in "abc"].count(SILENT_DBOV) == 2


def test_a_lone_speaker_has_one_turn_and_no_speaker_is_an_error():
    s = SpeakerSchedule(["solo"], seed=1)
    assert s.step(0.0) == Turn(0.0, "solo")
    assert s.step(100.0) is None and s.level("solo") == LOUD_DBOV
    with pytest.raises(ValueError):
        SpeakerSchedule([])


def test_detection_delay_per_turn_and_subscriber():
    turns = [Turn(10.0, "a"), Turn(13.0, "b")]
    sid_of = {"a": "PA_a", "b": "PA_b"}
    seen = {
        "s1": [(10.3, {"PA_a"}), (13.5, {"PA_b"})],
        "s2": [(9.0, {"PA_a"}),                        # before the turn: does not count
               (12.0, set()), (13.2, {"PA_b"})],       # never told a spoke after 10.0
    }
    delays, missed = detection(turns, seen, sid_of, end=16.0)
    assert sorted(round(d, 3) for d in delays) == [0.2, 0.3, 0.5]
    assert missed == 1
    late = {"s1": [(13.5, {"PA_a"})]}                  # told of a only once b had the floor
    assert detection(turns, late, sid_of, 16.0) == ([], 2)
    rep = summary(len(turns), len(seen), delays, missed)
    assert rep == {"turns": 2, "observers": 2, "detected": 3, "missed": 1, "delay_ms_p50": 300.0,
                   "delay_ms_p99": 500.0}
    assert summary(0, 0, [], 0)["delay_ms_p50"] is None
    # a last turn the end cut short is not judged
    assert detection([Turn(10.0, "a")], {"s1": []}, sid_of, end=10.0 + TURN_MIN / 2) == ([], 0)
