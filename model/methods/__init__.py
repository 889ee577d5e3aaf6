"""Classic rPPG methods: mean R, G, B traces (N, 3), uniform at fs_hz, no NaN -> BVP (N,),
band-passed to 0.6-3.6 Hz (36-216 bpm), rising with the blood volume like a contact PPG (the skin darkens along
-PBV; see ``model.methods.green``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from model.methods.chrom import chrom
from model.methods.green import check_rgb, green
from model.methods.pos import pos

CLASSIC_METHODS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "green": green,
    "chrom": chrom,
    "pos": pos,
}


def run_classic(name: str, rgb: np.ndarray, fs_hz: float) -> np.ndarray:
    """Run the classic method ``name`` ("green" | "chrom" | "pos", case-insensitive)."""
    fn = CLASSIC_METHODS.get(str(name).lower())
    if fn is None:
        raise ValueError(f"unknown classic method {name!r}; valid: {', '.join(sorted(CLASSIC_METHODS))}")
    return fn(rgb, fs_hz)


__all__ = ["CLASSIC_METHODS", "run_classic", "green", "chrom", "pos", "check_rgb"]
