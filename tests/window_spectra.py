"""Synthetic HR-window spectra for the HR trackers' tests: sinusoids at given rates in white noise."""

from __future__ import annotations

import numpy as np

from model.signal.heart_rate import PEAK_WINDOW, power_spectrum

FS_HZ = 30.0
WIN_S = 10.0


def window_spectrum(rng, tones: list[tuple[float, float]], noise: float = 0.3):
    """(freqs_hz, power) of a 10 s window holding sinusoids (bpm, amplitude) plus white noise."""
    t = np.arange(int(WIN_S * FS_HZ)) / FS_HZ
    x = sum(a * np.sin(2 * np.pi * bpm / 60.0 * t + rng.uniform(0, 2 * np.pi)) for bpm, a in tones)
    x = x + noise * rng.standard_normal(t.size)
    s = power_spectrum(x, FS_HZ, window=PEAK_WINDOW)
    return s.freqs_hz, s.power
