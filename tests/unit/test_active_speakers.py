"""Active speakers from the counted audio levels."""

from __future__ import annotations

import pytest

from sfu.rooms.active_speakers import ActiveSpeakers, Levels, speaking_level


@pytest.mark.parametrize("packets,loud,dbov,want", [
    (50, 50, 10, round(10 ** -0.5, 3)), (50, 20, 20, 0.1), (50, 19, 20, None), (0, 0, 0, None), (50, 0, 0, None)])
def test_speaking_level(packets, loud, dbov, want):
    assert speaking_level(Levels(100, 10, 200), Levels(100 + packets, 10 + loud, 200 + loud * dbov)) == want


def feed(a: ActiveSpeakers, reads: dict) -> list[tuple[str, float, bool]]:
    return [(s.sid, round(s.level, 3), s.active) for s in a.look(reads)]


def test_changes_are_reported_once():
    a = ActiveSpeakers()
    alice, bob = Levels(), Levels()
    assert feed(a, {"TR_a": ("PA_a", alice), "TR_b": ("PA_b", bob)}) == []      # a first read: a baseline
    alice, bob = Levels(50, 50, 500), Levels(50, 0, 0)
    assert feed(a, {"TR_a": ("PA_a", alice), "TR_b": ("PA_b", bob)}) == [("PA_a", 0.316, True)]
    alice = Levels(100, 100, 1000)                                               # same level: nothing new
    assert feed(a, {"TR_a": ("PA_a", alice), "TR_b": ("PA_b", bob)}) == []
    alice, bob = Levels(150, 150, 1000), Levels(100, 50, 300)                    # louder, and bob starts
    assert feed(a, {"TR_a": ("PA_a", alice), "TR_b": ("PA_b", bob)}) == [("PA_a", 1.0, True), ("PA_b", 0.501, True)]
    bob = Levels(150, 50, 300)                                                   # bob goes quiet
    alice = Levels(200, 200, 1000)
    assert feed(a, {"TR_a": ("PA_a", alice), "TR_b": ("PA_b", bob)}) == [("PA_b", 0.0, False)]
    assert feed(a, {}) == [("PA_a", 0.0, False)]                                 # alice's track is gone
    assert a.last == {} and a.speaking == {}


def test_a_participant_speaks_on_its_loudest_track():
    a = ActiveSpeakers()
    feed(a, {"m": ("PA_a", Levels()), "s": ("PA_a", Levels())})
    got = feed(a, {"m": ("PA_a", Levels(50, 50, 2000)), "s": ("PA_a", Levels(50, 50, 500))})
    assert got == [("PA_a", 0.316, True)]
