"""benchmarks/reading_variants.py: the window-reading variants on synthetic windows, and the table."""

import numpy as np

from tests.benchmark_modules import load_benchmark

FS = 30.0
T = np.arange(300) / FS  # a 10 s window


def test_regressing_the_motion_out_leaves_the_pulse():
    mod = load_benchmark("reading_variants")
    pulse = np.sin(2 * np.pi * 1.2 * T)  # 72 bpm
    sway = np.sin(2 * np.pi * 0.9 * T + 0.4)  # 54 bpm, three times stronger
    y = mod.band(pulse + 3.0 * sway)
    assert abs(mod.peak_hr(y) - 54.0) < 2.0
    refs = np.stack([100 + 5 * sway, np.full_like(T, 50.0) + 0.1 * T, 80 + 2 * sway], axis=1)
    assert abs(mod.peak_hr(mod.regressed(y, refs)) - 72.0) < 2.0
    assert mod.regressed(y, np.ones((300, 2))) is y  # a constant reference: nothing to regress


def test_summed_region_spectra_keep_the_pulse_they_share():
    mod = load_benchmark("reading_variants")
    pulse = np.sin(2 * np.pi * 1.5 * T)  # 90 bpm in every part
    parts = [mod.band(pulse + 1.5 * np.sin(2 * np.pi * f * T)) for f in (0.8, 2.4, 3.0)]  # a louder rival each
    assert all(abs(mod.peak_hr(p) - 90.0) > 5 for p in parts)
    assert abs(mod.summed_spectra_hr(parts) - 90.0) < 2.0


def test_the_harmonic_sum_favours_a_peak_with_a_harmonic():
    mod = load_benchmark("reading_variants")
    pulse = np.sin(2 * np.pi * 1.2 * T) + 0.8 * np.sin(2 * np.pi * 2.4 * T + 0.3)  # 72 bpm, 2nd harmonic
    rival = 1.05 * np.sin(2 * np.pi * 1.7 * T)  # a slightly stronger tone without one
    assert abs(mod.peak_hr(mod.band(pulse + rival)) - 102.0) < 2.0
    assert abs(mod.harmonic_hr(pulse + rival) - 72.0) < 2.0


def test_window_readings_and_the_table():
    mod = load_benchmark("reading_variants")
    t = np.arange(600) / FS
    pulse = np.sin(2 * np.pi * 1.2 * t)
    sig = {"bvp": pulse, "regions": [pulse, pulse, pulse],  # references that vary, unrelated to the pulse
           "motion": np.stack([np.sin(0.9 * t), np.cos(2.1 * t), np.sin(3.3 * t + 1)], 1),
           "background": np.stack([np.cos(t), np.sin(1.7 * t), np.cos(2.9 * t)], 1)}
    got = mod.window_readings(sig, 300, 600)
    assert set(got) == set(mod.VARIANTS) and all(abs(v - 72.0) < 2.0 for v in got.values())
    text = mod.table({"estimator": {"subject3": [0.5, 7.0]}, "peak": {"subject3": [0.5, 0.5, float("nan")]}})
    assert "| estimator | 2 | 0.500 | 3.75 | 0.50 |" in text
    assert "| peak | 3 | 0.667 | 0.50 | 0.67 |" in text  # no estimate: a miss, out of the MAE
