"""Probing (csrc/rtc/probe_controller.c): when clusters start (start-up at
3x and 6x, continuing at twice a result that reached 70 % of its target,
periodically while more is wanted, backing off when nothing is found,
sooner after a drop, never during overuse), the padding that keeps a
cluster at its target rate, and a cluster's result from its feedback."""

from __future__ import annotations

import pytest

from sfu._units import ffi, lib

from .tcc_sim import Probe

MS = 1000
NORMAL, OVER = lib.SFU_BWE_USAGE_NORMAL, lib.SFU_BWE_USAGE_OVERUSING
T0 = 10_000_000


def run_cluster(p: Probe, now: int, estimate: int, usage: int = NORMAL, size: int = 1000) -> tuple[int, int, int]:
    """send the active cluster at its target (padding only) until it ends:
    (cluster id, packets, bytes), the end time"""
    cid = p.cluster(estimate, usage, now)
    assert cid >= 0
    packets = nbytes = 0
    while True:
        c = p.cluster(estimate, usage, now)
        if c != cid:
            return (cid, packets, nbytes), now, c
        while p.padding(now) >= size:
            p.on_sent(cid, size)
            packets += 1
            nbytes += size
        now += MS


def arm(p: Probe, slot: int, cid: int, sent: int = 10, target: int = 1_000_000, end_us: int = T0) -> None:
    """a cluster that was sent and waits for its feedback"""
    c = p.p.c[slot]
    ffi.memmove(ffi.addressof(c), bytes(ffi.sizeof(c)), ffi.sizeof(c))
    c.id, c.state, c.target_bps, c.sent_packets, c.end_us = cid, lib.SFU_PROBE_SENT, target, sent, end_us


def results_for(cid: int, send_us: list[int], arrival_us: list[int | None], size: int = 1000):
    arr = []
    for i, (s, a) in enumerate(zip(send_us, arrival_us)):
        r = ffi.new("sfu_tcc_packet_result_t *")
        r.seq, r.send_us, r.arrival_us, r.size, r.cluster = i, s, -1 if a is None else a, size, cid
        arr.append(r[0])
    return arr


def test_start_up_clusters_at_3x_and_6x():
    p = Probe(300_000, 10_000_000, T0)
    (cid, packets, nbytes), end, nxt = run_cluster(p, T0, 300_000)
    c = p.p.c[0]
    assert c.target_bps == 900_000 and c.state == lib.SFU_PROBE_SENT
    # 50 ms at 900 kbit/s, give or take one 1000-byte packet
    assert abs(nbytes - 900_000 * 0.05 / 8) <= 1000 and packets >= lib.SFU_PROBE_MIN_PACKETS
    assert nxt >= 0 and p.p.c[1].target_bps == 1_800_000        # the second right after
    run_cluster(p, end, 300_000)
    assert p.cluster(300_000, NORMAL, end + 200 * MS) == -1          # nothing more wanted


def test_no_probe_during_overuse():
    p = Probe(300_000, 10_000_000, T0)
    assert p.cluster(300_000, OVER, T0) == -1
    assert p.cluster(300_000, NORMAL, T0) >= 0


def test_targets_are_capped_at_max():
    p = Probe(300_000, 1_000_000, T0)
    _, _, nxt = run_cluster(p, T0, 300_000)
    assert nxt >= 0 and p.p.c[0].target_bps == 900_000 and p.p.c[1].target_bps == 1_000_000   # not 1.8M


def _skip_start_up(p: Probe, now: int, estimate: int) -> int:
    for _ in range(2):
        _, now, _ = run_cluster(p, now, estimate)
    return now


