"""Fake capture files for Chromium (--use-file-for-fake-video/audio-capture):
a solid colour with a white bar moving along the left edge (Y4M, 4:2:0) and a
sine of known pitch (WAV), so a subscriber can check what it got: the centre
pixel's colour and the audio's peak frequency."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path


def rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb                                      # BT.601, studio range
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return round(y), round(u), round(v)


def write_y4m(path: Path, rgb: tuple[int, int, int], width: int = 1280, height: int = 720,
              fps: int = 30, frames: int = 10) -> Path:
    y, u, v = rgb_to_yuv(rgb)
    bar = width // 16
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        row = bytes([y]) * width
        chroma = bytes([u]) * (width // 2 * height // 2) + bytes([v]) * (width // 2 * height // 2)
        for i in range(frames):
            x0 = (i * bar) % (width // 4)              # stays in the left quarter, off the centre
            moving = row[:x0] + bytes([235]) * bar + row[x0 + bar:]
            f.write(b"FRAME\n" + moving * height + chroma)
    return path


def write_sine_wav(path: Path, hz: float, seconds: int = 1, rate: int = 48000, amplitude: float = 0.5) -> Path:
    """A whole number of cycles per loop, so Chromium's looping adds no click."""
    n = rate * seconds
    samples = (round(amplitude * 32767 * math.sin(2 * math.pi * hz * i / rate)) for i in range(n))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{n}h", *samples))
    return path
