"""POS (Wang, den Brinker, Stuijk & de Haan 2017, "Algorithmic principles of remote PPG"),
Algorithm 1: for every window of ``l = win_s * fs`` samples ending at sample n (step 1):
temporal normalisation ``Cn = C / mean(C)``, projection onto the plane orthogonal to the skin tone
``S = P Cn`` with ``P = [[0, 1, -1], [-2, 1, 1]]``, alpha tuning ``h = S1 + (std(S1)/std(S2)) S2``,
and overlap-add of ``h - mean(h)``. All windows are processed at once on strided views.

The projection of Algorithm 1 is positive along +PBV; it is negated so that the output rises with
the blood volume (skin darkens), the orientation all classic methods share (see
``model.methods.green``). The output is the overlap-added ``-h``, unfiltered: the streaming
estimator band-passes every method's BVP once, on the way to the HR.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from model.methods.green import check_rgb

P_POS = np.array([[0.0, 1.0, -1.0], [-2.0, 1.0, 1.0]])
_EPS = 1e-12


def pos(rgb: np.ndarray, fs_hz: float, win_s: float = 1.6) -> np.ndarray:
    """BVP (N,) float64, unfiltered, from mean R, G, B traces ``rgb`` (N, 3) sampled uniformly at
    ``fs_hz``."""
    c = check_rgb(rgb, fs_hz)
    n = c.shape[0]
    if n < 2:
        return np.zeros(n)
    win = min(n, max(2, int(np.ceil(win_s * fs_hz))))
    # Window means from a cumulative sum (a mean over the strided view is several times slower).
    cs = np.concatenate([np.zeros((1, 3)), np.cumsum(c, axis=0)])
    mu = (cs[win:] - cs[:-win]) / win  # (M, 3): window m covers [m, m + win)
    inv = np.divide(1.0, mu, out=np.zeros_like(mu), where=mu > _EPS)
    r, g, b = (sliding_window_view(c[:, k], win) * inv[:, k, None] for k in range(3))  # (M, win)
    s1 = P_POS[0, 1] * g + P_POS[0, 2] * b  # G - B
    s2 = P_POS[1, 0] * r + P_POS[1, 1] * g + P_POS[1, 2] * b  # -2R + G + B
    sd1, sd2 = s1.std(axis=1, keepdims=True), s2.std(axis=1, keepdims=True)
    alpha = np.divide(sd1, sd2, out=np.zeros_like(sd1), where=sd2 > _EPS)
    h = s1 + alpha * s2
    h -= h.mean(axis=1, keepdims=True)
    m = h.shape[0]
    out = np.zeros(n)
    for j in range(win):  # out[m + j] += h[m, j] for every window m
        out[j: j + m] += h[:, j]
    return -out
