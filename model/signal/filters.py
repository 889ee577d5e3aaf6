"""Detrending and band-pass filtering of pulse traces.

``detrend`` is the smoothness-priors detrender of Tarvainen, Ranta-aho & Karjalainen (2002): the
trend is the minimiser of ``|x - z|^2 + lam^2 |D2 z|^2`` (D2 the second-difference operator), i.e.
``z = (I + lam^2 D2'D2)^-1 x``, and the detrended signal is ``x - z``. The system matrix is
symmetric positive definite and pentadiagonal, so it is solved as a banded Cholesky system in
O(N) (``scipy.linalg.solveh_banded``); its bands are those of the sparse ``D2'D2``.

``lam`` follows from the cut-off: the stationary response of ``x - z`` is
``u / (1 + u)`` with ``u = 16 lam^2 sin^4(pi f / fs)``; setting that gain to 1/sqrt(2) (-3 dB) at
``f = cutoff_hz`` gives ``lam = sqrt(1 + sqrt(2)) / (4 sin^2(pi cutoff_hz / fs_hz))``.
(Check: fs = 4 Hz, lam = 500 gives 0.035 Hz, the figure quoted for HRV practice.)
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np
from scipy.linalg import solveh_banded
from scipy.signal import butter, sosfiltfilt

log = logging.getLogger(__name__)

_DETREND_GAIN_CONST = math.sqrt(1.0 + math.sqrt(2.0))  # u = 1 + sqrt(2) at the -3 dB point


def smoothness_lambda(fs_hz: float, cutoff_hz: float) -> float:
    """Smoothness-priors ``lam`` whose high-pass response is -3 dB at ``cutoff_hz``."""
    if fs_hz <= 0 or not 0 < cutoff_hz < fs_hz / 2:
        raise ValueError(f"need 0 < cutoff_hz < fs_hz/2, got cutoff_hz={cutoff_hz}, fs_hz={fs_hz}")
    s = math.sin(math.pi * cutoff_hz / fs_hz)
    return _DETREND_GAIN_CONST / (4.0 * s * s)


@lru_cache(maxsize=64)
def _detrend_bands(n: int, lam: float) -> np.ndarray:
    """Upper banded form (3, n) of ``I + lam^2 D2'D2`` for ``solveh_banded``."""
    l2 = lam * lam
    main = np.full(n, 6.0)
    main[[0, -1]] = 1.0
    main[[1, -2]] = 5.0
    off1 = np.full(n - 1, -4.0)
    off1[[0, -1]] = -2.0
    off2 = np.ones(n - 2)
    ab = np.zeros((3, n))
    ab[2] = 1.0 + l2 * main
    ab[1, 1:] = l2 * off1
    ab[0, 2:] = l2 * off2
    ab.setflags(write=False)
    return ab


def detrend(x: np.ndarray, fs_hz: float, cutoff_hz: float = 0.5) -> np.ndarray:
    """Remove the slow trend below ``cutoff_hz`` (smoothness priors, Tarvainen 2002).

    ``x`` is (N,) or (N, C), detrended along axis 0. Returns float64 of the same shape. Inputs of
    fewer than 4 samples only lose their mean.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0] if x.ndim else 0
    if n < 4:
        return x - (x.mean(axis=0) if n else 0.0)
    lam = smoothness_lambda(fs_hz, cutoff_hz)
    trend = solveh_banded(_detrend_bands(n, lam), x, check_finite=False)
    return x - trend


@lru_cache(maxsize=64)
def butter_sos(order: int, lo_hz: float | None, hi_hz: float | None, fs_hz: float) -> np.ndarray:
    """Butterworth second-order sections (band-, high- or low-pass as the edges given), designed once
    per set of arguments (an update's filters repeat theirs): do not write to the array."""
    if lo_hz is not None and hi_hz is not None:
        return butter(order, [lo_hz, hi_hz], btype="bandpass", fs=fs_hz, output="sos")
    if lo_hz is not None:
        return butter(order, lo_hz, btype="highpass", fs=fs_hz, output="sos")
    return butter(order, hi_hz, btype="lowpass", fs=fs_hz, output="sos")


def bandpass(x: np.ndarray, fs_hz: float, lo_hz: float | None, hi_hz: float | None, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth band-pass (``sosfiltfilt``) along axis 0, edges ``lo_hz`` and
    ``hi_hz`` always given by the caller (the pulse band: ``model.signal.band.PULSE_BAND_HZ``,
    or the estimator's ``EstimatorConfig.band_hz``).

    ``order`` is the design order per edge (the band-pass has 2*order poles; forward-backward
    filtering squares its magnitude). An edge at or above 0.95 of Nyquist is dropped (the filter
    becomes a high-pass), as is a non-positive low edge (low-pass). Short inputs are filtered
    with the edge padding cut to what the input allows; inputs of fewer than 3 samples only lose
    their mean. Returns float64 of the input's shape.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0] if x.ndim else 0
    if n < 3:
        return x - (x.mean(axis=0) if n else 0.0)
    nyq = fs_hz / 2.0
    lo = float(lo_hz) if lo_hz is not None and lo_hz > 0 else None
    hi = float(hi_hz) if hi_hz is not None and hi_hz < 0.95 * nyq else None
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"band-pass needs lo_hz < hi_hz, got {lo_hz} >= {hi_hz}")
    if lo is None and hi is None:
        log.debug("bandpass: no active edge (lo=%s, hi=%s, fs=%s): mean removed only", lo_hz, hi_hz, fs_hz)
        return x - x.mean(axis=0)
    sos = butter_sos(int(order), lo, hi, float(fs_hz))
    padlen = min(3 * (2 * len(sos) + 1), n - 1)
    return sosfiltfilt(sos, x, axis=0, padlen=padlen)