def test_result_from_feedback_unsaturated_and_saturated():
    p = Probe(100_000, 10_000_000, T0)
    # a 1 Mbit/s cluster: 10 packets of 1000 bytes 8 ms apart; arrivals keep the spacing
    sends = [T0 + 8 * MS * i for i in range(10)]
    p.p.c[0].id, p.p.c[0].state, p.p.c[0].target_bps, p.p.c[0].sent_packets = 3, lib.SFU_PROBE_SENT, 1_000_000, 10
    p.p.c[0].end_us = T0 + 80 * MS
    r = p.on_feedback(results_for(3, sends, [s + 40 * MS for s in sends]), 100_000, T0 + 200 * MS)
    assert r == 1_000_000                                  # 9 packets' bytes over 72 ms, both ways
    assert p.p.c[0].state == lib.SFU_PROBE_FREE
    # the same sent into a 500 kbit/s link: arrivals 16 ms apart -> 0.95 x the receive rate
    p.p.c[1].id, p.p.c[1].state, p.p.c[1].target_bps, p.p.c[1].sent_packets = 4, lib.SFU_PROBE_SENT, 1_000_000, 10
    p.p.c[1].end_us = T0 + 80 * MS
    r = p.on_feedback(results_for(4, sends, [T0 + 40 * MS + 16 * MS * i for i in range(10)]), 100_000,
                      T0 + 400 * MS)
    assert r == int(0.95 * 500_000)


def test_too_few_received_is_no_result():
    p = Probe(100_000, 10_000_000, T0)
    sends = [T0 + 8 * MS * i for i in range(10)]
    p.p.c[0].id, p.p.c[0].state, p.p.c[0].target_bps, p.p.c[0].sent_packets = 1, lib.SFU_PROBE_SENT, 1_000_000, 10
    p.p.c[0].end_us = T0
    arrivals = [s + 40 * MS if i < 4 else None for i, s in enumerate(sends)]
    assert p.on_feedback(results_for(1, sends, arrivals), 100_000, T0 + 100 * MS) == 0
    assert p.p.c[0].state == lib.SFU_PROBE_FREE          # all reported: done, nothing measured
    # 7 of 10 arrived: enough packets, but less than 80 %
    arm(p, 0, 2)
    arrivals = [None if i in (3, 6, 9) else s + 40 * MS for i, s in enumerate(sends)]
    assert p.on_feedback(results_for(2, sends, arrivals), 100_000, T0 + 100 * MS) == 0
    arrivals[3] = sends[3] + 40 * MS                        # 8 of 10
    arm(p, 0, 5)
    assert p.on_feedback(results_for(5, sends, arrivals), 100_000, T0 + 100 * MS) > 0


