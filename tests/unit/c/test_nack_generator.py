"""The NACK generator of a received video stream (csrc/rtc/nack_generator.c): which sequence
numbers are missing (wrap, reordering, duplicates, huge jumps), when they are asked for again
(once per RTT, never more often than the timer floor), when they are given up (retries, age,
the window of the seq manager's misorder limit), and that every missing one ends recovered or
lost."""

from __future__ import annotations

import pytest

from sfu._units import ffi, lib

MS = 1_000_000
T0 = 50_000 * MS
NEWEST, FILLED, OLD, RESET = lib.SFU_NACK_NEWEST, lib.SFU_NACK_FILLED, lib.SFU_NACK_OLD, lib.SFU_NACK_RESET


def generator():
    g = ffi.new("sfu_nack_generator_t *")
    lib.sfu_nack_generator_init(g)
    return g


def missing(g) -> list[int]:
    return [g.missing[i].seq for i in range(g.n)]


def due(g, t_ms: float, rtt_ms: float = 0) -> list[int]:
    out = ffi.new("uint16_t[]", lib.SFU_NACK_LIST_MAX)
    n = lib.sfu_nack_generator_due(g, T0 + int(t_ms * MS), int(rtt_ms * MS), out, lib.SFU_NACK_LIST_MAX)
    return [out[i] for i in range(n)]


def feed(g, seqs, t_ms: float = 0, repaired: bool = False) -> list[int]:
    return [lib.sfu_nack_generator_on_packet(g, s & 0xFFFF, 1 if repaired else 0, T0 + int(t_ms * MS))
            for s in seqs]


ARRIVALS = [
    # (name, sequence numbers in arrival order, what each one was, missing after)
    ("in order", [10, 11, 12, 13], [NEWEST] * 4, []),
    ("one hole", [10, 11, 13], [NEWEST] * 3, [12]),
    ("a run of holes", [10, 15], [NEWEST, NEWEST], [11, 12, 13, 14]),
    ("reordered: the late one fills its hole", [10, 12, 11, 13], [NEWEST, NEWEST, FILLED, NEWEST], []),
    ("duplicates are old", [10, 11, 11, 10], [NEWEST, NEWEST, OLD, OLD], []),
    ("across the wrap", [65533, 65534, 1, 2], [NEWEST] * 4, [65535, 0]),
    ("hole at the wrap filled", [65535, 1, 0], [NEWEST, NEWEST, FILLED], []),
    ("a packet the seq manager takes for a restart restarts", [5000, 5001, 5003, 5003 - 100],
     [NEWEST, NEWEST, NEWEST, RESET], []),
    ("a little behind is only old", [5000, 5010, 5010 - 99], [NEWEST, NEWEST, OLD], list(range(5001, 5010))),
    ("a jump of the seq manager's dropout restarts", [10, 12, 12 + 3000], [NEWEST, NEWEST, RESET], []),
    ("a long jump keeps the window", [10, 12, 12 + 2999], [NEWEST, NEWEST, NEWEST], list(range(2912, 3011))),
    ("the window", [10, 10 + 100], [NEWEST, NEWEST], list(range(11, 110))),
]


@pytest.mark.parametrize("name,seqs,kinds,left", ARRIVALS, ids=[a[0] for a in ARRIVALS])
def test_arrivals(name, seqs, kinds, left):
    g = generator()
    assert feed(g, seqs) == kinds
    assert missing(g) == left
    assert g.max_seq == next(s for s, k in zip(reversed(seqs), reversed(kinds)) if k in (NEWEST, RESET))


def test_a_restart_gives_up_what_was_missing():
    g = generator()
    feed(g, [10, 13, 40000])
    assert (g.n, g.lost, g.max_seq) == (0, 2, 40000)
    assert feed(g, [40002]) == [NEWEST] and missing(g) == [40001]


