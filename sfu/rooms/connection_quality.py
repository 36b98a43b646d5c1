"""A participant's connection quality (ConnectionQualityUpdate), from what the server measures.

A mean opinion score (1..4.5) from a simplified ITU-T G.107 E-model: R = 93.2 minus the
delay impairment (one-way delay = RTT / 2 plus a 20 ms jitter buffer; 0.024 per ms, plus 0.11
per ms above 177.3 ms) minus the loss impairment (30 ln(1 + 15 loss)); MOS from R as in
G.107.  Quality as LiveKit grades the score: EXCELLENT from 4.1, GOOD from 3.5, else POOR;
LOST while the participant's primary PeerConnection is not connected.

The inputs are the loss and RTT of what the server sends the participant (its downlink's
send-side estimate) and, for a publisher, the loss of what it sends us (its uplink: packets
expected from each of its streams' sequence numbers against those received, RFC 3550 A.3,
over the last interval); the worse loss counts, as LiveKit rates a participant by its worst
track.  Without an estimate (nothing received yet, or no transport-cc) the link counts as clean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from livekit.protocol import models

MAX_MOS = 4.5
EXCELLENT_FROM = 4.1
GOOD_FROM = 3.5
JITTER_BUFFER_MS = 20.0


@dataclass(frozen=True)
class LinkState:
    connected: bool
    loss: float | None = None          # fraction 0..1 of packets lost
    rtt_ms: float | None = None


class UplinkLoss:
    """a publisher's uplink loss over each interval, from its streams' cumulative (expected,
    received) counters (sfu_stream_stats_t of its local producers)"""

    MIN_EXPECTED = 20      # fewer packets in an interval say nothing (a muted or paused track)

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int]] = {}

    def update(self, counters: dict[int, tuple[int, int]]) -> float | None:
        """counters: stream id -> (expected, received) now; the fraction lost since the last
        call over all its streams (None: too few packets to tell)"""
        expected = received = 0
        for sid, (exp, rec) in counters.items():
            e0, r0 = self._last.get(sid, (0, 0))
            if exp >= e0 and rec >= r0:          # a restarted stream (a jump RFC 3550 resets) is skipped once
                expected += exp - e0
                received += rec - r0
        self._last = dict(counters)
        if expected < self.MIN_EXPECTED:
            return None
        return min(1.0, max(0.0, 1.0 - received / expected))


def mos(loss: float, rtt_ms: float) -> float:
    d = max(0.0, rtt_ms) / 2 + JITTER_BUFFER_MS
    delay = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    impairment = 30.0 * math.log(1 + 15 * min(1.0, max(0.0, loss)))
    r = max(0.0, min(100.0, 93.2 - delay - impairment))
    return min(MAX_MOS, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r))


def rate(link: LinkState) -> tuple[int, float]:
    """(models.ConnectionQuality, score)"""
    if not link.connected:
        return models.ConnectionQuality.LOST, 0.0
    score = mos(link.loss or 0.0, link.rtt_ms or 0.0)
    if score >= EXCELLENT_FROM:
        return models.ConnectionQuality.EXCELLENT, score
    if score >= GOOD_FROM:
        return models.ConnectionQuality.GOOD, score
    return models.ConnectionQuality.POOR, score
