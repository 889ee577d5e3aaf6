"""Detrending, band-pass filtering and uniform resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.signal import (
    PULSE_BAND_HZ,
    bandpass,
    detrend,
    resample_uniform,
    smoothness_lambda,
    valid_segments,
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


def test_resample_uniform_interpolates_jittery_clock():
    rng = np.random.default_rng(2)
    t = _jittery_clock(rng) + 100.0
    x = np.sin(2 * np.pi * 1.2 * t)
    u = resample_uniform(t, x, FS)
    assert u.t_s[0] == t[0]
    np.testing.assert_allclose(np.diff(u.t_s), 1 / FS)
    assert u.t_s[-1] <= t[-1] + 1e-9 and u.t_s[-1] > t[-1] - 1 / FS
    assert u.valid.all()
    # Linear interpolation error of a sine is at most (w h)^2 / 8 for the widest span h bridged.
    bound = (2 * np.pi * 1.2 * np.max(np.diff(t))) ** 2 / 8
    assert np.max(np.abs(u.x - np.sin(2 * np.pi * 1.2 * u.t_s))) <= bound + 1e-9


def test_resample_uniform_leaves_long_gaps_invalid_and_bridges_short_ones():
    t = np.arange(0, 10, 1 / FS)
    x = np.stack([t, 2 * t, 3 * t], axis=1)  # linear: interpolation is exact
    long_gap = (t > 3.0) & (t < 4.0)  # ~1 s of lost face
    short_gap = (t > 6.0) & (t < 6.3)  # 0.3 s
    x[long_gap] = np.nan
    x[short_gap, 1] = np.nan  # one channel NaN makes the whole sample unusable
    u = resample_uniform(t, x, FS, max_gap_s=0.5)
    assert u.x.shape == (len(u.t_s), 3)
    in_long = (u.t_s > 3.0 + 1e-6) & (u.t_s < 4.0 - 1e-6)
    assert not u.valid[in_long].any()
    assert np.isnan(u.x[in_long]).all()
    in_short = (u.t_s > 6.0) & (u.t_s < 6.3)
    assert u.valid[in_short].all()
    np.testing.assert_allclose(u.x[u.valid], np.stack([u.t_s, 2 * u.t_s, 3 * u.t_s], 1)[u.valid], atol=1e-9)
    segs = valid_segments(u.valid, min_len=int(FS))
    assert len(segs) == 2
    assert u.t_s[segs[0].stop - 1] <= 3.0 + 1e-6 and u.t_s[segs[1].start] >= 4.0 - 1e-6


def test_resample_uniform_dropped_frames_without_nan_follow_the_same_rule():
    t = np.concatenate([np.arange(0, 2, 1 / FS), np.arange(3, 5, 1 / FS)])  # 1 s with no frames
    u = resample_uniform(t, np.ones_like(t), FS, max_gap_s=0.5)
    hole = (u.t_s > t[59] + 1e-6) & (u.t_s < 3.0 - 1e-6)
    assert hole.any() and not u.valid[hole].any()
    assert u.valid[~hole].all()


def test_resample_uniform_grid_points_on_samples_next_to_a_gap_are_valid():
    # Samples computed as (k + 1) / 30 and a grid computed as 1/30 + k/30 differ by rounding; at
    # k = 61 the grid point falls just below the sample. The first sample after a 1 s hole must
    # still count, whichever side the rounding falls.
    k = np.concatenate([np.arange(0, 31), np.arange(61, 120)])
    t = (k + 1) / FS
    u = resample_uniform(t, np.sin(t), FS, max_gap_s=0.5)
    on_sample = np.isin(np.round((u.t_s - t[0]) * FS).astype(int), k)
    assert u.valid[on_sample].all()
    assert not u.valid[~on_sample].any()
    np.testing.assert_allclose(u.x[on_sample], np.sin(t), atol=1e-9)


def test_resample_uniform_unsorted_duplicates_and_leading_nan():
    t = np.array([0.0, 0.1, 0.1, 0.05, 0.2, 0.3])
    x = np.array([np.nan, 1.0, 9.0, np.nan, 2.0, 3.0])
    u = resample_uniform(t, x, 10.0)
    np.testing.assert_allclose(u.t_s, [0.0, 0.1, 0.2, 0.3])
    assert list(u.valid) == [False, True, True, True]
    np.testing.assert_allclose(u.x[1:], [1.0, 2.0, 3.0])


def test_valid_segments():
    v = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1], dtype=bool)
    assert valid_segments(v, 1) == [slice(0, 2), slice(3, 6), slice(8, 9)]
    assert valid_segments(v, 3) == [slice(3, 6)]
    assert valid_segments(np.zeros(4, bool), 1) == []
    assert valid_segments(np.ones(4, bool), 5) == []


def test_interp_frames_is_linear_along_time_and_clips_at_the_ends():
    from model.signal.resample import interp_frames

    ramp = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
    out = interp_frames(ramp, np.array([0.0, 0.25, 4.5, 8.75, 9.0, 12.0]))
    assert out.shape == (6, 2, 3) and out.dtype == np.float32
    assert np.allclose(out[:, 1, 2], [0.0, 0.25, 4.5, 8.75, 9.0, 9.0])
    assert not np.shares_memory(out, ramp)
    sig = np.sin(np.arange(50) / 5.0)
    assert np.allclose(interp_frames(sig, np.arange(50.0)), sig)  # integer positions: the samples
