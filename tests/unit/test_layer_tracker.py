"""Simulcast layer activity (sfu.rooms.layer_tracker) on a track with stand-in producers and
consumers, a stand-in clock and timers: the data plane's producer_inactive / producer_active
events move subscribers."""

from __future__ import annotations

from livekit.protocol import models

from sfu.rooms.layer_activity import TRUST_AFTER, LayerActivity
from sfu.rooms.layer_tracker import LayerTracker
from sfu.rooms.track import Layer, Subscription, TrackPublication

LOW, MEDIUM, HIGH = models.VideoQuality.LOW, models.VideoQuality.MEDIUM, models.VideoQuality.HIGH


class Producer:
    ids = iter(range(100, 1000))

    def __init__(self, rid: str) -> None:
        self.rid = rid
        self.id = next(Producer.ids)


class Consumer:
    def __init__(self) -> None:
        self.closed = False
        self.producers: list[Producer] = []

    async def set_producer(self, producer: Producer) -> None:
        self.producers.append(producer)


class Member:
    identity = "bob"


class Clock:
    """the tracker's clock and timers: timers run when the test moves time past them"""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[tuple[float, object]] = []

    def __call__(self) -> float:
        return self.now

    def schedule(self, delay: float, fn) -> None:
        self.timers.append((self.now + delay, fn))

    async def advance(self, tracker: LayerTracker, pub: TrackPublication, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.timers if t[0] <= self.now]
        self.timers = [t for t in self.timers if t[0] > self.now]
        for _ in due:
            await tracker.refresh(pub)       # what the timer's task does


def tracker_with_clock() -> tuple[LayerTracker, Clock]:
    clock = Clock()
    return LayerTracker(clock=clock, schedule=clock.schedule), clock


async def set_active(tracker: LayerTracker, pub: TrackPublication, rid: str, active: bool) -> None:
    await tracker.activity_changed(pub, pub.layers[rid].producer.id, active)


def track() -> tuple[TrackPublication, dict[str, Layer]]:
    pub = TrackPublication(sid="TR_1", cid="c", kind="video", info=models.TrackInfo(), participant=Member())
    for rid, q in (("q", LOW), ("h", MEDIUM), ("f", HIGH)):
        pub.layers[rid] = Layer(rid, q, Producer(rid))
    return pub, pub.layers


def subscribe(pub: TrackPublication, layer: Layer | None, quality: int = HIGH) -> Subscription:
    sub = Subscription(track=pub, subscriber=Member(), consumer=Consumer(), layer=layer, quality=quality)
    pub.subscriptions[f"s{len(pub.subscriptions)}"] = sub
    return sub


async def test_a_stopped_layer_moves_its_subscribers_down_and_back_up():
    pub, layers = track()
    high = subscribe(pub, layers["f"])
    medium = subscribe(pub, layers["h"], quality=MEDIUM)
    tracker, clock = tracker_with_clock()
    await set_active(tracker, pub, "f", True)          # already active: nothing happens
    assert high.consumer.producers == [] and medium.consumer.producers == []
    # the publisher stops sending "f": only the subscriber on it moves, to "h"
    await set_active(tracker, pub, "f", False)
    assert not layers["f"].active and layers["h"].active
    assert high.layer is layers["h"] and high.consumer.producers == [layers["h"].producer]
    assert medium.consumer.producers == []
    # "f" comes back: up again once it stayed active for a while, by a timer
    await set_active(tracker, pub, "f", True)
    assert high.layer is layers["h"] and not layers["f"].active and len(clock.timers) == 1
    await clock.advance(tracker, pub, TRUST_AFTER - 0.1)
    assert high.layer is layers["h"]
    await clock.advance(tracker, pub, 0.1)
    assert high.layer is layers["f"] and medium.layer is layers["h"] and layers["f"].active
    # an event for a producer that is not a layer of this track changes nothing
    await tracker.activity_changed(pub, 99999, False)
    assert all(x.active for x in layers.values())


async def test_closed_or_missing_consumers_are_left_alone():
    pub, layers = track()
    sub = subscribe(pub, layers["q"])
    sub.consumer.closed = True
    waiting = Subscription(track=pub, subscriber=Member(), layer=None)
    pub.subscriptions["w"] = waiting
    tracker, _ = tracker_with_clock()
    for rid in ("f", "h", "q"):                        # every layer stops
        await set_active(tracker, pub, rid, False)
    assert sub.layer is layers["q"] and sub.consumer.producers == [] and waiting.layer is None


