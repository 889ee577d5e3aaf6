"""Irregularly timed samples (camera clock, dropped frames, face lost) onto a uniform grid."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

_EXACT_TOL_S = 1e-6  # a grid point this close to a usable sample takes its value


def interp_frames(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``x`` (n, ...) of a float dtype, linearly interpolated along axis 0 at the fractional
    indices ``pos`` (clipped to [0, n - 1]): a new (len(pos), ...) array of x's dtype. Frames
    (speed augmentation, frame-rate conversion) and 1-D signals alike."""
    n = x.shape[0]
    pos = np.clip(np.asarray(pos, dtype=np.float64), 0.0, n - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (pos - i0).astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
    a = x[i0]  # fancy indexing copies: a and b may be written in place
    b = x[i1]
    b -= a
    b *= w
    a += b
    return a


@dataclass(frozen=True)
class UniformSignal:
    """Samples on the grid ``t_s = t0 + k / fs_hz``. ``x`` is (M,) or (M, C); where ``valid`` is
    False the grid point fell in a gap (no data within ``max_gap_s``) and ``x`` is NaN."""

    t_s: np.ndarray
    x: np.ndarray
    fs_hz: float
    valid: np.ndarray


def resample_uniform(
    t_s: np.ndarray, x: np.ndarray, fs_hz: float, max_gap_s: float = 0.5
) -> UniformSignal:
    """Linear interpolation of ``x(t_s)`` onto a uniform grid that starts at ``t_s[0]``.

    ``t_s`` may jitter and skip frames; unsorted input is sorted (the grid then starts at the
    earliest timestamp), repeated timestamps keep their first sample, non-finite ones are
    dropped. A sample is usable when all its channels are finite. A grid point is interpolated
    from the usable samples on either side of it, and only when those two are at most
    ``max_gap_s`` apart: NaN samples (face lost) and dropped frames are bridged when the
    hole is short, and a longer hole leaves its grid points invalid (NaN) rather than inventing
    a straight line across it. Grid points that coincide with a usable sample are always valid.
    """
    t = np.asarray(t_s, dtype=np.float64).ravel()
    v = np.asarray(x, dtype=np.float64)
    if fs_hz <= 0:
        raise ValueError(f"fs_hz must be > 0, got {fs_hz}")
    if v.shape[0] != t.shape[0] or v.ndim not in (1, 2):
        raise ValueError(f"x must be (N,) or (N, C) with N = len(t_s) = {t.shape[0]}, got {v.shape}")
    finite_t = np.isfinite(t)
    t, v = t[finite_t], v[finite_t]
    if t.size == 0:
        empty = np.empty((0,) + v.shape[1:])
        return UniformSignal(np.empty(0), empty, float(fs_hz), np.zeros(0, dtype=bool))
    if np.any(np.diff(t) <= 0):
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        keep = np.concatenate(([True], np.diff(t) > 0))
        t, v = t[keep], v[keep]
    t0 = float(t[0])
    usable = np.isfinite(v) if v.ndim == 1 else np.all(np.isfinite(v), axis=1)
    tu, vu = t[usable], v[usable]

    n_grid = int(np.floor((t[-1] - t0) * fs_hz + 1e-9)) + 1
    grid = t0 + np.arange(n_grid) / fs_hz
    out_shape = (n_grid,) + v.shape[1:]
    if tu.size == 0:
        return UniformSignal(grid, np.full(out_shape, np.nan), float(fs_hz), np.zeros(n_grid, dtype=bool))

    # Usable samples bracketing each grid point: left <= g < right.
    right = np.searchsorted(tu, grid, side="right")
    left = right - 1
    has_left = left >= 0
    li = np.clip(left, 0, tu.size - 1)
    ri = np.clip(right, 0, tu.size - 1)
    has_right = right < tu.size
    exact_l = has_left & (np.abs(tu[li] - grid) <= _EXACT_TOL_S)
    exact_r = has_right & ~exact_l & (np.abs(tu[ri] - grid) <= _EXACT_TOL_S)
    span = tu[ri] - tu[li]
    bridged = has_left & has_right & (span <= max_gap_s)
    valid = exact_l | exact_r | bridged

    w = np.zeros(n_grid)
    ok = bridged & ~exact_l & ~exact_r
    w[ok] = (grid[ok] - tu[li[ok]]) / span[ok]
    w[exact_r] = 1.0
    if v.ndim == 2:
        w = w[:, None]
    out = vu[li] * (1.0 - w) + vu[ri] * w
    out[~valid] = np.nan
    n_bad = int(np.count_nonzero(~valid))
    if n_bad:
        log.debug("resample_uniform: %d of %d grid points in gaps > %.3f s", n_bad, n_grid, max_gap_s)
    return UniformSignal(grid, out, float(fs_hz), valid)


def valid_segments(valid: np.ndarray, min_len: int = 1) -> list[slice]:
    """Runs of True in ``valid`` at least ``min_len`` samples long, as slices in order."""
    m = np.asarray(valid, dtype=bool).ravel()
    if m.size == 0:
        return []
    edges = np.diff(np.concatenate(([0], m.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return [slice(int(a), int(b)) for a, b in zip(starts, stops) if b - a >= max(int(min_len), 1)]
