"""The stream allocator's driver with a scalable (VP9 SVC) track: one producer whose spatial
layers are the track's layers (sfu.rooms.svc_layers), measured from its per-layer byte
counters, each counted with the layers below it, and below the lowest one the lowest at fewer
temporal layers; the decision goes to the consumer as the highest spatial and temporal layers
it forwards (-1: every one)."""

from __future__ import annotations

from livekit.protocol import models

from helpers.allocator_fakes import Consumer, Publisher, Subscriber
from sfu.protocol import sdp
from sfu.rooms import svc_layers
from sfu.rooms.allocator import Allocator
from sfu.rooms.layer_bitrate import BitrateMeter
from sfu.rooms.track import Layer, Subscription, TrackPublication

LOW, MEDIUM, HIGH = models.VideoQuality.LOW, models.VideoQuality.MEDIUM, models.VideoQuality.HIGH
K = 1000


TEMPORAL_SHARE = (0.5, 0.2, 0.3)      # of a spatial layer's bits: temporal layers 0, 1, 2 (L?T3)


class SvcProducer:
    id = 7

    def __init__(self, rates: list[int], temporal: tuple[float, ...] = TEMPORAL_SHARE) -> None:
        self.rates = rates            # bits/s of each spatial layer alone
        self.temporal = temporal
        self.layer_bytes = [[0] * 4 for _ in range(4)]
        self.closed = False

    def run(self, seconds: float) -> None:
        for s, bps in enumerate(self.rates):
            for t, share in enumerate(self.temporal):
                self.layer_bytes[s][t] += int(bps * share * seconds / 8)

    async def stats(self) -> dict:
        return {"bytes": sum(map(sum, self.layer_bytes)), "packets": 0,
                "layer_bytes": [list(r) for r in self.layer_bytes]}


def scalable(rates: list[int], codec: str = "VP9", temporal: tuple[float, ...] = TEMPORAL_SHARE
             ) -> tuple[TrackPublication, SvcProducer]:
    info = models.TrackInfo(sid="TR_v", source=models.TrackSource.CAMERA)
    for q in (LOW, MEDIUM, HIGH):                       # as livekit-client announces L3T3_KEY
        info.layers.append(models.VideoLayer(quality=q))
    pub = TrackPublication(sid="TR_v", cid="TR_v", kind="video", info=info, participant=Publisher(),
                           codec=sdp.Codec(98, codec, 90000, None, None))
    producer = SvcProducer(rates, temporal)
    pub.layers[""] = Layer("", HIGH, producer)
    return pub, producer


class Scene:
    def __init__(self, rates: list[int], codec: str = "VP9", temporal: tuple[float, ...] = TEMPORAL_SHARE) -> None:
        self.pub, self.producer = scalable(rates, codec, temporal)
        self.bob = Subscriber()
        self.sub = Subscription(track=self.pub, subscriber=self.bob, consumer=Consumer(self.producer),
                                layer=self.pub.layers[""], signaled=True)
        self.bob.subs.append(self.sub)
        self.now = 100.0
        self.allocator = Allocator(clock=lambda: self.now)

    async def run(self, estimate: int | None, seconds: float) -> Consumer:
        self.allocator.set_estimate(self.bob, estimate)
        for _ in range(int(round(seconds / 0.5))):
            self.producer.run(0.5)
            self.now += 0.5
            await self.allocator.tick()
        return self.sub.consumer


