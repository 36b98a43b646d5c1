"""Stream allocation in a whole server: a downlink estimate arriving as the data plane's
transport_bwe event pauses a subscriber's video (a real consumer of real producers in the
media worker) and the subscriber gets StreamStateUpdate PAUSED over its WebSocket; a larger
estimate resumes it on the top layer with ACTIVE.  Under an estimate a new subscription
starts on the lowest layer and goes up as far as it fits."""

from __future__ import annotations

import asyncio
import contextlib
import time

from livekit.protocol import models
from livekit.protocol import rtc as lk

from helpers.app_server import server_fixture
from helpers.signal_client import Client
from helpers.tokens import join_token
from sfu.protocol import sdp
from sfu.rooms import stream_allocator
from sfu.rooms.track import Layer, Subscription, TrackPublication

server = server_fixture(congestion_control=True)

LOW, MEDIUM, HIGH = models.VideoQuality.LOW, models.VideoQuality.MEDIUM, models.VideoQuality.HIGH


async def publish_simulcast(alice) -> TrackPublication:
    """a simulcast video of alice with a producer per layer on her publisher transport (what
    her publisher offer and its SSRCs would give; no packets need to flow for this)"""
    peer = await alice.ensure_publisher()
    pub = TrackPublication(sid="TR_video", cid="cam", kind="video", participant=alice,
                           info=models.TrackInfo(sid="TR_video", type=models.TrackType.VIDEO,
                                                 source=models.TrackSource.CAMERA), codec=sdp.VP8)
    for i, (rid, q) in enumerate((("q", LOW), ("h", MEDIUM), ("f", HIGH))):
        producer = await peer.t.produce("video", ssrc=1000 + i, payload_type=96, codec="vp8")
        pub.layers[rid] = Layer(rid, q, producer)
    alice.tracks[pub.sid] = pub
    return pub


async def subscribe(bob, pub: TrackPublication) -> Subscription:
    layer = pub.layers["f"]
    consumer = await bob.subscriber.t.consume(layer.producer, payload_type=96)
    sub = Subscription(track=pub, subscriber=bob, consumer=consumer, layer=layer, ssrc=consumer.ssrc,
                       signaled=True)
    pub.subscriptions[bob.identity] = sub
    return sub


async def stream_state(client: Client, timeout: float) -> tuple[float, lk.StreamStateInfo]:
    msg = await client.next("stream_state_update", timeout=timeout)
    states = list(msg.stream_state_update.stream_states)
    assert len(states) == 1, states
    return time.monotonic(), states[0]


def estimator(server, p):
    def estimate(bps: int | None) -> None:
        # what the worker's channel does with the data plane's event
        server.media._worker_event(p.subscriber.t.worker.index, "transport_bwe",
                                   {"id": p.subscriber.t.id, "estimate_bps": bps or 0})
    return estimate


@contextlib.asynccontextmanager
async def alice_and_bob(server):
    """alice publishes a simulcast video; bob's signalling client, and both participants"""
    async with Client(server, join_token("alice", "r")) as a, Client(server, join_token("bob", "r")) as b:
        await a.next("join")
        await b.next("join")
        room = server.rooms.manager.get("r")
        alice, bob = room.participants["alice"], room.participants["bob"]
        yield b, alice, bob, await publish_simulcast(alice)


async def test_an_estimate_pauses_and_resumes_a_video_with_stream_state_updates(server):
    async with alice_and_bob(server) as (b, alice, bob, pub):
        sub = await subscribe(bob, pub)
        estimate = estimator(server, bob)

        estimate(50_000)          # less than the low layer: the video pauses
        _, info = await stream_state(b, timeout=3)
        assert (info.track_sid, info.participant_sid, info.state) == (pub.sid, alice.sid, lk.StreamState.PAUSED)
        assert sub.consumer.paused and sub.bandwidth_paused
        paused_at = time.monotonic()

        # the subscriber turns it off and on again: still no room for it, it stays paused
        for disabled in (True, False):
            await b.send(lk.SignalRequest(track_setting=lk.UpdateTrackSettings(
                track_sids=[pub.sid], disabled=disabled, quality=HIGH)))
            end = time.monotonic() + 2
            while sub.disabled != disabled and time.monotonic() < end:
                await asyncio.sleep(0.05)
            assert sub.disabled == disabled and sub.consumer.paused

        # room for the low layer with the margin, not twice over: it resumes there after the hold
        estimate(250_000)
        resumed_at, info = await stream_state(b, timeout=stream_allocator.UPGRADE_HOLD + 3)
        assert info.track_sid == pub.sid and info.state == lk.StreamState.ACTIVE
        assert resumed_at - paused_at >= stream_allocator.UPGRADE_HOLD - 1.0
        assert not sub.consumer.paused and sub.layer is pub.layers["q"]

        estimate(5_000_000)       # room for everything many times over: up a layer at a time to the top
        end = time.monotonic() + 6
        while sub.layer is not pub.layers["f"] and time.monotonic() < end:
            await asyncio.sleep(0.1)
        assert sub.layer is pub.layers["f"] and sub.consumer.producer is pub.layers["f"].producer

        estimate(None)            # no estimate any more: the subscriber is left alone
        end = time.monotonic() + 2
        while server.rooms.allocator.downlinks and time.monotonic() < end:
            await asyncio.sleep(0.1)
        assert server.rooms.allocator.downlinks == {}
        assert sub.allocated is None and not sub.consumer.paused and sub.layer is pub.layers["f"]


async def test_under_an_estimate_a_new_subscription_starts_low_and_goes_up_as_it_fits(server):
    async with alice_and_bob(server) as (b, alice, bob, pub):
        estimator(server, bob)(1_000_000)
        await bob.subscribe(pub)
        sub = pub.subscriptions["bob"]
        assert sub.layer is pub.layers["q"] and sub.consumer.producer is pub.layers["q"].producer
        # the next allocation: 500 kbit/s "h" fits 1 Mbit/s with headroom, 1.7 Mbit/s "f" does not
        end = time.monotonic() + 3
        while sub.layer is pub.layers["q"] and time.monotonic() < end:
            await asyncio.sleep(0.1)
        assert sub.layer is pub.layers["h"] and sub.allocated == MEDIUM
