"""Import-direction rules between the layers (checked on the source)."""

from __future__ import annotations

import ast
import pathlib

import sfu

ROOT = pathlib.Path(sfu.__file__).parent

# the one protocol module that is an async adapter (aiortc's SCTP needs a loop)
EXEMPT = {("protocol/sctp.py", "asyncio")}

# package -> modules it must never import
FORBIDDEN = {
    "worker": ("sfu.media", "sfu.app", "sfu.cli"),
    "media": ("sfu.app", "sfu.cli"),
    "native.py": ("sfu.worker", "sfu.media", "sfu.app"),
    "srtp.py": ("sfu.worker", "sfu.media", "sfu.app"),
    "protocol": ("asyncio", "socket", "sfu.worker", "sfu.media", "sfu.app"),
}


def imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    pkg = "sfu." + ".".join(path.relative_to(ROOT).parts[:-1])
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.rstrip(".").split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def test_layers_import_only_downwards():
    checked = 0
    for name, banned in FORBIDDEN.items():
        target = ROOT / name
        files = [target] if target.suffix == ".py" else sorted(target.rglob("*.py")) if target.exists() else []
        for f in files:
            checked += 1
            rel = str(f.relative_to(ROOT))
            bad = {i for i in imports(f) for b in banned
                   if (i == b or i.startswith(b + ".")) and (rel, b) not in EXEMPT}
            assert not bad, f"{f.relative_to(ROOT)} imports {sorted(bad)}"
    assert checked >= 8
