"""The whole-clip HR and its interval (model.clip_hr) on synthetic BVP streams."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.clip_hr import (
    CLIP_HR_WAYS,
    clip_hr_of,
    clip_windows,
    conformal_scale,
    spread_bpm,
    whole_clip_hr,
)
from model.signal.filters import bandpass

FS = 30.0


def pulse_stream(hr_mean_bpm: float, duration_s: float = 60.0, *, harmonic: float = 0.5, noise: float = 0.3,
                 swing_bpm: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A band-passed BVP stream whose rate swings +- ``swing_bpm`` around ``hr_mean_bpm`` once a
    minute, with a second harmonic of relative amplitude ``harmonic``: (t_s, bvp, hr_bpm)."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration_s, 1.0 / FS)
    hr = hr_mean_bpm + swing_bpm * np.sin(2 * np.pi * t / 60.0)
    phase = 2 * np.pi * np.cumsum(hr / 60.0) / FS
    x = np.sin(phase) + harmonic * np.sin(2 * phase + 0.7) + noise * rng.standard_normal(len(t))
    return t, bandpass(x, FS, 0.6, 3.6), hr


def test_tracked_clip_hr_rejects_a_second_harmonic_stronger_than_the_pulse():
    t, x, hr = pulse_stream(66.0, harmonic=1.25, noise=0.8, seed=3)
    wins = clip_windows(t, x, FS)
    peak, _ = clip_hr_of("spectral peak", t, x, FS, wins)
    tracked, path = clip_hr_of("tracked", t, x, FS, wins)
    assert abs(peak - 2 * 66.0) < 8.0  # the strongest peak is the harmonic
    assert abs(tracked - float(np.median(hr))) < 3.0  # the track stays on the pulse
    assert len(path) == len(wins.t_s) and np.all(np.abs(path - 66.0) < 10.0)


@pytest.mark.parametrize("way", CLIP_HR_WAYS)
def test_every_way_reads_a_clean_pulse(way):
    t, x, hr = pulse_stream(95.0, harmonic=0.3, noise=0.2, seed=1)
    wins = clip_windows(t, x, FS)
    got, _ = clip_hr_of(way, t, x, FS, wins)
    assert abs(got - 95.0) < 3.0


def test_windows_never_span_a_gap_and_short_clips_have_no_hr():
    t, x, _ = pulse_stream(80.0, duration_s=40.0)
    x = x.copy()
    x[int(15 * FS):int(17 * FS)] = np.nan  # the face lost for 2 s
    wins = clip_windows(t, x, FS)
    starts = wins.t_s - 10.0 + 1.0 / FS
    gap = (15.0, 17.0)
    assert len(wins.t_s) > 0
    assert not np.any((starts < gap[1]) & (wins.t_s >= gap[0]))
    short = whole_clip_hr(t[:90], x[:90], FS)  # 3 s
    assert short.hr_bpm is None and short.half_width_bpm is None and short.n_windows == 0
    d = whole_clip_hr(t, x, FS).as_dict()
    assert set(d) == {"hr_bpm", "hr_interval_bpm", "hr_interval_level", "hr_way", "hr_windows"}
    assert abs(d["hr_bpm"] - 80.0) < 3.0 and 0 < d["hr_interval_bpm"] < 30.0


def test_conformal_scale_is_the_split_conformal_quantile():
    scores = np.arange(1.0, 20.0)  # 19 calibration scores
    assert conformal_scale(scores, 0.9) == 18.0  # ceil(20 * 0.9) = 18th smallest
    assert conformal_scale(scores, 0.5) == 10.0
    assert math.isinf(conformal_scale(np.arange(5.0), 0.9))  # too few clips for a 90 % claim


def test_the_window_spread_grows_with_disagreement_and_the_fixed_one_does_not():
    t, clean, _ = pulse_stream(72.0, noise=0.1, swing_bpm=1.0, seed=2)
    _, noisy, _ = pulse_stream(72.0, noise=8.0, swing_bpm=1.0, seed=2)  # windows read noise peaks
    spreads = {}
    for name, x in (("clean", clean), ("noisy", noisy)):
        wins = clip_windows(t, x, FS)
        hr, rates = clip_hr_of("window median", t, x, FS, wins)
        spreads[name] = spread_bpm("window spread", hr, rates)
        assert spread_bpm("fixed", hr, rates) == 1.0
    assert spreads["clean"] < 2.0 and spreads["noisy"] > 2 * spreads["clean"], spreads
    with pytest.raises(ValueError):
        spread_bpm("nonsense", 70.0, np.array([70.0]))
    with pytest.raises(ValueError):
        clip_hr_of("nonsense", t, clean, FS, clip_windows(t, clean, FS))
