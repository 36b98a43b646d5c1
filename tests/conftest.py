"""The tiers: a test's tier is the folder it lives in.  Shared code is in
tests/helpers/, fixtures of one tier in its folder's conftest.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# the tests must exercise the installed package (with its C extension)
import sfu.native  # noqa: F401  fails early with a clear error if the extension is missing

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # tests/ on the path: helpers and the tier packages importable

# one folder and one marker (registered in pyproject.toml) per tier, cheapest first
TIERS = ("unit", "component", "process", "server", "cluster", "sanitizers", "interop", "bench_smoke", "meta")


@pytest.hookimpl(tryfirst=True)     # before -m deselects anything
def pytest_collection_modifyitems(config, items):
    """mark every test with the tier of its folder: tests/unit/c/test_ring.py is `unit`"""
    for item in items:
        parts = Path(item.path).relative_to(HERE).parts
        if len(parts) > 1 and parts[0] in TIERS:
            item.add_marker(parts[0])
