"""Header-extension URIs are spelled once, in sfu/protocol/sdp/extensions.py: product code,
benchmarks and tests name them through its constants."""

from __future__ import annotations

import ast
import pathlib

from sfu.protocol.sdp import extensions

REPO = pathlib.Path(__file__).resolve().parents[2]
ROOT = REPO / "sfu"                       # the source tree (the installed copy has no bench/ or tests/)
HOME = ROOT / "protocol" / "sdp" / "extensions.py"
KNOWN = {v for k, v in vars(extensions).items() if k.startswith("EXT_")}
# what an extension URI looks like (RFC 8285 names them by URI); product code knows no other
MARKERS = ("rtp-hdrext", "transport-wide-cc", "av1-rtp-spec")


def strings(path: pathlib.Path) -> list[tuple[int, str]]:
    return [(n.lineno, n.value) for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_uri_is_spelled_outside_the_table():
    files = [p for d in ("sfu", "bench", "tests") for p in sorted((REPO / d).rglob("*.py"))]
    assert len(files) > 50 and HOME in files
    bad = []
    for path in files:
        if path == HOME:
            continue
        for line, value in strings(path):
            known = any(uri in value for uri in KNOWN)
            # tests may offer extensions the product does not know; the product may not
            unknown = path.is_relative_to(ROOT) and any(m in value for m in MARKERS)
            if known or unknown:
                bad.append(f"{path.relative_to(REPO)}:{line}: {value[:80]!r}")
    assert not bad, "header-extension URIs spelled outside extensions.py:\n" + "\n".join(bad)


def test_the_table_spells_every_uri_it_exports():
    spelled = {value for _, value in strings(HOME)}
    assert KNOWN <= spelled and len(KNOWN) == 7
