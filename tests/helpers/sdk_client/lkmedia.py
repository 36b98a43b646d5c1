"""Media for the SDK clients: a moving video pattern the encoder has to spend bits on, and
a per-window analysis of received audio (pitch, spectral purity, level)."""

from __future__ import annotations

import numpy as np


class MovingPattern:
    """I420 frames of a scrolling random texture (16 px blocks, smoothed) with fresh grain,
    so every layer of a simulcast encoder works at its target bitrate, like a camera
    pointed at a busy scene.  Precomputed: one frame costs a slice copy and an add."""

    def __init__(self, width: int, height: int, step: int = 4, seed: int = 1) -> None:
        self.w, self.h, self.step = width, height, step
        rng = np.random.default_rng(seed)
        span = 2 * width
        coarse = rng.integers(16, 224, size=(height // 16 + 2, span // 16 + 2)).astype(np.float32)
        tex = np.kron(coarse, np.ones((16, 16), dtype=np.float32))[:height, :span]
        tex = (tex + np.roll(tex, 5, axis=0) + np.roll(tex, 5, axis=1) + np.roll(tex, (5, 5), axis=(0, 1))) / 4
        self.texture = np.ascontiguousarray(np.concatenate([tex, tex[:, :width]], axis=1).astype(np.uint8))
        self.span = span
        self.grain = [rng.integers(0, 24, size=(height, width), dtype=np.uint8) for _ in range(8)]
        cw, ch = (width + 1) // 2, (height + 1) // 2
        yy, xx = np.mgrid[0:ch, 0:cw]
        self.u = (96 + 64 * xx / max(1, cw - 1)).astype(np.uint8).tobytes()
        self.v = (96 + 64 * yy / max(1, ch - 1)).astype(np.uint8).tobytes()
        self.n = 0
        self._y = np.empty((height, width), dtype=np.uint8)

    def next_i420(self) -> bytes:
        off = (self.n * self.step) % self.span
        np.add(self.texture[:, off:off + self.w], self.grain[self.n % len(self.grain)], out=self._y)
        self.n += 1
        return self._y.tobytes() + self.u + self.v


class AudioWindows:
    """Splits received 48 kHz mono audio into 100 ms windows and records for each
    [t_end_s, dominant Hz (interpolated), purity, rms]: purity is the share of the
    window's energy within +-3 FFT bins of the peak (a clean sine: > 0.99)."""

    SIZE = 4800

    def __init__(self, rate: int = 48000) -> None:
        self.rate = rate
        self.buf = np.zeros(0, dtype=np.int16)
        self.windows: list[list[float]] = []
        self._hann = np.hanning(self.SIZE)

    def feed(self, samples: np.ndarray, t: float) -> None:
        self.buf = np.concatenate([self.buf, samples])
        while len(self.buf) >= self.SIZE:
            x, self.buf = self.buf[:self.SIZE].astype(np.float64), self.buf[self.SIZE:]
            self.windows.append([round(t, 3), *self.analyse(x)])

    def analyse(self, x: np.ndarray) -> tuple[float, float, int]:
        rms = float(np.sqrt(np.mean(x * x)))
        spec = np.abs(np.fft.rfft(x * self._hann)) ** 2
        k = int(np.argmax(spec[1:])) + 1
        total = float(spec.sum())
        purity = float(spec[max(0, k - 3):k + 4].sum() / total) if total > 0 else 0.0
        shift = 0.0
        if 0 < k < len(spec) - 1:   # parabolic interpolation on the log spectrum
            a, b, c = np.log(spec[k - 1:k + 2] + 1e-12)
            den = a - 2 * b + c
            shift = 0.5 * (a - c) / den if den != 0 else 0.0
        return round((k + shift) * self.rate / self.SIZE, 1), round(purity, 4), int(rms)
