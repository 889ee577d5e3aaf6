"""Classic rPPG methods (GREEN, CHROM, POS) on synthetic skin-colour traces. Their outputs are
unfiltered (the estimator band-passes once); CHROM's band-pass of X and Y is part of CHROM."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from model.methods import CLASSIC_METHODS, chrom, green, pos, run_classic
from model.signal import (
    PULSE_BAND_HZ,
    QualityGate,
    bandpass,
    estimate_hr,
    power_spectrum,
    quality_from_snr,
)

FS = 30.0
SKIN_RGB = np.array([180.0, 130.0, 110.0])
PBV = np.array([0.33, 0.77, 0.53])  # blood-volume pulse signature (relative amplitudes)
HR_BPM = 72.0
FUNCS = (green, chrom, pos)


def _blood_volume(duration_s: float, hr_bpm: float = HR_BPM) -> np.ndarray:
    t = np.arange(int(duration_s * FS)) / FS
    ph = 2 * np.pi * hr_bpm / 60.0 * t
    return np.cos(ph) + 0.3 * np.cos(2 * ph - 1.0)


def _traces(
    rng,
    duration_s: float = 20.0,
    pulse_rel: float = 0.01,
    illum_rel: float = 0.0,
    illum_hz: float = 1.6,
    noise_sd: float = 0.1,
    drift_rel: float = 0.03,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean skin R, G, B: blood absorbs, so as the blood volume rises the colour moves along -PBV
    (green ~0.8 % at pulse_rel 0.01, as in model/synthetic/scene.py); illumination changes scale all
    channels by the same relative amount; sensor noise on top."""
    t = np.arange(int(duration_s * FS)) / FS
    bv = _blood_volume(duration_s)
    pulse = 1.0 - pulse_rel * np.outer(bv / np.max(np.abs(bv)), PBV)
    light = 1.0 + illum_rel * np.sin(2 * np.pi * illum_hz * t) + drift_rel * np.sin(2 * np.pi * 0.05 * t)
    rgb = SKIN_RGB * pulse * light[:, None] + noise_sd * rng.standard_normal((t.size, 3))
    return rgb, bv


@pytest.mark.parametrize("name", ["green", "chrom", "pos"])
def test_clean_pulse_recovered_with_shared_orientation(name):
    rgb, bv = _traces(np.random.default_rng(0))
    out = run_classic(name, rgb, FS)
    assert out.shape == (rgb.shape[0],) and out.dtype == np.float64
    assert estimate_hr(out, FS).hr_bpm == pytest.approx(HR_BPM, abs=1.0)
    out_f, ref = bandpass(out, FS, *PULSE_BAND_HZ), bandpass(bv, FS, *PULSE_BAND_HZ)  # as the estimator does
    mid = slice(60, -60)
    assert np.corrcoef(out_f[mid], ref[mid])[0, 1] > 0.9  # all three rise with the blood volume


@pytest.mark.parametrize("method", [pos, chrom])
def test_pos_chrom_reject_common_mode_illumination(method):
    # In-band illumination flicker at 96 bpm, 2 % on every channel: 2.6x the pulse on green.
    for seed in range(5):
        rgb, _ = _traces(np.random.default_rng(seed), illum_rel=0.02, illum_hz=1.6)
        est = estimate_hr(method(rgb, FS), FS)
        assert est.hr_bpm == pytest.approx(HR_BPM, abs=1.0)


def test_green_is_fooled_by_the_same_illumination():
    # The distractor above is real: GREEN locks onto the flicker.
    rgb, _ = _traces(np.random.default_rng(0), illum_rel=0.02, illum_hz=1.6)
    assert estimate_hr(green(rgb, FS), FS).hr_bpm == pytest.approx(96.0, abs=1.0)


@pytest.mark.parametrize("name", ["pos", "chrom", "green"])
def test_still_image_is_withheld_by_the_quality_gate(name):
    # A photo in front of the camera: constant skin colour plus sensor noise, no pulse. The
    # method's output is noise, and the gate (as the streaming estimator uses it) withholds it.
    shown = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        rgb = SKIN_RGB + 0.3 * rng.standard_normal((int(10 * FS), 3))
        est = estimate_hr(bandpass(run_classic(name, rgb, FS), FS, *PULSE_BAND_HZ), FS)
        shown += QualityGate().update(quality_from_snr(est.snr_db))
    assert shown <= 5


