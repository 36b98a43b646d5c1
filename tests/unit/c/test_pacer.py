"""The pacer of a subscriber transport (csrc/rtc/pacer.c): a leaky bucket at
the pacing rate with two FIFOs behind it (retransmissions before video),
audio never waiting, late and overflowing packets dropped by reason, and
passing through when it has no rate."""

from __future__ import annotations

import pytest

from sfu._units import ffi, lib

MS = 1000
T0 = 5_000_000
AUDIO, RTX, VIDEO = lib.SFU_PACE_AUDIO, lib.SFU_PACE_RTX, lib.SFU_PACE_VIDEO
FULL, LATE = lib.SFU_PACER_DROP_FULL, lib.SFU_PACER_DROP_LATE


class Pacer:
    def __init__(self, rate_bps: int = 0, now: int = T0) -> None:
        self.p = ffi.new("sfu_pacer_t *")
        lib.sfu_pacer_init(self.p, now)
        self._h = ffi.new("uint16_t *")
        self.slots: dict[int, str] = {}          # handle -> the packet waiting there
        if rate_bps:
            lib.sfu_pacer_set_rate(self.p, rate_bps, now)

    def send(self, name: str, cls: int, size: int, now: int) -> bool:
        """True: it may go now; False: it waits"""
        if lib.sfu_pacer_enqueue(self.p, cls, size, now, self._h):
            return True
        self.slots[self._h[0]] = name
        return False

    def release(self, now: int) -> list[str]:
        out = []
        while lib.sfu_pacer_next(self.p, now, self._h):
            out.append(self.slots.pop(self._h[0]))
        return out

    def queued(self) -> int:
        return lib.sfu_pacer_queued(self.p)


def test_without_a_rate_everything_passes_through():
    p = Pacer()
    assert all(p.send(f"v{i}", VIDEO, 1200, T0) for i in range(1000))
    assert p.queued() == 0 and p.p.queued == 0 and p.p.sent == 1000


def test_audio_never_waits_behind_video():
    p = Pacer(500_000)
    sent_now = [p.send(f"v{i}", VIDEO, 1200, T0 + MS) for i in range(10)]
    assert sent_now[0] and not any(sent_now[1:])          # the first millisecond's budget, then the queue
    assert p.send("a", AUDIO, 100, T0 + MS) and p.queued() == 9
    assert p.p.budget < 0                                  # ... but its bytes count


def test_retransmissions_go_before_video_and_video_waits_behind_them():
    p = Pacer(1_000_000)
    for i in range(3):
        p.send(f"v{i}", VIDEO, 1000, T0)                   # budget 0 at the start: all wait
    assert not p.send("r0", RTX, 1000, T0)
    out = []
    for ms in range(1, 100):
        out += p.release(T0 + ms * MS)
    assert out == ["r0", "v0", "v1", "v2"]


def test_a_retransmission_passes_waiting_video():
    p = Pacer(8_000_000)
    p.send("v0", VIDEO, 1200, T0)                          # waits (no budget yet)
    assert p.send("r0", RTX, 1200, T0 + MS)                # budget 1000 B: it goes at once
    assert not p.send("v1", VIDEO, 1200, T0 + 2 * MS)      # behind v0, although there is budget
    assert p.release(T0 + 3 * MS) == ["v0", "v1"]


def offer(p: Pacer, size: int, offered: float, ms: int) -> tuple[float, int]:
    """offered bit/s of `size`-byte video for `ms` milliseconds, released every millisecond:
    (output bit/s, the longest any packet waited, us)"""
    sent_bytes, owed, longest = 0, 0.0, 0
    for k in range(ms):
        now = T0 + k * MS
        owed += offered / 8000 / size
        while owed >= 1:
            owed -= 1
            if p.send("v", VIDEO, size, now):
                sent_bytes += size
        longest = max(longest, lib.sfu_pacer_delay_us(p.p, now))
        sent_bytes += size * len(p.release(now))
    return sent_bytes * 8 / (ms / 1000), longest


# (rate bit/s, packet bytes, offered bit/s): a short burst above the rate leaves at the rate
BURST_CASES = [
    (1_000_000, 1200, 3_000_000),
    (2_500_000, 1200, 10_000_000),
    (6_000_000, 300, 12_000_000),
]


