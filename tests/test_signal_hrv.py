"""Beat detection, inter-beat intervals, time-domain HRV and respiration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from model.signal import bandpass, detect_beats, estimate_respiration, hrv_from_beats, ibi_ms

FS = 30.0


def _expected_hrv(ibi: np.ndarray) -> tuple[float, float, float, float]:
    d = np.diff(ibi)
    rmssd = float(np.sqrt(np.mean(d**2)))
    return float(np.mean(ibi)), float(np.std(ibi, ddof=1)), rmssd, float(np.mean(np.abs(d) > 50))


def _ibis(rng, n: int, mean_ms: float = 850.0) -> np.ndarray:
    """Plausible IBIs: respiratory sinus arrhythmia plus beat-to-beat noise (all within +-20 %)."""
    k = np.arange(n)
    return mean_ms + 60.0 * np.sin(2 * np.pi * k / 4.3) + rng.normal(0, 25.0, n)


def _ppg_from_beats(beat_t_s: np.ndarray, duration_s: float) -> np.ndarray:
    """PPG whose systolic maxima fall exactly on ``beat_t_s``: a smooth monotone beat phase
    drives cos(2 pi phase) + 0.3 cos(4 pi phase), whose maximum is at integer phase."""
    t = np.arange(int(duration_s * FS)) / FS
    phase = PchipInterpolator(beat_t_s, np.arange(beat_t_s.size), extrapolate=True)(t)
    return np.cos(2 * np.pi * phase) + 0.3 * np.cos(4 * np.pi * phase)


# --- HRV from beat times ---------------------------------------------------------------------


def test_hrv_from_known_ibis():
    rng = np.random.default_rng(0)
    ibi = _ibis(rng, 60)
    beats = 2.0 + np.concatenate(([0.0], np.cumsum(ibi) / 1000.0))
    s = ibi_ms(beats)
    assert s.ok.all()
    np.testing.assert_allclose(s.ibi_ms, ibi, atol=1e-6)
    h = hrv_from_beats(beats)
    mean, sdnn, rmssd, pnn50 = _expected_hrv(ibi)
    assert h is not None and h.n_beats == 61
    assert h.mean_ibi_ms == pytest.approx(mean, abs=1e-6)
    assert h.sdnn_ms == pytest.approx(sdnn, abs=1e-6)
    assert h.rmssd_ms == pytest.approx(rmssd, abs=1e-6)
    assert h.pnn50 == pytest.approx(pnn50, abs=1e-9)
    assert 0.1 < h.pnn50 < 0.9  # the train exercises both sides of 50 ms


def test_missed_and_extra_beats_are_rejected():
    rng = np.random.default_rng(1)
    ibi = _ibis(rng, 60)
    beats = np.concatenate(([0.0], np.cumsum(ibi) / 1000.0))
    missed = np.delete(beats, 20)  # merges IBIs 19 and 20
    extra = np.insert(missed, 40, 0.5 * (missed[39] + missed[40]))  # splits one IBI in two
    s = ibi_ms(extra)
    assert np.count_nonzero(~s.ok) == 3
    # Expected: the original IBIs minus the three affected ones, with differences only between
    # intervals that stay adjacent.
    keep = np.ones(ibi.size, dtype=bool)
    keep[[19, 20, 40]] = False  # beat 20 lost; the interval after missed[39] (= ibi[40]) split
    clean = ibi[keep]
    pairs = keep[1:] & keep[:-1]
    d = np.diff(ibi)[pairs]
    h = hrv_from_beats(extra)
    assert h is not None
    assert h.mean_ibi_ms == pytest.approx(np.mean(clean), abs=1e-6)
    assert h.sdnn_ms == pytest.approx(np.std(clean, ddof=1), abs=1e-6)
    assert h.rmssd_ms == pytest.approx(np.sqrt(np.mean(d**2)), abs=1e-6)
    assert h.pnn50 == pytest.approx(np.mean(np.abs(d) > 50), abs=1e-9)


def test_too_few_clean_beats_gives_none():
    assert hrv_from_beats(np.arange(7) * 0.8) is None  # 7 beats
    assert hrv_from_beats(np.arange(8) * 0.8) is not None
    assert hrv_from_beats(np.array([])) is None
    assert ibi_ms(np.array([1.0])).ibi_ms.size == 0


# --- beat detection --------------------------------------------------------------------------


@pytest.mark.parametrize("hint", [None, 70.0])
def test_detect_beats_finds_true_beats_with_sub_sample_precision(hint):
    rng = np.random.default_rng(2)
    ibi = _ibis(rng, 50)
    beats = 0.5 + np.concatenate(([0.0], np.cumsum(ibi) / 1000.0))
    duration = beats[-1] + 0.5
    x = _ppg_from_beats(beats, duration) + 0.02 * rng.standard_normal(int(duration * FS))
    found = detect_beats(bandpass(x, FS, 0.7, 3.3), FS, hr_hint_bpm=hint)
    assert found.size == beats.size
    err_ms = (found - beats) * 1000.0
    assert np.max(np.abs(err_ms)) < 15.0  # half a frame is 16.7 ms
    assert np.sqrt(np.mean(err_ms**2)) < 6.0  # refinement: the frame grid alone gives ~9.6 ms RMS
    # HRV from the detected beats matches the truth.
    h_true, h = hrv_from_beats(beats), hrv_from_beats(found)
    assert h.sdnn_ms == pytest.approx(h_true.sdnn_ms, abs=3.0)
    assert h.rmssd_ms == pytest.approx(h_true.rmssd_ms, abs=5.0)


def test_detect_beats_ignores_noise_wiggles_and_handles_bad_input():
    t = np.arange(int(20 * FS)) / FS
    x = np.sin(2 * np.pi * 1.0 * t) + 0.05 * np.sin(2 * np.pi * 9.0 * t)  # ripple makes extra maxima
    found = detect_beats(x, FS)
    assert found.size == 20
    np.testing.assert_allclose(np.diff(found), 1.0, atol=0.01)
    assert detect_beats(np.zeros(300), FS).size == 0
    assert detect_beats(np.full(300, np.nan), FS).size == 0


# --- respiration -----------------------------------------------------------------------------


def _modulated_ppg(rng, rr_bpm: float, duration_s: float = 30.0, am: float = 0.2, baseline: float = 0.3):
    t = np.arange(int(duration_s * FS)) / FS
    ph = 2 * np.pi * 70.0 / 60.0 * t
    pulse = np.cos(ph) + 0.4 * np.cos(2 * ph - 1.2) + 0.15 * np.cos(3 * ph - 2.2)
    resp = np.sin(2 * np.pi * rr_bpm / 60.0 * t)
    x = (1 + am * resp) * pulse + baseline * np.sin(2 * np.pi * rr_bpm / 60.0 * t + 0.7)
    return x + 0.05 * rng.standard_normal(t.size)


@pytest.mark.parametrize("rr_bpm", [10.0, 15.0, 20.0])
def test_respiration_from_amplitude_and_baseline_modulation(rr_bpm):
    for seed in range(10):
        r = estimate_respiration(_modulated_ppg(np.random.default_rng(seed), rr_bpm), FS)
        assert r is not None
        assert r.rate_bpm == pytest.approx(rr_bpm, abs=1.0)
        assert r.quality > 0.5
        assert {s.name for s in r.sources} >= {"riiv", "riav"}


def test_respiration_survives_the_pulse_band_pass_with_given_beats():
    x = _modulated_ppg(np.random.default_rng(3), 15.0, duration_s=40.0)
    xb = bandpass(x, FS, 0.7, 3.3)
    r = estimate_respiration(xb, FS, beat_t_s=detect_beats(xb, FS, hr_hint_bpm=70.0))
    assert r is not None and r.rate_bpm == pytest.approx(15.0, abs=1.0)


def test_unmodulated_pulse_gives_none_or_low_quality():
    results = [
        estimate_respiration(_modulated_ppg(np.random.default_rng(s), 15.0, am=0.0, baseline=0.0), FS)
        for s in range(30)
    ]
    assert all(r is None or r.quality < 0.4 for r in results)
    assert sum(r is None for r in results) >= 25


def test_respiration_needs_20_s():
    x = _modulated_ppg(np.random.default_rng(4), 15.0, duration_s=19.0)
    assert estimate_respiration(x, FS) is None
