"""Whether the face pulses as one: the spatial coherence of the skin's colour change at the reading.

A pulse reaches every patch of facial skin within a fraction of a beat, so the skin colour of
regions far apart (forehead, both cheeks, chin) changes in step at the heart rate. What gives a
photo, a screen or an animated face its spurious readings (compression noise, the sway of a held
print, a light that drifts) is local or changes each region its own way. This measure cuts the
masked face crop into a grid of regions, projects each region's mean colour on the POS plane
(Wang et al. 2017, one alpha over the window), narrows each to the reading's frequency and
averages the correlations of all pairs of regions: near 0 for noise, clearly above 0 for a pulse.

The amplitude of the pooled skin's POS signal at the same frequency (:class:`FacePulse`) is the
second check: a still photo's regions can change in step by chance, but by far less than skin with
a pulse does.

Measured on the crop cache of the 8 UBFC dev subjects and the faces without a pulse (every held-out
FCUS reading of 12 fold models at its rate, ad hoc in session 17; ``benchmarks/check_choices.py
--space coherence`` chooses the thresholds in nested folds): the coherence's median over the real
faces' readings 0.38 (10th percentile 0.15), over the 30 s faces without a pulse 0.02 (95th
percentile 0.15-0.23 by clip; a 120 s still photo reaches 0.30). It does not tell a right reading of
a real face from a wrong one (medians 0.38 and 0.31): it tells a face with a pulse from one without.
The amplitude is 1.3e-4 or more on 95 % of each subject's readings, 2-9e-5 on the still photos.
Both take about 5-7 ms for a 10 s window of 36 px crops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import sosfiltfilt

from model.signal.filters import butter_sos

GRID = 3  # regions per side of the crop: 3 x 3 (forehead row, eyes and cheeks, mouth and chin)
MIN_SKIN_SHARE = 0.15  # a region counts when at least this share of its pixels is skin in every frame
MIN_REGIONS = 3  # fewer skin regions than this: no measure
HALF_WIDTH_HZ = 0.15  # each region's signal is narrowed to the reading's frequency +- this
FILTER_ORDER = 2
MIN_FRAMES = 3 * (2 * FILTER_ORDER + 1) * 2  # the shortest window the narrow filter can run on


def region_colours(crops: np.ndarray, grid: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    """Mean skin colour of each region of masked crops ``crops`` (T, S, S, 3; 0 outside the skin):
    (T, grid * grid, 3) means (NaN where a region has no skin in a frame) and (T, grid * grid) skin
    pixel counts. Regions are ``S // grid`` pixels square; the rest of the crop is left out."""
    crops = np.asarray(crops, dtype=np.float32)
    t, s = crops.shape[:2]
    b = s // grid
    if b < 1:
        raise ValueError(f"a {s} px crop has no {grid} x {grid} regions")
    n = grid * b

    def block_sums(x: np.ndarray) -> np.ndarray:  # (t, n, n, k) -> (t, grid * grid, k)
        k = x.shape[3]
        rows = x.reshape(t, grid, b, n * k).sum(axis=2)  # each block row's rows summed: (t, grid, n * k)
        return rows.reshape(t, grid, grid, b, k).sum(axis=3).reshape(t, grid * grid, k)

    c = crops[:, :n, :n, :]
    sums = block_sums(c)
    skin = ((c[..., 0] + c[..., 1] + c[..., 2]) > 0).astype(np.float32)[..., None]
    counts = block_sums(skin)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, :, None]
    means[counts == 0] = np.nan
    return means, counts


def pos_projection(rgb: np.ndarray) -> np.ndarray:
    """POS over a whole window, one alpha: ``rgb`` (T, R, 3) region colours -> (R, T) signals."""
    cn = rgb / np.mean(rgb, axis=0, keepdims=True) - 1.0
    s1 = cn[..., 1] - cn[..., 2]
    s2 = -2.0 * cn[..., 0] + cn[..., 1] + cn[..., 2]
    alpha = np.std(s1, axis=0) / np.maximum(np.std(s2, axis=0), 1e-12)
    return (s1 + alpha * s2).T


@dataclass(frozen=True)
class FacePulse:
    """The skin's colour change at one frequency: ``coherence``, the mean pairwise correlation of
    the regions' POS signals narrowed to it (-1..1), and ``amplitude``, the standard deviation of
    the POS signal of all the skin regions' pooled colour narrowed to it (relative colour change,
    e.g. 3e-4 is 0.03 %)."""

    coherence: float
    amplitude: float


def face_pulse(crops: np.ndarray, fs_hz: float, f_hz: float, band_hz: tuple[float, float],
               grid: int = GRID) -> FacePulse | None:
    """:class:`FacePulse` of the window of masked crops ``crops`` (T, S, S, 3) at ``fs_hz``, at
    ``f_hz`` +- ``HALF_WIDTH_HZ`` (inside ``band_hz``); None when fewer than ``MIN_REGIONS`` regions
    hold skin in every frame, or the window is too short to filter."""
    crops = np.asarray(crops)
    if crops.ndim != 4 or len(crops) < MIN_FRAMES:
        return None
    means, counts = region_colours(crops, grid)
    return face_pulse_of_regions(means, counts, (crops.shape[1] // grid) ** 2, fs_hz, f_hz, band_hz)


def face_pulse_of_regions(means: np.ndarray, counts: np.ndarray, block_px: int, fs_hz: float, f_hz: float,
                          band_hz: tuple[float, float]) -> FacePulse | None:
    """:func:`face_pulse` of the window's :func:`region_colours` (``means``, ``counts``; each frame's
    may be computed once and gathered, as the estimator does), regions of ``block_px`` pixels."""
    if len(means) < MIN_FRAMES:
        return None
    keep = np.all(counts >= MIN_SKIN_SHARE * block_px, axis=0) & np.all(means > 0, axis=(0, 2))
    if int(keep.sum()) < MIN_REGIONS:
        return None
    lo = max(f_hz - HALF_WIDTH_HZ, band_hz[0])
    hi = min(f_hz + HALF_WIDTH_HZ, band_hz[1], 0.499 * fs_hz)
    if not 0.0 < lo < hi:
        return None
    kept, weights = means[:, keep].astype(np.float64), counts[:, keep].astype(np.float64)
    pooled = (kept * weights[:, :, None]).sum(axis=1) / weights.sum(axis=1)[:, None]  # (T, 3)
    signals = pos_projection(np.concatenate([kept, pooled[:, None, :]], axis=1))  # (R + 1, T)
    sos = butter_sos(FILTER_ORDER, float(lo), float(hi), float(fs_hz))
    narrow = sosfiltfilt(sos, signals - signals.mean(axis=1, keepdims=True), axis=1)
    sd = narrow.std(axis=1)
    if np.any(sd[:-1] <= 0) or not np.all(np.isfinite(sd)):
        return None
    z = (narrow[:-1] - narrow[:-1].mean(axis=1, keepdims=True)) / sd[:-1, None]
    corr = z @ z.T / z.shape[1]
    upper = np.triu_indices(len(z), 1)
    return FacePulse(coherence=float(np.mean(corr[upper])), amplitude=float(sd[-1]))

