"""sfu.rooms.layer_selector: which simulcast layer a subscriber gets, table by table."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from livekit.protocol import models

from sfu.rooms.layer_selector import layer_to_move_to, select_layer

LOW, MEDIUM, HIGH = models.VideoQuality.LOW, models.VideoQuality.MEDIUM, models.VideoQuality.HIGH


@dataclass(eq=False)
class L:
    name: str
    quality: int
    active: bool = True


def layers(spec: str) -> dict[str, L]:
    """"q h F": q and h active, F (upper case) inactive"""
    q = {"q": LOW, "h": MEDIUM, "f": HIGH}
    return {c.lower(): L(c.lower(), q[c.lower()], c.islower()) for c in spec.split()}


@pytest.mark.parametrize("spec, asked, want", [
    ("q h f", HIGH, "f"),
    ("q h f", MEDIUM, "h"),
    ("q h f", LOW, "q"),
    ("q h F", HIGH, "h"),        # the top layer stopped: the best active one
    ("Q h F", LOW, "h"),         # nothing active at or below the ask: the lowest active layer
    ("Q H F", MEDIUM, "h"),      # nothing active at all: every layer is a candidate
    ("f", LOW, "f"),             # one layer only
    ("h f", LOW, "h"),
])
def test_select_layer(spec, asked, want):
    assert select_layer(layers(spec).values(), asked).name == want


def test_no_layers_selects_nothing():
    assert select_layer([], HIGH) is None


@pytest.mark.parametrize("spec, asked, current, only_up, want", [
    ("q h f", HIGH, "f", False, None),      # already on the right layer
    ("q h F", HIGH, "f", False, "h"),       # its layer stopped: down
    ("q h f", HIGH, "h", False, "f"),       # a better one is active: up
    ("q h f", HIGH, "h", True, "f"),
    ("q h F", HIGH, "f", True, None),       # a layer appeared: never down
    ("q h f", MEDIUM, "f", True, None),
    ("q h f", HIGH, None, False, None),     # not attached yet: the attach picks
])
def test_layer_to_move_to(spec, asked, current, only_up, want):
    ls = layers(spec)
    got = layer_to_move_to(ls.values(), asked, ls[current] if current else None, only_up=only_up)
    assert (got.name if got else None) == want
