"""Simulcast layer activity: once a second, which layers of each simulcast track carry
packets (a publisher may stop sending a layer it cannot encode or send); subscribers on a
layer that stopped, or below one that came back, move to their best active layer.  A layer
that appears moves waiting subscribers up at once.
"""

from __future__ import annotations

import asyncio
import logging

from .. import errors
from .room import RoomManager
from .track import TrackPublication

log = logging.getLogger("sfu.rooms")

LAYER_TRACK_INTERVAL = 1.0


class LayerTracker:
    def __init__(self, manager: RoomManager) -> None:
        self.manager = manager
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._track_layers())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _track_layers(self) -> None:
        """once a second: which simulcast layers carry packets; subscribers on a
        layer that stopped (or below one that came back) move to the best one"""
        while True:
            await asyncio.sleep(LAYER_TRACK_INTERVAL)
            for room in list(self.manager.rooms.values()):
                for pub in room.all_tracks():
                    if len(pub.layers) < 2:
                        continue
                    try:
                        await self.update(pub)
                    except errors.SfuError as e:
                        log.debug("layer tracking for %s: %s", pub.sid, e)

    async def update(self, pub: TrackPublication) -> None:
        """read each layer's packet count; move subscribers to their best active layer"""
        for layer in list(pub.layers.values()):
            packets = int((await layer.producer.stats())["packets"])
            layer.active = packets > layer.packets
            layer.packets = packets
        for sub in list(pub.subscriptions.values()):
            best = pub.best_layer(sub.quality)
            if sub.consumer is None or sub.consumer.closed or best is None or best is sub.layer:
                continue
            log.info("%s: %s layer %r -> %r (layer activity)", sub.subscriber.identity, pub.sid,
                     sub.layer.rid if sub.layer else None, best.rid)
            await sub.consumer.set_producer(best.producer)
            sub.layer = best

    async def layer_added(self, pub: TrackPublication) -> None:
        """a layer appeared: subscribers waiting for a better one move up"""
        for sub in list(pub.subscriptions.values()):
            best = pub.best_layer(sub.quality)
            if sub.consumer is not None and best is not None and sub.layer is not None and \
                    best.quality > sub.layer.quality:
                await sub.consumer.set_producer(best.producer)
                sub.layer = best
