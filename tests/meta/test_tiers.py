"""The tiers partition the suite: every collected test has exactly one tier
marker (the folder it lives in), the markers are registered, and the README
documents every tier; every benchmark has a smoke run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import TIERS

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


def test_every_test_has_exactly_one_tier(tmp_path):
    out = tmp_path / "markers.json"
    env = dict(os.environ, SFU_COLLECTED_MARKERS=str(out),
               PYTHONPATH=os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p))
    # cwd tests/, not the repository: the source tree's sfu/ has no C extension
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                        "-p", "meta.collected_markers", str(TESTS)],
                       cwd=TESTS, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    collected = json.loads(out.read_text())
    assert len(collected) > 600, len(collected)      # the whole suite, not a corner of it
    wrong = {node: [m for m in marks if m in TIERS] for node, marks in collected.items()
             if sum(m in TIERS for m in marks) != 1}
    assert not wrong, f"tests without exactly one tier marker (put them under tests/<tier>/): {wrong}"
    assert {m for marks in collected.values() for m in marks if m in TIERS} == set(TIERS)


def test_tier_markers_are_registered_and_documented():
    ini = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    registered = {m.split(":", 1)[0].strip() for m in ini["markers"]}
    assert set(TIERS) <= registered, set(TIERS) - registered
    assert ini["testpaths"] == [f"tests/{tier}" for tier in TIERS]      # ./scripts/test runs every tier
    readme = (REPO / "README.md").read_text()
    for tier in TIERS:
        assert (TESTS / tier / "__init__.py").exists(), tier
        assert f"`tests/{tier}/`" in readme, f"README.md does not describe tests/{tier}/"
    assert "./scripts/test -m unit" in readme          # how to run one tier


def test_every_benchmark_has_a_smoke_run():
    benches = sorted(p.name for p in (REPO / "bench").glob("*.py") if p.name.startswith(("bench_", "compare_")))
    assert len(benches) >= 6
    smoke = "".join(p.read_text() for p in (TESTS / "bench_smoke").glob("test_*.py"))
    missing = [b for b in benches if b not in smoke]
    assert not missing, f"benchmarks without a smoke run in tests/bench_smoke/: {missing}"
