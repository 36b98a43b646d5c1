"""What a recorded file holds, read with ffprobe/ffmpeg: frame counts, the audio's pitch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np


def frame_count(path: Path | str) -> dict:
    """{codec_name, nb_read_frames, width, height} of the file's first stream (ffprobe)"""
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_name,nb_read_frames,width,height", "-of", "default=nw=1", str(path)],
                         capture_output=True, text=True, timeout=60)
    info: dict = {}
    for line in out.stdout.splitlines():
        k, _, v = line.partition("=")
        if k and k not in info:
            info[k] = int(v) if v.isdigit() else v
    return info


def audio_pitch(path: Path | str, rate: int = 48000, skip: float = 0.5) -> tuple[float, float, float]:
    """(dominant frequency in Hz, RMS, seconds) of the decoded audio, after the first `skip` s"""
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(rate),
                          "-"], capture_output=True, timeout=60).stdout
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)[int(skip * rate):]
    if len(x) < rate // 10:
        return 0.0, 0.0, len(x) / rate
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freq = float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spec[1:])) + 1])
    return freq, float(np.sqrt(np.mean(x ** 2))), len(x) / rate


def container_format(path: Path | str) -> str:
    """the container as ffprobe names it (ogg, "matroska,webm", ...)"""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=format_name", "-of",
                          "default=nw=1:nk=1", str(path)], capture_output=True, text=True, timeout=60)
    return out.stdout.strip()
