"""Smoke run of bench/bench_large_room.py: small join storms of viewers, every join answered,
the host told of them in batches, not one message per viewer; a chat message to 20 data-channel
recipients reaches every one of them; 10 audio publishers reach 20 subscribers without loss."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(150)
def test_bench_large_room_smoke(tmp_path):
    out = tmp_path / "large_room.json"
    res = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_large_room.py"), "--sizes", "30,60",
                          "--chat-sizes", "20", "--messages", "3", "--media-sizes", "20",
                          "--media-seconds", "3", "--concurrency", "20", "--workers", "1", "--seconds", "90", "--json", str(out)],
                         cwd="/", capture_output=True, text=True, timeout=140)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["n"] for r in rows] == [30, 60] and all(r["joined"] == r["n"] and r["failures"] == 0 for r in rows)
    for r in rows:
        assert 1 <= r["host_update_messages"] <= 4, r      # batched: a viewer each would be n messages
        assert r["signal_bytes_per_join"] > 0 and r["cpu_ms_per_join"] > 0
    [chat] = json.loads(out.read_text())["chat"]
    assert chat["recipients"] == 20 and chat["failed"] == 0 and chat["not_open"] == 0, chat
    assert chat["delivered"] == chat["expected"] == 60, chat
    assert 0 < chat["delivery_p50_ms"] <= chat["delivery_p99_ms"], chat
    [media] = json.loads(out.read_text())["media"]
    assert "error" not in media, media
    assert media["streams"] == 200 and media["streams_without_packets"] == 0, media   # 10 tracks x 20
    assert media["expected"] >= 200 * 100 and media["delivered"] == media["expected"], media  # >= 2 s of 50 pkt/s
    assert media["server_cpu_us_per_packet"] > 0 and media["latency_p50_ms"] > 0, media
    assert "command: python bench/bench_large_room.py" in res.stdout
