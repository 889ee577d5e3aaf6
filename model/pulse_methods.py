"""The registry of pulse methods: every method the app, ``analyze`` and the benchmarks can run, in
the order they list them (the model, then the classic methods), each described by one
:class:`~model.method_api.MethodSpec`. Callers ask the registry, never a method's name: its label
(:func:`method_label`), whether it takes a model file (``method_spec(name).takes_model``), whether
it can run here (:func:`method_status`), and for the method itself (:func:`make_pulse_method`).

The interface every method offers (``PulseMethod``) and the window it reads (``RoiWindow``) live
in ``model.method_api`` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from model.estimator import EstimatorConfig
from model.fcus_method import FCUS_SPEC
from model.method_api import MethodSpec, PulseMethod, RoiWindow
from model.methods import CLASSIC_METHODS, run_classic
from model.reliable_rule import DEFAULT_RULE, ReliableRule

__all__ = ["CLASSIC_METHOD_NAMES", "FALLBACK_METHOD", "METHOD_SPECS", "PULSE_METHODS", "ClassicPulseMethod",
           "MethodSpec", "PulseMethod", "RoiWindow", "available_methods", "default_method", "make_pulse_method",
           "method_label", "method_spec", "method_status", "model_file_method", "reliable_rule", "roi_extractor_for"]


@dataclass
class ClassicPulseMethod:
    """A classic method (``model.methods``) on the window's skin-mean RGB."""

    name: str
    needs_crops: bool = False
    min_window_s: float = 2.0
    device: str = "CPU"

    def __post_init__(self) -> None:
        if self.name not in CLASSIC_METHODS:
            raise ValueError(f"unknown method {self.name!r}; choose one of {sorted(CLASSIC_METHODS)}")

    def window_bvp(self, window: RoiWindow) -> np.ndarray:
        return run_classic(self.name, window.rgb, window.fs_hz, window.band_hz)


# The estimator's settings for the classic methods, chosen like FCUS's (benchmarks/hr_choices.py
# --megamind): POS and CHROM keep the default gate (opens at 2.6 dB SNR).
# With the key-frame tracking POS showed readings on a face without a pulse at every lower opening
# point (a synthetic still photo: 7 % of its updates at 1.5 dB), so its gate went back from 1.5 dB
# to 2.6 dB. POS's BVP stream takes each window narrowed to +- 0.4 Hz around the HR of the trailing
# 20 s (EstimatorConfig.context_s; nested, held out: MAE@10s 16.83 -> 8.58, MAE@20s 9.38 -> 7.69);
# CHROM's nested choice of a stream (8.98 / 8.50) lost to window by window (10.31 / 6.99) on the mean
# of the two, so it stays. GREEN was not in the study. A method without an entry here uses
# EstimatorConfig's defaults.
CLASSIC_ESTIMATOR: dict[str, dict] = {"pos": {"context_s": 20.0, "context_half_width_hz": 0.4}}


def _classic_spec(name: str) -> MethodSpec:
    return MethodSpec(name=name, label=name.upper(), needs_crops=False, factory=partial(ClassicPulseMethod, name),
                      estimator=CLASSIC_ESTIMATOR.get(name, {}))


CLASSIC_METHOD_NAMES = ("pos", "chrom", "green")
METHOD_SPECS: dict[str, MethodSpec] = {s.name: s for s in (FCUS_SPEC, *map(_classic_spec, CLASSIC_METHOD_NAMES))}
PULSE_METHODS = tuple(METHOD_SPECS)
# What runs when the asked method cannot: a classic method, always available (no file, no runtime).
FALLBACK_METHOD = CLASSIC_METHOD_NAMES[0]


def method_spec(name: str) -> MethodSpec:
    """The registry entry of ``name`` (case-insensitive); ValueError for an unknown name."""
    spec = METHOD_SPECS.get(str(name).lower())
    if spec is None:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(PULSE_METHODS)}")
    return spec


def method_label(name: str) -> str:
    """The name the UI shows for ``name`` (an unknown name shows as itself, upper-cased)."""
    spec = METHOD_SPECS.get(str(name).lower())
    return spec.label if spec else str(name).upper()


def method_status(name: str, model_path: str | None = None) -> tuple[bool, str]:
    """Whether ``name`` can run here (with ``model_path`` when it takes a model file), and why not."""
    spec = METHOD_SPECS.get(str(name).lower())
    if spec is None:
        return False, f"unknown method {name!r}"
    return spec.status(model_path if spec.takes_model else None)


def available_methods(model_path: str | None = None) -> list[str]:
    """The methods that can run here, in registry order."""
    return [n for n in PULSE_METHODS if method_status(n, model_path)[0]]


def default_method(model_path: str | None = None) -> str:
    """The first method that can run here: the model when its file is there, else the first
    classic method."""
    available = available_methods(model_path)
    return available[0] if available else FALLBACK_METHOD


def model_file_method() -> MethodSpec:
    """The method that loads a model file (the app's "open model file" action)."""
    return next(s for s in METHOD_SPECS.values() if s.takes_model)


def estimator_config(name: str, base: EstimatorConfig | None = None) -> EstimatorConfig:
    """The streaming estimator's settings for method ``name``: ``base`` (default: the defaults)
    with the settings chosen for that method (``MethodSpec.estimator``); a method outside the
    registry (a study's wrapper around one) gets ``base`` as it is."""
    spec = METHOD_SPECS.get(str(name).lower())
    return replace(base or EstimatorConfig(), **dict(spec.estimator if spec is not None else {}))


def reliable_rule(name: str | None) -> ReliableRule:
    """When method ``name``'s whole-clip HR is called reliable (``MethodSpec.reliable``); the
    default rule for None or a name outside the registry."""
    spec = METHOD_SPECS.get(str(name).lower()) if name is not None else None
    return spec.reliable if spec is not None else DEFAULT_RULE


def make_pulse_method(name: str, **kwargs) -> PulseMethod:
    """The pulse method called ``name``; ``model_path`` (in ``kwargs``) reaches only a method that
    takes a model file. Raises ValueError for an unknown name; a model method raises what its
    factory raises (FileNotFoundError, ``ModelContractError``)."""
    return method_spec(name).make(**kwargs)


def roi_extractor_for(method: PulseMethod):
    """The ROI extractor a method needs: skin means only, or also the crops its model contract
    asks for (size, scale, skin-masked). One place, so the app, ``analyze`` and training agree."""
    from model.roi import RoiExtractor

    if not method.needs_crops:
        return RoiExtractor(crop_size=None)
    return RoiExtractor(crop_size=method.crop_size, crop_scale=getattr(method, "crop_scale", 1.2),
                        crop_masked=getattr(method, "crop_masked", False))
