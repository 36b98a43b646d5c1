"""tests/helpers/ is a leaf: it imports the product, the standard library and
third-party packages, never a test module, a conftest or a benchmark (the
benchmarks import it, so anything else would make tests and benchmarks depend
on each other in a circle)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import TIERS

TESTS = Path(__file__).resolve().parents[1]
BENCH = TESTS.parent / "bench"


def imported(path: Path) -> set[str]:
    """top-level names of the absolute imports in `path`"""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_helpers_import_no_tests_and_no_benchmarks():
    forbidden = set(TIERS) | {"conftest"} | {p.stem for p in BENCH.glob("*.py")}
    files = sorted((TESTS / "helpers").glob("*.py"))
    assert len(files) >= 8
    bad = {f.name: sorted(imported(f) & forbidden) for f in files if imported(f) & forbidden}
    assert not bad, f"tests/helpers/ imports test or benchmark modules: {bad}"


def test_benchmarks_import_helpers_only_from_the_tests():
    bad = {f.name: sorted(imported(f) & (set(TIERS) | {"conftest"})) for f in sorted(BENCH.glob("*.py"))
           if imported(f) & (set(TIERS) | {"conftest"})}
    assert not bad, f"benchmarks import test modules: {bad}"
