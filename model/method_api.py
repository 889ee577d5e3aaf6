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


class WindowCrops:
    """A window's crops, one per grid point, each a frame's crop (a bridged miss repeats its
    neighbours'), gathered only where read: ``len``, ``shape`` and ``dtype`` as the stacked array's,
    ``[i]`` one crop (the frame's own array: do not write to it), ``[a:b]`` those stacked, and
    ``np.asarray`` all of them. A streamed model (``model.fcus_stream``) reads the new samples of
    each window and not the ten seconds of crops before them."""

    def __init__(self, frames: list[np.ndarray], index: np.ndarray) -> None:
        if not len(index):
            raise ValueError("a window of crops needs at least one")
        self._frames = frames
        self._index = np.asarray(index, dtype=np.int64)
        first = frames[int(self._index[0])]
        self.shape = (len(self._index), *first.shape)
        self.dtype = first.dtype
        self.ndim = len(self.shape)

    @property
    def index(self) -> np.ndarray:
        """Which frame each grid point's crop is (positions in ``frames``)."""
        return self._index

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, key):
        if isinstance(key, slice):
            picked = self._index[key]
            if not len(picked):
                return np.empty((0, *self.shape[1:]), dtype=self.dtype)
            return np.stack([self._frames[int(i)] for i in picked])
        return self._frames[int(self._index[key])]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        stacked = self[:]
        return stacked if dtype is None else stacked.astype(dtype, copy=False)


@dataclass(frozen=True)
class RoiWindow:
    """Uniformly sampled ROI data for one estimator window (no gaps). ``band_hz`` is the pulse
    band of the estimator's config, for a method whose algorithm filters inside (CHROM)."""

    t_s: np.ndarray  # (N,)
    rgb: np.ndarray  # (N, 3) skin-mean R, G, B
    fs_hz: float
    # (N, H, W, 3) float32 RGB, when the method needs crops (from the estimator: WindowCrops)
    crops: np.ndarray | WindowCrops | None = None
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
