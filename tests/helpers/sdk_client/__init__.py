"""A real livekit rtc SDK participant as a process: lkclient.py (with lkmedia.py and
lkstats.py next to it) runs under the client virtualenv's Python; this module starts
it and reads its RESULT line.  Shared by the interop tests and bench/netrun.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from helpers.sdk_venvs import CLIENT_PYTHON

SCRIPT = Path(__file__).resolve().parent / "lkclient.py"


def client(tok: str, role: str, seconds: float, url: str, prefix: tuple[str, ...] | list[str] = (),
           stdout=subprocess.PIPE, **opts) -> subprocess.Popen:
    """an lkclient.py process; `prefix` runs it inside something (e.g. nsenter into a namespace),
    `stdout` may be a file (then read it with parse_result)"""
    if not os.path.exists(CLIENT_PYTHON):
        raise RuntimeError(f"no client Python with the livekit SDK at {CLIENT_PYTHON} (run scripts/setup)")
    return subprocess.Popen([*prefix, CLIENT_PYTHON, str(SCRIPT), url, tok, role, str(seconds),
                             json.dumps(opts)], stdout=stdout, stderr=subprocess.STDOUT, text=True)


def result(proc: subprocess.Popen, timeout: float = 90, log_grep: tuple[str, ...] = ()) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    return parse_result(out, proc.returncode, log_grep)


def parse_result(out: str, rc: int | None, log_grep: tuple[str, ...] = ()) -> dict:
    """the last RESULT line of a client's output"""
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        return {"error": "no result", "output": out[-3000:], "rc": rc}
    # raw_decode: a log line of the SDK's native side may follow on the same line
    r, _end = json.JSONDecoder().raw_decode(lines[-1][len("RESULT "):])
    r["rc"] = rc
    if rc != 0:
        r["output_tail"] = out[-3000:]
    if log_grep:     # the client's own log lines that mention any of these words
        r["log"] = [ln[:300] for ln in out.splitlines()
                    if not ln.startswith("RESULT ") and any(w in ln.lower() for w in log_grep)][-80:]
    return r
