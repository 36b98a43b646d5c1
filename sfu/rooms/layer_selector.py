"""Which simulcast layer a subscriber receives: the one decision, pure (no IO, no clock).

A publisher may stop sending a layer it cannot encode or send (the data plane reports a
layer inactive after 1 s without packets, and active again at its next packet); a
subscriber gets the highest active layer not above the quality it asked for, else the
lowest active one.  When no layer is active (a publisher that just started, or paused
everything), every layer counts as a candidate, so the subscriber is not left without one.
"""

from __future__ import annotations

from typing import Iterable, Protocol, TypeVar


class LayerLike(Protocol):
    quality: int     # models.VideoQuality
    active: bool


L = TypeVar("L", bound=LayerLike)


def select_layer(layers: Iterable[L], quality: int) -> L | None:
    """the layer for a subscriber asking for at most `quality`"""
    ordered = sorted(layers, key=lambda x: x.quality)
    if not ordered:
        return None
    active = [x for x in ordered if x.active] or ordered
    fit = [x for x in active if x.quality <= quality]
    return fit[-1] if fit else active[0]


def layer_to_move_to(layers: Iterable[L], quality: int, current: L | None, only_up: bool = False) -> L | None:
    """the layer a subscriber on `current` should move to, or None to stay
    (`only_up`: a layer appeared, move only subscribers that gain from it)"""
    best = select_layer(layers, quality)
    if best is None or best is current or current is None:
        return None
    if only_up and best.quality <= current.quality:
        return None
    return best