@pytest.mark.parametrize("rate,size,offered", BURST_CASES)
def test_a_burst_leaves_at_the_pacing_rate(rate, size, offered):
    """100 ms at the offered rate: less than SFU_PACER_DRAIN_US of it waits, so it drains at the rate"""
    p = Pacer(rate)
    out, _ = offer(p, size, offered, 100)
    assert abs(out - rate) <= 0.05 * rate + lib.SFU_PACER_BURST_US * rate / 1e6 / 0.1


@pytest.mark.parametrize("rate,size,offered", BURST_CASES)
def test_what_waits_drains_faster_rather_than_late(rate, size, offered):
    """offered above the rate for 2 s: the queue drains within about SFU_PACER_DRAIN_US (the rate
    rises, to at most SFU_PACER_DRAIN_MAX_FACTOR x; small packets fill the slots first, and a full
    queue drops its oldest), nothing is dropped late"""
    p = Pacer(rate)
    out, longest = offer(p, size, offered, 2000)
    assert 0.95 * rate <= out <= lib.SFU_PACER_DRAIN_MAX_FACTOR * rate * 1.05
    assert longest <= lib.SFU_PACER_DRAIN_US + 50 * MS and p.p.drops[LATE] == 0


def test_budget_after_idle_is_one_burst():
    """after a long quiet time at most SFU_PACER_BURST_US of the rate leaves at once"""
    rate = 4_000_000
    p = Pacer(rate)
    now = T0 + 2_000_000
    sent = sum(1000 for i in range(200) if p.send("v", VIDEO, 1000, now))
    burst = rate * lib.SFU_PACER_BURST_US // 8_000_000
    assert burst <= sent <= burst + 1000


def test_late_video_is_dropped():
    """20 packets at 10 kbit/s: even draining at SFU_PACER_DRAIN_MAX_FACTOR x the rate most of
    them would wait longer than SFU_PACER_MAX_DELAY_US"""
    p = Pacer(10_000)
    for i in range(20):
        p.send(f"v{i}", VIDEO, 1200, T0)
    got = []
    for ms in range(1, 700, 10):
        got += p.release(T0 + ms * MS)
    assert got and got == [f"v{i}" for i in range(len(got))] and p.queued() == 0
    assert p.p.drops[LATE] == 20 - len(got) > 10 and p.p.drops[FULL] == 0


def test_a_full_queue_drops_its_oldest_video():
    p = Pacer(10_000)
    n = lib.SFU_PACER_SLOTS
    for i in range(n):
        assert not p.send(f"v{i}", VIDEO, 1000, T0)
    assert not p.send("r", RTX, 1000, T0) and p.p.drops[FULL] == 1
    # v0's slot now holds r
    assert p.queued() == n and "v0" not in p.slots.values() and "r" in p.slots.values()
    assert p.p.queued_bytes == n * 1000


def test_a_queue_full_of_retransmissions_drops_the_oldest():
    p = Pacer(10_000)
    for i in range(lib.SFU_PACER_SLOTS + 3):
        p.send(f"r{i}", RTX, 500, T0)
    assert p.p.drops[FULL] == 3 and p.queued() == lib.SFU_PACER_SLOTS


def test_delay_of_the_oldest_waiting_packet():
    p = Pacer(10_000)
    assert lib.sfu_pacer_delay_us(p.p, T0) == 0
    assert p.send("v0", VIDEO, 1000, T0 + MS)              # the first millisecond's budget
    assert not p.send("v1", VIDEO, 1000, T0 + 2 * MS)
    assert not p.send("r0", RTX, 1000, T0 + 5 * MS)
    assert lib.sfu_pacer_delay_us(p.p, T0 + 30 * MS) == 28 * MS


def test_back_to_no_rate_sends_what_waits():
    p = Pacer(10_000)
    for i in range(5):
        p.send(f"v{i}", VIDEO, 1000, T0)
    lib.sfu_pacer_set_rate(p.p, 0, T0 + MS)
    assert p.send("v5", VIDEO, 1000, T0 + MS)              # no rate: nothing waits any more ...
    assert p.queued() == 5                                 # ... but what waited still goes by the budget