def test_repaired_packets_only_fill_holes():
    g = generator()
    feed(g, [10, 13])
    assert feed(g, [12, 12, 14, 9], repaired=True) == [FILLED, OLD, OLD, OLD]
    assert missing(g) == [11] and g.max_seq == 13 and g.recovered == 1
    # a probe repeating a packet far back does not restart anything
    assert feed(g, [13 - 5000], repaired=True) == [OLD] and missing(g) == [11]


def test_what_falls_out_of_the_window_is_given_up():
    g = generator()
    feed(g, [0, 50])                   # 1..49 missing
    feed(g, [120])                     # 51..119 too; 1..20 are 100 or more behind now
    assert missing(g) == list(range(21, 50)) + list(range(51, 120))
    assert g.lost == 20 and g.n == 98 <= lib.SFU_NACK_LIST_MAX
    feed(g, [120 + 500])               # 499 holes: only the last 99 are kept
    assert missing(g) == list(range(521, 620)) and g.lost == 20 + 98 + 400


def test_first_request_at_once_then_once_per_rtt():
    g = generator()
    feed(g, [100, 102, 105])
    assert due(g, 0) == [101, 103, 104]
    assert due(g, 1) == []                            # just asked
    assert due(g, 99) == []
    assert due(g, 100) == [101, 103, 104]             # default RTT 100 ms
    assert due(g, 130, rtt_ms=30) == [101, 103, 104]  # a measured RTT
    assert due(g, 140, rtt_ms=5) == []                # never faster than the timer floor
    assert due(g, 150, rtt_ms=5) == [101, 103, 104]
    assert g.requested == 12
    assert [g.missing[i].retries for i in range(g.n)] == [4, 4, 4]


def test_a_hole_found_later_is_asked_for_on_its_own_schedule():
    g = generator()
    feed(g, [1, 3], t_ms=0)
    assert due(g, 0) == [2]
    feed(g, [5], t_ms=50)
    assert due(g, 50) == [4]
    assert due(g, 100) == [2]
    assert due(g, 150) == [4]


def test_given_up_after_the_retries_and_one_more_rtt():
    g = generator()
    feed(g, [1, 3])
    for k in range(lib.SFU_NACK_MAX_RETRIES):
        assert due(g, 20 * k, rtt_ms=20) == [2]
    assert g.lost == 0 and missing(g) == [2]          # the last request still gets its answer time
    assert due(g, 20 * lib.SFU_NACK_MAX_RETRIES - 1, rtt_ms=20) == [] and g.lost == 0
    assert due(g, 20 * lib.SFU_NACK_MAX_RETRIES, rtt_ms=20) == []
    assert g.lost == 1 and g.n == 0


def test_given_up_when_too_old():
    g = generator()
    feed(g, [1, 3], t_ms=0)
    feed(g, [5], t_ms=500)
    assert due(g, 999) == [2, 4]
    assert due(g, lib.SFU_NACK_MAX_AGE_NS / MS) == []
    assert missing(g) == [4] and g.lost == 1


def test_due_respects_cap_oldest_first():
    g = generator()
    feed(g, [0, 10])
    out = ffi.new("uint16_t[4]")
    assert lib.sfu_nack_generator_due(g, T0, 0, out, 4) == 4
    assert list(out) == [1, 2, 3, 4]
    assert due(g, 0) == [5, 6, 7, 8, 9]               # the rest had not been asked yet


def test_every_missing_packet_ends_recovered_or_lost():
    """a long run with loss, reordering and late repairs keeps the books balanced"""
    import random
    rnd = random.Random(7)
    g = generator()
    seq, found, t = 60000, 0, 0.0
    for _ in range(3000):
        t += 4
        seq = (seq + 1) & 0xFFFF
        if rnd.random() < 0.05:
            continue                                  # lost on the way
        before = g.n
        kind = feed(g, [seq], t_ms=t)[0]
        if kind == NEWEST:
            found += g.n - before
        for s in due(g, t, rtt_ms=40):
            if rnd.random() < 0.7:
                feed(g, [s], t_ms=t, repaired=True)
    assert found > 100
    assert g.recovered + g.lost + g.n == found
    assert g.recovered > g.lost
