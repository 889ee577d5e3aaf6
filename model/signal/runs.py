"""Runs of True in a mask: the gap-free stretches of a signal (NaN gaps, frames without a face)."""

from __future__ import annotations

import numpy as np


def true_runs(ok: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in the 1-D mask ``ok``, in order."""
    edges = np.diff(np.concatenate([[0], np.asarray(ok).astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
