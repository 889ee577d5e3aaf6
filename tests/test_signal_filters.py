"""Detrending and band-pass filtering."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.signal import (
    PULSE_BAND_HZ,
    bandpass,
    detrend,
    smoothness_lambda,
)

FS = 30.0
BAND = PULSE_BAND_HZ


def _gain(y: np.ndarray, x: np.ndarray) -> float:
    """Amplitude ratio over the middle half (away from edge effects)."""
    n = len(x)
    mid = slice(n // 4, 3 * n // 4)
    return float(np.std(y[mid]) / np.std(x[mid]))


# --- detrend ---------------------------------------------------------------------------------


def test_smoothness_lambda_matches_hrv_practice():
    # lam = 500 at 4 Hz is the usual HRV setting, quoted as a ~0.035 Hz cut-off.
    assert smoothness_lambda(4.0, 0.0355) == pytest.approx(500.0, rel=0.02)


def test_detrend_is_minus_3db_at_cutoff_and_passes_pulse():
    t = np.arange(int(120 * FS)) / FS
    at_cut = np.sin(2 * np.pi * 0.5 * t)
    assert _gain(detrend(at_cut, FS, cutoff_hz=0.5), at_cut) == pytest.approx(1 / math.sqrt(2), abs=0.03)
    pulse = np.sin(2 * np.pi * 1.2 * t)
    assert _gain(detrend(pulse, FS, cutoff_hz=0.5), pulse) > 0.98
    slow = np.sin(2 * np.pi * 0.05 * t)
    assert _gain(detrend(slow, FS, cutoff_hz=0.5), slow) < 0.01


def test_detrend_removes_drift_and_keeps_pulse_shape():
    t = np.arange(int(30 * FS)) / FS
    pulse = 0.5 * np.sin(2 * np.pi * 1.3 * t)
    drift = 5.0 + 0.4 * t - 0.01 * t**2 + 2.0 * np.sin(2 * np.pi * 0.03 * t)
    y = detrend(pulse + drift, FS)
    inner = slice(30, -30)
    assert np.max(np.abs(y[inner] - pulse[inner])) < 0.05


def test_detrend_multichannel_and_short():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 3)) + np.arange(300)[:, None] * [0.1, 0.2, 0.3]
    y = detrend(x, FS)
    assert y.shape == x.shape
    for c in range(3):
        np.testing.assert_allclose(y[:, c], detrend(x[:, c], FS))
    assert detrend(np.array([1.0, 2.0, 3.0]), FS) == pytest.approx([-1.0, 0.0, 1.0])


# --- band-pass -------------------------------------------------------------------------------


def test_bandpass_passes_band_and_rejects_outside():
    t = np.arange(int(60 * FS)) / FS
    inband = np.sin(2 * np.pi * 1.2 * t)
    low = np.sin(2 * np.pi * 0.15 * t)
    high = np.sin(2 * np.pi * 6.0 * t)
    assert _gain(bandpass(inband, FS, *BAND), inband) == pytest.approx(1.0, abs=0.02)
    assert _gain(bandpass(low, FS, *BAND), low) < 0.01  # < -40 dB
    assert _gain(bandpass(high, FS, *BAND), high) < 0.01


def test_bandpass_is_zero_phase():
    t = np.arange(int(20 * FS)) / FS
    x = np.sin(2 * np.pi * 1.1 * t) + 0.5 * np.sin(2 * np.pi * 0.1 * t)
    y = bandpass(x, FS, *BAND)
    ref = np.sin(2 * np.pi * 1.1 * t)
    mid = slice(150, 450)
    lags = np.arange(-5, 6)
    xc = [np.dot(np.roll(y, k)[mid], ref[mid]) for k in lags]
    assert lags[int(np.argmax(xc))] == 0


def test_bandpass_short_inputs_and_channels():
    rng = np.random.default_rng(1)
    for n in (3, 5, 10, 20):
        y = bandpass(rng.standard_normal(n), FS, *BAND)
        assert y.shape == (n,) and np.all(np.isfinite(y))
    assert bandpass(np.array([2.0, 4.0]), FS, *BAND) == pytest.approx([-1.0, 1.0])
    x = rng.standard_normal((200, 3))
    y = bandpass(x, FS, *BAND)
    np.testing.assert_allclose(y[:, 2], bandpass(x[:, 2], FS, *BAND))


def test_bandpass_has_no_hidden_band():
    # The edges are always the caller's (the pulse band lives in model.signal.band, once).
    with pytest.raises(TypeError):
        bandpass(np.zeros(100), FS)
    t = np.arange(int(20 * FS)) / FS
    x = np.sin(2 * np.pi * 3.3 * t)  # 198 bpm: inside the pulse band, outside 0.7-3.0 Hz
    assert _gain(bandpass(x, FS, *BAND), x) > 0.7


def test_bandpass_high_edge_above_nyquist_becomes_highpass():
    t = np.arange(200) / 5.0  # fs = 5 Hz: 3 Hz is above Nyquist
    x = np.sin(2 * np.pi * 2.0 * t) + np.sin(2 * np.pi * 0.1 * t)
    y = bandpass(x, 5.0, 0.7, 3.0)
    assert _gain(y, np.sin(2 * np.pi * 2.0 * t)) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError):
        bandpass(x, 30.0, 2.0, 1.0)


# --- resampling ------------------------------------------------------------------------------


def _jittery_clock(rng, duration_s=20.0, fs=30.0, drop=0.05):
    t = np.arange(0, duration_s, 1 / fs) + rng.normal(0, 0.004, int(round(duration_s * fs)))
    t = np.sort(t[rng.random(t.size) > drop])
    return t


def test_interp_frames_is_linear_along_time_and_clips_at_the_ends():
    from model.signal.resample import interp_frames

    ramp = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
    out = interp_frames(ramp, np.array([0.0, 0.25, 4.5, 8.75, 9.0, 12.0]))
    assert out.shape == (6, 2, 3) and out.dtype == np.float32
    assert np.allclose(out[:, 1, 2], [0.0, 0.25, 4.5, 8.75, 9.0, 9.0])
    assert not np.shares_memory(out, ramp)
    sig = np.sin(np.arange(50) / 5.0)
    assert np.allclose(interp_frames(sig, np.arange(50.0)), sig)  # integer positions: the samples
