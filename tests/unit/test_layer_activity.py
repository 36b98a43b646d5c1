"""sfu.rooms.layer_activity: a layer that stops is dropped at once, one that comes back is
chosen again only once it stayed active; the flapping top layer of a publisher short of
uplink moves its subscribers a couple of times, not at every report."""

from __future__ import annotations

from dataclasses import dataclass, field

from livekit.protocol import models

from sfu.rooms import layer_activity as la
from sfu.rooms.layer_activity import RESUME_WINDOW, TRUST_AFTER, LayerActivity
from sfu.rooms.layer_selector import select_layer

LOW, MEDIUM, HIGH = models.VideoQuality.LOW, models.VideoQuality.MEDIUM, models.VideoQuality.HIGH


def test_a_new_layer_is_usable_and_a_stopped_one_is_not():
    a = LayerActivity()
    assert a.usable(0.0) and a.usable_at(0.0) is None
    assert a.report(False, 5.0) and not a.usable(5.0)
    assert not a.report(False, 5.5)                   # no news
    assert a.usable_at(5.5) is None                   # inactive: nothing to wait for


def test_a_returning_layer_is_usable_after_staying_active():
    a = LayerActivity()
    a.report(False, 5.0)
    assert a.report(True, 7.0)
    assert not a.usable(7.0) and a.usable_at(7.0) == 7.0 + la.TRUST_AFTER
    assert not a.usable(7.0 + la.TRUST_AFTER - 0.01)
    assert a.usable(7.0 + la.TRUST_AFTER) and a.usable_at(7.0 + la.TRUST_AFTER) is None


def test_stopping_soon_after_becoming_usable_doubles_the_wait():
    a = LayerActivity()
    t = 0.0
    waits = []
    for _ in range(6):
        a.report(False, t)
        a.report(True, t + 1)
        waits.append(a.usable_at(t + 1) - (t + 1))
        t += 1 + a.wait + 2                           # usable for 2 s, then it stops again
        assert a.usable(t - 0.5)
    assert waits == [min(la.TRUST_AFTER * 2 ** i, la.TRUST_AFTER_MAX) for i in range(6)]
    assert waits[-1] == la.TRUST_AFTER_MAX
    # a layer that then stays up for longer than FLAP_WINDOW is back to the short wait
    t += la.FLAP_WINDOW
    a.report(False, t)
    a.report(True, t + 1)
    assert a.usable_at(t + 1) == t + 1 + la.TRUST_AFTER


@dataclass
class Layer:
    quality: int
    activity: LayerActivity = field(default_factory=LayerActivity)
    active: bool = True


def flapping_reports(seconds: float) -> list[tuple[float, bool]]:
    """the data plane's reports for a top layer its publisher sends for 1-2 s, then stops
    for 1.2-2 s, over and over (reported inactive 1 s after its last packet)"""
    on = [1.2, 2.0, 1.0, 1.9, 1.5, 1.8, 1.1, 1.6]
    off = [1.5, 1.2, 2.0, 1.3, 1.8, 1.4]
    t, i, out = 0.0, 0, []
    while t < seconds:
        t += on[i % len(on)]
        out.append((t + 1.0, False))          # last packet at t: inactive a second later
        t += off[i % len(off)]
        out.append((t, True))                 # first packet again
        i += 1
    return [x for x in out if x[0] < seconds]


def switches(reports: list[tuple[float, bool]], seconds: float, hysteresis: bool) -> int:
    """how often a subscriber asking for the top layer changes layer"""
    layers = [Layer(LOW), Layer(MEDIUM), Layer(HIGH)]
    top = layers[-1]
    on, moves = top, 0

    def choose(now: float) -> None:
        nonlocal on, moves
        for x in layers:
            x.active = x.activity.usable(now) if hysteresis else x.activity.active
        best = select_layer(layers, HIGH)
        moves += best is not on
        on = best

    events = sorted([(t, "report", a) for t, a in reports])
    while events:
        now, what, active = events.pop(0)
        if what == "report":
            top.activity.report(active, now)
            at = top.activity.usable_at(now)
            if at is not None and at < seconds:
                events.append((at, "timer", None))
                events.sort(key=lambda e: e[0])
        choose(now)
    return moves


