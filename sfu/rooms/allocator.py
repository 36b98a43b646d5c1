"""The stream allocator's driver: every TICK, for each subscriber whose downlink has a
bandwidth estimate, it measures the bitrates of the layers it subscribes to
(sfu.rooms.layer_bitrate), lets sfu.rooms.stream_allocator decide, applies the decisions to
the consumers (a layer switch, a pause or a resume) and tells the subscriber which tracks
paused or resumed (StreamStateUpdate).  Subscribers without an estimate are left alone.
It also tells the data plane what the subscriber would want (`set_wanted_bitrate`, when it
moved by more than WANTED_CHANGE): the downlink is paced and probed from then on.

The estimate is an input: `set_estimate(subscriber, bits_per_s)` (None: no estimate any
more; the subscriptions go back to their unconstrained layers at the next tick).  An estimate
below what the last allocation used is not left for the next tick: the link overflows now
(what it drops is audio too), so that subscriber is allocated again at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from livekit.protocol import rtc

from .. import errors
from . import svc_layers
from .layer_bitrate import BitrateMeter
from .periodic import Periodic
from .stream_allocator import DISABLED, NO_ESTIMATE, NO_LAYERS, Decision, Demand, LayerState, StreamAllocator
from .subscriptions import switch_layer
from .track import Subscription

log = logging.getLogger("sfu.rooms")

TICK = 0.5     # s between two allocations of a subscriber
RED_BLOCKS = 2  # earlier blocks in each RED packet the data plane sends (SFU_RED_MAX_BLOCKS)
WANTED_CHANGE = 0.1   # the wanted bitrate is passed on when it moved by more than this fraction


class Subscriber(Protocol):
    """a participant as its allocation sees it (sfu.rooms.participant.Participant)"""

    sid: str
    identity: str
    closed: bool

    def subscriptions(self) -> list[Subscription]: ...

    async def send(self, msg: rtc.SignalResponse) -> None: ...

    async def set_wanted_bitrate(self, bitrate: int) -> None: ...


@dataclass(eq=False)
class Downlink:
    subscriber: Subscriber
    estimate: int | None
    allocator: StreamAllocator = field(default_factory=StreamAllocator)
    wanted: int = 0           # the wanted bitrate last passed on
    used: int = 0             # bits/s the last allocation gave out
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)     # one allocation at a time
    urgent: asyncio.Task | None = None                           # an allocation out of turn


class Allocator:
    """the stream allocation of every subscriber of this node with an estimate"""

    def __init__(self, clock: Callable[[], float] = time.monotonic, tick: float = TICK) -> None:
        self.clock = clock
        self.tick_interval = tick
        self.meter = BitrateMeter()
        self.downlinks: dict[int, Downlink] = {}     # id(subscriber) -> its downlink
        self._timer = Periodic(tick, self.tick, "stream allocation")
        self.start, self.stop = self._timer.start, self._timer.stop

    def set_estimate(self, subscriber: Subscriber, bps: int | None) -> None:
        """the bandwidth estimate of the subscriber's downlink, bits/s (None: unknown)"""
        d = self.downlinks.get(id(subscriber))
        if d is None:
            if bps is None:
                return
            d = self.downlinks[id(subscriber)] = Downlink(subscriber, bps)
        d.estimate = bps
        if bps is not None and bps < d.used and d.urgent is None and not subscriber.closed:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return                   # no loop to run it on: the next tick does it
            d.urgent = loop.create_task(self._allocate_now(d))

    async def _allocate_now(self, d: Downlink) -> None:
        try:
            await self._allocate(d, self._subscriptions(d), self.clock())
        except Exception:                # as a failed tick: logged, the next one runs
            log.exception("stream allocation of %s", d.subscriber.identity)
        finally:
            d.urgent = None

    def forget(self, subscriber: Subscriber) -> None:
        self.downlinks.pop(id(subscriber), None)

    async def tick(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        for key, d in list(self.downlinks.items()):
            if d.subscriber.closed:
                del self.downlinks[key]
        subs = {key: self._subscriptions(d) for key, d in self.downlinks.items()}
        await self._measure([s for key, d in self.downlinks.items() if d.estimate is not None for s in subs[key]],
                            now)
        for key, d in list(self.downlinks.items()):
            await self._allocate(d, subs[key], now)
            if d.estimate is None:       # back to unconstrained: nothing more to do for it
                self.downlinks.pop(key, None)

    @staticmethod
    def _subscriptions(d: Downlink) -> list[Subscription]:
        return [s for s in d.subscriber.subscriptions() if s.consumer is not None and s.track.published]

    async def _measure(self, subs: list[Subscription], now: float) -> None:
        """sample the layers of these subscriptions' tracks, each at most once per second"""
        producers = {x.producer.id: x.producer for s in subs for x in s.track.layers.values()}
        scalable = {x.producer.id for s in subs if svc_layers.is_scalable(s.track) for x in s.track.layers.values()}
        self.meter.keep(set(producers))
        for pid, producer in producers.items():
            if producer.closed or not self.meter.due(pid, now):
                continue
            try:
                stats = await producer.stats()
            except errors.SfuError:
                continue
            self.meter.sample(pid, int(stats.get("bytes", 0)), now, int(stats.get("packets", 0)))
            if pid in scalable:
                svc_layers.sample(self.meter, pid, stats, now)

    async def _allocate(self, d: Downlink, subs: list[Subscription], now: float) -> None:
        async with d.lock:              # a tick and an allocation out of turn do not interleave
            await self._allocate_locked(d, subs, now)

    async def _allocate_locked(self, d: Downlink, subs: list[Subscription], now: float) -> None:
        by_sid = {s.track.sid: s for s in subs}
        alloc = d.allocator.allocate(d.estimate, now, [demand(s, self.meter) for s in subs])
        d.used = alloc.used
        for sid, dec in alloc.decisions.items():
            try:
                await apply(by_sid[sid], dec, now, d.estimate, scalable_layers(by_sid[sid], self.meter))
            except errors.SfuError as e:
                log.debug("%s: allocation of %s: %s", d.subscriber.identity, sid, e)
        if alloc.wanted and abs(alloc.wanted - d.wanted) > WANTED_CHANGE * d.wanted and not d.subscriber.closed:
            try:
                await d.subscriber.set_wanted_bitrate(alloc.wanted)
                d.wanted = alloc.wanted
            except errors.SfuError as e:
                log.debug("%s: wanted bitrate: %s", d.subscriber.identity, e)
        states = [(sid, rtc.StreamState.PAUSED) for sid in alloc.paused] + \
                 [(sid, rtc.StreamState.ACTIVE) for sid in alloc.resumed]
        if not states or d.subscriber.closed:
            return
        log.info("%s: downlink %s bps: %s", d.subscriber.identity, d.estimate,
                 ", ".join(f"{sid} {rtc.StreamState.Name(st)}" for sid, st in states))
        await d.subscriber.send(rtc.SignalResponse(stream_state_update=rtc.StreamStateUpdate(stream_states=[
            rtc.StreamStateInfo(participant_sid=by_sid[sid].track.participant.sid, track_sid=sid, state=st)
            for sid, st in states])))


def demand(sub: Subscription, meter: BitrateMeter) -> Demand:
    """what the allocator needs to know of a subscription"""
    pub = sub.track
    advertised = {x.quality: x.bitrate for x in pub.info.layers}
    spatial = scalable_layers(sub, meter)
    if spatial:
        # one stream, its spatial layers as the layers: each counted with those below it
        producer = sub.track.layers[""].producer
        active = sub.track.layers[""].active or sub.track.layers[""].activity.active
        layers = tuple(LayerState(x.quality, *svc_layers.cumulative_rate(meter, producer.id, x.spatial, x.temporal),
                                  advertised.get(x.quality, 0) if x.temporal < 0 else 0, active, x.temporal)
                       for x in spatial)
        c = sub.consumer
        on = (c.spatial_layer, c.temporal_layer) if c is not None else (-1, -1)
        current_layer = next((x for x in spatial if (x.spatial, x.temporal) == on), spatial[-1])
        current = None if sub.bandwidth_paused else current_layer.quality
        return Demand(pub.sid, pub.kind, layers, disabled=sub.disabled or pub.server_muted,
                      max_quality=sub.quality, source=pub.info.source, priority=sub.priority, size=sub.size,
                      current=current, current_temporal=current_layer.temporal)
    # the layer it is on counts while it flows, trusted or not (trust is for moving up)
    layers = tuple(LayerState(x.quality, meter.rate(x.producer.id), meter.payload_rate(x.producer.id),
                              advertised.get(x.quality, 0), x.active or (x is sub.layer and x.activity.active))
                   for x in pub.layers.values())
    current = sub.layer.quality if sub.layer is not None and not sub.bandwidth_paused else None
    return Demand(pub.sid, pub.kind, layers, disabled=sub.disabled or pub.server_muted, max_quality=sub.quality,
                  source=pub.info.source, priority=sub.priority, size=sub.size, current=current,
                  red_blocks=RED_BLOCKS if sub.red_pt else 0)


def scalable_layers(sub: Subscription, meter: BitrateMeter) -> list[svc_layers.SpatialLayer]:
    """a scalable track's spatial layers as measured (none: not scalable, or one layer only)"""
    if not svc_layers.is_scalable(sub.track):
        return []
    found = svc_layers.spatial_layers(sub.track, meter, sub.track.layers[""].producer.id)
    return found if len(found) > 1 else []


async def apply(sub: Subscription, dec: Decision, now: float, estimate: int | None = None,
                spatial: list[svc_layers.SpatialLayer] | None = None) -> None:
    """put a subscription where the allocator decided: its layer and whether it forwards"""
    c = sub.consumer
    if c is None or c.closed or dec.reason in (DISABLED, NO_LAYERS):
        return        # turned off: it keeps its place until it is turned on again
    if sub.red_pt:
        red = sub.red_pt if dec.red else 0
        if c.red_payload_type != red:
            log.info("%s: %s %s (downlink %s bps)", sub.subscriber.identity, sub.track.sid,
                     "RED on" if red else "RED off", estimate)
            await c.set_red(red)
    sub.allocated = None if dec.reason == NO_ESTIMATE else dec.quality
    sub.bandwidth_paused = dec.paused
    if dec.paused and not c.paused:
        await c.pause()
    if spatial and dec.quality is not None and not dec.paused:
        want = svc_layers.target(spatial, dec.quality, dec.temporal)
        have = (c.spatial_layer, c.temporal_layer)
        if want != have:
            # a spatial layer up costs the publisher a key frame (the data plane asks when the
            # layer arrives): not more than one a second for this one; temporal layers need none
            up = want[0] == -1 and have[0] != -1 or (have[0] != -1 and want[0] > have[0])
            if not up or c.paused or sub.key_frames.ready(now):
                log.info("%s: %s SVC layers %s -> %s (allocation: %s, downlink %s bps)",
                         sub.subscriber.identity, sub.track.sid, have, want, dec.reason, estimate)
                await c.set_layers(*want)
                if up:
                    sub.key_frames.asked(now)
    layer = next((x for x in sub.track.layers.values() if x.quality == dec.quality), None)
    if not spatial and layer is not None and layer is not sub.layer:
        up = sub.layer is None or layer.quality > sub.layer.quality
        # moving up costs the publisher a key frame: not more than one a second for this one
        if not up or c.paused or sub.key_frames.ready(now):
            await switch_layer(sub, layer, f"allocation: {dec.reason}, downlink {estimate} bps", now)
    if c.paused and not sub.forwarding_paused:
        await c.resume()              # the data plane asks for a key frame
        sub.key_frames.asked(now)
