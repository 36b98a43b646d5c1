"""The unmodified livekit rtc SDK connects to the sans-IO transport and exchanges data packets.

The client runs with the Python of ``.venv-client`` (made by scripts/setup, holding the
``livekit`` package), or ``SFU_LIVEKIT_PYTHON``; it runs in its own process because the SDK
ships a 28 MB native library we do not want in the server's environment. Needs root for
``unshare -n`` (a private network namespace with a veth pair; libwebrtc ignores loopback).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent
CLIENT_PYTHON = os.environ.get("SFU_LIVEKIT_PYTHON") or str(REPO_ROOT / ".venv-client" / "bin" / "python")


def test_livekit_sdk_connects_and_exchanges_data():
    if not os.path.exists(CLIENT_PYTHON):
        pytest.fail(f"no client Python with the livekit SDK at {CLIENT_PYTHON}: run ./scripts/setup")
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.fail("this test needs root and unshare(1) for a private network namespace")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(TESTS_DIR)]))
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "interop.livekit_sdk.sansio_scenario", CLIENT_PYTHON],
        cwd=TESTS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["client_rc"] == 0, summary["client_tail"]
    assert summary["client_markers"][0] == "CONNECTED"
    assert "DATA_RECEIVED b'from-server'" in summary["client_markers"]
    assert summary["ice_state"] == "connected" and summary["dtls_failed"] == []
    assert summary["dtls_role"] == "client"  # we answered a=setup:active
    channels = {c["label"]: c for c in summary["channels"]}
    assert channels["_reliable"]["ordered"] and channels["_reliable"]["maxRetransmits"] is None
    assert not channels["_lossy"]["ordered"] and channels["_lossy"]["maxRetransmits"] == 0
    payloads = {(p["label"], p.get("payload")) for p in summary["packets"]}
    assert ("_reliable", "hello-reliable") in payloads
    assert ("_lossy", "hello-lossy") in payloads
    assert summary["sctp_errors"] == 0
