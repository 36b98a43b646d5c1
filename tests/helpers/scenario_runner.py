"""Scenario scripts in a private network namespace (libwebrtc ignores loopback,
so real clients need the veth pair a scenario sets up in a namespace of its
own): `unshare -n python -m MODULE ARGS` from tests/, whose summary is the JSON
on the last line of its output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def require_netns(what: str = "real-client tests") -> None:
    """fail (never skip) unless this process may make a network namespace"""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        import pytest
        pytest.fail(f"{what}: root and unshare(1) are needed for a private network namespace")


def run_scenario(module: str, *args: str, timeout: float, env: dict[str, str] | None = None) -> dict:
    require_netns()
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    p = subprocess.run(["unshare", "-n", sys.executable, "-m", module, *args], cwd=TESTS,
                       env=dict(os.environ, PYTHONPATH=path, **(env or {})),
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    return json.loads(p.stdout.strip().splitlines()[-1])
