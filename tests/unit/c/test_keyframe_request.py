"""The key frame request throttle (csrc/rtc/keyframe_request.c): at most one
request per 500 ms, measured from the last request let through."""

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
