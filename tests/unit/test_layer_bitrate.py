"""sfu.rooms.layer_bitrate: a layer's bitrate on the wire from two samples of its producer's counters."""

from __future__ import annotations

from sfu.rooms.layer_bitrate import INTERVAL, PACKET_OVERHEAD, RTP_HEADER, BitrateMeter


def test_rate_from_two_samples_at_most_once_per_interval():
    m = BitrateMeter()
    assert m.due(1, 10.0) and m.rate(1) == 0
    m.sample(1, 1_000, 10.0)
    assert m.rate(1) == 0                          # one sample: unknown
    assert not m.due(1, 10.0 + INTERVAL / 2) and m.due(1, 10.0 + INTERVAL)
    m.sample(1, 1_000 + 62_500, 10.0 + INTERVAL)   # 62.5 kB in a second
    assert m.rate(1) == int(62_500 * 8 / INTERVAL)
    m.sample(1, 1_000 + 62_500, 10.0 + 3 * INTERVAL)
    assert m.rate(1) == 0                          # it stopped


def test_a_counter_that_goes_back_is_unknown_and_forgotten_producers_start_over():
    m = BitrateMeter()
    m.sample(1, 5_000, 0.0)
    m.sample(1, 10_000, 1.0)
    m.sample(2, 0, 0.0)
    assert m.rate(1) == 40_000
    m.sample(1, 100, 2.0)
    assert m.rate(1) == 0
    m.keep({1})
    assert m.due(2, 0.5)                           # forgotten: sampled afresh


def test_each_packet_counts_with_what_it_carries_on_the_wire():
    # 50 Opus packets of 120 bytes a second: 48 kbit/s of RTP, 66.4 kbit/s on the link
    m = BitrateMeter()
    m.sample(1, 0, 0.0, 0)
    m.sample(1, 50 * 120, 1.0, 50)
    assert m.rate(1) == 50 * (120 + PACKET_OVERHEAD) * 8
    assert 60_000 < m.rate(1) < 70_000


def test_the_payload_rate_is_what_a_red_block_repeats():
    m = BitrateMeter()
    m.sample(1, 0, 0.0, 0)
    m.sample(1, 50 * 120, 1.0, 50)
    assert m.payload_rate(1) == 50 * (120 - RTP_HEADER) * 8
