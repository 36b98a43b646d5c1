"""The coturn configuration generated from turn.* (sfu.turn.turnserver_config) and the checks
of turn.* at start."""

from __future__ import annotations

import pytest

from sfu import config
from sfu.turn import TurnConfig, TurnSupervisor, turnserver_config


def lines(c: TurnConfig) -> list[str]:
    return turnserver_config(c).splitlines()


def test_udp_and_tls_listeners_on_the_announced_addresses():
    got = lines(TurnConfig(("10.0.0.5", "192.168.1.2"), "k", "turn.example.org", 3478, 5349, "/c.pem", "/k.pem",
                           31000, 31100))
    for want in ("use-auth-secret", "static-auth-secret=k", "realm=turn.example.org", "listening-port=3478",
                 "tls-listening-port=5349", "cert=/c.pem", "pkey=/k.pem", "min-port=31000", "max-port=31100",
                 "listening-ip=10.0.0.5", "relay-ip=10.0.0.5", "listening-ip=192.168.1.2", "no-tcp-relay",
                 "no-dtls", "no-cli", "allowed-peer-ip=10.0.0.5", "allowed-peer-ip=192.168.1.2",
                 "denied-peer-ip=10.0.0.0-10.255.255.255", "denied-peer-ip=127.0.0.0-127.255.255.255",
                 "denied-peer-ip=192.168.0.0-192.168.255.255", "denied-peer-ip=172.16.0.0-172.31.255.255"):
        assert want in got, want
    assert "no-tls" not in got and "no-udp" not in got


def test_only_tls_or_only_udp():
    tls_only = lines(TurnConfig(("10.0.0.5",), "k", "r", 0, 5349, "/c", "/k"))
    assert {"no-udp", "no-tcp"} <= set(tls_only) and "tls-listening-port=5349" in tls_only
    udp_only = lines(TurnConfig(("10.0.0.5",), "k", "r", 3478, 0))
    assert "no-tls" in udp_only and not any(ln.startswith("tls-listening-port") for ln in udp_only)
    ext = lines(TurnConfig(("10.0.0.5",), "k", "r", 3478, 443, external_tls=True))
    assert "no-tls" in ext and "listening-port=3478" in ext


def test_turn_settings_are_checked():
    with pytest.raises(config.ConfigError, match="cert_file"):
        config.load(body="turn:\n  enabled: true\n", dev=True)
    with pytest.raises(config.ConfigError, match="relay_range"):
        config.load(body="turn:\n  enabled: true\n  tls_port: 0\n  relay_range_start: 50\n", dev=True)
    with pytest.raises(config.ConfigError, match="udp_port or turn.tls_port"):
        config.load(body="turn:\n  enabled: true\n  tls_port: 0\n  udp_port: 0\n", dev=True)
    s = config.load(body="turn:\n  enabled: true\n  tls_port: 0\n  domain: t.example\n", dev=True)
    c = TurnSupervisor.config_for(["10.0.0.5"], "k", s.turn)
    assert (c.realm, c.udp_port, c.tls_port, c.relay_min, c.relay_max) == ("t.example", 3478, 0, 30000, 40000)
