"""`sfu serve --config` with a file holding every key of LiveKit's config sample: it starts,
applies what it implements (a Redis cluster node, Prometheus) and names each key it ignores."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from helpers.net import free_port
from helpers.redis_server import RedisServer
from helpers.server_process import ServerProcess

EVERY_KEY = Path(__file__).resolve().parents[1] / "unit" / "data" / "livekit_every_key.yaml"


def test_livekit_sample_keys_start_a_server(tmp_path):
    redis = RedisServer().start().ready()
    prom = free_port()
    text = EVERY_KEY.read_text().replace("127.0.0.1:6399", f"127.0.0.1:{redis.port}")
    text = text.replace("prometheus_port: 6789", f"prometheus_port: {prom}")
    cfg = tmp_path / "livekit.yaml"
    cfg.write_text(text)
    srv = ServerProcess("--config", str(cfg), redis=redis.url)
    try:
        srv.ready(30)
        with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=5) as r:
            assert b"livekit_room_total" in r.read()
        log = srv.log_tail(100_000)
    finally:
        srv.stop()
        redis.stop()
    warned = re.findall(r"config key (\S+) is accepted but not implemented yet", log)
    assert "rtc.use_mdns" in warned and "limit.num_tracks" in warned
    assert len(warned) == len(set(warned))            # one warning per key
    assert "rtc.node_ip" not in warned and "webhook.urls" not in warned and "rtc.tcp_port" not in warned
    assert "turn.domain" not in warned and "rtc.stun_servers" not in warned and "rtc.ips.includes" not in warned
