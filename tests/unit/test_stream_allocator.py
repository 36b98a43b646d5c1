"""sfu.rooms.stream_allocator: which layer of each subscribed track fits the subscriber's
estimate, table by table, with `now` stepping."""

from __future__ import annotations

import pytest
from livekit.protocol import models

from sfu.rooms import stream_allocator as sa
from sfu.rooms.layer_selector import select_layer
from sfu.rooms.stream_allocator import Demand, LayerState, StreamAllocator

LOW, MEDIUM, HIGH = models.VideoQuality.LOW, models.VideoQuality.MEDIUM, models.VideoQuality.HIGH
Q = {"q": LOW, "h": MEDIUM, "f": HIGH}
NAME = {v: k for k, v in Q.items()}
K = 1000


def video(key: str, spec: str = "q h f", rates: tuple[int, ...] = (150 * K, 500 * K, 1700 * K),
          **kw) -> Demand:
    """layers by rid letters ("q h F": F inactive) with measured bitrates in that order"""
    layers = tuple(LayerState(Q[c.lower()], bitrate=r, active=c.islower())
                   for c, r in zip(spec.split(), rates))
    return Demand(key, "video", layers, **kw)


def audio(key: str = "A", rate: int = 40 * K, **kw) -> Demand:
    return Demand(key, "audio", (LayerState(HIGH, bitrate=rate),), **kw)


def picked(alloc: sa.Allocation) -> dict[str, str]:
    """key -> rid letter of its layer, or "-" when paused"""
    return {k: "-" if d.paused else NAME.get(d.quality, "?") for k, d in alloc.decisions.items()}


# -- one video (and an audio track) against the estimate ------------------------------------
@pytest.mark.parametrize("estimate, want", [
    (5_000 * K, "f"),
    (1_740 * K, "h"),         # 1700 + 40 audio needs the margin to go up that far from nothing
    (2_100 * K, "f"),         # 1740 * 1.15 = 2001: room for the upgrade
    (700 * K, "h"),           # 540 * 1.15 = 621
    (600 * K, "q"),
    (200 * K, "q"),           # a new subscription gets its lowest layer without the margin
    (180 * K, "-"),           # 150 + 40 audio > 180: video paused, audio stays
    (10 * K, "-"),
])
def test_one_video_fits_the_estimate(estimate, want):
    alloc = StreamAllocator().allocate(estimate, 0.0, [audio(), video("V")])
    assert picked(alloc)["V"] == want
    assert alloc.decisions["A"].reason == sa.AUDIO and not alloc.decisions["A"].paused
    assert alloc.used <= estimate or want == "-"
    assert alloc.paused == (["V"] if want == "-" else [])


def test_audio_is_allocated_even_when_nothing_fits():
    alloc = StreamAllocator().allocate(10 * K, 0.0, [audio("A1"), audio("A2"), video("V")])
    assert picked(alloc) == {"A1": "f", "A2": "f", "V": "-"}
    assert alloc.decisions["V"].reason == sa.BANDWIDTH and alloc.decisions["V"].bitrate == 0


# -- several videos: lowest layers first, then upgrades by priority --------------------------
@pytest.mark.parametrize("demands, estimate, want", [
    # everybody gets its lowest layer before anybody goes higher
    ([video("a"), video("b")], 400 * K, {"a": "q", "b": "q"}),
    # the remainder goes to the first by priority: the larger requested quality ...
    ([video("a", max_quality=MEDIUM), video("b")], 1_000 * K, {"a": "q", "b": "h"}),
    # ... a screen share before a camera, whatever the request
    ([video("cam"), video("scr", source=models.TrackSource.SCREEN_SHARE, max_quality=MEDIUM)],
     1_000 * K, {"cam": "q", "scr": "h"}),
    # ... the subscriber's priority, before the size
    ([video("a", priority=10, size=320 * 180), video("b", priority=1, size=1280 * 720)],
     1_000 * K, {"a": "h", "b": "q"}),
    # ... then the larger requested size
    ([video("a", size=320 * 180), video("b", size=1280 * 720)], 1_000 * K, {"a": "q", "b": "h"}),
    # not enough for every lowest layer: the lowest priority is paused
    ([video("a", size=100), video("b", size=200)], 250 * K, {"a": "-", "b": "q"}),
    # enough for both on the top layer
    ([video("a"), video("b")], 5_000 * K, {"a": "f", "b": "f"}),
    # a capped subscription asks for no more than its cap, the rest goes to the other
    ([video("a", max_quality=LOW), video("b")], 2_300 * K, {"a": "q", "b": "f"}),
])
def test_videos_share_the_estimate_by_priority(demands, estimate, want):
    alloc = StreamAllocator().allocate(estimate, 0.0, demands)
    assert picked(alloc) == want
    assert alloc.used == sum(d.bitrate for d in alloc.decisions.values())
    assert alloc.used <= estimate


