"""The consumer's sequence number / timestamp rewriter (csrc/rtc/seq_manager.c)
through the test-facing module sfu._units: tables of input packets and
events, with the output each must get, derived from the rules in
sfu_units.h (RFC 3550 A.1 limits: 3000 ahead, 100 back), padding (probes)
included: it takes the next numbers only at a frame boundary."""

from __future__ import annotations

import pytest

from sfu._units import ffi, lib

SEC = 1_000_000_000
T0 = 50 * SEC            # any monotonic time > 0


class Seq:
    def __init__(self, seq_start: int, ts_offset: int = 0) -> None:
        self.m = ffi.new("sfu_seq_manager_t *")
        lib.sfu_seq_manager_init(self.m, seq_start, ts_offset)
        self._seq = ffi.new("uint16_t *")
        self._ts = ffi.new("uint32_t *")

    def map(self, seq: int, ts: int = 0, clock: int = 90000, now: int = T0) -> tuple[int, int]:
        lib.sfu_seq_manager_map(self.m, seq, ts, clock, now, self._seq, self._ts)
        return self._seq[0], self._ts[0]

    def send(self, seq: int, ts: int = 0, clock: int = 90000, now: int = T0, marker: bool = False) -> tuple[int, int]:
        out = self.map(seq, ts, clock, now)
        lib.sfu_seq_manager_sent(self.m, out[0], out[1], 1 if marker else 0, now)
        return out

    def pad(self) -> tuple[int, int] | None:
        """a padding packet's (seq, ts), or None when it may not follow now"""
        if not lib.sfu_seq_manager_pad(self.m, self._seq, self._ts):
            return None
        return self._seq[0], self._ts[0]


def run(seq_start: int, events: list) -> list[int]:
    """events: input sequence numbers (with "m": the marker bit), "d<seq>" (that input left out,
    no output), or "resync" / "switch" / "pad"; returns the output sequence numbers ("pad": its
    number, or None when refused)"""
    s = Seq(seq_start)
    out = []
    for e in events:
        if e == "resync":
            lib.sfu_seq_manager_resync(s.m)
        elif e == "switch":
            lib.sfu_seq_manager_source_switch(s.m)
        elif e == "pad":
            p = s.pad()
            out.append(None if p is None else p[0])
        elif isinstance(e, str) and e.startswith("d"):
            lib.sfu_seq_manager_drop(s.m, int(e[1:]))
        elif isinstance(e, str):
            out.append(s.send(int(e.rstrip("m")), marker=e.endswith("m"))[0])
        else:
            out.append(s.send(e)[0])
    return out


