"""Settings (sfu.config): validation, the config file's LiveKit key names, keys, redis."""

from __future__ import annotations

import pytest

from sfu import config


def test_settings_are_validated(tmp_path):
    with pytest.raises(config.ConfigError, match="no API keys"):
        config.load(keys=None)
    with pytest.raises(config.ConfigError, match="unknown config keys"):
        config.load(body="bogus: 1\n", dev=True)
    with pytest.raises(config.ConfigError, match="YAML"):
        config.load(body="port: [1,\n", dev=True)
    f = tmp_path / "c.yaml"
    f.write_text("port: 9000\nrtc:\n  udp_port: 9100\n  node_ip: 10.1.2.3\nkeys:\n  k1: s1\nlogging:\n  level: debug\n")
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


def test_congestion_control_is_off_unless_configured(tmp_path):
    from sfu import config
    assert config.Settings().congestion_control is False
    f = tmp_path / "c.yaml"
    f.write_text("keys:\n  k: s\nrtc:\n  congestion_control:\n    enabled: true\n")
    assert config.load(str(f)).congestion_control is True