def test_registry_and_errors():
    assert set(CLASSIC_METHODS) == {"green", "chrom", "pos"}
    from model.pulse_methods import CLASSIC_METHOD_NAMES, PULSE_METHODS

    assert set(CLASSIC_METHOD_NAMES) == set(CLASSIC_METHODS) and set(PULSE_METHODS) == set(CLASSIC_METHODS) | {"fcus"}
    rgb, _ = _traces(np.random.default_rng(1), duration_s=5.0)
    np.testing.assert_array_equal(run_classic("POS", rgb, FS), pos(rgb, FS))
    with pytest.raises(ValueError, match="chrom, green, pos"):
        run_classic("ica", rgb, FS)
    bad = rgb.copy()
    bad[10, 1] = np.nan
    for fn in FUNCS:
        with pytest.raises(ValueError, match="NaN"):
            fn(bad, FS)
        with pytest.raises(ValueError):
            fn(rgb[:, :2], FS)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 30, 47, 48, 49])
def test_short_inputs(n):
    rgb, _ = _traces(np.random.default_rng(2), duration_s=2.0)
    for fn in FUNCS:
        out = fn(rgb[:n], FS)
        assert out.shape == (n,) and np.all(np.isfinite(out))


def test_dark_channel_does_not_crash():
    rgb = np.zeros((300, 3))
    for fn in FUNCS:
        out = fn(rgb, FS)
        assert out.shape == (300,) and np.all(np.isfinite(out))


@pytest.mark.parametrize("n", [300, 600])
def test_methods_are_fast(n):
    rgb, _ = _traces(np.random.default_rng(3), duration_s=n / FS)
    for fn in FUNCS:
        fn(rgb, FS)
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            fn(rgb, FS)
            times.append(time.perf_counter() - t0)
        assert np.median(times) < 5e-3, fn.__name__


def _power_at(x: np.ndarray, f_hz: float) -> float:
    spec = power_spectrum(x - x.mean(), FS)
    return float(spec.power[np.argmin(np.abs(spec.freqs_hz - f_hz))])


def _pulse_plus_tone(tone_hz: float) -> np.ndarray:
    """Skin colour moving along -PBV at the pulse (1.2 Hz) and, equally, at ``tone_hz``."""
    t = np.arange(int(20 * FS)) / FS
    wave = np.sin(2 * np.pi * 1.2 * t) + np.sin(2 * np.pi * tone_hz * t)
    return SKIN_RGB * (1.0 - 0.005 * np.outer(wave, PBV))


@pytest.mark.parametrize("fn", [green, pos])
def test_outputs_are_not_band_passed(fn):
    # An out-of-band colour change (6 Hz) of the pulse's size comes through at about the pulse's
    # power: the method filters nothing, the estimator band-passes once. (POS's 1.6 s windows
    # remove slow changes by design, so a slow tone would not tell.)
    out = fn(_pulse_plus_tone(6.0), FS)
    assert _power_at(out, 6.0) > 0.2 * _power_at(out, 1.2)


def test_green_is_the_negated_relative_green_change():
    rgb, _ = _traces(np.random.default_rng(4))
    np.testing.assert_allclose(green(rgb, FS), 1.0 - rgb[:, 1] / rgb[:, 1].mean())


def test_chrom_filters_x_and_y_once_to_the_band_it_is_given(monkeypatch):
    calls = []

    def counting_bandpass(x, fs_hz, lo_hz, hi_hz, order=4):
        calls.append((lo_hz, hi_hz))
        return bandpass(x, fs_hz, lo_hz, hi_hz, order)

    monkeypatch.setattr(sys.modules["model.methods.chrom"], "bandpass", counting_bandpass)
    rgb = _pulse_plus_tone(6.0)
    narrow = chrom(rgb, FS)
    assert calls == [PULSE_BAND_HZ]  # X and Y before alpha, in one call; nothing after
    wide = run_classic("chrom", rgb, FS, band_hz=(0.6, 7.0))
    assert calls[-1] == (0.6, 7.0)
    assert _power_at(narrow, 6.0) < 0.01 * _power_at(narrow, 1.2)
    assert _power_at(wide, 6.0) > 0.2 * _power_at(wide, 1.2)
