"""The unmodified livekit rtc SDK connects to the sans-IO transport and exchanges data packets.

Opt-in: set ``SFU_LIVEKIT_PYTHON`` to a Python interpreter that has the ``livekit`` package
(``python -m venv V && V/bin/pip install livekit``); it runs in its own process because the SDK
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

CLIENT_PYTHON = os.environ.get("SFU_LIVEKIT_PYTHON")
TESTS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = TESTS_DIR.parent

pytestmark = [
    pytest.mark.skipif(not CLIENT_PYTHON, reason="set SFU_LIVEKIT_PYTHON to a python with the livekit SDK"),
    pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs root and unshare"),
]


def test_livekit_sdk_connects_and_exchanges_data():
    pytest.importorskip("livekit.protocol")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(TESTS_DIR)]))
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "protocol.livekit_sdk_e2e", CLIENT_PYTHON],
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
