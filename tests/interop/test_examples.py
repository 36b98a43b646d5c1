"""examples/*.py run as written (each bounded by --duration) against real rtc SDK
participants, in a private network namespace (tests/interop/livekit_sdk/examples_scenario.py)."""

from __future__ import annotations

import shutil

import pytest

from helpers import scenario_runner
from helpers.sdk_venvs import CLIENT_PYTHON, require


def run_scenario(name: str) -> dict:
    python = require(CLIENT_PYTHON, "the livekit rtc SDK")
    return scenario_runner.run_scenario("interop.livekit_sdk.examples_scenario", name, timeout=120,
                                        env={"SFU_LIVEKIT_PYTHON": python})


@pytest.mark.timeout(150)
def test_keyword_kick_example_removes_the_participant_that_says_it():
    r = run_scenario("keyword_kick")
    ex = r["example"]
    assert ex["rc"] == 0, ex
    assert "removing alice from room: said 'data-only-3'" in ex["output"], ex
    assert "participant_left: alice in room" in ex["output"], ex
    # she sent data-only-0..3 (one every 0.5 s) and was gone long before her 10 s were up
    assert r["alice_seconds"] < 8, r


@pytest.mark.timeout(150)
def test_recorder_example_records_a_publishers_tracks():
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is needed (scripts/setup installs Debian's ffmpeg)")
    r = run_scenario("recorder")
    assert r["example"]["rc"] == 0 and r["alice"]["rc"] == 0, r
    files = r["files"]
    audio = next(f for n, f in files.items() if n.endswith(".ogg"))
    video = next(f for n, f in files.items() if n.endswith(".webm"))
    assert abs(audio["pitch_hz"] - 440) < 5 and audio["seconds"] > 3, audio
    assert video["codec_name"] == "vp8" and video["nb_read_frames"] >= 60, video
