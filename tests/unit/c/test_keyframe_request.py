"""The key frame request throttles (csrc/rtc/keyframe_request.c): per producer at most one
request per 500 ms, one asked inside that held until it ends; per subscriber once a second,
backing off to 4 s while it keeps asking."""

from __future__ import annotations

import pytest

from sfu._units import ffi, lib

MS = 1_000_000
T0 = 7_000 * MS

CASES = [
    # (name, request times in ms after T0, which ones go out)
    ("the first one goes out", [0], [1]),
    ("repeats inside 500 ms are dropped", [0, 1, 100, 499], [1, 0, 0, 0]),
    ("500 ms after the last one sent", [0, 500], [1, 1]),
    ("dropped requests do not extend the window", [0, 400, 500, 900, 1000], [1, 0, 1, 0, 1]),
    ("a burst per subscriber", [0, 0, 0, 600, 600], [1, 0, 0, 1, 0]),
    ("long quiet periods", [0, 10_000, 10_001, 20_000], [1, 1, 0, 1]),
]


@pytest.mark.parametrize("name,times,want", CASES, ids=[c[0] for c in CASES])
def test_throttle(name, times, want):
    k = ffi.new("sfu_keyframe_request_t *")
    assert [lib.sfu_keyframe_request_allow(k, T0 + t * MS) for t in times] == want


def test_interval_is_half_a_second():
    assert lib.SFU_KEYFRAME_REQUEST_INTERVAL_NS == 500 * MS
    k = ffi.new("sfu_keyframe_request_t *")
    assert lib.sfu_keyframe_request_allow(k, T0)
    assert not lib.sfu_keyframe_request_allow(k, T0 + 500 * MS - 1)
    assert lib.sfu_keyframe_request_allow(k, T0 + 500 * MS)


HELD_CASES = [
    # (name, [(ms after T0, "ask" | "tick" | "key frame")], the ms at which a request goes out)
    ("nothing held, nothing due", [(0, "ask"), (100, "tick"), (600, "tick")], [0]),
    ("one asked inside the interval goes out when it ends",
     [(0, "ask"), (100, "ask"), (400, "tick"), (500, "tick"), (600, "tick")], [0, 500]),
    ("many asked inside it make one request", [(0, "ask")] + [(t, "ask") for t in range(10, 500, 10)]
     + [(500, "tick"), (600, "tick"), (1000, "tick")], [0, 500]),
    ("a key frame answers what was held", [(0, "ask"), (100, "ask"), (200, "key frame"), (500, "tick")], [0]),
    ("after a held one went out, the next interval starts from it",
     [(0, "ask"), (100, "ask"), (550, "tick"), (600, "ask"), (1000, "tick"), (1050, "tick")], [0, 550, 1050]),
    ("asked after the interval: straight out, nothing held", [(0, "ask"), (700, "ask"), (800, "tick"),
                                                               (1300, "tick")], [0, 700]),
]


@pytest.mark.parametrize("name,steps,want", HELD_CASES, ids=[c[0] for c in HELD_CASES])
def test_held_request(name, steps, want):
    k = ffi.new("sfu_keyframe_request_t *")
    sent = []
    for t, what in steps:
        if what == "ask" and lib.sfu_keyframe_request_allow(k, T0 + t * MS):
            sent.append(t)
        elif what == "tick" and lib.sfu_keyframe_request_due(k, T0 + t * MS):
            sent.append(t)
        elif what == "key frame":
            lib.sfu_keyframe_request_answered(k)
    assert sent == want


SUBSCRIBER_CASES = [
    # (name, request times in ms after T0, which ones are passed on)
    ("the first one goes out", [0], [1]),
    ("a second one inside 1 s is dropped", [0, 500], [1, 0]),
    ("one a second goes through", [0, 1000, 2000, 3000], [1, 1, 1, 1]),
    ("asking inside the interval doubles it", [0, 100, 1000, 1999, 2000], [1, 0, 0, 0, 1]),
    ("a storm every 100 ms settles at one per 4 s",
     list(range(0, 14_001, 100)), [1 if t in (0, 2000, 6000, 10_000, 14_000) else 0 for t in range(0, 14_001, 100)]),
    ("asking calmly never backs off", [0, 1500, 3000, 4500], [1, 1, 1, 1]),
    ("quiet for two intervals: back to 1 s", [0, 100, 2000, 2100, 6000, 18_000, 19_000], [1, 0, 1, 0, 1, 1, 1]),
]


@pytest.mark.parametrize("name,times,want", SUBSCRIBER_CASES, ids=[c[0] for c in SUBSCRIBER_CASES])
def test_subscriber_pli_throttle(name, times, want):
    s = ffi.new("sfu_subscriber_pli_t *")
    assert [lib.sfu_subscriber_pli_allow(s, T0 + t * MS) for t in times] == want