def test_a_subscription_first_seen_on_a_layer_keeps_it_without_the_margin():
    # 500 fits 560, but going up to it from nothing would need 575
    assert picked(StreamAllocator().allocate(560 * K, 0.0, [video("V", current=HIGH)])) == {"V": "h"}
    assert picked(StreamAllocator().allocate(560 * K, 0.0, [video("V")])) == {"V": "q"}


def test_a_paused_higher_priority_track_takes_the_place_of_a_lower_one():
    share = video("scr", "f", (800 * K,), source=models.TrackSource.SCREEN_SHARE)
    al = StreamAllocator()
    assert picked(al.allocate(600 * K, 0.0, [share, video("cam", current=HIGH)])) == {"scr": "-", "cam": "h"}
    # more room: the share resumes (after the hold) and the camera makes way for it
    trace = run(al, [(0.5, 1_000 * K)], [share, video("cam")], start=0.5)
    assert trace[-1][1] == {"scr": "f", "cam": "q"}
    assert [(t, r) for t, _, _, r in trace if r] == [(sa.UPGRADE_HOLD, ["scr"])]
    assert [p for _, p, _, _ in trace].count({"scr": "-", "cam": "h"}) == (sa.UPGRADE_HOLD - 0.5) / 0.5


def test_a_disabled_track_takes_nothing():
    big = video("off", rates=(900 * K, 2000 * K, 4000 * K), disabled=True)
    alloc = StreamAllocator().allocate(600 * K, 0.0, [big, video("on")])
    assert picked(alloc)["on"] == "h"
    off = alloc.decisions["off"]
    assert off.reason == sa.DISABLED and off.bitrate == 0 and not off.paused
    assert alloc.paused == [] and alloc.resumed == []
    mute = StreamAllocator().allocate(200 * K, 0.0, [audio(disabled=True), video("on")])
    assert picked(mute)["on"] == "q" and mute.decisions["A"].bitrate == 0


def test_inactive_layers_are_not_allocated():
    alloc = StreamAllocator().allocate(5_000 * K, 0.0, [video("V", "q h F")])
    assert picked(alloc) == {"V": "h"}
    # nothing active (a publisher that just started): every layer is a candidate
    assert picked(StreamAllocator().allocate(5_000 * K, 0.0, [video("V", "Q H F")])) == {"V": "f"}


@pytest.mark.parametrize("layer, kind, want", [
    (LayerState(HIGH, bitrate=900 * K, advertised=2_000 * K), "video", 900 * K),   # measured first
    (LayerState(HIGH, advertised=2_000 * K), "video", 2_000 * K),                 # then advertised
    (LayerState(HIGH), "video", sa.DEFAULT_VIDEO_BITRATE[HIGH]),                  # then the default
    (LayerState(LOW), "video", sa.DEFAULT_VIDEO_BITRATE[LOW]),
    (LayerState(HIGH), "audio", sa.DEFAULT_AUDIO_BITRATE),
])
def test_layer_cost(layer, kind, want):
    assert sa.layer_cost(layer, kind) == want


def test_unmeasured_layers_use_the_advertised_bitrates():
    layers = tuple(LayerState(q, advertised=r) for q, r in ((LOW, 100 * K), (MEDIUM, 300 * K), (HIGH, 800 * K)))
    alloc = StreamAllocator().allocate(1_000 * K, 0.0, [Demand("V", "video", layers)])
    assert picked(alloc) == {"V": "f"} and alloc.used == 800 * K


# -- no estimate: today's behaviour -----------------------------------------------------------
@pytest.mark.parametrize("spec, max_quality", [
    ("q h f", HIGH), ("q h f", MEDIUM), ("q h F", HIGH), ("Q h F", LOW), ("Q H F", MEDIUM), ("f", LOW),
])
def test_no_estimate_is_the_layer_selector(spec, max_quality):
    d = video("V", spec, max_quality=max_quality)
    alloc = StreamAllocator().allocate(None, 0.0, [d, audio(), video("off", disabled=True)])
    assert alloc.decisions["V"].quality == select_layer(d.layers, max_quality).quality
    assert not any(x.paused for x in alloc.decisions.values())
    assert alloc.decisions["V"].reason == sa.NO_ESTIMATE and alloc.paused == alloc.resumed == []


