"""How the load tests run from the command line (`sfu load-test`, `sfu agent-load-test`): on
uvloop where it is installed, one asyncio run, the report printed, and with --json written as
JSON (to stdout for "-"); an error the test cannot go on after is one line on stderr."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, Callable, Coroutine


def run_report(name: str, make: Callable[[Callable[[str], None]], Coroutine[Any, Any, dict]],
               format_report: Callable[[dict], str], json_path: str | None,
               fatal: tuple[type[BaseException], ...]) -> dict | None:
    """the report of `make(out)`, printed (and written to json_path); None after a `fatal` error"""
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    try:
        rep = asyncio.run(make(lambda s: print(s, flush=True)))
    except fatal as exc:
        print(f"{name}: {exc or type(exc).__name__}", file=sys.stderr)
        return None
    print(format_report(rep))
    if json_path:
        data = json.dumps(rep, indent=2)
        if json_path == "-":
            print(data)
        else:
            with open(json_path, "w") as f:
                f.write(data + "\n")
    return rep
