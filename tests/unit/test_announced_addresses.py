"""Which addresses the server names in its ICE host candidates (sfu.netaddr), and the config
keys that filter them (rtc.interfaces, rtc.ips, rtc.enable_loopback_candidate)."""

from __future__ import annotations

import pytest

from sfu import config, netaddr
from sfu.netaddr import AddressFilter, select

HOST = [("lo", "127.0.0.1"), ("lo", "::1"), ("eth0", "192.168.1.10"), ("eth0", "fe80::1"),
        ("eth0", "2001:db8::10"), ("docker0", "172.17.0.1"), ("wg0", "10.8.0.2"), ("eth1", "169.254.3.4"),
        ("eth0", "192.168.1.10")]


@pytest.mark.parametrize("flt, want_v6, want", [
    (AddressFilter(), False, ["192.168.1.10", "172.17.0.1", "10.8.0.2"]),
    (AddressFilter(), True, ["192.168.1.10", "2001:db8::10", "172.17.0.1", "10.8.0.2"]),
    (AddressFilter(interface_includes=["eth0"]), False, ["192.168.1.10"]),
    (AddressFilter(interface_excludes=["docker0", "wg0"]), False, ["192.168.1.10"]),
    (AddressFilter(ip_includes=["10.0.0.0/8", "172.16.0.0/12"]), False, ["172.17.0.1", "10.8.0.2"]),
    (AddressFilter(ip_excludes=["172.17.0.0/16"]), False, ["192.168.1.10", "10.8.0.2"]),
    (AddressFilter(ip_includes=["192.168.1.10"]), False, ["192.168.1.10"]),       # a bare address is a /32
    (AddressFilter(ip_includes=["2001:db8::/32"]), True, ["2001:db8::10"]),       # v4 not in any v6 CIDR
    (AddressFilter(loopback=True), False, ["192.168.1.10", "172.17.0.1", "10.8.0.2", "127.0.0.1"]),
    (AddressFilter(interface_includes=["lo"]), False, []),             # loopback only when asked for
    (AddressFilter(interface_includes=["lo"], loopback=True), True, ["127.0.0.1", "::1"]),
])
def test_selection_table(flt, want_v6, want):
    assert select(HOST, flt, want_v6) == want


def test_loopback_is_the_fallback_only_when_asked():
    only_lo = [("lo", "127.0.0.1"), ("eth1", "169.254.3.4")]
    assert select(only_lo, AddressFilter()) == []
    assert select(only_lo, AddressFilter(), loopback_fallback=True) == ["127.0.0.1"]
    assert select(HOST, AddressFilter(), loopback_fallback=True) == ["192.168.1.10", "172.17.0.1", "10.8.0.2"]


def test_bad_cidr_is_named():
    with pytest.raises(ValueError, match="rtc.ips.excludes"):
        select(HOST, AddressFilter(ip_excludes=["10.0.0.0/33"]))
    with pytest.raises(config.ConfigError, match="not an address or CIDR"):
        config.load(body="rtc:\n  ips:\n    includes: [nonsense]\n", dev=True)


def test_announced_rule(monkeypatch):
    monkeypatch.setattr(netaddr, "interfaces", lambda: HOST)
    flt = AddressFilter()
    assert netaddr.announced("203.0.113.5", ["0.0.0.0"], flt) == ["203.0.113.5"]        # node_ip wins
    assert netaddr.announced("", ["127.0.0.1"], flt) == ["127.0.0.1"]                     # --dev: loopback
    assert netaddr.announced("", ["10.99.0.1"], flt) == ["10.99.0.1"]                     # a specific bind
    assert netaddr.announced("", ["0.0.0.0"], flt) == ["192.168.1.10", "172.17.0.1", "10.8.0.2"]
    assert netaddr.announced("", ["0.0.0.0", "127.0.0.1"], AddressFilter(interface_excludes=["docker0"])) == \
        ["192.168.1.10", "10.8.0.2"]
    monkeypatch.setattr(netaddr, "interfaces", lambda: [("lo", "127.0.0.1")])
    assert netaddr.announced("", ["0.0.0.0"], flt) == []
    assert netaddr.announced("", ["0.0.0.0"], flt, dev=True) == ["127.0.0.1"]


def test_this_machine_has_loopback_up():
    assert ("lo", "127.0.0.1") in netaddr.interfaces()


def test_config_keys_reach_the_settings():
    s = config.load(body="""
rtc:
  interfaces: {includes: [eth0], excludes: [docker0]}
  ips: {includes: [10.0.0.0/8], excludes: [10.8.0.0/16]}
  enable_loopback_candidate: true
""", dev=True)
    assert s.interfaces_includes == ["eth0"] and s.interfaces_excludes == ["docker0"]
    assert s.ips_includes == ["10.0.0.0/8"] and s.ips_excludes == ["10.8.0.0/16"]
    assert s.loopback_candidate and not s.unimplemented


def test_server_refuses_to_start_with_nothing_to_announce(monkeypatch):
    from sfu import app

    monkeypatch.setattr(netaddr, "interfaces", lambda: [("eth0", "192.168.1.10")])
    s = config.load(body="rtc:\n  ips:\n    includes: [10.0.0.0/8]\n", dev=True)
    with pytest.raises(config.ConfigError, match="no address to announce"):
        app.announced_addresses(s)
    s = config.load(body="rtc:\n  interfaces:\n    excludes: [docker0]\n", dev=True)
    assert app.announced_addresses(s) == ["192.168.1.10"]


def test_ipv6_only_when_the_media_sockets_listen_on_it_and_ipv4_first(monkeypatch):
    from sfu import app

    monkeypatch.setattr(netaddr, "interfaces", lambda: [("eth0", "2001:db8::10"), ("eth0", "192.168.1.10"),
                                                        ("eth1", "fd00::5"), ("eth1", "10.0.0.7")])
    s = config.load(dev=True)
    assert app.announced_addresses(s) == ["192.168.1.10", "10.0.0.7"]
    assert app.announced_addresses(s, want_v6=True) == ["192.168.1.10", "10.0.0.7", "2001:db8::10", "fd00::5"]


def test_other_nodes_reach_http_on_a_bind_address_or_the_announced_one():
    from sfu import app

    s = config.load(dev=True, bind=["0.0.0.0"])
    assert app._http_ip(s, ["10.0.0.5"]) == "10.0.0.5"
    s = config.load(dev=True, bind=["0.0.0.0", "10.1.1.1"])
    assert app._http_ip(s, ["10.0.0.5"]) == "10.1.1.1"


def test_turn_needs_the_announced_addresses_on_this_host(monkeypatch):
    from sfu import app

    monkeypatch.setattr(netaddr, "interfaces", lambda: [("eth0", "192.168.1.10")])
    s = config.load(body="turn:\n  enabled: true\n  tls_port: 0\n", dev=True, node_ip="203.0.113.5")
    with pytest.raises(config.ConfigError, match="203.0.113.5 .* not an address of this host"):
        app.embedded_turn(s, ["203.0.113.5"])
    assert app.embedded_turn(s, ["192.168.1.10"]).host == "192.168.1.10"
