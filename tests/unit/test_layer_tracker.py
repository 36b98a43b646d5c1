"""Simulcast layer activity (sfu.rooms.layer_tracker) on a track with stand-in producers and
consumers: the data plane's producer_inactive / producer_active events move subscribers."""

from __future__ import annotations

from livekit.protocol import models

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
    tracker = LayerTracker()
    await set_active(tracker, pub, "f", True)          # already active: nothing happens
    assert high.consumer.producers == [] and medium.consumer.producers == []
    # the publisher stops sending "f": only the subscriber on it moves, to "h"
    await set_active(tracker, pub, "f", False)
    assert not layers["f"].active and layers["h"].active
    assert high.layer is layers["h"] and high.consumer.producers == [layers["h"].producer]
    assert medium.consumer.producers == []
    # "f" comes back: up again
    await set_active(tracker, pub, "f", True)
    assert high.layer is layers["f"] and medium.layer is layers["h"]
    # an event for a producer that is not a layer of this track changes nothing
    await tracker.activity_changed(pub, 99999, False)
    assert all(x.active for x in layers.values())


async def test_closed_or_missing_consumers_are_left_alone():
    pub, layers = track()
    sub = subscribe(pub, layers["q"])
    sub.consumer.closed = True
    waiting = Subscription(track=pub, subscriber=Member(), layer=None)
    pub.subscriptions["w"] = waiting
    tracker = LayerTracker()
    for rid in ("f", "h", "q"):                        # every layer stops
        await set_active(tracker, pub, rid, False)
    assert sub.layer is layers["q"] and sub.consumer.producers == [] and waiting.layer is None


async def test_a_new_layer_moves_waiting_subscribers_up_only():
    pub, layers = track()
    del layers["f"]
    low = subscribe(pub, layers["q"])
    capped = subscribe(pub, layers["h"], quality=MEDIUM)
    tracker = LayerTracker()
    await tracker.layer_added(pub)
    assert low.layer is layers["h"] and capped.consumer.producers == []
    layers["f"] = Layer("f", HIGH, Producer("f"))
    await tracker.layer_added(pub)
    assert low.layer is layers["f"] and capped.layer is layers["h"]
    # a layer below the current one moves nobody down
    layers["f"].active = layers["h"].active = False
    await tracker.layer_added(pub)
    assert low.layer is layers["f"]