SEQ_CASES = [
    # (name, seq_start, events, expected output sequence numbers)
    ("first packet maps to seq_start", 1000, [500, 501, 502], [1000, 1001, 1002]),
    ("output wraps", 65534, [10, 11, 12, 13], [65534, 65535, 0, 1]),
    ("input wraps", 100, [65534, 65535, 0, 1], [100, 101, 102, 103]),
    ("reorder keeps relative order", 7, [10, 12, 11, 13], [7, 9, 8, 10]),
    ("loss stays visible", 7, [10, 11, 15, 16], [7, 8, 12, 13]),
    ("2999 ahead is a gap", 0, [100, 3099, 3100], [0, 2999, 3000]),
    ("3000 ahead is a discontinuity", 0, [100, 3100, 3101], [0, 1, 2]),
    ("3000 ahead across the wrap", 0, [64000, (64000 + 3000) & 0xFFFF], [0, 1]),
    ("99 back is reordering", 200, [1000, 901, 1001], [200, 101, 201]),
    ("100 back is a discontinuity", 200, [1000, 900, 901], [200, 201, 202]),
    ("far behind (publisher restart at 0)", 5, [40000, 40001, 0, 1], [5, 6, 7, 8]),
    # 3100 is 2999 after the newest sent (101), 3001 after the last packet (99): a gap
    ("jump measured from the newest sent", 0, [100, 101, 99, 3100], [0, 1, 65535, 3000]),
    ("resync continues after the newest sent", 10, [1, 2, "resync", 50, 51], [10, 11, 12, 13]),
    ("resync after reordering", 10, [1, 3, 2, "resync", 900], [10, 12, 11, 13]),
    ("resync before the first packet: seq_start", 10, ["resync", 77, 78], [10, 11]),
    ("switch before the first packet: seq_start", 10, ["switch", 77], [10]),
    ("switch re-bases the sequence", 10, [1, 2, "switch", 7000, 7001], [10, 11, 12, 13]),
    # padding: after a frame's last packet (marker), the media after it moves up
    ("padding after a frame end", 10, [1, "2m", "pad", "pad", 3, 4], [10, 11, 12, 13, 14, 15]),
    ("no padding mid-frame", 10, [1, 2, "pad", "3m", "pad", 4], [10, 11, None, 12, 13, 14]),
    ("no padding before the first packet", 10, ["pad", "1m"], [None, 10]),
    ("padding while paused: the media after it continues", 10, ["1m", "resync", "pad", 50], [10, 11, 12]),
    ("a late packet from before the padding keeps its place", 10, [1, "3m", "pad", 2, 4], [10, 12, 13, 11, 14]),
    ("a gap in the input stays visible after padding", 10, ["1m", "pad", 5], [10, 11, 15]),
    ("padding, then a resync", 10, ["1m", "pad", "resync", 90], [10, 11, 12]),
    ("padding, then a source switch", 10, ["1m", "pad", "pad", "switch", 7000], [10, 11, 12, 13]),
    ("padding twice, media between", 10, ["1m", "pad", "2m", "pad", 3, 2], [10, 11, 12, 13, 14, 12]),
    ("padding across the output wrap", 65535, ["1m", "pad", 2], [65535, 0, 1]),
    # left out (an SVC layer not forwarded): the packets after it take its number
    ("a left-out packet gives its number up", 10, [1, "d2", 3, "d4", "d5", 6], [10, 11, 12]),
    ("a lost packet before a left-out one keeps its place", 10, [1, "d3", 4, 2], [10, 12, 11]),
    ("a late packet from before several left out keeps its place", 10, [1, "d3", "d4", 5, "d6", 7, 2],
     [10, 12, 13, 11]),
    ("a left-out packet seen twice counts once", 10, [1, "d2", "d2", 3, 4], [10, 11, 12]),
    ("left out too late: its number stays a gap", 10, [1, 3, "d2", 4], [10, 12, 13]),
    ("left out before the first packet", 10, ["d1", 2, 3], [10, 11]),
    ("left out while paused", 10, [1, "resync", "d2", 3], [10, 11]),
    ("left out, then padding, then a late packet", 10, [1, "d2", "3m", "pad", 4], [10, 11, 12, 13]),
    ("left out across the input wrap", 10, [65534, "d65535", 0, "d1", 2], [10, 11, 12]),
    ("left out, then a discontinuity", 10, [1, "d2", 5000, 5001], [10, 11, 12]),
    ("a run of left-out packets is one boundary", 10,
     ["1m", "d2", "d3", "d4", "5m", "d6", "d7", "d8", "9m", 10, 1], [10, 11, 12, 13, 10]),
    ("a late packet from before many runs keeps its place", 10,
     [1, 3] + [x for k in range(12) for x in (f"d{4 + 3 * k}", f"d{5 + 3 * k}", 6 + 3 * k)] + [2],
     [10, 12] + list(range(13, 25)) + [11]),
    # 17 separate changes within 100 packets: the oldest is forgotten, and a late packet from
    # before it gets the offset of the oldest kept, a number already sent (a rare case: runs of
    # left-out packets count once, and a boundary goes after 100 packets anyway)
    ("seventeen offset changes: the oldest is forgotten", 10,
     [1, 3] + [x for k in range(17) for x in (f"d{4 + 2 * k}", 5 + 2 * k)] + [2],
     [10, 12] + list(range(13, 30)) + [10]),
]


@pytest.mark.parametrize("name,seq_start,events,want", SEQ_CASES, ids=[c[0] for c in SEQ_CASES])
def test_sequence_numbers(name, seq_start, events, want):
    assert run(seq_start, events) == want


