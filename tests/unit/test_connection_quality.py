"""Connection quality from loss and RTT."""

from __future__ import annotations

import pytest
from livekit.protocol import models

from sfu.rooms.connection_quality import LinkState, mos, rate

Q = models.ConnectionQuality


@pytest.mark.parametrize("loss,rtt,want", [
    (None, None, Q.EXCELLENT), (0.0, 20, Q.EXCELLENT), (0.02, 50, Q.EXCELLENT),
    (0.05, 50, Q.GOOD), (0.0, 500, Q.GOOD), (0.10, 50, Q.POOR), (0.3, 20, Q.POOR), (0.0, 900, Q.POOR)])
def test_grades(loss, rtt, want):
    quality, score = rate(LinkState(True, loss, rtt))
    assert quality == want, score


def test_not_connected_is_lost_and_scores_fall_with_loss_and_delay():
    assert rate(LinkState(False, 0.0, 10)) == (Q.LOST, 0.0)
    assert 4.3 < mos(0, 0) <= 4.5
    assert mos(0, 0) > mos(0.01, 0) > mos(0.05, 0) > mos(0.2, 0) >= 1.0
    assert mos(0, 50) > mos(0, 300) > mos(0, 800)
    assert mos(1.0, 5000) == pytest.approx(1.0)


class Member:
    def __init__(self, sid: str, link: LinkState, hidden: bool = False,
                 state: int = models.ParticipantInfo.ACTIVE) -> None:
        self.sid, self.link, self.hidden, self.state, self.closed = sid, link, hidden, state, False
        self.sent: list = []

    def link_state(self) -> LinkState:
        return self.link

    async def send(self, msg) -> None:
        self.sent.append(msg)


async def test_each_participant_gets_everyone_visible_and_itself():
    from sfu.rooms.quality_reporter import QualityReporter
    a = Member("PA_a", LinkState(True, 0.0, 10))
    b = Member("PA_b", LinkState(True, 0.12, 40))
    hidden = Member("PA_h", LinkState(True), hidden=True)
    joining = Member("PA_j", LinkState(False), state=models.ParticipantInfo.JOINED)
    reporter, rated = QualityReporter(lambda: []), []
    reporter.on_rated = lambda q, s: rated.append(q)
    await reporter.report([a, b, hidden, joining])
    got = {m.sid: [(u.participant_sid, u.quality) for u in m.sent[0].connection_quality.updates]
           for m in (a, b, hidden)}
    assert got["PA_a"] == got["PA_b"] == [("PA_a", Q.EXCELLENT), ("PA_b", Q.POOR)]
    assert got["PA_h"] == [("PA_h", Q.EXCELLENT), ("PA_a", Q.EXCELLENT), ("PA_b", Q.POOR)]
    assert joining.sent == []                         # not in the room's media yet
    assert sorted(rated) == sorted([Q.EXCELLENT, Q.POOR, Q.EXCELLENT])    # one rating per participant rated
    assert all(0 < u.score <= 4.5 for u in a.sent[0].connection_quality.updates)


def test_uplink_loss_over_each_interval_from_the_streams_counters():
    from sfu.rooms.connection_quality import UplinkLoss

    u = UplinkLoss()
    assert u.update({1: (100, 100)}) == 0.0                       # since the start
    assert abs(u.update({1: (200, 190), 2: (50, 40)}) - 20 / 150) < 1e-9   # a second stream appears
    assert u.update({1: (205, 195), 2: (55, 45)}) is None           # 10 packets: too few to tell
    assert u.update({1: (10, 10), 2: (155, 145)}) == 0.0            # stream 1 restarted: skipped once
    assert u.update({1: (110, 60)}) == 0.5
