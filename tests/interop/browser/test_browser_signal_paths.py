"""Which signalling path livekit-client ends up on: against a server started
with --no-single-pc (no /rtc/v1) it must fall back to /rtc by itself."""

from __future__ import annotations

from .lkbrowser import DriverError


def test_client_falls_back_to_two_pc_without_single_pc_server(lk):
    alice = lk.page("alice", "A")
    try:
        joined = alice.js("connect", lk.url("no-single-pc"), lk.token("alice"), {})
    except DriverError as e:
        fetches = [e for e in alice.js("events") if e["type"] == "fetch"]
        raise AssertionError(f"connect failed: {str(e).splitlines()[0]}; the client's requests: {fetches}") from None
    assert joined["identity"] == "alice"

