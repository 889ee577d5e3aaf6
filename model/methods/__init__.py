"""Classic rPPG methods: mean R, G, B traces (N, 3), uniform at fs_hz, no NaN -> BVP (N,),
unfiltered (the streaming estimator band-passes every method's output once, to its pulse band),
rising with the blood volume like a contact PPG (the skin darkens along -PBV; see
``model.methods.green``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from model.methods.chrom import chrom
from model.methods.green import check_rgb, green
from model.methods.pos import pos
from model.signal.band import PULSE_BAND_HZ

# Every classic method as the estimator calls it: (rgb, fs_hz, band_hz) -> BVP. Only CHROM reads
# the band (its band-pass of X and Y before alpha is part of the algorithm); GREEN and POS have no
# band in them.
ClassicFn = Callable[[np.ndarray, float, tuple[float, float]], np.ndarray]
CLASSIC_METHODS: dict[str, ClassicFn] = {
    "green": lambda rgb, fs_hz, band_hz: green(rgb, fs_hz),
    "chrom": lambda rgb, fs_hz, band_hz: chrom(rgb, fs_hz, band_hz=band_hz),
    "pos": lambda rgb, fs_hz, band_hz: pos(rgb, fs_hz),
}


def run_classic(name: str, rgb: np.ndarray, fs_hz: float,
                band_hz: tuple[float, float] = PULSE_BAND_HZ) -> np.ndarray:
    """Run the classic method ``name`` ("green" | "chrom" | "pos", case-insensitive); ``band_hz``
    is the pulse band of the caller (``RoiWindow.band_hz`` in the estimator)."""
    fn = CLASSIC_METHODS.get(str(name).lower())
    if fn is None:
        raise ValueError(f"unknown classic method {name!r}; valid: {', '.join(sorted(CLASSIC_METHODS))}")
    return fn(rgb, fs_hz, band_hz)


__all__ = ["CLASSIC_METHODS", "run_classic", "green", "chrom", "pos", "check_rgb"]
