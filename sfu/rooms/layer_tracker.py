"""Simulcast layer activity: the data plane reports a layer (a producer) inactive after
1 s without packets and active again at its next packet (producer_inactive /
producer_active); subscribers on a layer that stopped, or below one that came back, move
to the layer sfu.rooms.layer_selector picks.  A layer that appears moves waiting
subscribers up at once.
"""

from __future__ import annotations

import logging

from .. import errors
from .layer_selector import layer_to_move_to
from .subscriptions import switch_layer
from .track import TrackPublication

log = logging.getLogger("sfu.rooms")


class LayerTracker:
    async def activity_changed(self, pub: TrackPublication, producer_id: int, active: bool) -> None:
        """a layer of `pub` stopped or started: reselect for its subscribers"""
        layer = pub.layer_of_producer(producer_id)
        if layer is None or layer.active == active:
            return
        layer.active = active
        log.info("%s layer %r %s", pub.sid, layer.rid, "active" if active else "inactive")
        await self._reselect(pub, only_up=False)

    async def layer_added(self, pub: TrackPublication) -> None:
        """a layer appeared: subscribers waiting for a better one move up"""
        await self._reselect(pub, only_up=True)

    async def _reselect(self, pub: TrackPublication, only_up: bool) -> None:
        for sub in list(pub.subscriptions.values()):
            target = layer_to_move_to(pub.layers.values(), sub.quality, sub.layer, only_up=only_up)
            if target is None:
                continue
            try:
                await switch_layer(sub, target, "layer added" if only_up else "layer activity")
            except errors.SfuError as e:
                log.debug("layer switch for %s: %s", pub.sid, e)
