"""Simulcast layer activity: the data plane reports a layer (a producer) inactive after
1 s without packets and active again at its next packet (producer_inactive /
producer_active).  sfu.rooms.layer_activity turns the reports into whether the layer may be
chosen: subscribers on a layer that stopped move down at once; a layer that came back is
chosen again once it stayed active for a while (a timer here looks again then).  A layer
that appears moves waiting subscribers up at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from .. import errors
from .layer_selector import layer_to_move_to
from .subscriptions import switch_layer
from .track import Layer, Subscription, TrackPublication

log = logging.getLogger("sfu.rooms")

Schedule = Callable[[float, Callable[[], None]], None]


def call_later(delay: float, fn: Callable[[], None]) -> None:
    asyncio.get_running_loop().call_later(delay, fn)


class LayerTracker:
    def __init__(self, clock: Callable[[], float] = time.monotonic, schedule: Schedule = call_later) -> None:
        self.clock = clock
        self.schedule = schedule

    async def activity_changed(self, pub: TrackPublication, producer_id: int, active: bool) -> None:
        """a layer of `pub` stopped or started: reselect for its subscribers"""
        layer = pub.layer_of_producer(producer_id)
        now = self.clock()
        if layer is None or not layer.activity.report(active, now):
            return
        log.info("%s layer %r %s", pub.sid, layer.rid, "active" if active else "inactive")
        await self.refresh(pub)
        at = layer.activity.usable_at(now)
        if at is not None:
            self.schedule(at - now, lambda: asyncio.get_running_loop().create_task(self.refresh(pub)))

    async def refresh(self, pub: TrackPublication) -> None:
        """apply what the layers' activity says now: down at once, up once trusted"""
        now = self.clock()
        changed = False
        trusted = {rid: x.activity.usable(now) for rid, x in pub.layers.items()}
        if not any(trusted.values()):
            # nothing trusted yet (the publisher starts again after stopping everything):
            # a layer that flows beats one that does not
            trusted = {rid: x.activity.active for rid, x in pub.layers.items()}
        for rid, layer in pub.layers.items():
            usable = trusted[rid]
            if usable != layer.active:
                layer.active = usable
                changed = True
                if usable:
                    log.info("%s layer %r usable again", pub.sid, layer.rid)
        if changed:
            await self._reselect(pub, only_up=False)

    async def layer_added(self, pub: TrackPublication) -> None:
        """a layer appeared: subscribers waiting for a better one move up"""
        await self._reselect(pub, only_up=True)

    async def _reselect(self, pub: TrackPublication, only_up: bool) -> None:
        for sub in list(pub.subscriptions.values()):
            target = layer_to_move_to(pub.layers.values(), sub.target_quality, sub.layer, only_up=only_up)
            if target is None or still_flowing(sub, target):
                continue
            try:
                await switch_layer(sub, target, "layer added" if only_up else "layer activity")
            except errors.SfuError as e:
                log.debug("layer switch for %s: %s", pub.sid, e)


def still_flowing(sub: Subscription, target: Layer) -> bool:
    """whether the subscription's layer, which it may keep, is left for a lower one only
    because it is not trusted yet: one that flows is kept (trust matters for moving up)"""
    cur = sub.layer
    return cur is not None and target.quality < cur.quality <= sub.target_quality and cur.activity.active