async def test_a_new_layer_moves_waiting_subscribers_up_only():
    pub, layers = track()
    del layers["f"]
    low = subscribe(pub, layers["q"])
    capped = subscribe(pub, layers["h"], quality=MEDIUM)
    tracker, _ = tracker_with_clock()
    await tracker.layer_added(pub)
    assert low.layer is layers["h"] and capped.consumer.producers == []
    layers["f"] = Layer("f", HIGH, Producer("f"))
    await tracker.layer_added(pub)
    assert low.layer is layers["f"] and capped.layer is layers["h"]
    # a layer below the current one moves nobody down
    layers["f"].active = layers["h"].active = False
    await tracker.layer_added(pub)
    assert low.layer is layers["f"]


async def test_a_layer_that_returns_and_stops_again_before_the_timer_moves_nobody():
    pub, layers = track()
    sub = subscribe(pub, layers["f"])
    tracker, clock = tracker_with_clock()
    await set_active(tracker, pub, "f", False)
    await clock.advance(tracker, pub, 1.5)
    await set_active(tracker, pub, "f", True)
    await clock.advance(tracker, pub, 1.5)
    await set_active(tracker, pub, "f", False)
    await clock.advance(tracker, pub, 10)      # the timer of the short return finds it inactive
    assert sub.consumer.producers == [layers["h"].producer]


async def test_a_returning_layer_moves_nobody_above_what_the_allocator_allows():
    pub, layers = track()
    capped = subscribe(pub, layers["f"])
    free = subscribe(pub, layers["f"])
    tracker, clock = tracker_with_clock()
    await set_active(tracker, pub, "f", False)
    assert capped.layer is free.layer is layers["h"]
    capped.allocated = MEDIUM                  # the stream allocator: "h" is what fits its downlink
    await set_active(tracker, pub, "f", True)
    await clock.advance(tracker, pub, TRUST_AFTER)
    assert free.layer is layers["f"] and capped.layer is layers["h"]


async def everything_stopped():
    """a subscriber of a track whose every layer stopped 5 s ago"""
    pub, layers = track()
    sub = subscribe(pub, layers["f"])
    tracker, clock = tracker_with_clock()
    for rid in ("f", "h", "q"):
        await set_active(tracker, pub, rid, False)
    # nothing active: every layer is a candidate and the subscriber is back on "f"
    assert sub.layer is layers["f"]
    await clock.advance(tracker, pub, 5)
    return pub, layers, sub, tracker, clock


async def test_after_everything_stopped_a_layer_that_flows_is_used_at_once():
    pub, layers, sub, tracker, clock = await everything_stopped()
    # only "q" and "h" come back: no need to wait for them on a layer that sends nothing
    await set_active(tracker, pub, "q", True)
    assert sub.layer is layers["q"]
    await set_active(tracker, pub, "h", True)
    assert sub.layer is layers["h"] and not layers["f"].active
    await clock.advance(tracker, pub, TRUST_AFTER)
    assert sub.layer is layers["h"] and layers["h"].active and layers["q"].active


async def test_a_flowing_layer_is_not_left_while_the_others_earn_trust():
    pub, layers, sub, tracker, clock = await everything_stopped()
    await set_active(tracker, pub, "q", True)
    await clock.advance(tracker, pub, 1)
    await set_active(tracker, pub, "h", True)          # a second later than "q"
    assert sub.layer is layers["h"]
    await clock.advance(tracker, pub, TRUST_AFTER - 1)  # "q" trusted, "h" not yet: "h" flows, it stays
    assert layers["q"].active and not layers["h"].active and sub.layer is layers["h"]
    await clock.advance(tracker, pub, 1)
    assert sub.layer is layers["h"] and layers["h"].active
    # down through "h" and "q" as they stopped, "f" with nothing active, then "q" and "h" only
    assert sub.consumer.producers == [layers[r].producer for r in ("h", "q", "f", "q", "h")]


async def test_a_layer_that_just_appeared_is_followed_at_once():
    pub, layers = track()
    tracker, clock = tracker_with_clock()
    layers["f"].activity = LayerActivity(born=clock.now)     # the publisher just started
    sub = subscribe(pub, layers["f"])
    await clock.advance(tracker, pub, 1)
    await set_active(tracker, pub, "f", False)                # its encoder ramps up
    await clock.advance(tracker, pub, 1)
    await set_active(tracker, pub, "f", True)
    assert sub.layer is layers["f"] and clock.timers == []
