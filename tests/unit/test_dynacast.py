"""Dynacast (sfu.rooms.dynacast, sfu.rooms.dynacast_reporter): a higher need goes to the
publisher at once, a lower one after 5 s (and not in the first 10 s after publishing)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from livekit.protocol import models

from sfu.rooms.dynacast import NONE, DynacastQuality, needed_quality
from sfu.rooms.dynacast_reporter import DynacastReporter
from sfu.rooms.layer_activity import LayerActivity

LOW, MED, HIGH = models.VideoQuality.LOW, models.VideoQuality.MEDIUM, models.VideoQuality.HIGH

CASES = [
    # (name, [(t, needed)], [(t, told)])
    ("everyone wants the top: nothing to say", [(0, HIGH), (20, HIGH)], []),
    ("nobody subscribed: all layers off after the initial 10 s", [(0, NONE), (5, NONE), (9.9, NONE), (10, NONE)],
     [(10, NONE)]),
    ("a lower need is said after it held 5 s", [(20, HIGH), (30, LOW), (34, LOW), (35, LOW)], [(35, LOW)]),
    ("a need that comes back within 5 s says nothing", [(20, HIGH), (30, LOW), (33, HIGH), (36, LOW), (40, LOW)],
     []),
    ("the highest need while it stayed lower is kept", [(20, LOW), (22, MED), (24, LOW), (25, LOW)], [(25, MED)]),
    ("a higher need at once", [(0, NONE), (10, NONE), (11, MED), (12, HIGH)], [(10, NONE), (11, MED), (12, HIGH)]),
    ("down, then up again at once", [(20, LOW), (25, LOW), (26, HIGH), (27, LOW), (32, LOW)],
     [(25, LOW), (26, HIGH), (32, LOW)]),
]


@pytest.mark.parametrize("name,steps,want", CASES, ids=[c[0] for c in CASES])
def test_decisions(name, steps, want):
    d = DynacastQuality(now=0.0)
    told = [(t, q) for t, need in steps if (q := d.update(need, t)) is not None]
    assert told == want


def sub(quality: int, disabled: bool = False, consumer: object | None = object()) -> SimpleNamespace:
    return SimpleNamespace(quality=quality, disabled=disabled, consumer=consumer)


def test_needed_quality_ignores_turned_off_and_unattached():
    assert needed_quality([]) == NONE
    assert needed_quality([sub(LOW), sub(HIGH, disabled=True), sub(HIGH, consumer=None)]) == LOW
    assert needed_quality([sub(LOW), sub(MED)]) == MED


async def test_reporter_sends_the_update_to_the_publisher():
    sent = []

    async def send(msg):
        sent.append(msg)

    publisher = SimpleNamespace(identity="alice", closed=False, send=send)
    layers = {rid: SimpleNamespace(quality=q, activity=LayerActivity()) for rid, q in (("q", LOW), ("h", MED),
                                                                                        ("f", HIGH))}
    pub = SimpleNamespace(sid="TR_v", kind="video", expected_rids=["q", "h", "f"], participant=publisher,
                          codec=SimpleNamespace(name="VP8"), subscriptions={"bob": sub(LOW)}, layers=layers)
    audio = SimpleNamespace(sid="TR_a", kind="audio", expected_rids=[], participant=publisher, subscriptions={})
    room = SimpleNamespace(all_tracks=lambda: [pub, audio])
    r = DynacastReporter(lambda: [room])
    await r.look([room], 100.0)
    await r.look([room], 104.0)
    assert sent == []                                   # initial wait
    await r.look([room], 110.0)
    [msg] = sent
    u = msg.subscribed_quality_update
    assert u.track_sid == "TR_v"
    assert [(q.quality, q.enabled) for q in u.subscribed_qualities] == [(LOW, True), (MED, False), (HIGH, False)]
    assert [c.codec for c in u.subscribed_codecs] == ["vp8"]
    assert list(u.subscribed_codecs[0].qualities) == list(u.subscribed_qualities)
    # the layers it asked the publisher to stop are marked so (their stop is no flapping)
    assert {rid: x.activity.suppressed for rid, x in layers.items()} == {"q": False, "h": True, "f": True}
    pub.subscriptions["carol"] = sub(HIGH)              # someone wants the top again: at once
    await r.look([room], 110.5)
    assert [q.enabled for q in sent[-1].subscribed_quality_update.subscribed_qualities] == [True, True, True]
    assert not any(x.activity.suppressed for x in layers.values())
    await r.look([], 111.0)                             # the room is gone: its decisions too
    assert r.tracks == {}
