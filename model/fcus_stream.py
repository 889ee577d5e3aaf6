"""The FCUS model's BVP on the estimator's uniform grid, computed once per sample instead of once
per window.

The estimator asks for the BVP of its trailing window (10 s) once a second, so running the model
on the whole window computes every sample ten times (on this 2-core CPU about 70 ms a second of
video, the largest stage of ``analyze``). :class:`StreamedBvp` runs the model only on what is new
since the last call, with some context on each side, and keeps the samples that are final:

* each call runs the model on the samples from ``k_final - context_left`` to the window's last
  sample ``k1`` (at least the model's ``min_frames``);
* the samples up to ``k1 - context_right`` become final and are cached; the last
  ``context_right`` are returned as they are (the model's edge) and computed again, with context
  on both sides, in the next call;
* the new chunk's output is matched to the cached samples it overlaps (least-squares gain and
  offset), so the stitched BVP has no step where the chunks meet.

The cache follows one gap-free stretch of the grid: a window that starts after the cached samples
(a gap), goes back in time, or whose crops differ from the cached ones at the same grid index (a
new recording) starts a new stretch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StreamConfig:
    #: Samples before the first new one that each chunk also sees (normalisation and filters).
    context_left: int = 30
    #: The newest samples of a chunk that stay provisional until the next call (edge effects of
    #: the model's temporal filters and envelope).
    context_right: int = 30
    #: Final samples kept (enough for the estimator's longest window).
    keep: int = 900

    def __post_init__(self) -> None:
        if self.context_left < 0 or self.context_right < 0 or self.keep < 1:
            raise ValueError("context_left and context_right must be >= 0, keep >= 1")


class StreamedBvp:
    """Stitched per-sample BVP of ``run`` (crops (N, S, S, 3) -> BVP (N,)) over consecutive
    windows of one grid. ``min_frames``: the shortest input ``run`` accepts."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], min_frames: int,
                 config: StreamConfig | None = None) -> None:
        self.run = run
        self.min_frames = int(min_frames)
        self.cfg = config or StreamConfig()
        self.frames_run = 0  # model input frames so far (the cost)
        self.reset()

    def reset(self) -> None:
        self._k_first = 0  # grid index of self._final[0]
        self._final = np.zeros(0)
        self._last_crop: np.ndarray | None = None  # the crop at the last final index
        self._last_k1: int | None = None

    @property
    def _k_final(self) -> int:
        """First grid index that is not final yet."""
        return self._k_first + len(self._final)

    def _continues(self, k0: int, k1: int, crops: np.ndarray) -> bool:
        if self._last_k1 is None or not len(self._final) or k1 < self._last_k1:
            return False
        if k0 > self._k_final or k0 < self._k_first:
            return False
        j = self._k_final - 1 - k0  # the last final sample, within this window
        return 0 <= j < len(crops) and self._last_crop is not None and np.array_equal(crops[j], self._last_crop)

    def window(self, k0: int, crops: np.ndarray) -> np.ndarray:
        """BVP (N,) of the window whose samples are grid indices ``k0 .. k0 + N - 1``."""
        n = len(crops)
        k1 = k0 + n - 1
        if not self._continues(k0, k1, crops):
            self.reset()
            self._k_first = k0
        cfg = self.cfg
        k_new = self._k_final  # first sample to compute
        c0 = max(k0, min(k_new - cfg.context_left, k1 - self.min_frames + 1))
        if k1 - c0 + 1 < self.min_frames:  # a window shorter than the model accepts
            raise ValueError(f"the model needs at least {self.min_frames} frames; the window has {n}")
        y = np.asarray(self.run(crops[c0 - k0:]), dtype=np.float64)
        self.frames_run += len(y)
        overlap = k_new - c0  # cached samples the chunk also computed
        if overlap >= 8:
            y = self._matched(y, self._final[len(self._final) - overlap:], overlap)
        out = np.empty(n)
        out[:k_new - k0] = self._final[k0 - self._k_first:]
        out[k_new - k0:] = y[k_new - c0:]
        self._store(y[k_new - c0:max(k1 - cfg.context_right - c0 + 1, k_new - c0)], crops, k0)
        self._last_k1 = k1
        return out

    @staticmethod
    def _matched(y: np.ndarray, final: np.ndarray, overlap: int) -> np.ndarray:
        """``y`` scaled and shifted so that its first ``overlap`` samples fit ``final`` best."""
        a_mat = np.stack([y[:overlap], np.ones(overlap)], axis=1)
        (gain, offset), *_ = np.linalg.lstsq(a_mat, final, rcond=None)
        if not np.isfinite(gain) or gain <= 0:  # no agreement to fit: keep the level only
            gain, offset = 1.0, float(np.mean(final) - np.mean(y[:overlap]))
        return gain * y + offset

    def _store(self, new_final: np.ndarray, crops: np.ndarray, k0: int) -> None:
        if len(new_final):
            self._final = np.concatenate([self._final, new_final])
            self._last_crop = np.array(crops[self._k_final - 1 - k0], copy=True)
        drop = len(self._final) - self.cfg.keep
        if drop > 0:
            self._final = self._final[drop:]
            self._k_first += drop
