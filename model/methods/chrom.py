"""CHROM (de Haan & Jeanne 2013, "Robust pulse rate from chrominance-based rPPG").

Per Hann-windowed segment of ``win_s`` (50 % overlap): each channel is divided by its mean over
the segment, the chrominance signals ``Xs = 3R - 2G`` and ``Ys = 1.5R + G - 1.5B`` are band-passed
to the pulse band ``band_hz`` (part of the algorithm: alpha is the ratio of their in-band
deviations), and ``S = Xf - alpha * Yf`` with ``alpha = std(Xf) / std(Yf)`` cancels the component
the two share
(specular reflection and illumination changes, which move all channels by the same relative
amount). The segments are overlap-added. All segments are filtered in one ``sosfiltfilt`` call.
``S`` as published is negative along +PBV, i.e. it rises with the blood volume (skin darkens),
the orientation all classic methods share (see ``model.methods.green``). The overlap-added ``S``
is returned as it is: the streaming estimator band-passes every method's BVP once, on the way to
the HR.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import get_window

from model.methods.green import check_rgb
from model.signal.band import PULSE_BAND_HZ
from model.signal.filters import bandpass

_EPS = 1e-12


def _segments(n: int, win: int) -> np.ndarray:
    """Start indices of 50 %-overlapping segments covering [0, n), the last one flush with n."""
    hop = max(win // 2, 1)
    starts = list(range(0, n - win + 1, hop))
    if starts[-1] != n - win:
        starts.append(n - win)
    return np.asarray(starts)


def chrom(
    rgb: np.ndarray, fs_hz: float, win_s: float = 1.6, band_hz: tuple[float, float] = PULSE_BAND_HZ
) -> np.ndarray:
    """BVP (N,) float64 from mean R, G, B traces ``rgb`` (N, 3) sampled uniformly at ``fs_hz``;
    ``band_hz`` is the pass-band of X and Y before alpha (the estimator's ``RoiWindow.band_hz``)."""
    c = check_rgb(rgb, fs_hz)
    n = c.shape[0]
    if n < 4:
        return np.zeros(n)
    win = min(n, max(4, int(round(win_s * fs_hz))))
    win += win % 2  # even length: the periodic Hann sums to a constant at hop win/2
    win = min(win, n)
    starts = _segments(n, win)
    seg = sliding_window_view(c, win, axis=0)[starts]  # (S, 3, win)
    mean = seg.mean(axis=2, keepdims=True)
    norm = np.where(mean > _EPS, seg / np.maximum(mean, _EPS), 1.0)
    r, g, b = norm[:, 0], norm[:, 1], norm[:, 2]
    xs = 3.0 * r - 2.0 * g
    ys = 1.5 * r + g - 1.5 * b
    xf = bandpass(np.concatenate([xs, ys], axis=0).T, fs_hz, *band_hz).T  # time on axis 0
    xf, yf = xf[: len(starts)], xf[len(starts):]
    sx, sy = xf.std(axis=1, keepdims=True), yf.std(axis=1, keepdims=True)
    alpha = np.where(sy > _EPS, sx / np.maximum(sy, _EPS), 0.0)
    s = (xf - alpha * yf) * get_window("hann", win)[None, :]
    out = np.zeros(n)
    for k, st in enumerate(starts):
        out[st: st + win] += s[k]
    return out