def test_a_flapping_top_layer_moves_its_subscribers_a_couple_of_times_in_40_s():
    reports = flapping_reports(40.0)
    assert len(reports) >= 20                                 # the publisher flaps
    assert switches(reports, 40.0, hysteresis=False) >= 16    # what following each report did
    assert switches(reports, 40.0, hysteresis=True) <= 2


def test_a_layer_that_really_comes_back_is_used_again():
    reports = [(5.0, False), (8.0, True)]                     # a real outage, then steady
    assert switches(reports, 40.0, hysteresis=True) == 2      # down at 5 s, up 8 s + TRUST_AFTER


def test_a_young_layer_is_followed_at_once():
    a = LayerActivity(born=100.0)
    for t in (101.0, 103.0, 105.0, 107.0):               # the encoder ramps up: on, off, on, off
        a.report(False, t)
        assert not a.usable(t)
        a.report(True, t + 1)
        assert a.usable(t + 1)
    assert a.wait == la.TRUST_AFTER                         # and nothing counted against it
    a.report(False, 100.0 + la.WARMUP + 1)                  # grown up: back to the rule
    a.report(True, 100.0 + la.WARMUP + 2)
    assert not a.usable(100.0 + la.WARMUP + 2)
    assert a.usable(100.0 + la.WARMUP + 2 + la.TRUST_AFTER)


def test_a_layer_the_server_paused_is_trusted_again_as_soon_as_it_flows():
    a = LayerActivity(born=0.0)
    t = 100.0                                      # long after the warm-up
    a.suppress(True, t)                            # dynacast: nobody needs it
    assert a.report(False, t + 1.0) and not a.usable(t + 1.0)
    a.suppress(False, t + 20.0)                    # a subscriber asks for it again
    assert a.report(True, t + 20.4)
    assert a.usable(t + 20.4) and a.usable_at(t + 20.4) is None      # no TRUST_AFTER wait
    assert a.wait == TRUST_AFTER                   # and its pause counted as no flap


def test_a_restart_long_after_the_server_asked_is_judged_as_usual():
    a = LayerActivity(born=0.0)
    a.suppress(True, 100.0)
    a.report(False, 101.0)
    a.suppress(False, 120.0)
    assert a.report(True, 120.0 + RESUME_WINDOW + 1.0)             # came back on its own, later
    assert not a.usable(120.0 + RESUME_WINDOW + 1.5)
    assert a.usable(120.0 + RESUME_WINDOW + 1.0 + TRUST_AFTER)


def test_stops_while_suppressed_do_not_double_the_wait_but_real_flaps_still_do():
    a = LayerActivity(born=0.0)
    a.report(False, 50.0)
    a.report(True, 51.0)
    assert a.usable(51.0 + TRUST_AFTER)            # usable since 55
    a.suppress(True, 56.0)
    a.report(False, 57.0)                          # within FLAP_WINDOW, but asked for
    assert a.wait == TRUST_AFTER
    a.suppress(False, 70.0)
    a.report(True, 70.5)
    assert a.usable(70.5)
    a.report(False, 72.0)                          # a real flap: it stopped on its own
    assert a.wait == 2 * TRUST_AFTER


def test_resuming_a_layer_that_never_stopped_makes_it_usable():
    a = LayerActivity(born=0.0)
    a.report(False, 50.0)
    a.report(True, 51.0)                           # back, waiting TRUST_AFTER
    a.suppress(True, 52.0)                         # (a publisher ignoring dynacast keeps sending)
    a.suppress(False, 53.0)
    assert a.usable(53.0)