def test_timestamps_get_the_offset_and_wrap():
    s = Seq(0, ts_offset=0xFFFFFFF0)
    assert [s.send(i, ts)[1] for i, ts in enumerate((0, 0x10, 3000))] == [0xFFFFFFF0, 0, 3000 - 0x10]


def test_resync_keeps_the_timestamp_offset():
    s = Seq(0, ts_offset=5)
    s.send(1, 1000)
    lib.sfu_seq_manager_resync(s.m)
    assert s.send(90, 9000) == (1, 9005)


def test_map_without_sent_does_not_count_as_sent():
    """a packet that was mapped but not sent (SRTP failed) is not the newest sent"""
    s = Seq(100)
    s.send(10)
    assert s.map(11) == (101, 0)          # mapped, never sent
    assert s.send(12) == (102, 0)
    assert s.m.last_out_seq == 102 and s.m.sent == 2


SWITCH_CASES = [
    # (name, clock, elapsed ns between the last packet sent and the new source's first, ts advance)
    ("video 90 kHz, 500 ms", 90000, SEC // 2, 45000),
    ("video 90 kHz, 33 ms", 90000, 33_333_333, 2999),
    ("audio 48 kHz, 20 ms", 48000, 20_000_000, 960),
    ("audio 48 kHz, 1 s", 48000, SEC, 48000),
    ("same instant", 90000, 0, 0),
]


@pytest.mark.parametrize("name,clock,elapsed,advance", SWITCH_CASES, ids=[c[0] for c in SWITCH_CASES])
def test_source_switch_continues_the_timeline_by_elapsed_time(name, clock, elapsed, advance):
    s = Seq(1000, ts_offset=7)
    s.send(10, 100_000, clock, T0)
    s.send(11, 103_000, clock, T0 + 1000)             # the newest packet sent: out ts 103007
    lib.sfu_seq_manager_source_switch(s.m)
    seq, ts = s.send(7000, 5_000_000, clock, T0 + 1000 + elapsed)   # another source, its own timeline
    assert (seq, ts) == (1002, (103_007 + advance + 1) & 0xFFFFFFFF)
    # and the new source's spacing is kept afterwards
    assert s.send(7001, 5_003_000, clock, T0 + 2 * SEC) == (1003, (103_007 + advance + 1 + 3000) & 0xFFFFFFFF)


def test_source_switch_timeline_wraps():
    s = Seq(0, ts_offset=0)
    s.send(1, 0xFFFFFF00, 90000, T0)
    lib.sfu_seq_manager_source_switch(s.m)
    assert s.send(500, 12345, 90000, T0 + SEC // 10)[1] == (0xFFFFFF00 + 9000 + 1) & 0xFFFFFFFF


def test_ts_at_extrapolates_the_newest_packet():
    s = Seq(0, ts_offset=0)
    s.send(1, 0xFFFFFFFF - 1000, 90000, T0)
    assert lib.sfu_seq_manager_ts_at(s.m, 90000, T0) == 0xFFFFFFFF - 1000
    assert lib.sfu_seq_manager_ts_at(s.m, 90000, T0 + SEC) == (0xFFFFFFFF - 1000 + 90000) & 0xFFFFFFFF
    assert lib.sfu_seq_manager_ts_at(s.m, 48000, T0 + SEC // 2) == (0xFFFFFFFF - 1000 + 24000) & 0xFFFFFFFF


def test_padding_keeps_the_newest_timestamp_and_counts():
    s = Seq(0, ts_offset=100)
    s.send(1, 3000, marker=True)
    assert s.pad() == (1, 3100) and s.pad() == (2, 3100)
    assert s.m.padded == 2 and s.m.sent == 1 and s.m.frame_end == 1
    assert s.send(2, 6000) == (3, 6100) and s.m.frame_end == 0 and s.pad() is None


def test_older_packet_does_not_move_the_newest():
    s = Seq(0)
    s.send(10, 1000, now=T0)
    s.send(9, 900, now=T0 + 5)            # reordered: sent, but not the newest
    assert (s.m.last_out_seq, s.m.last_out_ts, s.m.last_out_ns) == (0, 1000, T0)
