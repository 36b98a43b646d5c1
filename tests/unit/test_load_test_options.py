"""`sfu load-test` options (sfu.loadtest.runner)."""

from __future__ import annotations

import pytest

from sfu.loadtest.runner import parse_resolution


def test_parse_resolution():
    assert parse_resolution("720p") == (1280, 720)
    assert parse_resolution("640x360") == (640, 360)
    for bad in ("huge", "12x", "8x8"):
        with pytest.raises(ValueError):
            parse_resolution(bad)
