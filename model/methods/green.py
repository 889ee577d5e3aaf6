"""GREEN (Verkruysse, Svaasand & Nelson 2008): the green channel carries the strongest
plethysmographic signal. The trace is normalised by its mean (relative change). Like every pulse
method it returns its BVP unfiltered: the streaming estimator band-passes it once, to its
``EstimatorConfig.band_hz``, on the way to the HR.

Orientation shared by the three classic methods (and the FCUS model): the BVP rises with the
blood volume, like a contact PPG. Blood absorbs light, so the skin darkens along -PBV as the blood
volume rises: the BVP is the NEGATED normalised green trace. POS as published is positive along
+PBV and is negated; CHROM's S as published is negative along +PBV and is kept.

Also home of ``check_rgb``, the input check the three classic methods share.
"""

from __future__ import annotations

import numpy as np


def check_rgb(rgb: np.ndarray, fs_hz: float) -> np.ndarray:
    """The classic methods' input contract: (N, 3) finite mean R, G, B traces, uniform at
    ``fs_hz`` > 0 (callers split the signal at gaps). Returns a float64 array; raises ValueError."""
    c = np.asarray(rgb, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != 3:
        raise ValueError(f"rgb must be (N, 3) mean R, G, B traces, got shape {c.shape}")
    if not fs_hz > 0:
        raise ValueError(f"fs_hz must be > 0, got {fs_hz}")
    if not np.all(np.isfinite(c)):
        raise ValueError("rgb contains NaN/inf: split the trace at gaps before running a method")
    return c


def green(rgb: np.ndarray, fs_hz: float) -> np.ndarray:
    """BVP (N,) float64, unfiltered, from mean R, G, B traces ``rgb`` (N, 3) sampled uniformly at
    ``fs_hz``."""
    c = check_rgb(rgb, fs_hz)
    g = c[:, 1]
    m = float(np.mean(g)) if g.size else 0.0
    if g.size < 2 or m <= 0:
        return np.zeros(g.size)
    return 1.0 - g / m
