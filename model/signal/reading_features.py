"""What one HR update knows about its own reading, beyond the SNR: the evidence a learned reading
quality (``model.signal.reading_quality``) weighs to say how likely the reading is right.

Each feature is cheap (a few short spectra of the 10 s window, once per update):

* ``snr_db``: the SNR at the window's HR (the classic gate's one input);
* ``peak_share``: the share of the HR range's power within 0.1 Hz of the HR;
* ``second_ratio``: the highest power more than 0.2 Hz away from the HR against the HR's own
  peak (a rival peak: a noise peak near the pulse's height);
* ``d_half_bpm``: how far the HRs of the window's first and last 70 % lie apart (a pulse keeps
  its rate through the window, noise does not);
* ``d_chrom_bpm`` / ``d_pos_bpm``: how far CHROM's and POS's HRs of the same window's skin colour
  lie from the reading (independent methods rarely err alike);
* ``spread3_bpm`` / ``spread5_bpm``: the range of the last 3 / 5 window HRs (a noise peak moves
  from window to window); ``SPREAD_UNKNOWN_BPM`` until there are that many;
* ``hr_bpm``: the reading itself; ``window_s``: the window's length.

Distances are capped at ``DIST_CAP_BPM`` (a missing HR counts as the cap).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields

import numpy as np
from scipy.signal import periodogram

from model.methods import run_classic
from model.signal.filters import bandpass
from model.signal.heart_rate import estimate_hr

DIST_CAP_BPM = 40.0
SPREAD_UNKNOWN_BPM = 40.0
SPREAD_HRS = 5  # the most window HRs a spread reads (spread5_bpm)
NEAR_HZ = 0.1  # the HR's own peak: within this of the HR
RIVAL_HZ = 0.2  # a rival peak: further than this from the HR
HALF_SHARE = 0.7  # the two overlapping parts of the window whose HRs are compared
NFFT = 4096


@dataclass(frozen=True)
class ReadingFeatures:
    snr_db: float
    peak_share: float
    second_ratio: float
    d_half_bpm: float
    d_chrom_bpm: float
    d_pos_bpm: float
    spread3_bpm: float
    spread5_bpm: float
    hr_bpm: float
    window_s: float

    def as_array(self) -> np.ndarray:
        return np.array(astuple(self), dtype=np.float64)


FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ReadingFeatures))


def _capped(d: float) -> float:
    return min(abs(d), DIST_CAP_BPM) if math.isfinite(d) else DIST_CAP_BPM


def signal_hr_bpm(x: np.ndarray, fs_hz: float, band_hz: tuple[float, float], lo_bpm: float,
                  hi_bpm: float) -> float | None:
    """The HR of a raw pulse signal ``x`` (a method's output, a part of a window): its mean
    removed, band-passed to ``band_hz``, the spectral peak within ``lo_bpm`` .. ``hi_bpm``; None
    without an estimate. The reading's cross-checks (here and ``EstimatorConfig.check_methods``)."""
    x = np.asarray(x, dtype=np.float64)
    est = estimate_hr(bandpass(x - x.mean(), fs_hz, *band_hz), fs_hz, lo_bpm=lo_bpm, hi_bpm=hi_bpm,
                      snr_band_hz=band_hz)
    return float(est.hr_bpm) if est.ok else None


def _hr(x: np.ndarray, fs_hz: float, band_hz: tuple[float, float], lo_bpm: float, hi_bpm: float) -> float:
    hr = signal_hr_bpm(x, fs_hz, band_hz, lo_bpm, hi_bpm)
    return math.nan if hr is None else hr


def _spread(recent: Sequence[float], n: int) -> float:
    last = list(recent)[-n:]
    return float(max(last) - min(last)) if len(last) == n else SPREAD_UNKNOWN_BPM


def _peaks(bvp_f: np.ndarray, fs_hz: float, hr_bpm: float, lo_bpm: float, hi_bpm: float) -> tuple[float, float]:
    """(peak_share, second_ratio) of the band-passed window's spectrum."""
    f, p = periodogram(bvp_f, fs_hz, window="hann", nfft=max(NFFT, len(bvp_f)))
    keep = (f >= lo_bpm / 60.0) & (f <= hi_bpm / 60.0)
    f, p = f[keep], p[keep]
    total = float(p.sum())
    off = np.abs(f - hr_bpm / 60.0)
    near, far = off <= NEAR_HZ, off > RIVAL_HZ
    if total <= 0 or not near.any():
        return 0.0, 1.0
    own = float(p[near].max())
    share = float(p[near].sum()) / total
    rival = float(p[far].max()) / own if far.any() and own > 0 else 0.0
    return share, rival


def reading_features(bvp_f: np.ndarray, rgb: np.ndarray, fs_hz: float, hr_bpm: float, snr_db: float,
                     recent_hr_bpm: Sequence[float], band_hz: tuple[float, float], lo_bpm: float,
                     hi_bpm: float) -> ReadingFeatures:
    """The features of one window's reading: ``bvp_f`` the window's band-passed BVP, ``rgb`` its
    (N, 3) skin colour on the same grid, ``recent_hr_bpm`` the window HRs of the latest updates
    (this one last)."""
    bvp_f = np.asarray(bvp_f, dtype=np.float64)
    share, rival = _peaks(bvp_f, fs_hz, hr_bpm, lo_bpm, hi_bpm)
    n_part = max(int(HALF_SHARE * len(bvp_f)), 2)
    d_half = _hr(bvp_f[:n_part], fs_hz, band_hz, lo_bpm, hi_bpm) - _hr(bvp_f[-n_part:], fs_hz, band_hz, lo_bpm, hi_bpm)
    rgb = np.asarray(rgb, dtype=np.float64)
    d_chrom = _hr(run_classic("chrom", rgb, fs_hz, band_hz), fs_hz, band_hz, lo_bpm, hi_bpm) - hr_bpm
    d_pos = _hr(run_classic("pos", rgb, fs_hz, band_hz), fs_hz, band_hz, lo_bpm, hi_bpm) - hr_bpm
    return ReadingFeatures(
        snr_db=float(snr_db) if math.isfinite(snr_db) else -20.0, peak_share=share, second_ratio=rival,
        d_half_bpm=_capped(d_half), d_chrom_bpm=_capped(d_chrom), d_pos_bpm=_capped(d_pos),
        spread3_bpm=_spread(recent_hr_bpm, 3), spread5_bpm=_spread(recent_hr_bpm, SPREAD_HRS), hr_bpm=float(hr_bpm),
        window_s=(len(bvp_f) - 1) / fs_hz)
