"""Import direction between the parts of `sfu`, and no import cycle between its modules.

Read from the source (the AST), never by importing: every import statement counts, at module
level, inside a function and under `if TYPE_CHECKING:` (a type-only import is still a
dependency a reader has to follow, and a function-level import does not make a cycle go away).
"""

from __future__ import annotations

import ast
import pathlib

import sfu

ROOT = pathlib.Path(sfu.__file__).parent

# A part is a subpackage of sfu or one of its top-level modules ("sfu" is the package's own
# __init__).  Each may import only the parts listed here; a new part must be added to the table.
BASE = {"sfu", "errors"}
ALLOWED: dict[str, set[str]] = {
    "sfu": set(),
    "errors": set(),
    "config": {"config_schema"},
    "config_schema": set(),
    "ids": set(),
    "limits": set(),
    "http_guard": set(),
    "netaddr": set(),                        # which local addresses are announced
    "external_ip": set(),                    # rtc.use_external_ip: our address as STUN servers see it
    "ice_servers": set(),                    # the ICE servers handed to clients (pure)
    "turn": set(),                           # coturn, configured and supervised
    "wire": {"errors"},
    "auth": {"errors"},
    "native": {"errors"},
    "srtp": BASE | {"native"},
    "protocol": set(),                       # sans-IO: nothing else of sfu
    "worker": BASE | {"native", "srtp", "protocol"},
    "media": BASE | {"worker"},
    "signaling": BASE | {"auth", "wire"},    # knows rooms only through its SessionHost protocol
    "rooms": BASE | {"ids", "auth", "limits", "protocol", "media", "signaling"},
    "agents": BASE | {"ids", "auth", "wire", "rooms"},   # the cluster only through a protocol
    "api": BASE | {"auth", "limits", "rooms"},         # agents and the cluster only through protocols
    "cluster": BASE | {"signaling", "rooms", "api", "agents", "worker"},
    "webhooks": BASE | {"auth", "rooms"},
    "metrics": set(),                        # a snapshot in, metric families out
    # api: its Twirp client (sfu.api.client: dispatches and SendData of the agent load test)
    "loadtest": BASE | {"auth", "native", "srtp", "protocol", "api"},
    "app": BASE | {"config", "auth", "http_guard", "netaddr", "external_ip", "ice_servers", "turn", "native", "worker", "media", "signaling", "rooms", "agents", "api", "cluster",
                   "webhooks", "metrics"},
    "control": BASE | {"config", "auth", "app", "api", "media", "rooms", "webhooks"},   # the public Python API
    "cli": BASE | {"config", "auth", "app", "api", "loadtest", "control"},
}

# outside sfu: modules a part must not import (the sans-IO rule); (file, module) pairs exempt
FORBIDDEN_EXTERNAL = {
    "protocol": ("asyncio", "socket"),
}
EXEMPT = {("protocol/sctp.py", "asyncio")}   # aiortc's SCTP association needs a loop


def module_name(path: pathlib.Path, root: pathlib.Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "sfu"


def imported_names(path: pathlib.Path, module: str) -> list[tuple[str, list[str]]]:
    """(module, names) for every import statement in the file, absolute"""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, [a.name for a in node.names]))
    return out


def import_graph(root: pathlib.Path = ROOT) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(edges between sfu modules, external modules each sfu module imports)"""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    edges: dict[str, set[str]] = {m: set() for m in files}
    external: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        for target, names in imported_names(path, module):
            if target != "sfu" and not target.startswith("sfu."):
                external[module].add(target)
                continue
            # `from pkg import mod` names a module; `from mod import name` the module itself;
            # anything else (the C extension sfu._native) is not a Python module of the tree
            found = {f"{target}.{n}" for n in names if f"{target}.{n}" in files}
            if len(found) < max(len(names), 1) and target in files:
                found.add(target)
            edges[module] |= found - {module}
    return edges, external


def find_cycles(edges: dict[str, set[str]]) -> list[tuple[list[str], set[str]]]:
    """for every strongly connected group of modules: one cycle in it (a path a -> ... -> a)
    and the whole group"""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1 or v in edges.get(v, ()):
                groups.append(group)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [(_cycle_in(group, edges), group) for group in groups]


def _cycle_in(group: set[str], edges: dict[str, set[str]]) -> list[str]:
    """a shortest path from the group's first module back to itself, inside the group"""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges.get(v, ()) & group):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")   # pragma: no cover


def test_cycle_finder_names_the_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert sorted(c for c, _ in find_cycles(edges)) == [["a", "b", "c", "a"], ["e", "e"]]
    assert sorted(map(sorted, (g for _, g in find_cycles(edges)))) == [["a", "b", "c"], ["e"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_graph_sees_every_kind_of_import(tmp_path):
    pkg = tmp_path / "sfu"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "base.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .low import x\n")
    (pkg / "sub" / "low.py").write_text("x = 1\n")
    (pkg / "sub" / "high.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import base\n"
        "def f():\n    from . import low\n    import sfu.sub\n    from .._native import lib\n")
    edges, external = import_graph(pkg)
    assert edges["sfu.sub.high"] == {"sfu.base", "sfu.sub.low", "sfu.sub"}
    assert edges["sfu.sub"] == {"sfu.sub.low"}
    assert "typing" in external["sfu.sub.high"]


def test_every_part_imports_only_what_the_table_allows():
    edges, external = import_graph()
    parts = {part_of(m) for m in edges}
    assert parts == set(ALLOWED), f"parts missing from ALLOWED: {sorted(parts - set(ALLOWED))}, " \
                                  f"stale in ALLOWED: {sorted(set(ALLOWED) - parts)}"
    bad = []
    for module, targets in sorted(edges.items()):
        part = part_of(module)
        for t in sorted(targets):
            if part_of(t) != part and part_of(t) not in ALLOWED[part]:
                bad.append(f"{module} imports {t} ({part} -> {part_of(t)} is not allowed)")
        rel = str(pathlib.Path(*module.split(".")[1:]))
        for ext in sorted(external[module]):
            for banned in FORBIDDEN_EXTERNAL.get(part, ()):
                path = rel + ("/__init__.py" if (ROOT / rel).is_dir() else ".py")
                if (ext == banned or ext.startswith(banned + ".")) and (path, banned) not in EXEMPT:
                    bad.append(f"{module} imports {ext} ({part} is sans-IO)")
    assert not bad, "\n".join(bad)
    # the graph is the real one: a few edges every version of the tree has
    assert "sfu.media.router" in edges["sfu.media"] and "sfu.errors" in edges["sfu.auth"]
    assert sum(len(t) for t in edges.values()) > 100


def test_no_import_cycle_between_modules():
    edges, _ = import_graph()
    cycles = find_cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(
        f"{' -> '.join(c)}  (all of: {', '.join(sorted(g))})" for c, g in cycles)