def test_spatial_layers_are_measured_and_the_top_one_is_the_best_quality():
    pub, producer = scalable([100 * K, 300 * K])        # L2T3_KEY: what L3T3_KEY is at 640x360
    meter = BitrateMeter()
    for t in (0.0, 1.0):
        producer.run(1.0)
        svc_layers.sample(meter, producer.id, {"bytes": 0, "packets": 0, "layer_bytes": producer.layer_bytes}, t)
    layers = svc_layers.spatial_layers(pub, meter, producer.id)
    # the lowest spatial layer at temporal layer 0, at 0 and 1, whole; then the next one whole
    assert [(x.spatial, x.temporal, x.quality) for x in layers] == \
        [(0, 0, MEDIUM), (0, 1, MEDIUM), (0, -1, MEDIUM), (1, -1, HIGH)]
    assert svc_layers.cumulative_rate(meter, producer.id, 1)[0] == 400 * K
    assert svc_layers.cumulative_rate(meter, producer.id, 0, 0)[0] == 50 * K
    assert svc_layers.cumulative_rate(meter, producer.id, 0, 1)[0] == 70 * K
    assert svc_layers.target(layers, HIGH) == (-1, -1) and svc_layers.target(layers, MEDIUM) == (0, -1)
    assert svc_layers.target(layers, MEDIUM, 0) == (0, 0) and svc_layers.target(layers, MEDIUM, 1) == (0, 1)
    assert svc_layers.target(layers, LOW) == (0, 0)     # nothing that low: the lowest there is


def test_one_temporal_layer_adds_no_fewer_frames_choice():
    pub, producer = scalable([100 * K, 300 * K], temporal=(1.0,))
    meter = BitrateMeter()
    for t in (0.0, 1.0):
        producer.run(1.0)
        svc_layers.sample(meter, producer.id, {"bytes": 0, "packets": 0, "layer_bytes": producer.layer_bytes}, t)
    assert [(x.spatial, x.temporal) for x in svc_layers.spatial_layers(pub, meter, producer.id)] == [(0, -1), (1, -1)]


def test_only_vp9_and_av1_on_one_stream_are_scalable():
    assert svc_layers.is_scalable(scalable([1])[0]) and svc_layers.is_scalable(scalable([1], "AV1")[0])
    assert not svc_layers.is_scalable(scalable([1], "VP8")[0])
    pub, producer = scalable([1])
    pub.layers["f"] = pub.layers.pop("")                # rid simulcast VP9: layers are producers
    assert not svc_layers.is_scalable(pub)


async def test_a_narrow_downlink_forwards_the_lower_spatial_layers_and_a_wide_one_all():
    scene = Scene([150 * K, 450 * K, 1_200 * K])
    c = await scene.run(10_000 * K, 2)                  # measured: every layer fits
    assert c.log == [] and c.spatial_layer == -1
    c = await scene.run(700 * K, 1)                     # 150 + 450 fits, the top layer does not
    assert c.spatial_layer == 1 and c.log == ["spatial 1"] and scene.sub.allocated == MEDIUM
    c = await scene.run(250 * K, 1)
    assert (c.spatial_layer, c.temporal_layer) == (0, -1) and not c.paused
    c = await scene.run(100 * K, 1)                     # 150k whole does not fit: 75k at temporal layer 0 does
    assert (c.spatial_layer, c.temporal_layer) == (0, 0) and not c.paused and c.log[-1] == "spatial 0 temporal 0"
    c = await scene.run(30 * K, 1)
    assert c.paused                                     # not even the lowest fits
    c = await scene.run(10_000 * K, 30)
    assert not c.paused and c.spatial_layer == -1 and not any(x.startswith("layer ") for x in c.log)


async def test_the_requested_quality_caps_the_spatial_layer():
    scene = Scene([150 * K, 450 * K, 1_200 * K])
    scene.sub.quality = LOW
    c = await scene.run(10_000 * K, 2)
    assert c.spatial_layer == 0


async def test_one_spatial_layer_is_left_alone():
    scene = Scene([500 * K], temporal=(1.0,))           # L1T1: nothing to choose from
    c = await scene.run(10_000 * K, 3)
    assert c.log == [] and c.spatial_layer == -1


async def test_back_up_through_the_temporal_layers_to_every_layer():
    scene = Scene([150 * K, 450 * K, 1_200 * K])
    await scene.run(10_000 * K, 2)
    c = await scene.run(100 * K, 1)
    assert (c.spatial_layer, c.temporal_layer) == (0, 0)
    c = await scene.run(10_000 * K, 30)
    assert (c.spatial_layer, c.temporal_layer) == (-1, -1) and not c.paused
    steps = c.log[c.log.index("spatial 0 temporal 0") + 1:]
    assert steps[0] == "spatial 0 temporal 1" and steps[-1] == "spatial -1", c.log
