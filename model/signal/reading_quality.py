"""A reading quality learned on real faces: the probability that a window's HR reading is within
5 bpm of the contact PPG, from the reading's own evidence (``model.signal.reading_features``).

A logistic model: each feature (log1p of the distances and spreads) is standardised and weighed;
``probability`` is the logistic of the weighted sum. Its numbers are fitted without the app's
help by ``benchmarks/learned_gate.py`` on held-out readings of fold-trained models and frozen
where the method's estimator settings live (``model.fcus_method``); numpy only at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.signal.reading_features import FEATURE_NAMES, ReadingFeatures


@dataclass(frozen=True)
class ReadingQualityModel:
    names: tuple[str, ...]  # the features it reads (ReadingFeatures field names)
    log_names: tuple[str, ...]  # those entered as log1p (distances, spreads)
    mean: tuple[float, ...]  # standardisation, per feature after the log
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def __post_init__(self) -> None:
        unknown = [n for n in self.names if n not in FEATURE_NAMES]
        if unknown:
            raise ValueError(f"unknown reading features {unknown}; valid: {FEATURE_NAMES}")
        n = len(self.names)
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise ValueError("names, mean, scale and coef must have the same length")
        if any(s <= 0 for s in self.scale):
            raise ValueError("scales must be positive")

    def inputs(self, rows: np.ndarray) -> np.ndarray:
        """The model's inputs (before standardisation) from (N, len(FEATURE_NAMES)) feature rows."""
        rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        cols = [rows[:, FEATURE_NAMES.index(n)] for n in self.names]
        return np.column_stack([np.log1p(np.maximum(c, 0.0)) if n in self.log_names else c
                                for n, c in zip(self.names, cols)])

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        z = (self.inputs(rows) - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.coef) + self.intercept)))

    def probability(self, features: ReadingFeatures) -> float:
        p = float(self.probabilities(features.as_array())[0])
        return p if math.isfinite(p) else 0.0

    def as_dict(self) -> dict:
        return {"names": list(self.names), "log_names": list(self.log_names), "mean": list(self.mean),
                "scale": list(self.scale), "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: dict) -> ReadingQualityModel:
        return cls(names=tuple(d["names"]), log_names=tuple(d["log_names"]), mean=tuple(map(float, d["mean"])),
                   scale=tuple(map(float, d["scale"])), coef=tuple(map(float, d["coef"])),
                   intercept=float(d["intercept"]))
