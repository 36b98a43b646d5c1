"""Key frames asked on a subscription's behalf (sfu.rooms.keyframe_limit and
sfu.rooms.subscriptions.request_key_frame / switch_layer with stand-in consumers): at most
one per subscription per second, a layer switch counting as one."""

from __future__ import annotations

from livekit.protocol import models

from sfu.rooms.keyframe_limit import INTERVAL, KeyFrameLimit
from sfu.rooms.subscriptions import request_key_frame, switch_layer
from sfu.rooms.track import Layer, Subscription, TrackPublication


def test_one_request_per_interval():
    k = KeyFrameLimit()
    assert k.ready(0.0) and k.allow(0.0)
    assert not k.ready(INTERVAL - 0.01) and not k.allow(INTERVAL - 0.01)
    assert k.allow(INTERVAL) and not k.allow(INTERVAL + 0.5)
    k.asked(5.0)                       # the data plane asked (a layer switch)
    assert not k.allow(5.5) and k.allow(5.0 + INTERVAL)
    k.asked(1.0)                       # an older time does not move the last request back
    assert not k.ready(5.0 + INTERVAL + 0.5)


class Consumer:
    closed = False
    paused = False

    def __init__(self) -> None:
        self.requests = 0
        self.producers: list[object] = []

    async def request_key_frame(self) -> None:
        self.requests += 1

    async def set_producer(self, producer: object) -> None:
        self.producers.append(producer)


class Member:
    identity = "bob"


def subscription(kind: str = "video") -> Subscription:
    pub = TrackPublication(sid="TR_1", cid="c", kind=kind, info=models.TrackInfo(), participant=Member())
    return Subscription(track=pub, subscriber=Member(), consumer=Consumer())


async def test_requests_for_one_subscription_are_limited_not_for_another():
    a, b = subscription(), subscription()
    for t in (0.0, 0.2, 0.4, 0.9, 1.0, 1.5):
        await request_key_frame(a, now=t)
    await request_key_frame(b, now=0.2)
    assert a.consumer.requests == 2 and b.consumer.requests == 1     # at 0.0 and 1.0


async def test_a_layer_switch_counts_as_a_request():
    sub = subscription()
    layer = Layer("h", models.VideoQuality.MEDIUM, producer=object())
    await switch_layer(sub, layer, "test", now=10.0)
    assert sub.consumer.producers == [layer.producer] and sub.layer is layer
    await request_key_frame(sub, now=10.5)
    assert sub.consumer.requests == 0 and not sub.key_frames.ready(10.5)
    await request_key_frame(sub, now=11.0)
    assert sub.consumer.requests == 1


async def test_audio_never_asks():
    sub = subscription("audio")
    await request_key_frame(sub, now=0.0)
    assert sub.consumer.requests == 0
