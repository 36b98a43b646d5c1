"""The ICE servers handed to clients (sfu.ice_servers): configured STUN/TURN as URLs, and the
embedded TURN server's URLs with TURN REST API credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac

from sfu import config
from sfu.ice_servers import EmbeddedTurn, IceServer, configured, derive_secret, for_participant, rest_credentials


def test_configured_servers_become_urls_in_config_order():
    got = configured(["stun.example.org:3478", "[2001:db8::1]:3478"], [
        {"host": "turn.example.org", "port": 443, "protocol": "tls", "username": "u", "credential": "c"},
        {"host": "10.0.0.1", "port": 3478, "protocol": "udp", "username": "u2", "credential": "c2"},
        {"host": "10.0.0.2", "protocol": "TCP"},
        {"host": "2001:db8::2", "protocol": "tls"}])
    assert got == [IceServer(("stun:stun.example.org:3478",)), IceServer(("stun:[2001:db8::1]:3478",)),
                   IceServer(("turns:turn.example.org:443?transport=tcp",), "u", "c"),
                   IceServer(("turn:10.0.0.1:3478?transport=udp",), "u2", "c2"),
                   IceServer(("turn:10.0.0.2:3478?transport=tcp",)),
                   IceServer(("turns:[2001:db8::2]:5349?transport=tcp",))]


def test_rest_credentials_are_what_coturn_checks():
    user, cred = rest_credentials("s3cret", "alice", now=1_700_000_000.7, ttl=600)
    assert user == "1700000600:alice"
    assert base64.b64decode(cred) == hmac.new(b"s3cret", user.encode(), hashlib.sha1).digest()
    # printf '1700000600:alice' | openssl dgst -sha1 -hmac s3cret -binary | base64
    assert cred == "bUIJIVaC05oyFgKsQvKAparqg1Q="


def test_embedded_turn_first_then_the_configured_ones():
    static = configured(["stun.example.org:3478"], [])
    emb = EmbeddedTurn("k", host="10.0.0.5", tls_host="turn.example.org", udp_port=3478, tls_port=5349)
    got = for_participant(static, emb, "bob", now=1000)
    assert got[0].urls == ("turns:turn.example.org:5349?transport=tcp", "turn:10.0.0.5:3478?transport=udp",
                           "turn:10.0.0.5:3478?transport=tcp")
    assert got[0].username == f"{1000 + 24 * 3600}:bob" and got[0].credential
    assert got[1:] == static
    assert for_participant(static, None, "bob", 1000) == static
    only_udp = EmbeddedTurn("k", host="10.0.0.5", udp_port=3478)
    assert for_participant([], only_udp, "x", 0)[0].urls == ("turn:10.0.0.5:3478?transport=udp",
                                                             "turn:10.0.0.5:3478?transport=tcp")
    only_tls = EmbeddedTurn("k", host="10.0.0.5", tls_port=5349)
    assert for_participant([], only_tls, "x", 0)[0].urls == ("turns:10.0.0.5:5349?transport=tcp",)


def test_the_secret_is_derived_not_the_api_secret():
    s = derive_secret("an-api-secret-of-thirty-two-chars!")
    assert s == derive_secret("an-api-secret-of-thirty-two-chars!") and "an-api" not in s and len(s) == 64
    assert s != derive_secret("another")


def test_turn_servers_are_checked():
    import pytest

    with pytest.raises(config.ConfigError, match="protocol must be udp, tcp or tls"):
        config.load(body="rtc:\n  turn_servers:\n    - {host: a, port: 1, protocol: sctp}\n", dev=True)
    with pytest.raises(config.ConfigError, match=r"turn_servers\[0\]"):
        config.load(body="rtc:\n  turn_servers:\n    - {port: 1}\n", dev=True)
