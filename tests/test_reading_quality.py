"""The learned reading quality: the window's evidence (reading features), the logistic model that
weighs it, and the estimator gating on it."""

import math

import numpy as np
import pytest

from model.estimator import EstimatorConfig, StreamingEstimator
from model.pulse_methods import make_pulse_method
from model.signal import PULSE_BAND_HZ, bandpass
from model.signal.quality import quality_from_snr
from model.signal.reading_features import (
    DIST_CAP_BPM,
    FEATURE_NAMES,
    SPREAD_UNKNOWN_BPM,
    ReadingFeatures,
    reading_features,
)
from model.signal.reading_quality import ReadingQualityModel
from model.types import RoiSample

FS = 30.0
SKIN = np.array([180.0, 130.0, 110.0])
PBV = np.array([0.33, 0.77, 0.53])


def _rgb(hr_bpm, n, pulse=0.006, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    phase = 2 * np.pi * hr_bpm / 60 * t
    wave = np.sin(phase) + 0.4 * np.sin(2 * phase + 0.8)
    rgb = SKIN * (1 - pulse * wave[:, None] * PBV / np.linalg.norm(PBV))
    return rgb + rng.normal(0, noise, rgb.shape), wave


def _features(bvp, rgb, hr_bpm, recent):
    from model.signal.heart_rate import estimate_hr

    bvp_f = bandpass(bvp - bvp.mean(), FS, *PULSE_BAND_HZ)
    est = estimate_hr(bvp_f, FS, snr_band_hz=PULSE_BAND_HZ)
    return reading_features(bvp_f, rgb, FS, hr_bpm if hr_bpm is not None else est.hr_bpm, est.snr_db, recent,
                            PULSE_BAND_HZ, 42.0, 200.0)


def test_features_of_a_clean_pulse():
    rgb, wave = _rgb(72.0, 300)
    f = _features(wave + np.random.default_rng(1).normal(0, 0.2, 300), rgb, 72.0, [71.0, 73.0, 72.0])
    assert f.snr_db > 5
    assert f.peak_share > 0.5
    assert f.second_ratio < 0.3
    assert f.d_half_bpm < 3 and f.d_chrom_bpm < 3 and f.d_pos_bpm < 3
    assert f.spread3_bpm == pytest.approx(2.0)
    assert f.spread5_bpm == SPREAD_UNKNOWN_BPM  # only 3 window HRs so far
    assert f.hr_bpm == 72.0 and f.window_s == pytest.approx(299 / FS)
    assert tuple(f.as_array()) == tuple(getattr(f, n) for n in FEATURE_NAMES)


def test_features_of_noise_are_worse_than_of_a_pulse():
    noise = np.random.default_rng(2).normal(0, 1, 300)
    rgb = SKIN + np.random.default_rng(3).normal(0, 0.3, (300, 3))  # skin colour without a pulse
    f_noise = _features(noise, rgb, None, [60.0, 95.0, 140.0, 70.0, 120.0])
    rgb_p, wave = _rgb(72.0, 300)
    f_pulse = _features(wave, rgb_p, 72.0, [72.0] * 5)
    assert f_noise.peak_share < f_pulse.peak_share
    assert f_noise.second_ratio > f_pulse.second_ratio
    assert f_noise.spread5_bpm == 80.0 and f_pulse.spread5_bpm == 0.0
    assert f_noise.snr_db < f_pulse.snr_db


def test_a_distance_without_an_hr_is_capped():
    rgb = np.tile(SKIN, (300, 1))  # a flat skin colour: the classic methods read no HR
    _, wave = _rgb(72.0, 300)
    f = _features(wave, rgb, 72.0, [72.0])
    assert f.d_chrom_bpm == DIST_CAP_BPM and f.d_pos_bpm == DIST_CAP_BPM


def _model(**kw):
    base = dict(names=("snr_db", "spread3_bpm"), log_names=("spread3_bpm",), mean=(0.0, 1.0), scale=(2.0, 0.5),
                coef=(1.5, -2.0), intercept=0.3)
    base.update(kw)
    return ReadingQualityModel(**base)


def _feat(**kw):
    base = dict(snr_db=0.0, peak_share=0.3, second_ratio=0.5, d_half_bpm=2.0, d_chrom_bpm=2.0, d_pos_bpm=2.0,
                spread3_bpm=2.0, spread5_bpm=3.0, hr_bpm=70.0, window_s=10.0)
    base.update(kw)
    return ReadingFeatures(**base)


def test_the_model_is_a_logistic_of_standardised_features():
    m = _model()
    f = _feat(snr_db=3.0, spread3_bpm=4.0)
    z = 1.5 * (3.0 - 0.0) / 2.0 - 2.0 * (math.log1p(4.0) - 1.0) / 0.5 + 0.3
    assert m.probability(f) == pytest.approx(1 / (1 + math.exp(-z)))
    assert m.probability(_feat(snr_db=6.0)) > m.probability(_feat(snr_db=0.0))  # more SNR, more likely right
    assert m.probability(_feat(spread3_bpm=20.0)) < m.probability(_feat(spread3_bpm=1.0))
    assert ReadingQualityModel.from_dict(m.as_dict()) == m


def test_the_model_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="unknown reading features"):
        _model(names=("snr_db", "colour"))
    with pytest.raises(ValueError, match="same length"):
        _model(coef=(1.0,))
    with pytest.raises(ValueError, match="positive"):
        _model(scale=(0.0, 1.0))


def _trace(hr_bpm, duration_s, pulse, seed=0):
    rgb, _ = _rgb(hr_bpm, int(duration_s * FS), pulse=pulse, seed=seed)
    return np.arange(len(rgb)) / FS, rgb


def _readings(cfg, t, rgb):
    est = StreamingEstimator(make_pulse_method("pos"), cfg)
    for ti, c in zip(t, rgb):
        est.push_roi(RoiSample(t_s=float(ti), face_ok=True, rgb_mean=c))
    return [r for r in est.readings if r.hr_raw_bpm is not None]


def test_the_estimator_gates_on_the_learned_quality():
    m = _model()
    cfg = EstimatorConfig(reading_quality=m, gate_open=0.7, gate_close=0.7)
    t, rgb = _trace(84.0, 30.0, pulse=0.006)
    rd = _readings(cfg, t, rgb)
    assert rd and all(r.features is not None for r in rd)
    for r in rd:
        assert r.quality == pytest.approx(m.probability(r.features))
        assert (r.hr_bpm is not None) == (r.quality >= 0.7)
    assert any(r.hr_bpm is not None for r in rd)
    assert abs(rd[-1].hr_bpm - 84.0) < 1.5
    # no pulse: the spreads and the SNR keep the quality low, nothing is shown
    t, rgb = _trace(84.0, 30.0, pulse=0.0, seed=4)
    assert all(r.hr_bpm is None for r in _readings(cfg, t, rgb))


def test_features_kept_without_a_learned_quality_leave_the_snr_gate():
    t, rgb = _trace(84.0, 20.0, pulse=0.006)
    rd = _readings(EstimatorConfig(keep_features=True), t, rgb)
    assert rd and all(r.features is not None for r in rd)
    assert all(r.quality == pytest.approx(quality_from_snr(r.snr_db)) for r in rd)
    assert all(r.features is None for r in _readings(EstimatorConfig(), t, rgb))
