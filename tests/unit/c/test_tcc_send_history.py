"""The send history of a subscriber transport (csrc/rtc/tcc_send_history.c):
transport-wide sequence numbers handed out in order and across the 16-bit
wrap, feedback from our own receive side (tcc_server.c) matched back to
what was sent, the acknowledged bitrate over a window of arrival time and
the loss over a window of send time."""

from __future__ import annotations

import pytest

from sfu._units import ffi, lib

from .tcc_sim import Receiver, parse_feedback

SLOTS = lib.SFU_TCC_HISTORY_SLOTS


class History:
    def __init__(self, first_seq: int = 0) -> None:
        self.h = ffi.new("sfu_tcc_send_history_t *")
        lib.sfu_tcc_send_history_init(self.h, first_seq)
        self.out = ffi.new("sfu_tcc_packet_result_t[]", SLOTS)

    def add(self, size: int, now_us: int, flags: int = 0, cluster: int = -1) -> int:
        return lib.sfu_tcc_send_history_add(self.h, size, flags, cluster, now_us)

    def feedback(self, pkt: bytes) -> list[tuple[int, int, int]]:
        fb, pkts = parse_feedback(pkt)
        n = lib.sfu_tcc_send_history_on_feedback(self.h, fb, pkts, self.out, SLOTS)
        return [(self.out[i].seq & 0xFFFF, self.out[i].send_us, self.out[i].arrival_us) for i in range(n)]

    def acked_bps(self, window_us: int) -> int:
        return lib.sfu_tcc_send_history_acked_bps(self.h, window_us)

    def loss(self, since_us: int) -> tuple[float, int]:
        n = ffi.new("uint32_t *")
        f = lib.sfu_tcc_send_history_loss(self.h, since_us, n)
        return f, n[0]


def test_sequence_numbers_in_order_across_the_wrap():
    h = History(65533)
    seqs = [h.add(1200, 1000 * i) for i in range(6)]
    assert seqs == [65533, 65534, 65535, 0, 1, 2]
    e = lib.sfu_tcc_send_history_get(h.h, 1)
    assert e != ffi.NULL and e.send_us == 4000 and e.size == 1200 and e.state == lib.SFU_TCC_STATE_UNREPORTED
    assert lib.sfu_tcc_send_history_get(h.h, 3) == ffi.NULL          # not sent yet


def test_old_entries_are_overwritten():
    h = History()
    for i in range(SLOTS + 10):
        h.add(100, i)
    assert lib.sfu_tcc_send_history_get(h.h, 9) == ffi.NULL
    assert lib.sfu_tcc_send_history_get(h.h, 10) != ffi.NULL


def test_feedback_marks_received_and_lost_with_arrival_times():
    h, rx = History(65530), Receiver()
    sent = {}
    for i in range(12):
        s = h.add(1000 + i, 1_000_000 + 2000 * i, cluster=i % 3 - 1)
        sent[s] = 1_000_000 + 2000 * i
        if i not in (3, 7):                                         # two lost on the way
            rx.record(s, 7_000_000 + 2000 * i + 40_000)
    results = h.feedback(rx.build())
    assert [r[0] for r in results] == sorted(sent, key=lambda s: (s - 65530) & 0xFFFF)
    lost = [r[0] for r in results if r[2] == -1]
    assert lost == [(65530 + 3) & 0xFFFF, (65530 + 7) & 0xFFFF]
    # arrivals come back on the receiver's clock to 250 us (the feedback's resolution)
    for s, send, arrival in results:
        assert send == sent[s]
        if arrival != -1:
            i = (s - 65530) & 0xFFFF
            assert 0 <= 7_000_000 + 2000 * i + 40_000 - arrival < 250
    e = lib.sfu_tcc_send_history_get(h.h, 65530 + 4)
    assert e.state == lib.SFU_TCC_STATE_RECEIVED and e.cluster == 0 and e.size == 1004


def test_the_same_feedback_twice_changes_nothing():
    h, rx = History(), Receiver()
    for i in range(5):
        rx.record(h.add(500, i * 1000), 100_000 + i * 1000)
    pkt = rx.build()
    assert len(h.feedback(pkt)) == 5
    assert h.feedback(pkt) == []


