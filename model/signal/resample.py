"""Linear interpolation of frames (or samples) at fractional indices."""

from __future__ import annotations

import numpy as np


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
