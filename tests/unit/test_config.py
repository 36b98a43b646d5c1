"""Settings (sfu.config): validation, the config file's LiveKit key names, keys, redis."""

from __future__ import annotations

import pathlib

import pytest

from sfu import config


def test_settings_are_validated(tmp_path):
    with pytest.raises(config.ConfigError, match="no API keys"):
        config.load(keys=None)
    with pytest.raises(config.ConfigError, match="unknown config key bogus"):
        config.load(body="bogus: 1\n", dev=True)
    with pytest.raises(config.ConfigError, match="YAML"):
        config.load(body="port: [1,\n", dev=True)
    f = tmp_path / "c.yaml"
    f.write_text("port: 9000\nrtc:\n  udp_port: 9100\n  node_ip: 10.1.2.3\nkeys:\n  k1: s1\nlogging:\n  level: debug\n"
                 "allow_short_secrets: true\n")
    s = config.load(str(f))
    assert (s.port, s.udp_port, s.node_ip, s.keys, s.log_level) == (9000, 9100, "10.1.2.3", {"k1": "s1"}, "DEBUG")
    assert config.parse_keys("a: b, c: d") == {"a": "b", "c": "d"}
    with pytest.raises(config.ConfigError):
        config.parse_keys("nocolon")
    assert config.load(dev=True).keys == {"devkey": "secret"}


def test_redis_settings():
    from sfu import config
    from sfu.app import redis_url
    s = config.load(body="redis:\n  address: 10.0.0.5:6380\n  db: 2\n  password: pw\n", dev=True)
    assert redis_url(s.redis) == "redis://:pw@10.0.0.5:6380/2"
    assert redis_url({"url": "redis://h:1/0"}) == "redis://h:1/0"
    assert redis_url({"address": "h:1", "use_tls": True}) == "rediss://h:1/0"
    assert config.load(dev=True).redis == {}          # no redis: single node, no cluster


def test_congestion_control_is_on_unless_configured_off(tmp_path):
    from sfu import config
    assert config.Settings().congestion_control is True
    f = tmp_path / "c.yaml"
    f.write_text("keys:\n  k: s\nallow_short_secrets: true\nrtc:\n  congestion_control:\n    enabled: false\n")
    assert config.load(str(f)).congestion_control is False


def test_webhook_settings():
    body = "keys:\n  k1: s1\nallow_short_secrets: true\nwebhook:\n  api_key: k1\n  urls:\n    - http://a/hook\n    - https://b/\n"
    s = config.load(body=body)
    assert (s.webhook_urls, s.webhook_api_key) == (["http://a/hook", "https://b/"], "k1")
    assert config.load(dev=True).webhook_urls == []
    for bad, why in (("webhook:\n  urls: [http://a/]\n", "needs webhook.api_key"),
                     ("webhook:\n  api_key: nokey\n  urls: [http://a/]\n", "not one of the API keys"),
                     ("webhook:\n  api_key: devkey\n  urls: [ftp://a/]\n", "not an http"),
                     ("webhook:\n  api_key: devkey\n  urls: http://a/\n", "must be a list"),
                     ("webhook:\n  api_key: devkey\n  url: [http://a/]\n", "did you mean webhook.urls")):
        with pytest.raises(config.ConfigError, match=why):
            config.load(body=bad, dev=True)


def test_prometheus_port_either_way():
    assert config.load(body="prometheus_port: 6789\n", dev=True).prometheus_port == 6789
    assert config.load(body="prometheus:\n  port: 6790\n", dev=True).prometheus_port == 6790
    assert config.load(dev=True).prometheus_port == 0
    with pytest.raises(config.ConfigError, match="other than port"):
        config.load(body="port: 7000\nprometheus_port: 7000\n", dev=True)
    with pytest.raises(config.ConfigError, match="did you mean prometheus.port"):
        config.load(body="prometheus:\n  prt: 1\n", dev=True)


EVERY_KEY = pathlib.Path(__file__).parent / "data" / "livekit_every_key.yaml"


