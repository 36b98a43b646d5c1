"""Simulcast layer activity (sfu.rooms.layer_tracker) on a track with stand-in producers and
consumers: which layers count as active, and where subscribers move."""

from __future__ import annotations

from livekit.protocol import models

from sfu.rooms.layer_tracker import LayerTracker
from sfu.rooms.track import Layer, Subscription, TrackPublication

LOW, MEDIUM, HIGH = models.VideoQuality.LOW, models.VideoQuality.MEDIUM, models.VideoQuality.HIGH


class Producer:
    def __init__(self, rid: str) -> None:
        self.rid = rid
        self.packets = 0

    async def stats(self) -> dict:
        return {"packets": self.packets}


class Consumer:
    def __init__(self) -> None:
        self.closed = False
        self.producers: list[Producer] = []

    async def set_producer(self, producer: Producer) -> None:
        self.producers.append(producer)


class Member:
    identity = "bob"


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
    tracker = LayerTracker(manager=None)
    for layer in layers.values():
        layer.producer.packets = 10
    await tracker.update(pub)
    assert all(x.active for x in layers.values())
    assert high.consumer.producers == [] and medium.consumer.producers == []
    # the publisher stops sending "f": only the subscriber on it moves, to "h"
    layers["q"].producer.packets = layers["h"].producer.packets = 20
    await tracker.update(pub)
    assert not layers["f"].active and layers["h"].active
    assert high.layer is layers["h"] and high.consumer.producers == [layers["h"].producer]
    assert medium.consumer.producers == []
    # "f" comes back: up again
    for layer in layers.values():
        layer.producer.packets += 5
    await tracker.update(pub)
    assert high.layer is layers["f"] and medium.layer is layers["h"]


async def test_closed_or_missing_consumers_are_left_alone():
    pub, layers = track()
    sub = subscribe(pub, layers["q"])
    sub.consumer.closed = True
    waiting = Subscription(track=pub, subscriber=Member(), layer=None)
    pub.subscriptions["w"] = waiting
    await LayerTracker(manager=None).update(pub)      # no packets anywhere: every layer inactive
    assert sub.layer is layers["q"] and sub.consumer.producers == [] and waiting.layer is None


async def test_a_new_layer_moves_waiting_subscribers_up_only():
    pub, layers = track()
    del layers["f"]
    low = subscribe(pub, layers["q"])
    capped = subscribe(pub, layers["h"], quality=MEDIUM)
    tracker = LayerTracker(manager=None)
    await tracker.layer_added(pub)
    assert low.layer is layers["h"] and capped.consumer.producers == []
    layers["f"] = Layer("f", HIGH, Producer("f"))
    await tracker.layer_added(pub)
    assert low.layer is layers["f"] and capped.layer is layers["h"]
    # a layer below the current one moves nobody down
    layers["f"].active = layers["h"].active = False
    await tracker.layer_added(pub)
    assert low.layer is layers["f"]