def test_a_result_near_its_target_continues_higher():
    p = Probe(300_000, 10_000_000, T0)
    p.set_wanted(5_000_000, T0)
    (cid, packets, _), end, _ = run_cluster(p, T0, 300_000)
    sends = [T0 + i * 50 * MS // packets for i in range(packets)]
    r = p.on_feedback(results_for(cid, sends, [s + 30 * MS for s in sends]), 300_000, end + 50 * MS)
    assert r > 0.7 * 900_000
    assert p.p.pending_bps == 2 * r


def test_periodic_probe_while_more_is_wanted_with_backoff():
    p = Probe(300_000, 10_000_000, T0)
    now = _skip_start_up(p, T0, 300_000)
    for i in range(lib.SFU_PROBE_CLUSTERS):
        p.p.c[i].state = lib.SFU_PROBE_FREE
    assert p.cluster(600_000, NORMAL, now + 3_000_000) == -1        # nothing wanted beyond the estimate
    p.set_wanted(2_000_000, now)
    starts = []
    t = now
    while t < now + 40_000_000 and len(starts) < 4:
        c = p.cluster(600_000, NORMAL, t)
        if c >= 0 and (not starts or starts[-1][1] != c):
            starts.append((t, c))
            k = p.p.active
            assert p.p.c[k].target_bps == 1_200_000                   # twice the estimate, below wanted
            # each finds nothing (no feedback within the timeout)
            _, t, _ = run_cluster(p, t, 600_000)
            p.on_feedback([], 600_000, t + 1_100_000)
        t += 10 * MS
    gaps = [b[0] - a[0] for a, b in zip(starts, starts[1:])]
    # the interval doubles up to SFU_PROBE_INTERVAL_MAX_US (plus the cluster and its feedback timeout)
    assert len(gaps) == 3 and gaps[0] < gaps[1] <= gaps[2], gaps
    assert gaps[2] <= lib.SFU_PROBE_INTERVAL_MAX_US + 1_200_000, gaps


def test_drop_brings_the_next_probe_forward():
    p = Probe(300_000, 10_000_000, T0)
    now = _skip_start_up(p, T0, 300_000)
    p.set_wanted(3_000_000, now)
    p.cluster(2_000_000, NORMAL, now)
    p.p.next_us = now + 20_000_000
    p.p.interval_us = 16_000_000
    p.cluster(600_000, NORMAL, now + 100 * MS)                         # below 0.66 x 2 Mbit/s
    assert p.p.next_us <= now + 100 * MS + 1_000_000 and p.p.interval_us == lib.SFU_PROBE_INTERVAL_US


# -- the transport driver's question (sfu_probe_controller_padding_packets) ------------------------

PAD = 12 + 8 + 255 + 10         # a padding packet on the wire, as transport_pacing.c sends them


def padding_packets(p: Probe, now: int, can_pad: bool = True, busy: bool = False, estimate: int = 1_000_000,
                    usage: int = NORMAL, size: int = PAD) -> tuple[int, int]:
    cid = ffi.new("int16_t *")
    n = lib.sfu_probe_controller_padding_packets(p.p, estimate, usage, int(can_pad), int(busy), size, now, cid)
    return cid[0], n


# (name, can_pad, busy, usage, packet size) -> cluster started?, padding packets in the first ms
DRIVER_CASES = [
    ("a carrier at a frame boundary: the first start-up cluster", True, False, NORMAL, PAD, True, 2),
    ("no carrier: no cluster starts", False, False, NORMAL, PAD, False, 0),
    ("packets wait in the pacer: the cluster starts with media only", True, True, NORMAL, PAD, True, 0),
    ("overuse: nothing", True, False, OVER, PAD, False, 0),
    ("no packet size: nothing to send", True, False, NORMAL, 0, True, 0),
]


@pytest.mark.parametrize("name,can_pad,busy,usage,size,started,count", DRIVER_CASES, ids=[c[0] for c in DRIVER_CASES])
def test_padding_packets_decision(name, can_pad, busy, usage, size, started, count):
    p = Probe(1_000_000, 10_000_000, T0)
    cid, n = padding_packets(p, T0, can_pad, busy, usage=usage, size=size)
    assert (cid >= 0, n) == (started, count)
    assert p.p.clusters == (1 if started else 0)
    if started:                 # 3 Mbit/s: 375 bytes by the end of the first millisecond, rounded up
        assert p.p.c[0].target_bps == 3_000_000


def test_a_running_cluster_goes_on_without_padding_while_nothing_can_carry_it():
    p = Probe(1_000_000, 10_000_000, T0)
    cid, _ = padding_packets(p, T0)
    assert padding_packets(p, T0 + MS, can_pad=False) == (cid, 0)
    assert padding_packets(p, T0 + 2 * MS, busy=True) == (cid, 0)
    assert lib.sfu_probe_controller_active(p.p) == cid


def test_padding_catches_up_but_at_most_a_burst_at_once():
    p = Probe(2_000_000, 10_000_000, T0)                  # 6 Mbit/s first
    cid, _ = padding_packets(p, T0, estimate=2_000_000)
    # 40 ms without a chance to send: 30 kB due, one burst now
    assert padding_packets(p, T0 + 40 * MS, estimate=2_000_000) == (cid, lib.SFU_PROBE_BURST_PACKETS)


def test_a_whole_cluster_of_padding_reaches_its_target():
    p = Probe(1_000_000, 10_000_000, T0)
    now, sent, first = T0, 0, None
    while True:
        cid, n = padding_packets(p, now)
        if first is None:
            first = cid
        if cid != first:
            break
        for _ in range(n):
            p.on_sent(cid, PAD)
            sent += PAD
        now += MS
    assert now - T0 >= lib.SFU_PROBE_CLUSTER_US
    # 3 Mbit/s for the cluster's 50 ms (and the millisecond it ends in), within a packet
    assert abs(sent - 3_000_000 * (now - T0) / 8e6) <= 2 * PAD
    assert cid >= 0 and p.p.c[1].target_bps == 6_000_000  # the second start-up cluster follows


def test_starting_until_both_start_up_clusters_are_evaluated_or_the_time_is_up():
    p = Probe(1_000_000, 10_000_000, T0)
    assert lib.sfu_probe_controller_starting(p.p, T0 + MS)                 # nothing sent yet
    (cid, n1, _), end, nxt = run_cluster(p, T0, 1_000_000)
    (cid2, n2, _), end2, _ = run_cluster(p, end, 1_000_000)
    assert lib.sfu_probe_controller_starting(p.p, end2)                    # both sent, no feedback
    p.on_feedback(results_for(cid, [T0 + i * MS for i in range(n1)], [end + i * MS for i in range(n1)]),
                  1_000_000, end2)
    assert lib.sfu_probe_controller_starting(p.p, end2)                    # the second still waits
    p.on_feedback(results_for(cid2, [end + i * MS for i in range(n2)], [end2 + i * MS for i in range(n2)]),
                  1_000_000, end2 + MS)
    assert not lib.sfu_probe_controller_starting(p.p, end2 + MS)
    # without a carrier nothing is sent: it stops holding the report back after SFU_PROBE_STARTUP_US
    q = Probe(1_000_000, 10_000_000, T0)
    assert lib.sfu_probe_controller_starting(q.p, T0 + lib.SFU_PROBE_STARTUP_US - 1)
    assert not lib.sfu_probe_controller_starting(q.p, T0 + lib.SFU_PROBE_STARTUP_US)


def token_bucket_arrivals(send_us: list[int], size: int, rate_bps: int, burst: int, owd_us: int = 20 * MS) -> list[int]:
    """arrivals through a token-bucket bottleneck (bucket full at the start) with a FIFO behind it"""
    tokens, last, free_at, out = float(burst), send_us[0], 0.0, []
    for s in send_us:
        tokens = min(burst, tokens + (s - last) * rate_bps / 8e6)
        last = s
        start = max(s, free_at)
        if tokens < size:                                   # wait for the tokens this packet needs
            start = max(start, s + (size - tokens) * 8e6 / rate_bps)
            tokens = size
            last = start
        tokens -= size
        free_at = start
        out.append(int(start) + owd_us)
    return out


@pytest.mark.parametrize("burst", [1500, 3000, 4000])
def test_a_burst_allowance_at_the_bottleneck_does_not_inflate_the_result(burst):
    # 12 packets of 1000 bytes at 1.2 Mbit/s into a 600 kbit/s token bucket that lets `burst`
    # bytes through at once: the head arrives together, the rest at the link's rate
    p = Probe(300_000, 10_000_000, T0)
    sends = [T0 + i * 20 * MS // 3 for i in range(12)]
    arrivals = token_bucket_arrivals(sends, 1000, 600_000, burst)
    whole = 11 * 1000 * 8e6 / (arrivals[-1] - arrivals[0])
    assert whole > 1.04 * 600_000                           # what the whole span says: more than the link
    arm(p, 0, 9, sent=12, target=1_200_000)
    p.p.c[0].sent_bytes = 12_000
    r = p.on_feedback(results_for(9, sends, arrivals), 300_000, T0 + 300 * MS)
    assert 0.9 * 0.95 * 600_000 <= r <= 0.95 * 600_000 * 1.02, r


def test_without_a_burst_the_second_half_agrees():
    p = Probe(300_000, 10_000_000, T0)
    sends = [T0 + 8 * MS * i for i in range(10)]
    arm(p, 0, 4, sent=10, target=1_000_000)
    p.p.c[0].sent_bytes = 10_000
    assert p.on_feedback(results_for(4, sends, [s + 40 * MS for s in sends]), 300_000, T0 + 300 * MS) == 1_000_000


def test_a_cluster_lasts_until_it_carried_enough_bytes():
    # a 300 kbit/s target: 50 ms carry 1875 bytes; the cluster goes on to SFU_PROBE_MIN_BYTES,
    # or 4 x SFU_PROBE_CLUSTER_US at most
    p = Probe(100_000, 10_000_000, T0)
    p.p.initial_left = 0
    p.p.pending_bps = 300_000
    (cid, packets, nbytes), end, _ = run_cluster(p, T0, 100_000, size=PAD)
    assert end - T0 <= 4 * lib.SFU_PROBE_CLUSTER_US + MS
    assert nbytes >= min(lib.SFU_PROBE_MIN_BYTES, 300_000 * 4 * lib.SFU_PROBE_CLUSTER_US / 8e6 - PAD)
    assert end - T0 > 2 * lib.SFU_PROBE_CLUSTER_US
    # a high target reaches the bytes within the usual 50 ms
    p.p.pending_bps = 3_000_000
    (_, _, nbytes), end2, _ = run_cluster(p, end, 100_000, size=PAD)
    assert end2 - end <= lib.SFU_PROBE_CLUSTER_US + MS and nbytes >= lib.SFU_PROBE_MIN_BYTES


def test_a_cluster_that_filled_the_link_gives_its_drain_rate_as_a_ceiling():
    p = Probe(300_000, 10_000_000, T0)
    sends = [T0 + 8 * MS * i for i in range(10)]                 # 1 Mbit/s
    arm(p, 0, 6, sent=10, target=1_000_000)
    p.p.c[0].sent_bytes = 10_000
    p.on_feedback(results_for(6, sends, [s + 40 * MS for s in sends]), 300_000, T0 + 300 * MS)
    assert p.p.saturated_bps == 0                                # it went through unqueued
    # drained at 400 kbit/s (20 ms apart): a send/receive ratio of 2.5 is no measurement of
    # room (no result), but the rate the link drained it at is a ceiling all the same
    arm(p, 0, 7, sent=10, target=1_000_000)
    p.p.c[0].sent_bytes = 10_000
    r = p.on_feedback(results_for(7, sends, [T0 + 40 * MS + 20 * MS * i for i in range(10)]), 300_000,
                      T0 + 600 * MS)
    assert r == 0 and p.p.saturated_bps == int(0.95 * 400_000)
    p.on_feedback([], 300_000, T0 + 700 * MS)                    # told once: the next call clears it
    assert p.p.saturated_bps == 0
    # a third of it lost at the queue's tail, the rest drained at 400 kbit/s: no result (too
    # little arrived), the ceiling all the same
    sends = [T0 + 4 * MS * i for i in range(15)]                 # 2 Mbit/s
    arrivals = [T0 + 40 * MS + 20 * MS * i if i < 10 else None for i in range(15)]
    arm(p, 0, 8, sent=15, target=2_000_000)
    p.p.c[0].sent_bytes = 15_000
    r = p.on_feedback(results_for(8, sends, arrivals), 300_000, T0 + 900 * MS)
    assert r == 0 and p.p.saturated_bps == int(0.95 * 400_000)


def test_probing_while_a_cluster_is_out_or_the_next_is_queued():
    p = Probe(300_000, 10_000_000, T0)
    assert lib.sfu_probe_controller_probing(p.p)                 # the start-up clusters are queued
    p.p.initial_left = 0
    assert not lib.sfu_probe_controller_probing(p.p)
    p.p.pending_bps = 600_000
    assert lib.sfu_probe_controller_probing(p.p)
    p.p.pending_bps = 0
    arm(p, 1, 3)
    assert lib.sfu_probe_controller_probing(p.p)                 # waiting for its feedback