def test_losing_the_estimate_resumes_what_was_paused():
    al = StreamAllocator()
    assert al.allocate(50 * K, 0.0, [video("V")]).paused == ["V"]
    alloc = al.allocate(None, 0.5, [video("V")])
    assert alloc.resumed == ["V"] and picked(alloc) == {"V": "f"}


# -- over time: pause, resume, hysteresis -----------------------------------------------------
def run(al: StreamAllocator, estimates: list[tuple[float, int]], demands: list[Demand],
        tick: float = 0.5, start: float = 0.0) -> list[tuple[float, dict[str, str], list[str], list[str]]]:
    """(now, picked, paused, resumed) at every tick; `estimates` is (from time, estimate)"""
    out = []
    end = estimates[-1][0] + 10
    now = start
    while now <= end:
        est = [e for t, e in estimates if t <= now][-1]
        a = al.allocate(est, now, demands)
        out.append((now, picked(a), a.paused, a.resumed))
        now = round(now + tick, 3)
    return out


def test_pause_then_resume_with_headroom_after_the_hold():
    trace = run(StreamAllocator(), [(0, 3_000 * K), (5, 100 * K), (10, 160 * K), (20, 300 * K)], [video("V")])
    at = {t: p["V"] for t, p, _, _ in trace}
    assert at[0] == "f" and at[5] == "-"                 # the downgrade is immediate
    assert at[10] == "-" and at[19.5] == "-"             # 160 > 150 but not with 15% headroom
    assert at[20] == "q"                                 # 300 > 172: resumed, one layer at a time
    paused = [t for t, _, p, _ in trace if p]
    resumed = [t for t, _, _, r in trace if r]
    assert paused == [5] and resumed == [20]             # told once each


def test_upgrades_wait_after_a_downgrade():
    trace = run(StreamAllocator(), [(0, 3_000 * K), (10, 1_000 * K), (11, 3_000 * K)], [video("V")])
    at = {t: p["V"] for t, p, _, _ in trace}
    assert at[9.5] == "f" and at[10] == "h"
    # the estimate is back at once, the layer only after UPGRADE_HOLD
    assert at[11] == "h" and at[10 + sa.UPGRADE_HOLD - 0.5] == "h" and at[10 + sa.UPGRADE_HOLD] == "f"


def test_a_noisy_estimate_does_not_make_layers_flap():
    # an estimate wobbling +-12% around what the top layer needs, for 60 s
    need = 1_700 * K
    wobble = [1.12, 0.97, 1.05, 0.88, 1.10, 1.02, 0.92, 1.12, 1.0, 0.95]
    estimates = [(i * 0.5, int(need * wobble[i % len(wobble)])) for i in range(120)]
    trace = run(StreamAllocator(), estimates, [video("V")])
    layers = [p["V"] for _, p, _, _ in trace]
    switches = sum(1 for a, b in zip(layers, layers[1:]) if a != b)
    assert layers[0] == "h"          # 1.12 * 1700 < 1.15 * 1700: never enough headroom for the top
    assert switches <= 2 and "-" not in layers


def test_repeatedly_failing_upgrades_back_off():
    # the estimate allows the top layer for a moment, then falls again, again and again
    estimates = []
    for i in range(12):
        estimates += [(i * 5.0, 3_000 * K), (i * 5.0 + 1, 1_000 * K)]
    trace = run(StreamAllocator(), estimates, [video("V")])
    layers = [p["V"] for _, p, _, _ in trace]
    ups = sum(1 for a, b in zip(layers, layers[1:]) if (a, b) == ("h", "f"))
    # without back-off it would go up every 5 s (11 times); with it, the hold grows to 24 s
    assert 2 <= ups <= 4


def test_a_removed_subscription_is_forgotten():
    al = StreamAllocator()
    assert al.allocate(50 * K, 0.0, [video("V")]).paused == ["V"]
    al.allocate(50 * K, 0.5, [])
    # subscribed again: a new subscription, not a resume of the old one
    again = al.allocate(50 * K, 1.0, [video("V")])
    assert again.paused == ["V"] and again.resumed == []


def test_a_known_track_moves_up_one_layer_per_allocation():
    al = StreamAllocator()
    assert picked(al.allocate(50 * K, 0.0, [video("V")])) == {"V": "-"}
    steps = [picked(al.allocate(10_000 * K, t, [video("V")]))["V"] for t in (0.5, 1.0, 1.5, 2.0)]
    assert steps == ["q", "h", "f", "f"]
    assert al.allocate(10_000 * K, 2.5, [video("V")]).decisions["V"].reason == sa.OPTIMAL


def test_a_track_waiting_for_its_next_step_says_held():
    al = StreamAllocator()
    al.allocate(50 * K, 0.0, [video("V")])
    dec = al.allocate(10_000 * K, 0.5, [video("V")]).decisions["V"]
    assert (dec.quality, dec.reason) == (LOW, sa.HELD)


