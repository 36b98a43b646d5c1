"""How clients reach the server: announced addresses, ICE servers, TURN (coturn) — the
unmodified livekit rtc SDK in a namespace of its own (tests/interop/livekit_sdk/connect_scenarios.py)."""

from __future__ import annotations

import pytest

from helpers import scenario_runner
from helpers.sdk_venvs import CLIENT_PYTHON, require

from .test_livekit_rtc_sdk import check_received


def run_scenario(name: str) -> dict:
    python = require(CLIENT_PYTHON, "the livekit rtc SDK")
    return scenario_runner.run_scenario("interop.livekit_sdk.connect_scenarios", name, timeout=240,
                                        env={"SFU_LIVEKIT_PYTHON": python})


def check_two_way(r: dict, seconds: float = 6) -> None:
    bob, alice = r["bob"], r["alice"]
    for who in (bob, alice):
        assert who.get("rc") == 0 and "connect_error" not in who, (who, r.get("server_log_tail"))
    check_received(bob["tracks"]["alice/audio"], pitch=440, seconds=seconds)
    check_received(bob["tracks"]["alice/video"], color=[200, 30, 30], seconds=seconds)
    check_received(alice["tracks"]["bob/audio"], pitch=660, seconds=seconds)
    check_received(alice["tracks"]["bob/video"], color=[20, 40, 220], seconds=seconds)


@pytest.mark.timeout(300)
def test_bound_to_any_address_the_server_announces_its_interface():
    r = run_scenario("announced")
    # the scenario's namespace has lo and sfu0 (10.99.0.1): loopback is not announced
    assert any("announcing 10.99.0.1 as host candidates" in ln for ln in r["announcing"]), r["announcing"]
    check_two_way(r)
    print("\njoin ms:", {k: round(r[k]["join_ms"]) for k in ("bob", "alice")})


def relayed(r: dict) -> bool:
    """every transport's selected remote address is a relay of the embedded TURN (the server's
    own address, a port of turn.relay_range_start..end: 31000-31999 in the scenario)"""
    sel = [s for s in r["selected"] if s]
    return bool(sel) and all(s[0] == "10.99.0.1" and 31000 <= s[1] <= 31999 for s in sel)


@pytest.mark.timeout(300)
def test_only_tcp_3478_open_the_sdk_relays_through_turn_tcp():
    r = run_scenario("turn_tcp")
    check_two_way(r)
    assert relayed(r), (r["selected"], r["turn_log"])
    print("\nTURN/TCP join ms:", {k: round(r[k]["join_ms"]) for k in ("bob", "alice")})


@pytest.mark.timeout(300)
def test_the_sdk_refuses_a_self_signed_turn_tls_certificate():
    """what libwebrtc does with turns: and a certificate no compiled-in root signed: it opens the
    TLS connection and closes it within the handshake, before any TURN request (no username
    reaches coturn), and the client does not connect.  A TURN/TLS listener needs a certificate
    from a public CA for turn.domain (or TLS ended by a load balancer that has one)."""
    r = run_scenario("turn_tls_untrusted")
    assert "connect_error" in r["bob"], r["bob"]
    tls = r["tls_sessions"]
    assert any("tls connected to: 10.99.0.2" in ln for ln in tls), tls
    assert any("TLS/TCP socket disconnected" in ln for ln in tls), tls
    assert not any("username=<" in ln and "username=<>" not in ln for ln in tls), tls


def tcp_paths(r: dict) -> list:
    """the selected remote addresses that are ICE-TCP paths: (ip, port, connection)"""
    return [s for s in r["selected"] if s and len(s) == 3]


@pytest.mark.timeout(300)
def test_only_tcp_7880_7881_open_the_sdk_connects_over_ice_tcp():
    r = run_scenario("ice_tcp")
    check_two_way(r)
    sel = [s for s in r["selected"] if s]
    # 2 participants, one PeerConnection each: every transport's selected pair is a TCP path
    assert len(sel) == 2 and tcp_paths(r) == sel, (r["selected"], r["server_log_tail"])
    assert all(s[0] == "10.99.0.2" for s in sel), sel
    assert r["ice_tcp"]["handed_off"] >= 2, r["ice_tcp"]
    # the one port served both workers: each got the connections of its own transports
    assert all(t["handoffs"] >= 1 and t["handoff_errors"] == 0 for t in r["tcp_by_worker"]), r["tcp_by_worker"]
    print("\nICE-TCP join ms:", {k: round(r[k]["join_ms"]) for k in ("bob", "alice")},
          "acceptor:", r["ice_tcp"], "drops:", r["drops"])


@pytest.mark.timeout(300)
def test_clients_behind_a_masquerading_nat_connect_direct_over_udp():
    r = run_scenario("behind_nat")
    check_two_way(r)
    sel = [s for s in r["selected"] if s]
    # the server sees both clients (10.98.0.2 inside) from the NAT's outside address, UDP
    assert len(sel) == 2 and all(len(s) == 2 and s[0] == "10.99.0.2" for s in sel), sel
    assert "masquerade" in r["nat"], r["nat"]
    print("\nbehind a NAT, join ms:", {k: round(r[k]["join_ms"]) for k in ("bob", "alice")})


@pytest.mark.timeout(300)
def test_a_server_behind_a_1to1_nat_announces_what_stun_reports():
    """rtc.use_external_ip: the server (10.97.0.1 on its LAN) asks the STUN server the test runs
    on the clients' side, announces the NAT's public 10.99.0.1, and the clients join there"""
    r = run_scenario("server_behind_nat")
    assert any("reports this host as 10.99.0.1" in ln for ln in r["announcing"]), r["announcing"]
    assert any("announcing 10.99.0.1 as host candidates" in ln for ln in r["announcing"]), r["announcing"]
    assert r["stun_asked"] and r["stun_asked"][0] == "asked by 10.99.0.1", r["stun_asked"]
    check_two_way(r)
    print("\nserver behind a 1:1 NAT, join ms:", {k: round(r[k]["join_ms"]) for k in ("bob", "alice")})


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scenario, proto", [("ipv6_only_media", "udp"), ("ipv6_tcp_only", "tcp")])
def test_ipv6_host_candidates_carry_the_call_when_ipv4_media_is_blocked(scenario, proto):
    r = run_scenario(scenario)
    assert any("announcing 10.99.0.1, fd99::1 as host candidates" in ln for ln in r["announcing"]), r["announcing"]
    check_two_way(r)
    sel = [s for s in r["selected"] if s]
    assert len(sel) == 2 and all(s[0] == "fd99::2" for s in sel), sel
    assert all(len(s) == (3 if proto == "tcp" else 2) for s in sel), sel
    print(f"\nIPv6 {proto}, join ms:", {k: round(r[k]["join_ms"]) for k in ("bob", "alice")})


@pytest.mark.timeout(300)
def test_with_udp_open_the_sdk_prefers_udp_to_ice_tcp():
    r = run_scenario("ice_tcp_udp_open")
    check_two_way(r)
    sel = [s for s in r["selected"] if s]
    assert len(sel) == 2 and not tcp_paths(r), r["selected"]
    print("\nUDP beside ICE-TCP, acceptor:", r["ice_tcp"])


@pytest.mark.timeout(300)
def test_media_port_blocked_3478_open_the_sdk_relays_through_turn_udp():
    r = run_scenario("turn_udp")
    check_two_way(r)
    assert relayed(r), (r["selected"], r["turn_log"])
    print("\nTURN/UDP join ms:", {k: round(r[k]["join_ms"]) for k in ("bob", "alice")})
