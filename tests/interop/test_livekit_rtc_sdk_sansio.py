"""The unmodified livekit rtc SDK connects to the sans-IO transport and exchanges data packets.

The client runs with the Python of ``.venv-client`` (made by scripts/setup, holding the
``livekit`` package), or ``SFU_LIVEKIT_PYTHON``; it runs in its own process because the SDK
ships a 28 MB native library we do not want in the server's environment. Needs root for
``unshare -n`` (a private network namespace with a veth pair; libwebrtc ignores loopback).
"""

from __future__ import annotations

from helpers.scenario_runner import run_scenario
from helpers.sdk_venvs import CLIENT_PYTHON, require


def test_livekit_sdk_connects_and_exchanges_data():
    python = require(CLIENT_PYTHON, "the livekit rtc SDK")
    summary = run_scenario("interop.livekit_sdk.sansio_scenario", python, timeout=90)
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
