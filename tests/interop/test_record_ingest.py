"""Recording and ingest with ffmpeg against the real livekit rtc SDK, in a private network
namespace (tests/interop/livekit_sdk/record_ingest_scenario.py)."""

from __future__ import annotations

import json
import shutil

import pytest

from helpers import scenario_runner
from helpers.sdk_venvs import CLIENT_PYTHON, require


def run_scenario(name: str) -> dict:
    python = require(CLIENT_PYTHON, "the livekit rtc SDK")
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.fail("ffmpeg and ffprobe are needed (scripts/setup installs Debian's ffmpeg)")
    return scenario_runner.run_scenario("interop.livekit_sdk.record_ingest_scenario", name, timeout=150,
                                        env={"SFU_LIVEKIT_PYTHON": python})


@pytest.mark.timeout(180)
def test_sdk_publisher_recorded_to_ogg_and_webm():
    r = run_scenario("record")
    assert r["alice"]["rc"] == 0 and "connect_error" not in r["alice"], r["alice"]
    files = r["files"]
    assert set(files) == set(r["sids"]), json.dumps(r)[:3000]
    audio = next(f for f in files.values() if f["path"].endswith(".ogg"))
    video = next(f for f in files.values() if f["path"].endswith(".webm"))
    # ~6 s recorded: the sine's pitch, at a level well above silence
    assert audio["codec_name"] == "opus" and audio["seconds"] > 4, audio
    assert abs(audio["pitch_hz"] - 440) < 5 and audio["rms"] > 1000, audio
    # VP8 from the first key frame on (asked for at the start), at the SDK's 320x240
    assert video["codec_name"] == "vp8" and (video["width"], video["height"]) == (320, 240), video
    assert video["nb_read_frames"] >= 60, video


@pytest.mark.timeout(180)
def test_ffmpeg_source_ingested_reaches_an_sdk_subscriber():
    r = run_scenario("ingest")
    bob = r["bob"]
    assert bob["rc"] == 0 and "connect_error" not in bob, bob
    assert "tv" in bob["remote_participants_end"], bob
    audio, video = bob["tracks"]["tv/audio"], bob["tracks"]["tv/video"]
    assert {audio["sid"], video["sid"]} == set(r["sids"])
    assert audio["frames"] >= 500 and abs(audio["pitch_hz"] - 440) < 5, audio      # 10 ms frames, ~10 s
    assert video["frames"] >= 30 and video["size"] == [640, 360], video
