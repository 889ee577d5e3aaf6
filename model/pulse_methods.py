"""Pulse methods as the streaming estimator sees them: a window of uniformly sampled ROI data in,
a BVP window out. Classic methods read the skin-mean RGB trace; the FCUS model reads face crops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from model.methods import CLASSIC_METHODS, run_classic

# Every pulse method by name, in the order the app and the command line list them: the model,
# then the classic methods.
CLASSIC_METHOD_NAMES = ("pos", "chrom", "green")
PULSE_METHODS = ("fcus",) + CLASSIC_METHOD_NAMES


@dataclass(frozen=True)
class RoiWindow:
    """Uniformly sampled ROI data for one estimator window (no gaps)."""

    t_s: np.ndarray  # (N,)
    rgb: np.ndarray  # (N, 3) skin-mean R, G, B
    fs_hz: float
    crops: np.ndarray | None = None  # (N, H, W, 3) float32 RGB, when the method needs crops


class PulseMethod(Protocol):
    name: str
    needs_crops: bool
    min_window_s: float

    def window_bvp(self, window: RoiWindow) -> np.ndarray:
        """BVP for every sample of the window, shape (N,)."""
        ...


@dataclass
class ClassicPulseMethod:
    name: str
    needs_crops: bool = False
    min_window_s: float = 2.0

    def __post_init__(self) -> None:
        if self.name not in CLASSIC_METHODS:
            raise ValueError(f"unknown method {self.name!r}; choose one of {sorted(CLASSIC_METHODS)}")

    def window_bvp(self, window: RoiWindow) -> np.ndarray:
        return run_classic(self.name, window.rgb, window.fs_hz)


def roi_extractor_for(method: PulseMethod):
    """The ROI extractor a method needs: skin means only, or also the crops its model contract
    asks for (size, scale, skin-masked). One place, so the app, ``analyze`` and training agree."""
    from model.roi import RoiExtractor

    if not method.needs_crops:
        return RoiExtractor(crop_size=None)
    return RoiExtractor(crop_size=method.crop_size, crop_scale=getattr(method, "crop_scale", 1.2),
                        crop_masked=getattr(method, "crop_masked", False))


def make_pulse_method(name: str, **kwargs) -> PulseMethod:
    """The pulse method called ``name``: a classic method, or ``fcus`` (the ONNX model)."""
    name = name.lower()
    if name == "fcus":
        from model.fcus_method import FcusPulseMethod  # onnxruntime only when asked for

        return FcusPulseMethod(**kwargs)
    return ClassicPulseMethod(name)
