"""Send-side bandwidth estimation of one subscriber transport, composed
(csrc/rtc/send_side_bwe.c): min(delay-based, loss limit, REMB) within the
configured bounds, REMB alone without transport-cc feedback, rejected
feedback counted by reason, the RTT taken from the feedback."""

from __future__ import annotations

from sfu._units import lib

from .tcc_sim import Bwe, Receiver

MS = 1000


def test_start_estimate_is_bounded():
    assert Bwe(start_bps=5_000, min_bps=30_000).estimate(0) == 30_000
    assert Bwe(start_bps=50_000_000, max_bps=4_000_000).estimate(0) == 4_000_000
    b = Bwe(start_bps=700_000)
    assert b.estimate(0) == 700_000 and b.stats(0).limited_by == lib.SFU_BWE_LIMIT_START


def test_remb_alone_without_transport_cc():
    b = Bwe(start_bps=700_000)
    b.remb(450_000, 1_000_000)
    assert b.estimate(1_000_000) == 450_000
    assert b.stats(1_000_000).limited_by == lib.SFU_BWE_LIMIT_REMB
    b.remb(2_000_000, 2_000_000)                 # without transport-cc REMB may also raise it
    assert b.estimate(2_000_000) == 2_000_000
    # a REMB older than SFU_BWE_REMB_TIMEOUT_US is not used
    assert b.estimate(2_000_000 + lib.SFU_BWE_REMB_TIMEOUT_US) == 700_000


def _feed_clean(b: Bwe, rx: Receiver, seconds: float, now: int, rate_bps: int = 500_000) -> int:
    gap = 1200 * 8 * 1_000_000 // rate_bps
    end = now + int(seconds * 1e6)
    next_fb = now + 50 * MS
    while now < end:
        rx.record(b.sent(1200, now), now + 30 * MS)
        now += gap
        if now >= next_fb:
            next_fb += 50 * MS
            b.feedback(rx.build(), now + 60 * MS)    # built when the newest arrived, 30 ms back
    return now


def test_remb_is_an_upper_bound_with_transport_cc():
    b, rx = Bwe(start_bps=500_000), Receiver()
    now = _feed_clean(b, rx, 1.0, 1_000_000)
    assert b.stats(now).limited_by == lib.SFU_BWE_LIMIT_DELAY
    b.remb(200_000, now)
    assert b.estimate(now) == 200_000 and b.stats(now).limited_by == lib.SFU_BWE_LIMIT_REMB
    b.remb(5_000_000, now)                       # above the delay-based estimate: not a raise
    assert b.estimate(now) < 1_000_000


def test_rtt_from_feedback():
    """one-way 30 ms out, feedback 30 ms back, sent every 50 ms: 60..110 ms"""
    b, rx = Bwe(), Receiver()
    now = _feed_clean(b, rx, 2.0, 1_000_000)
    assert 60 * MS <= b.stats(now).rtt_us <= 110 * MS
    assert abs(b.stats(now).acked_bps - 500_000) <= 2 * 1200 * 8 * 2     # two packets per 500 ms window


def test_rejected_feedback_is_counted_by_reason():
    b = Bwe()
    pkt = bytes([0x8F, 205, 0, 4]) + bytes(16)        # status count 0
    from sfu._units import ffi
    r = lib.sfu_send_side_bwe_on_feedback(b.b, ffi.from_buffer("uint8_t[]", pkt), len(pkt), 0,
                                          ffi.NULL, 0, ffi.NULL)
    assert r == lib.SFU_TCC_FB_TOO_SHORT
    assert b.b.feedback_rejects[lib.SFU_TCC_FB_TOO_SHORT] == 1 and b.stats(0).feedback_rejected == 1
    assert b.stats(0).feedback_packets == 0


def test_silence_after_feedback_decays_the_estimate():
    """feedback stops while packets go out: 20 % less per second once 2 s passed; back when it resumes"""
    b, rx = Bwe(start_bps=800_000), Receiver()
    now = _feed_clean(b, rx, 1.0, 1_000_000)
    before = b.estimate(now)
    assert b.stats(now).limited_by == lib.SFU_BWE_LIMIT_DELAY
    got = []
    for k in range(1, 8):                        # one packet every 100 ms, never acknowledged
        for _ in range(10):
            now += 100 * MS
            b.sent(1200, now)
            b.estimate(now)
        got.append(b.estimate(now))
    assert got[0] == before                      # 1 s of silence: nothing yet
    assert b.stats(now).limited_by == lib.SFU_BWE_LIMIT_NO_FEEDBACK
    assert got[-1] < 0.8 ** 4 * before and got[-1] >= 30_000
    assert all(x >= y for x, y in zip(got, got[1:]))


def test_silence_with_nothing_sent_keeps_the_estimate():
    b, rx = Bwe(start_bps=800_000), Receiver()
    now = _feed_clean(b, rx, 1.0, 1_000_000)
    before = b.estimate(now)
    assert b.estimate(now + 10_000_000) == before      # an idle transport is not a dead link


def test_a_probe_ceiling_lowers_the_estimate_never_raises_it():
    b, rx = Bwe(start_bps=500_000), Receiver()
    now = _feed_clean(b, rx, 1.0, 1_000_000)
    lib.sfu_send_side_bwe_on_probe(b.b, 900_000, now)            # a cluster that passed unqueued
    assert b.estimate(now) == 900_000
    lib.sfu_send_side_bwe_on_probe_ceiling(b.b, 560_000, now)    # the next one filled the link
    assert b.estimate(now) == 560_000
    lib.sfu_send_side_bwe_on_probe_ceiling(b.b, 2_000_000, now)
    assert b.estimate(now) == 560_000
    # a loss limit in force drops to it too
    b.b.loss.limiting, b.b.loss.bps = 1, 800_000
    lib.sfu_send_side_bwe_on_probe_ceiling(b.b, 450_000, now)
    assert b.b.loss.bps == 450_000 and b.estimate(now) == 450_000


def test_a_rise_is_not_reported_while_probing_a_drop_is():
    b, rx = Bwe(start_bps=500_000), Receiver()
    now = _feed_clean(b, rx, 1.0, 1_000_000)
    assert lib.sfu_send_side_bwe_report_due(b.b, 0, now)
    reported = b.b.reported_bps
    later = now + lib.SFU_BWE_REPORT_INTERVAL_US
    lib.sfu_send_side_bwe_on_probe(b.b, 2 * reported, later)
    assert not lib.sfu_send_side_bwe_report_due(b.b, 1, later)  # the next cluster may take it back
    assert lib.sfu_send_side_bwe_report_due(b.b, 0, later)      # the probes are done: reported
    assert b.b.reported_bps == 2 * reported
    later += lib.SFU_BWE_REPORT_INTERVAL_US
    lib.sfu_send_side_bwe_on_probe_ceiling(b.b, reported // 2, later)
    assert lib.sfu_send_side_bwe_report_due(b.b, 1, later)      # a drop goes at once
