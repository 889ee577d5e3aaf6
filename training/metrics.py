"""Heart-rate metrics on windows: the estimate and the reference HR are taken over the same window
(the reference from the contact PPG's spectrum, not the oximeter's HR readout)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.signal import HR_RANGE_BPM, PULSE_BAND_HZ, bandpass, estimate_hr


@dataclass(frozen=True)
class WindowHr:
    t_start_s: float
    hr_est_bpm: float | None  # None: no estimate (face lost / not enough signal)
    hr_ref_bpm: float


@dataclass(frozen=True)
class HrMetrics:
    n: int  # windows with both an estimate and a reference
    n_missing: int  # windows where the method gave no estimate
    mae_bpm: float
    rmse_bpm: float
    mape_pct: float
    pearson_r: float
    within5_share: float

    def row(self) -> dict:
        return {"n": self.n, "missing": self.n_missing, "MAE": self.mae_bpm, "RMSE": self.rmse_bpm,
                "MAPE%": self.mape_pct, "r": self.pearson_r, "<5bpm": self.within5_share}


def window_hr(t_s: np.ndarray, x: np.ndarray, t_from: float, t_to: float, fs_hz: float = 30.0,
              hr_range_bpm: tuple[float, float] = HR_RANGE_BPM, band_hz: tuple[float, float] = PULSE_BAND_HZ,
              min_valid: float = 0.8) -> float | None:
    """HR of signal x(t) over [t_from, t_to): resampled to fs_hz, band-passed to ``band_hz``,
    spectral peak in ``hr_range_bpm`` (the estimator's defaults, ``model.signal.band``, so an
    estimate and its reference are scored as the estimator reads a BVP). None when under
    ``min_valid`` of the window has finite samples."""
    grid = np.arange(t_from, t_to, 1.0 / fs_hz)
    ok = np.isfinite(x)
    if ok.sum() < 2 or len(grid) < fs_hz * 2:
        return None
    inside = (t_s >= t_from) & (t_s < t_to)
    if inside.sum() == 0 or (ok & inside).sum() < min_valid * inside.sum():
        return None
    xi = np.interp(grid, t_s[ok], x[ok])
    xi = bandpass(xi - xi.mean(), fs_hz, *band_hz)
    est = estimate_hr(xi, fs_hz, lo_bpm=hr_range_bpm[0], hi_bpm=hr_range_bpm[1], snr_band_hz=band_hz)
    return float(est.hr_bpm) if est.hr_bpm is not None and math.isfinite(est.hr_bpm) else None


MEAN_HR_WINDOW_S = 10.0  # as hr.csv's readings are scored (training.replay.SHOWN_REF_S)
MEAN_HR_STEP_S = 1.0


def mean_window_hr(t_s: np.ndarray, x: np.ndarray, t_from: float, t_to: float,
                   window_s: float = MEAN_HR_WINDOW_S, step_s: float = MEAN_HR_STEP_S) -> float | None:
    """The average HR of x(t) over [t_from, t_to]: the mean of :func:`window_hr` over the
    ``window_s`` windows inside the span that end every ``step_s`` (the first at ``t_from +
    window_s``). Unlike the spectral peak of the whole span, it follows a rate that changes: on a
    clip whose contact PPG reads 80-106 bpm from one 10 s window to the next (UBFC subject 3) the
    whole clip's peak says 101.2, these windows' mean 93.4. A span shorter than one window is read
    whole (:func:`window_hr`). None when no window has an HR."""
    if t_to - t_from < window_s:
        return window_hr(t_s, x, t_from, t_to)
    ends = np.arange(t_from + window_s, t_to + 1e-6, step_s)
    hrs = [window_hr(t_s, x, e - window_s, e) for e in ends]
    hrs = [h for h in hrs if h is not None]
    return float(np.mean(hrs)) if hrs else None


# A whole clip's (or span's) true HR, as the studies may take it: the contact PPG's average HR
# (the default since session 16) or its spectral peak over the whole span (before).
CLIP_TRUTHS = {"mean": mean_window_hr, "peak": window_hr}
CLIP_TRUTH_LABELS = {"mean": "average HR (mean of its 10 s HRs)", "peak": "spectral peak"}


def window_pairs(est_t_s: np.ndarray, est_bvp: np.ndarray, ref_t_s: np.ndarray, ref_ppg: np.ndarray,
                 window_s: float, step_s: float | None = None) -> list[WindowHr]:
    """Pairs (estimate, reference) over consecutive windows of ``window_s`` (step defaults to the
    window: non-overlapping) inside the span both signals cover."""
    step_s = step_s or window_s
    t_end = min(float(est_t_s[-1]), float(ref_t_s[-1]))
    out = []
    t = max(float(est_t_s[0]), float(ref_t_s[0]))
    # a window may end up to one frame period past the last sample (the samples cover [t, t+dt))
    dt = float(np.median(np.diff(est_t_s))) if len(est_t_s) > 1 else 0.0
    while t + window_s <= t_end + dt + 1e-9:
        ref = window_hr(ref_t_s, ref_ppg, t, t + window_s)
        if ref is not None:
            out.append(WindowHr(t, window_hr(est_t_s, est_bvp, t, t + window_s), ref))
        t += step_s
    return out


def hr_metrics(pairs: list[WindowHr]) -> HrMetrics:
    have = [p for p in pairs if p.hr_est_bpm is not None]
    missing = len(pairs) - len(have)
    if not have:
        nan = float("nan")
        return HrMetrics(0, missing, nan, nan, nan, nan, nan)
    e = np.array([p.hr_est_bpm for p in have])
    r = np.array([p.hr_ref_bpm for p in have])
    err = e - r
    pr = float(np.corrcoef(e, r)[0, 1]) if len(have) > 2 and np.std(e) > 0 and np.std(r) > 0 else float("nan")
    return HrMetrics(
        n=len(have), n_missing=missing, mae_bpm=float(np.mean(np.abs(err))),
        rmse_bpm=float(np.sqrt(np.mean(err**2))), mape_pct=float(np.mean(np.abs(err) / r) * 100),
        pearson_r=pr, within5_share=float(np.mean(np.abs(err) < 5.0)),
    )


def reading_accuracy(errors_bpm, within_bpm: float = 5.0) -> tuple[float, float]:
    """(share of the readings within ``within_bpm`` of the reference, bounds included; their MAE)
    from their errors. A missing reading (None, NaN) counts as outside and stays out of the MAE;
    (NaN, NaN) for no readings, a NaN MAE when none was there."""
    e = np.array([math.nan if x is None else x for x in errors_bpm], dtype=np.float64)
    if e.size == 0:
        return math.nan, math.nan
    got = np.isfinite(e)
    share = float(np.mean(np.abs(np.where(got, e, np.inf)) <= within_bpm))
    return share, float(np.mean(np.abs(e[got]))) if got.any() else math.nan
