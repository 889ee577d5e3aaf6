"""What a pulse method is, for the streaming estimator and for the registry
(``model.pulse_methods``): the window it reads, the interface it offers, and the registry entry
that describes it. Both the registry and the modules that declare methods (``model.fcus_method``)
import this module, so neither imports the other's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from model.reliable_rule import DEFAULT_RULE, ReliableRule
from model.signal.band import PULSE_BAND_HZ


@dataclass(frozen=True)
class RoiWindow:
    """Uniformly sampled ROI data for one estimator window (no gaps). ``band_hz`` is the pulse
    band of the estimator's config, for a method whose algorithm filters inside (CHROM)."""

    t_s: np.ndarray  # (N,)
    rgb: np.ndarray  # (N, 3) skin-mean R, G, B
    fs_hz: float
    crops: np.ndarray | None = None  # (N, H, W, 3) float32 RGB, when the method needs crops
    band_hz: tuple[float, float] = PULSE_BAND_HZ
    # Index of the first sample on the estimator's global grid (consecutive windows share it), for
    # a method that keeps what it computed for earlier windows (model.fcus_stream); None: unknown.
    grid_k0: int | None = None


class PulseMethod(Protocol):
    """A pulse method as the estimator runs it. ``window_bvp`` returns the BVP of every sample of
    the window, shape (N,), rising with the blood volume and NOT band-passed: the estimator
    filters every method's output once, to its pulse band. ``device``: where it runs ("CPU",
    "CUDA"), for the status line."""

    name: str
    needs_crops: bool
    min_window_s: float
    device: str

    def window_bvp(self, window: RoiWindow) -> np.ndarray:
        ...


def always_available(model_path: str | None = None) -> tuple[bool, str]:
    """The status of a method that needs nothing beyond this package."""
    return True, ""


@dataclass(frozen=True)
class MethodSpec:
    """One entry of the method registry.

    ``label``: the name the UI shows. ``needs_crops``: whether it reads face crops (else only the
    skin-mean RGB). ``takes_model``: whether it loads a model file (``model_path``; None means
    its default model). ``status(model_path)`` says, without loading anything heavy, whether it can
    run here and why not: ``(ok, why)``. ``factory`` builds it; it imports what the method needs
    (onnxruntime for the model) only when called. ``estimator``: the streaming estimator's
    settings chosen for this method (``model.estimator.EstimatorConfig`` field -> value, made in
    nested leave-subjects-out folds by ``benchmarks/hr_choices.py``), applied by
    ``model.pulse_methods.estimator_config``. ``reliable``: when its whole-clip HR is called
    reliable (``model.reliable_rule``).
    """

    name: str
    label: str
    needs_crops: bool
    factory: Callable[..., PulseMethod] = field(repr=False)
    takes_model: bool = False
    status: Callable[[str | None], tuple[bool, str]] = field(default=always_available, repr=False)
    estimator: Mapping[str, object] = field(default_factory=dict)
    reliable: ReliableRule = DEFAULT_RULE

    def make(self, model_path: str | None = None, **kwargs) -> PulseMethod:
        """Build the method; ``model_path`` goes to a method that takes a model file and is
        ignored by one that does not."""
        if self.takes_model:
            return self.factory(model_path=model_path, **kwargs)
        return self.factory(**kwargs)