def test_every_livekit_key_is_accepted_applied_or_named_as_not_yet():
    s = config.load(str(EVERY_KEY))
    # applied
    # the file sets rtc.port_range_start/end (50000-60000) too: as in LiveKit, the range wins
    assert (s.port, s.node_ip, s.udp_port, s.udp_ports, s.prometheus_port) == (7880, "10.11.12.13", 50000, 10001,
                                                                               6789)
    assert s.tcp_port == 7881
    assert s.congestion_control is True and s.webhook_api_key == "key1" and set(s.keys) == {"key1", "key2"}
    assert s.room["enable_remote_unmute"] is True and s.redis["address"] == "127.0.0.1:6399"
    assert s.stun_servers == ["stun.example.org:3478"] and s.turn_servers[0]["protocol"] == "tls"
    assert (s.interfaces_includes, s.interfaces_excludes) == (["eth0"], ["docker0"])
    assert (s.ips_includes, s.ips_excludes) == (["10.0.0.0/8"], ["192.168.1.0/24"])
    # accepted, not acted on: each named once, in file order
    assert s.unimplemented[:3] == ["redis.sentinel_master_name", "redis.sentinel_addresses",
                                   "redis.sentinel_username"]
    for key in ("rtc.use_mdns", "rtc.pli_throttle.low_quality",
                "audio.active_level", "limit.num_tracks", "node_selector.regions", "region",
                "rtc.congestion_control.allow_pause", "room.enabled_codecs"):
        assert s.unimplemented.count(key) == 1, key
    assert not {"port", "rtc.node_ip", "rtc.udp_port", "rtc.tcp_port", "rtc.port_range_start",
                "rtc.port_range_end", "webhook.urls", "keys", "rtc.stun_servers",
                "rtc.turn_servers", "rtc.interfaces.includes", "rtc.ips.excludes",
                "rtc.enable_loopback_candidate", "turn.enabled", "turn.tls_port"} & set(s.unimplemented)
    assert (s.turn.enabled, s.turn.domain, s.turn.udp_port, s.turn.tls_port) == (False, "turn.example.org", 3478, 5349)


@pytest.mark.parametrize("body, path", [
    ("rtc:\n  tcp_prot: 7881\n", "unknown config key rtc.tcp_prot (did you mean rtc.tcp_port?)"),
    ("room:\n  empty_timeot: 3\n", "unknown config key room.empty_timeot (did you mean room.empty_timeout?)"),
    ("turn:\n  enabled: true\n  portt: 1\n", "unknown config key turn.portt"),
    ("rtc: 5\n", "config key rtc must be a mapping"),
])
def test_a_typo_is_an_error_naming_its_path(body, path):
    with pytest.raises(config.ConfigError) as e:
        config.load(body=body, dev=True)
    assert str(e.value) == path


def test_udp_port_range():
    assert config.udp_port_range("7882-7892") == (7882, 11) and config.udp_port_range(7882) == (7882, 1)
    s = config.load(body="rtc:\n  udp_port: 9000-9001\n", dev=True)
    assert s.udp_port == 9000 and s.workers <= 2
    with pytest.raises(config.ConfigError, match="3 workers need 3 UDP ports"):
        config.load(body="rtc:\n  udp_port: 9000-9001\n", dev=True, workers=3)
    with pytest.raises(config.ConfigError, match="a port or a range"):
        config.load(body="rtc:\n  udp_port: abc\n", dev=True)


def test_port_range_gives_the_workers_their_ports():
    s = config.load(body="rtc:\n  port_range_start: 50000\n  port_range_end: 50003\n", dev=True, workers=4)
    assert (s.udp_port, s.udp_ports, s.workers) == (50000, 4, 4)
    s = config.load(body="rtc:\n  udp_port: 7882\n  port_range_start: 50000\n  port_range_end: 50001\n", dev=True)
    assert (s.udp_port, s.udp_ports) == (50000, 2) and s.workers <= 2      # the range wins, as in LiveKit
    with pytest.raises(config.ConfigError, match="3 workers need 3 UDP ports"):
        config.load(body="rtc:\n  port_range_start: 50000\n  port_range_end: 50001\n", dev=True, workers=3)
    for bad in ("rtc:\n  port_range_start: 50000\n", "rtc:\n  port_range_start: 6\n  port_range_end: 5\n",
                "rtc:\n  port_range_start: x\n  port_range_end: 5\n"):
        with pytest.raises(config.ConfigError, match="port_range"):
            config.load(body=bad, dev=True)


def test_a_short_secret_stops_a_production_start():
    with pytest.raises(config.ConfigError, match="shorter than 32 characters"):
        config.load(body="keys:\n  k1: s1\n")
    assert config.load(body="keys:\n  k1: s1\n", dev=True).keys == {"k1": "s1"}
    assert config.load(body="keys:\n  k1: s1\nallow_short_secrets: true\n").keys == {"k1": "s1"}
    assert config.load(body="keys:\n  k1: " + "x" * 32 + "\n").keys == {"k1": "x" * 32}
