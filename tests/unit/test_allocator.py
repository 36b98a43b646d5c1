"""The stream allocator's driver (sfu.rooms.allocator) with stand-in producers (byte
counters), consumers and a subscriber: layer bitrates measured from the counters, decisions
applied to the consumers, StreamStateUpdate sent on pause and resume, nothing touched
without an estimate."""

from __future__ import annotations

import asyncio

from livekit.protocol import models

from helpers.allocator_fakes import Consumer, Publisher, Subscriber
from sfu.rooms.allocator import Allocator
from sfu.rooms.stream_allocator import UPGRADE_HOLD, UPGRADE_MARGIN
from sfu.rooms.track import Layer, Subscription, TrackPublication

LOW, MEDIUM, HIGH = models.VideoQuality.LOW, models.VideoQuality.MEDIUM, models.VideoQuality.HIGH
K = 1000


class Producer:
    ids = iter(range(100, 10_000))

    def __init__(self, bps: int) -> None:
        self.id = next(Producer.ids)
        self.bps = bps              # what its publisher sends
        self.bytes = 0
        self.closed = False
        self.stats_calls = 0

    def run(self, seconds: float) -> None:
        self.bytes += int(self.bps * seconds / 8)

    async def stats(self) -> dict:
        self.stats_calls += 1
        return {"bytes": self.bytes, "packets": 0}


def publish(sid: str, kind: str, rates: dict[str, int], source=models.TrackSource.CAMERA,
            advertise: bool = False) -> TrackPublication:
    """`advertise`: the bitrates in TrackInfo.layers too, as livekit-client announces them"""
    info = models.TrackInfo(sid=sid, source=source)
    pub = TrackPublication(sid=sid, cid=sid, kind=kind, info=info, participant=Publisher())
    for rid, bps in rates.items():
        q = {"q": LOW, "h": MEDIUM, "f": HIGH, "": HIGH}[rid]
        pub.layers[rid] = Layer(rid, q, Producer(bps))
        if advertise:
            info.layers.append(models.VideoLayer(quality=q, bitrate=bps))
    return pub


def subscribe(bob: Subscriber, pub: TrackPublication, rid: str) -> Subscription:
    layer = pub.layers[rid]
    sub = Subscription(track=pub, subscriber=bob, consumer=Consumer(layer.producer), layer=layer, signaled=True)
    pub.subscriptions[bob.identity] = sub
    bob.subs.append(sub)
    return sub


class Clock:
    def __init__(self, *producers_of: TrackPublication) -> None:
        self.now = 100.0
        self.pubs = producers_of

    def __call__(self) -> float:
        return self.now

    async def run(self, allocator: Allocator, seconds: float, tick: float = 0.5) -> None:
        """media flows and the allocator ticks for `seconds`"""
        for _ in range(int(round(seconds / tick))):
            for pub in self.pubs:
                for layer in pub.layers.values():
                    layer.producer.run(tick)
            self.now += tick
            await allocator.tick()


class Scene:
    """bob subscribes to a simulcast video (on its top layer) and an audio track"""

    def __init__(self) -> None:
        self.video = publish("TR_v", "video", {"q": 150 * K, "h": 500 * K, "f": 1_700 * K})
        self.audio = publish("TR_a", "audio", {"": 40 * K})
        self.bob = Subscriber()
        self.v = subscribe(self.bob, self.video, "f")
        self.a = subscribe(self.bob, self.audio, "")
        self.clock = Clock(self.video, self.audio)
        self.allocator = Allocator(clock=self.clock)

    async def run(self, estimate: int | None, seconds: float):
        self.allocator.set_estimate(self.bob, estimate)
        await self.clock.run(self.allocator, seconds)
        return self.video, self.audio, self.bob, self.v, self.a


async def test_no_estimate_touches_nothing():
    video, audio, bob, v, a = await Scene().run(None, 3)
    assert v.consumer.log == [] and a.consumer.log == [] and bob.sent == []
    assert all(x.producer.stats_calls == 0 for x in video.layers.values())    # nothing measured
    assert v.allocated is None and v.target_quality == HIGH


async def test_a_narrow_downlink_moves_the_video_down_and_a_narrower_one_pauses_it():
    scene = Scene()
    video, audio, bob, v, a = await scene.run(600 * K, 2)
    # 500 + 40 fits 600: down to "h" at once, audio untouched, nothing paused
    assert v.layer is video.layers["h"] and v.consumer.producer is video.layers["h"].producer
    assert v.allocated == MEDIUM and not v.consumer.paused and a.consumer.log == []
    assert bob.stream_states() == []
    # sampled once a second (the first sample gives no rate), however often it ticks
    assert all(x.producer.stats_calls == 2 for x in video.layers.values())
    assert [scene.allocator.meter.rate(x.producer.id) for x in video.layers.values()] == [150 * K, 500 * K, 1700 * K]
    await scene.run(100 * K, 1)
    assert v.consumer.paused and v.bandwidth_paused and not a.consumer.paused
    assert bob.stream_states() == [("TR_v", "PAUSED")]
    sent = [m for m in bob.sent if m.WhichOneof("message") == "stream_state_update"][0]
    assert sent.stream_state_update.stream_states[0].participant_sid == "PA_pub"
    # it comes back once the estimate allows the lowest layer with headroom, after the hold
    await scene.run(400 * K, UPGRADE_HOLD + 1)
    assert not v.consumer.paused and v.layer is video.layers["q"]
    assert v.consumer.log[-2:] == [f"layer {video.layers['q'].producer.id}", "resume"]   # switched while paused
    assert bob.stream_states() == [("TR_v", "PAUSED"), ("TR_v", "ACTIVE")]


