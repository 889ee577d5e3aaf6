"""Beat detection in a BVP and time-domain heart-rate variability from the beat times.

Beats are the maxima of the BVP (the systolic peaks when the BVP rises with blood volume; with
the classic methods' orientation on real skin, the brightness maxima: the inter-beat intervals and
HRV are the same either way). Peaks are found with ``scipy.signal.find_peaks``: a minimum distance
of 0.6 of the expected beat period (from the HR hint, else from ``estimate_hr``) and a prominence
of ``PROMINENCE_FRACTION`` of the signal's robust peak-to-peak amplitude, the prominence being
measured within a window of two beat periods so baseline wander does not inflate it. Each peak is
then refined to sub-sample time by a parabola through its sample and the two neighbours.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import find_peaks

from model.signal.heart_rate import estimate_hr
from model.types import HrvMetrics

log = logging.getLogger(__name__)

MIN_DISTANCE_FRACTION = 0.6  # of the expected beat period
PROMINENCE_FRACTION = 0.3  # of the robust peak-to-peak amplitude (5th..95th percentile)
FALLBACK_HR_BPM = 200.0  # shortest period assumed when no HR is known
IBI_MEDIAN_BEATS = 11  # local-median window for IBI outlier rejection
IBI_OK_RANGE = (0.7, 1.3)  # accepted IBI / local median
IBI_ABS_RANGE_MS = (250.0, 2000.0)  # 30..240 bpm
MIN_CLEAN_BEATS = 8


@dataclass(frozen=True)
class IbiSeries:
    """Inter-beat intervals. ``t_s[i]`` is the time of the beat that closes interval ``i``;
    ``ok[i]`` is False for intervals rejected as outliers (missed or extra beats)."""

    t_s: np.ndarray
    ibi_ms: np.ndarray
    ok: np.ndarray


def detect_beats(x: np.ndarray, fs_hz: float, hr_hint_bpm: float | None = None) -> np.ndarray:
    """Beat (systolic peak) times in seconds from the first sample of ``x`` (uniform at
    ``fs_hz``, preferably band-passed). Returns an empty array when nothing usable is found."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size < 3 or fs_hz <= 0 or not np.all(np.isfinite(x)):
        return np.empty(0)
    hr = hr_hint_bpm
    if hr is None or not math.isfinite(hr) or hr <= 0:
        est = estimate_hr(x, fs_hz)
        hr = est.hr_bpm if est.ok else None
    period_s = 60.0 / hr if hr else 60.0 / FALLBACK_HR_BPM
    if not hr:
        log.debug("detect_beats: no HR known, minimum beat distance %.2f s", period_s)
    lo, hi = np.percentile(x, [5.0, 95.0])
    amp = float(hi - lo)
    if amp <= 0:
        return np.empty(0)
    distance = max(1, int(MIN_DISTANCE_FRACTION * period_s * fs_hz))
    wlen = max(3, int(round(2.0 * period_s * fs_hz)) | 1)
    pk, _ = find_peaks(x, distance=distance, prominence=PROMINENCE_FRACTION * amp, wlen=wlen)
    if pk.size == 0:
        return np.empty(0)
    return _refine_peaks(x, pk) / fs_hz


def _refine_peaks(x: np.ndarray, pk: np.ndarray) -> np.ndarray:
    """Sub-sample peak positions (in samples) by parabolic interpolation."""
    pos = pk.astype(np.float64)
    inner = (pk > 0) & (pk < x.size - 1)
    i = pk[inner]
    a, b, c = x[i - 1], x[i], x[i + 1]
    den = a - 2.0 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(den < 0, 0.5 * (a - c) / den, 0.0)
    pos[inner] += np.clip(delta, -0.5, 0.5)
    return pos


def ibi_ms(beat_t_s: np.ndarray) -> IbiSeries:
    """Inter-beat intervals (ms) with outlier flags: an interval is rejected when it is outside
    ``IBI_OK_RANGE`` (0.7..1.3) times the median of the ``IBI_MEDIAN_BEATS`` intervals around it,
    or outside 250..2000 ms."""
    t = np.sort(np.asarray(beat_t_s, dtype=np.float64).ravel())
    t = t[np.isfinite(t)]
    if t.size < 2:
        return IbiSeries(np.empty(0), np.empty(0), np.zeros(0, dtype=bool))
    ibi = np.diff(t) * 1000.0
    size = min(IBI_MEDIAN_BEATS, ibi.size)
    local = median_filter(ibi, size=size, mode="nearest")
    ratio = ibi / local
    ok = (ratio >= IBI_OK_RANGE[0]) & (ratio <= IBI_OK_RANGE[1])
    ok &= (ibi >= IBI_ABS_RANGE_MS[0]) & (ibi <= IBI_ABS_RANGE_MS[1])
    return IbiSeries(t_s=t[1:], ibi_ms=ibi, ok=ok)


def hrv_from_beats(beat_t_s: np.ndarray, min_clean_beats: int = MIN_CLEAN_BEATS) -> HrvMetrics | None:
    """Time-domain HRV from beat times, over the intervals that pass ``ibi_ms``'s outlier test.

    ``n_beats`` counts the beats that bound a clean interval; SDNN is the sample standard
    deviation (ddof=1) of the clean intervals; RMSSD and pNN50 use successive differences of
    clean intervals that are adjacent (no rejected interval between them). Returns None when
    fewer than ``min_clean_beats`` beats bound clean intervals or no adjacent pair exists.
    """
    s = ibi_ms(beat_t_s)
    ibi, ok = s.ibi_ms, s.ok
    n_clean = int(np.count_nonzero(ok))
    bounding = np.zeros(ibi.size + 1, dtype=bool)
    bounding[:-1] |= ok
    bounding[1:] |= ok
    n_beats = int(np.count_nonzero(bounding))
    if n_clean < 2 or n_beats < min_clean_beats:
        return None
    pair = ok[1:] & ok[:-1]
    if not np.any(pair):
        return None
    d = np.diff(ibi)[pair]
    clean = ibi[ok]
    return HrvMetrics(
        n_beats=n_beats,
        mean_ibi_ms=float(np.mean(clean)),
        sdnn_ms=float(np.std(clean, ddof=1)),
        rmssd_ms=float(np.sqrt(np.mean(d * d))),
        pnn50=float(np.mean(np.abs(d) > 50.0)),
    )
