"""A pytest plugin for tests/meta/test_tiers.py: after collection, writes every
collected test's node id and marker names as JSON to $SFU_COLLECTED_MARKERS."""

from __future__ import annotations

import json
import os


def pytest_collection_finish(session) -> None:
    out = {item.nodeid: sorted({m.name for m in item.iter_markers()}) for item in session.items}
    with open(os.environ["SFU_COLLECTED_MARKERS"], "w") as f:
        json.dump(out, f)
