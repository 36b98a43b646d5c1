"""The producer activity detector (csrc/rtc/producer_activity.c): active from
creation, inactive once nothing arrived for 1 s, active again at the first
packet after that -- the room's once-a-second layer poll, decided where the
packets are."""

from __future__ import annotations

import pytest

from sfu._units import ffi, lib

MS = 1_000_000
T0 = 3_000 * MS

CASES = [
    # (name, events as ("pkt" | "check", ms after creation), results of each)
    ("active from creation", [("check", 0), ("check", 999)], [0, 0]),
    ("a producer that never sends goes inactive after 1 s", [("check", 1000), ("check", 1500)], [1, 0]),
    ("packets keep it active", [("pkt", 900), ("check", 1500), ("pkt", 1800), ("check", 2700)], [0, 0, 0, 0]),
    ("inactive 1 s after the last packet", [("pkt", 900), ("check", 1899), ("check", 1900)], [0, 0, 1]),
    ("active again at the first packet", [("check", 1000), ("pkt", 5000), ("pkt", 5001), ("check", 5500)],
     [1, 1, 0, 0]),
    ("and inactive again", [("check", 1000), ("pkt", 5000), ("check", 5999), ("check", 6000)], [1, 1, 0, 1]),
    ("reported once per change", [("check", 1000), ("check", 2000), ("check", 3000)], [1, 0, 0]),
    ("a check from before the last packet", [("pkt", 2000), ("check", 1500)], [0, 0]),
]


@pytest.mark.parametrize("name,events,want", CASES, ids=[c[0] for c in CASES])
def test_activity(name, events, want):
    a = ffi.new("sfu_producer_activity_t *")
    lib.sfu_producer_activity_init(a, T0)
    got = []
    for kind, t in events:
        fn = lib.sfu_producer_activity_on_packet if kind == "pkt" else lib.sfu_producer_activity_check
        got.append(fn(a, T0 + t * MS))
    assert got == want


def test_threshold_is_one_second():
    assert lib.SFU_PRODUCER_INACTIVE_NS == 1000 * MS
