"""What a subscribing page measures about a remote track: getStats of its
receiver, the audio's peak frequency (WebAudio), the picture (a screenshot of
its video element).  Each waits for the condition and returns what it saw, so
a failing assertion shows the numbers."""

from __future__ import annotations

import time
from pathlib import Path

from PIL import Image

from .lkbrowser import Page, wait_for

PITCH_TOLERANCE_HZ = 15          # the analyser's bins are 5.9 Hz wide at 48 kHz
BRIEF_KEYS = ("codec", "rid", "frameWidth", "frameHeight", "framesPerSecond", "framesDecoded", "framesReceived",
              "framesDropped", "keyFramesDecoded", "framesEncoded", "keyFramesEncoded", "scalabilityMode",
              "qualityLimitationReason", "targetBitrate", "packetsReceived", "packetsLost", "packetsSent", "nackCount", "pliCount",
              "firCount", "totalSamplesReceived", "concealedSamples", "audioLevel")


def brief(stats: dict | list | None) -> dict | list | None:
    """The getStats fields worth printing when an assertion fails."""
    if isinstance(stats, list):
        return [brief(s) for s in stats]
    return {k: stats[k] for k in BRIEF_KEYS if k in stats} if stats else stats


def video(page: Page, identity: str, min_frames: int = 30, timeout: float = 15, **want: int) -> dict:
    """inbound-rtp of identity's camera once min_frames were decoded (and frameWidth etc. equal `want`)."""
    def ok(s: dict | None) -> bool:
        return bool(s) and s.get("framesDecoded", 0) >= min_frames and all(s.get(k) == v for k, v in want.items())
    return wait_for(lambda: page.js("inbound", identity, "camera"), ok, timeout) or {}


def assert_quality_decoded(sub: Page, pub: Page, identity: str, quality: str, width: int, height: int,
                           timeout: float = 15) -> dict:
    """`sub` asks for `quality` of identity's camera (setVideoQuality); within `timeout` it
    decodes 10 more frames at width x height (asserted), published by `pub`"""
    sub.js("setQuality", identity, quality)
    before = (sub.js("inbound", identity, "camera") or {}).get("framesDecoded", 0)
    got = video(sub, identity, min_frames=before + 10, timeout=timeout, frameWidth=width, frameHeight=height)
    assert (got.get("frameWidth"), got.get("frameHeight")) == (width, height), \
        (quality, brief(got), brief(pub.js("outbound", "camera")))
    assert got["framesDecoded"] >= before + 10, (quality, brief(got))
    return got


def frames_decoded_during(page: Page, identity: str, seconds: float = 1.0) -> int:
    before = (page.js("inbound", identity, "camera") or {}).get("framesDecoded", 0)
    time.sleep(seconds)
    return (page.js("inbound", identity, "camera") or {}).get("framesDecoded", 0) - before


def audio_peak(page: Page, identity: str, hz: float, timeout: float = 10) -> dict:
    """The peak of identity's microphone track, once it is within PITCH_TOLERANCE_HZ of hz."""
    def ok(p: dict | None) -> bool:
        return bool(p) and abs(p["hz"] - hz) <= PITCH_TOLERANCE_HZ and p["db"] > -50
    return wait_for(lambda: page.js("audioPeak", identity), ok, timeout) or {}


def audio(page: Page, identity: str) -> dict:
    return page.js("inbound", identity, "microphone") or {}


def centre_pixel(page: Page, identity: str, path: Path) -> tuple[int, int, int]:
    """The centre pixel of a screenshot of identity's video element (160x90 CSS pixels)."""
    page.screenshot(f"v-{identity}-camera", path)
    with Image.open(path) as img:
        rgb = img.convert("RGB")
        return rgb.getpixel((rgb.width // 2, rgb.height // 2))


def near(rgb: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 45) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, expected))