async def test_upgrades_ask_for_at_most_one_key_frame_a_second():
    video = publish("TR_v", "video", {"q": 150 * K, "h": 500 * K, "f": 1_700 * K})
    bob = Subscriber()
    v = subscribe(bob, video, "q")
    clock = Clock(video)
    allocator = Allocator(clock=clock)
    allocator.set_estimate(bob, 5_000 * K)
    v.key_frames.asked(clock.now)          # as if it had just been switched
    await clock.run(allocator, 0.5)
    assert v.layer is video.layers["q"] and v.allocated == HIGH    # the upgrade waits for the budget
    await clock.run(allocator, 0.5)
    assert v.layer is video.layers["f"] and v.consumer.log == [f"layer {video.layers['f'].producer.id}"]


async def test_a_disabled_track_keeps_its_place_and_is_not_reported():
    scene = Scene()
    scene.v.disabled = scene.v.consumer.paused = True
    video, audio, bob, v, a = await scene.run(50 * K, 2)
    assert v.consumer.log == [] and bob.stream_states() == []


async def test_losing_the_estimate_restores_the_unconstrained_layers():
    scene = Scene()
    video, audio, bob, v, a = await scene.run(100 * K, 2)
    allocator = scene.allocator
    assert v.consumer.paused
    await scene.run(None, 0.5)
    assert not v.consumer.paused and v.layer is video.layers["f"] and v.allocated is None
    assert bob.stream_states() == [("TR_v", "PAUSED"), ("TR_v", "ACTIVE")]
    assert allocator.downlinks == {}


async def test_a_screen_share_is_kept_before_a_camera():
    scene = Scene()
    share = publish("TR_s", "video", {"f": 800 * K}, source=models.TrackSource.SCREEN_SHARE, advertise=True)
    s = subscribe(scene.bob, share, "f")
    scene.clock.pubs += (share,)
    cam, audio, bob, v, a = await scene.run(900 * K, 2)
    assert not s.consumer.paused and s.layer is share.layers["f"]
    assert v.consumer.paused and bob.stream_states() == [("TR_v", "PAUSED")]


async def test_the_layer_it_is_on_counts_while_it_flows_even_if_not_trusted_yet():
    scene = Scene()
    f = scene.video.layers["f"]
    f.activity.report(False, 0.0)
    f.activity.report(True, scene.clock.now)      # back, not trusted for moving up yet
    f.active = False
    video, audio, bob, v, a = await scene.run(5_000 * K, 1)
    assert v.layer is f and v.consumer.log == []
    # a subscription that is not on it is not moved up to it
    v.layer = video.layers["h"]
    v.consumer.producer = video.layers["h"].producer
    await scene.run(5_000 * K, 1)
    assert v.layer is video.layers["h"] and v.consumer.log == []


async def test_the_data_plane_is_told_what_the_subscriber_would_want():
    """the best layers (1.7M + 40k audio, advertised before anything is measured) with the
    upgrade margin, once, and again only when it moved by more than WANTED_CHANGE"""
    scene = Scene()
    _, _, bob, _, _ = await scene.run(600 * K, 0.5)
    assert bob.wanted == [int((1_700 * K + 40 * K) * (1 + UPGRADE_MARGIN))]
    await scene.run(600 * K, 3)
    assert len(bob.wanted) == 1                          # measured rates equal the advertised ones
    scene.v.quality = MEDIUM                             # the subscriber asks for less
    await scene.run(600 * K, 1)
    assert bob.wanted[-1] == int((500 * K + 40 * K) * (1 + UPGRADE_MARGIN))


async def test_an_estimate_below_what_is_allocated_is_acted_on_at_once():
    scene = Scene()
    video, audio, bob, v, a = await scene.run(5_000 * K, 2)
    assert v.layer is video.layers["f"]
    d = next(iter(scene.allocator.downlinks.values()))
    assert d.used == 1_700 * K + 40 * K
    # the link narrowed: no tick in between, the switch comes all the same
    scene.allocator.set_estimate(bob, 600 * K)
    for _ in range(20):
        await asyncio.sleep(0)
    assert v.layer is video.layers["h"] and d.urgent is None
    # a rise waits for the tick
    scene.allocator.set_estimate(bob, 5_000 * K)
    for _ in range(20):
        await asyncio.sleep(0)
    assert v.layer is video.layers["h"] and d.urgent is None


async def test_red_goes_off_on_a_narrow_downlink_and_on_again():
    scene = Scene()
    scene.a.red_pt = scene.a.consumer.red_payload_type = 63        # negotiated: on
    video, audio, bob, v, a = await scene.run(5_000 * K, 1)
    assert a.consumer.red_payload_type == 63 and a.consumer.log == []
    # 150 + 40 + 2 blocks of 40 * 2/3 do not fit 220 kbit/s: the low layer first, RED off
    await scene.run(220 * K, 1)
    assert v.layer is video.layers["q"] and not v.consumer.paused
    assert a.consumer.red_payload_type == 0 and a.consumer.log == ["red 0"]
    await scene.run(None, 0.5)                                      # no estimate: as negotiated
    assert a.consumer.red_payload_type == 63 and a.consumer.log == ["red 0", "red 63"]