def test_reported_lost_then_received_counts_late():
    h = History()
    rx1, rx2 = Receiver(), Receiver()
    s0, s1 = h.add(500, 0), h.add(500, 1000)
    rx1.record(s0, 100_000)                   # s1 not (yet) there: reported lost only when a later one arrives
    s2 = h.add(500, 2000)
    rx1.record(s2, 102_000)
    assert [r[2] == -1 for r in h.feedback(rx1.build())] == [False, True, False]
    rx2.record(s1, 105_000)                   # a second receiver view: s1 arrived after all
    assert [(r[0], r[2] != -1) for r in h.feedback(rx2.build())] == [(s1, True)]
    assert h.h.late == 1


def test_feedback_about_unknown_packets_is_counted():
    h, rx = History(), Receiver()
    for i in range(3):
        h.add(500, i)
    for s in (100, 101):                      # never sent
        rx.record(s, 1000)
    assert h.feedback(rx.build()) == []
    assert h.h.unknown == 2


def test_reference_time_unwraps():
    """the 24-bit reference time wraps after 2^24 x 64 ms; arrivals keep increasing across it"""
    h, rx = History(), Receiver()
    wrap_us = (1 << 24) * 64_000
    last = None
    for k, at in enumerate((wrap_us - 130_000, wrap_us - 10_000, wrap_us + 50_000, wrap_us + 200_000)):
        rx.record(h.add(500, k * 20_000), at)
        (_, _, arrival), = h.feedback(rx.build())
        assert abs(arrival - at) < 250
        assert last is None or arrival > last
        last = arrival


@pytest.mark.parametrize("rate_bps", [300_000, 1_000_000, 4_000_000])
def test_acked_bitrate_is_the_received_rate(rate_bps):
    """packets of 1000 bytes arriving at `rate_bps` (whatever the send times): the acked
    bitrate over 500 ms is that rate, within one packet per window"""
    h, rx = History(), Receiver()
    gap = 1000 * 8 * 1_000_000 // rate_bps
    for i in range(400):
        rx.record(h.add(1000, i * 100), 2_000_000 + i * gap)
        if i % 20 == 19:
            h.feedback(rx.build())
    got = h.acked_bps(500_000)
    assert abs(got - rate_bps) <= 1000 * 8 * 2      # two packets per 500 ms window


def test_acked_bitrate_at_the_start_uses_the_span():
    h, rx = History(), Receiver()
    for i in range(5):
        rx.record(h.add(1000, i * 1000), 1_000_000 + i * 10_000)   # 8 kbit per 10 ms = 800 kbit/s
    h.feedback(rx.build())
    assert h.acked_bps(1_000_000) == 800_000
    assert History().acked_bps(500_000) == 0


def test_acked_bitrate_counts_only_received():
    h, rx = History(), Receiver()
    for i in range(200):
        s = h.add(1000, i * 1000)
        if i % 2:
            rx.record(s, 1_000_000 + i * 1000)      # half of them, 1 ms apart: 4 Mbit/s
    h.feedback(rx.build())
    assert abs(h.acked_bps(100_000) - 4_000_000) <= 8000 * 10 * 2


def test_loss_over_a_send_time_window():
    h, rx = History(), Receiver()
    for i in range(100):
        s = h.add(500, 10_000 + i * 1000)
        if i % 10 != 5 or i >= 50:                   # the first half loses 1 in 10, the second none
            rx.record(s, 500_000 + i * 1000)
    h.feedback(rx.build())
    assert h.loss(0) == (pytest.approx(5 / 100), 100)
    assert h.loss(10_000 + 49 * 1000) == (0.0, 50)            # the second half only
    assert h.loss(10_000 + 39 * 1000) == (pytest.approx(1 / 60), 60)
    # sent after the newest reported: none counted yet
    h.add(500, 10_000_000)
    assert h.loss(10_000 + 99 * 1000) == (0.0, 0)
