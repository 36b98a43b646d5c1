"""`sfu load-test` end to end: real server process, simulated peers doing ICE/DTLS/SRTP, media in C.

Every run is bounded (a few seconds of media, a subprocess timeout) and checks what a user
reads off the report: every subscriber got every track, with the loss, bitrate, jitter and
one-way latency a loopback path must show, and the server's CPU was measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers.server_process import PKG_ROOT, ServerProcess


@pytest.fixture(scope="module")
def server_process():
    with ServerProcess(workers=1, log_level="WARNING") as srv:
        yield srv


@pytest.fixture
def server(server_process):
    yield server_process.url, server_process.proc
    print(f"--- sfu serve log tail ---\n{server_process.log_tail()}")     # shown when the test failed


def load_test(url: str, tmp_path, *args: str, secret: str = "secret", timeout: float = 60):
    out = tmp_path / "report.json"
    env = dict(os.environ, PYTHONPATH=PKG_ROOT)
    r = subprocess.run([sys.executable, "-m", "sfu.cli", "load-test", "--url", url, "--api-key", "devkey",
                        "--api-secret", secret, "--json", str(out), *args],
                       cwd=PKG_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    rep = json.loads(out.read_text()) if out.exists() else None
    return r, rep


@pytest.mark.timeout(90)
def test_load_test_audio_and_video(server, tmp_path):
    url, _proc = server
    r, rep = load_test(url, tmp_path, "--room", "lt-av", "--video-publishers", "1", "--audio-publishers", "1",
                       "--subscribers", "3", "--duration", "4", "--video-resolution", "360p")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert rep is not None
    # live progress: one line a second
    assert sum(1 for line in r.stdout.splitlines() if "received" in line and "pkt/s" in line) >= 3, r.stdout
    assert "Subscribers:" in r.stdout and "Published tracks:" in r.stdout
    tracks = {t["kind"]: t for t in rep["tracks"]}
    assert set(tracks) == {"audio", "video"}
    v, a = tracks["video"], tracks["audio"]
    assert 400 <= v["bitrate_kbps"] <= 600, v          # 360p default: 500 kbit/s
    assert a["packets"] >= 4 * 50 * 0.9 and v["keyframes"] >= 2
    subs = rep["subscribers"]
    assert len(subs) == 6 and rep["summary"]["streams_without_packets"] == 0
    for s in subs:
        sent = tracks[s["kind"]]
        assert s["track"] == sent["track"] and s["publisher"] == sent["publisher"]
        # video starts at the first key frame a subscriber's PLI asks for; audio at once
        assert s["packets"] >= sent["packets"] * (0.75 if s["kind"] == "video" else 0.9), (s, sent)
        assert s["loss_pct"] < 1.0 and s["bad"] == 0, s
        assert 0 < s["latency_ms"]["p50"] < 50 and s["latency_ms"]["p99"] < 200, s
        assert 0 <= s["jitter_ms"] < 30, s
    assert rep["server"]["cpu_seconds"] > 0 and len(rep["server"]["pids"]) >= 2   # main + media worker
    assert rep["server"]["rss_mb"] > 10
    # the tester's own load: its receivers, and no latency past the histogram on loopback
    tester = rep["tester"]
    assert tester["receivers"] >= 1 and len(tester["receiver_busy"]) == tester["receivers"]
    assert not tester["receivers_saturated"] and tester["latency_over_range"] == 0, tester
    assert "Load tester:" in r.stdout and "tester rx" in r.stdout


@pytest.mark.timeout(90)
def test_load_test_receiver_threads(server, tmp_path):
    """--receivers 3 with 4 subscribers: the sockets are shared out, every stream still counted"""
    url, _proc = server
    r, rep = load_test(url, tmp_path, "--room", "lt-rx", "--video-publishers", "0", "--audio-publishers", "2",
                       "--subscribers", "4", "--duration", "3", "--receivers", "3")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert rep["tester"]["receivers"] == 3
    subs = rep["subscribers"]
    assert len(subs) == 8 and all(s["packets"] >= 3 * 50 * 0.9 and s["loss_pct"] < 1.0 for s in subs), subs
    r, _ = load_test(url, tmp_path, "--room", "lt-rx2", "--receivers", "65")
    assert r.returncode == 2 and "--receivers" in r.stderr


@pytest.mark.timeout(90)
def test_load_test_simulate_speakers(server, tmp_path):
    """three audio publishers take turns; every subscriber is told of each new speaker"""
    url, _proc = server
    r, rep = load_test(url, tmp_path, "--room", "lt-speak", "--video-publishers", "0", "--audio-publishers", "3",
                       "--subscribers", "2", "--duration", "10", "--simulate-speakers")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    sp = rep["speakers"]
    assert sp["turns"] >= 3 and sp["observers"] == 2, sp
    assert sp["missed"] == 0 and sp["detected"] >= 2 * 2, sp     # every judged turn, at both
    assert 0 < sp["delay_ms_p50"] <= sp["delay_ms_p99"] < 2000, sp
    assert "Speakers:" in r.stdout
    # without the option nobody speaks: no speakers section
    r, rep = load_test(url, tmp_path, "--room", "lt-quiet", "--video-publishers", "0", "--audio-publishers", "1",
                       "--subscribers", "1", "--duration", "2")
    assert r.returncode == 0 and "speakers" not in rep


@pytest.mark.timeout(90)
def test_load_test_simulcast_two_rooms(server, tmp_path):
    url, _proc = server
    r, rep = load_test(url, tmp_path, "--room", "lt-sim", "--rooms", "2", "--video-publishers", "1",
                       "--subscribers", "2", "--duration", "3", "--video-resolution", "540p", "--simulcast")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert sorted(t["rid"] for t in rep["tracks"]) == ["f", "f", "h", "h", "q", "q"]
    assert all(t["packets"] > 0 for t in rep["tracks"])
    subs = rep["subscribers"]
    assert len(subs) == 4 and all(s["packets"] > 0 and s["loss_pct"] < 1.0 for s in subs), subs
    # each subscriber gets exactly one layer of its own room's publisher
    for s in subs:
        assert s["publisher"].split("-")[1] == s["subscriber"].split("-")[1], s


@pytest.mark.timeout(60)
def test_load_test_join_rate(server, tmp_path):
    url, _proc = server
    r, rep = load_test(url, tmp_path, "--room", "lt-rate", "--audio-publishers", "1", "--video-publishers", "0",
                       "--subscribers", "5", "--num-per-second", "4", "--duration", "1", "--quiet")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # 6 participants at 4/s: the last one starts 1.25 s after the first
    assert rep["setup"]["participants"] == 6 and rep["setup"]["seconds"] >= 1.2, rep["setup"]
    assert rep["summary"]["streams_without_packets"] == 0 and len(rep["subscribers"]) == 5


def test_load_test_refused_with_a_clear_error(server, tmp_path):
    url, _proc = server
    r, rep = load_test(url, tmp_path, "--duration", "1", secret="wrong", timeout=30)
    assert r.returncode == 1 and rep is None
    assert "join refused: HTTP 401" in r.stderr, r.stderr[-2000:]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("codec", ["vp9", "h264", "av1"])
def test_load_test_video_codec(server, tmp_path, codec):
    """--video-codec: the publisher offers and sends that codec, the server forwards it as that
    codec (the subscriber's offer names it), and each subscriber counts its key frames"""
    url, _proc = server
    r, rep = load_test(url, tmp_path, "--room", f"lt-{codec}", "--video-publishers", "1", "--subscribers", "2",
                       "--duration", "3", "--video-resolution", "360p", "--video-codec", codec)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"video {codec}" in r.stdout and rep["options"]["video_codec"] == codec
    [v] = rep["tracks"]
    assert v["keyframes"] >= 2 and v["packets"] > 0, v
    subs = rep["subscribers"]
    assert len(subs) == 2 and rep["summary"]["streams_without_packets"] == 0
    for s in subs:
        assert s["packets"] >= v["packets"] * 0.75 and s["loss_pct"] < 1.0 and s["keyframes"] >= 1, (s, v)