def test_an_ample_estimate_resumes_through_a_long_hold():
    # failed upgrades grew the hold; then the estimate shows far more than is needed
    estimates = []
    for i in range(6):
        estimates += [(i * 5.0, 3_000 * K), (i * 5.0 + 1, 100 * K)]
    al = StreamAllocator()
    run(al, estimates[:-1], [video("V")], tick=0.5)
    assert al._hold > sa.UPGRADE_HOLD                   # the back-off is in force
    now = 40.0
    assert picked(al.allocate(100 * K, now, [video("V")]))["V"] == "-"
    assert al._hold_until > now + 1.5                    # held well past the next allocations
    got = [picked(al.allocate(5_000 * K, now + 0.5 * (i + 1), [video("V")]))["V"] for i in range(3)]
    assert got == ["q", "h", "f"]                        # 5 Mbit/s >= 2 x each new sum: not held
    # an estimate that covers the step but not twice over still waits for the hold
    al2 = StreamAllocator()
    run(al2, estimates[:-1], [video("V")], tick=0.5)
    al2.allocate(100 * K, now, [video("V")])
    assert picked(al2.allocate(250 * K, now + 0.5, [video("V")]))["V"] == "-"


def test_red_audio_is_counted_with_its_earlier_blocks():
    plain = audio(rate=66 * K)
    red = Demand("A", "audio", (LayerState(HIGH, bitrate=66 * K, payload_bitrate=32 * K),), red_blocks=2)
    assert sa.audio_cost(plain) == 66 * K and sa.audio_cost(red) == 66 * K + 2 * 32 * K
    assert sa.audio_cost(red, red=False) == 66 * K
    # not measured yet: two thirds of the default per block
    guess = Demand("A", "audio", (LayerState(HIGH),), red_blocks=2)
    assert sa.audio_cost(guess) == sa.DEFAULT_AUDIO_BITRATE + 2 * (sa.DEFAULT_AUDIO_BITRATE // 3 * 2)


RED_AUDIO = Demand("A", "audio", (LayerState(HIGH, bitrate=66 * K, payload_bitrate=32 * K),), red_blocks=2)


@pytest.mark.parametrize("estimate,video_layer,red", [
    (5_000 * K, "f", True),     # room for everything
    (900 * K, "h", True),       # RED (+64k) before the 360p layer's upgrade to 720p
    (300 * K, "q", True),       # 66 + 150 + 64 = 280: RED fits after the lowest layer
    (230 * K, "q", False),      # the lowest layer before the redundancy
    (100 * K, "-", False),      # nothing but plain audio
])
def test_red_is_an_audio_upgrade_after_every_videos_lowest_layer(estimate, video_layer, red):
    alloc = StreamAllocator().allocate(estimate, 0.0, [RED_AUDIO, video("V")])
    assert picked(alloc)["V"] == video_layer and alloc.decisions["A"].red is red
    assert alloc.used <= estimate or video_layer == "-"
    assert alloc.decisions["A"].bitrate == sa.audio_cost(RED_AUDIO, red=red)


def test_red_goes_off_at_once_and_comes_back_with_headroom_after_the_hold():
    al = StreamAllocator()
    states = [(t, al.allocate(est, t, [RED_AUDIO, video("V")]).decisions["A"].red)
              for t, est in [(0, 300 * K), (2, 230 * K), (2.5, 290 * K), (3, 400 * K), (6, 400 * K)]]
    assert states[0] == (0, True) and states[1] == (2, False)        # off at once
    assert states[2] == (2.5, False)                                  # 290 < 1.15 * 280: no headroom
    assert states[3] == (3, False)                                    # room, but held after the downgrade
    assert states[4] == (6, True)                                     # after UPGRADE_HOLD


def test_without_an_estimate_red_is_on_where_negotiated():
    alloc = StreamAllocator().allocate(None, 0.0, [RED_AUDIO, audio("B")])
    assert alloc.decisions["A"].red is True and alloc.decisions["B"].red is False


def test_no_red_while_a_video_waits_paused_for_the_hold():
    al = StreamAllocator()
    al.allocate(100 * K, 0.0, [RED_AUDIO, video("V")])                # paused, RED off
    # 330k: room for the low layer and RED, but the paused video waits for the hold; RED must
    # not take its place meanwhile (even with the estimate twice what RED needs)
    alloc = al.allocate(330 * K, 0.5, [RED_AUDIO, video("V")])
    assert picked(alloc)["V"] == "-" and alloc.decisions["A"].red is False
