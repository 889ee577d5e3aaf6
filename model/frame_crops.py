"""What the model trains and adapts on, cut from one frame: the masked face crop (the FCUS input,
:class:`model.roi.RoiExtractor` with ``crop_masked``) and a background crop of the same size (a
square of the frame beside the face: the null-space regulariser's non-pulse reference).

``training.crop_cache`` cuts them from a whole clip; the app keeps the last minute of the live
face in a :class:`CropBuffer` for its "Calibrate" action, whose :class:`FrameCrops` file
``fcus-rppg adapt --crops`` reads (``training.adapt``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.roi import face_crop
from model.types import Box, RoiSample

# the smallest background square cut beside a face that fills most of the frame
_MIN_BG_SIDE_PX = 8


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def background_box(face: Box, crop_scale: float, width: int, height: int) -> Box:
    """A square of the face crop's side beside the face (left or right, whichever has more
    room, at the face's height), else the frame's top corner away from the face, else the
    largest square that fits beside, above or below the face (smaller than the crop), else the
    top corner anyway (a face filling the frame). Never overlaps the face box or the face crop
    square except in that last case."""
    s = max(int(round(max(face.w, face.h) * crop_scale)), 1)
    cx0 = int(round(face.cx - s / 2.0))
    cy0 = int(round(face.cy - s / 2.0))
    # the region to avoid: the face crop square joined with the face box
    left = min(cx0, int(math.floor(face.x)))
    right = max(cx0 + s, int(math.ceil(face.x + face.w)))
    top = min(cy0, int(math.floor(face.y)))
    bottom = max(cy0 + s, int(math.ceil(face.y + face.h)))
    avoid = (left, top, right - left, bottom - top)
    room_left, room_right = max(left, 0), max(width - right, 0)
    room_top, room_bottom = max(top, 0), max(height - bottom, 0)

    def clamp_y(side: int) -> int:
        return int(min(max(cy0, 0), max(height - side, 0)))

    def clamp_x(side: int) -> int:
        return int(min(max(cx0, 0), max(width - side, 0)))

    if s <= height and max(room_left, room_right) >= s:
        x = left - s if room_left >= room_right else right
        return Box(float(x), float(clamp_y(s)), float(s), float(s))
    side = min(s, height, width)
    corner_x = width - side if face.cx < width / 2.0 else 0
    corner = (corner_x, 0, side, side)
    if not _overlaps(corner, avoid):
        return Box(*map(float, corner))
    options = [
        (min(room_left, s, height), "left"), (min(room_right, s, height), "right"),
        (min(room_top, s, width), "top"), (min(room_bottom, s, width), "bottom"),
    ]
    best, where = max(options)
    if best >= _MIN_BG_SIDE_PX:
        if where == "left":
            return Box(float(left - best), float(clamp_y(best)), float(best), float(best))
        if where == "right":
            return Box(float(right), float(clamp_y(best)), float(best), float(best))
        if where == "top":
            return Box(float(clamp_x(best)), float(top - best), float(best), float(best))
        return Box(float(clamp_x(best)), float(bottom), float(best), float(best))
    return Box(*map(float, corner))


def background_crop(bgr: np.ndarray, face_box: Box | None, crop_scale: float, size_px: int,
                    previous: Box | None = None) -> tuple[np.ndarray, Box]:
    """The background crop (float32 RGB, ``size_px`` square) of a frame and its square: beside
    ``face_box`` (:func:`background_box`); without a face, ``previous`` or else the frame's top-left
    third."""
    h, w = bgr.shape[:2]
    if face_box is not None:
        box = background_box(face_box, crop_scale, w, h)
    elif previous is not None:
        box = previous
    else:
        side = max(min(h, w) // 3, 1)
        box = Box(0.0, 0.0, float(side), float(side))
    crop = face_crop(bgr, box, size_px, 1.0)
    return (crop if crop is not None else np.zeros((size_px, size_px, 3), np.float32)), box


def has_model_crop(sample: RoiSample, size_px: int) -> bool:
    """Whether ``sample`` holds a face crop the model can train or adapt on: a face with skin in
    it, its box, and a ``size_px`` crop (the crop cache and the app's buffer keep the same ones)."""
    return bool(sample.face_ok and sample.crop is not None and sample.skin_pixels > 0
                and sample.box is not None and sample.crop.shape[:2] == (size_px, size_px))


@dataclass
class FrameCrops:
    """Per-frame crops of a stretch of video (F frames, not yet on a uniform grid): ``face`` and
    ``background`` (F, S, S, 3) float16 RGB 0..255 (``face`` zero where ``face_ok`` is False),
    ``rgb_mean`` (F, 3) the skin mean (NaN without a face)."""

    t_s: np.ndarray
    face: np.ndarray
    background: np.ndarray
    face_ok: np.ndarray
    rgb_mean: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.t_s)
        if not (len(self.face) == len(self.background) == len(self.face_ok) == len(self.rgb_mean) == n):
            raise ValueError("FrameCrops arrays differ in length")
        if n and (self.face.ndim != 4 or self.face.shape[1:] != self.background.shape[1:]):
            raise ValueError(f"crops must be (F, S, S, 3), got {self.face.shape} and {self.background.shape}")

    @property
    def face_s(self) -> float:
        """Seconds of the stretch with a face (frames with a face times the median frame step)."""
        if len(self.t_s) < 2:
            return 0.0
        return float(np.count_nonzero(self.face_ok) * np.median(np.diff(self.t_s)))

    def save(self, path: str | Path) -> None:
        np.savez(Path(path), t_s=self.t_s, face=self.face, background=self.background,
                 face_ok=self.face_ok, rgb_mean=self.rgb_mean)

    @classmethod
    def load(cls, path: str | Path) -> FrameCrops:
        with np.load(Path(path), allow_pickle=False) as z:
            return cls(t_s=np.asarray(z["t_s"], np.float64), face=np.asarray(z["face"], np.float16),
                       background=np.asarray(z["background"], np.float16),
                       face_ok=np.asarray(z["face_ok"], bool), rgb_mean=np.asarray(z["rgb_mean"], np.float32))


class CropBuffer:
    """The crops of the last ``span_s`` seconds of frames (float16 face and background crops, 15.6
    kB a frame at S = 36: 28 MB for a minute at 30 fps).

    ``with_background`` False keeps no background crops (half the memory; the snapshot's are zero,
    so its arrays and a saved file are as large as before): adapting a net without the Conv3d
    learned path never reads them (its null-space term has no features to act on), and cutting
    them cost about 1 % of a core in the live app."""

    def __init__(self, crop_size: int, crop_scale: float, span_s: float = 60.0, *,
                 with_background: bool = True) -> None:
        if crop_size < 1 or span_s <= 0:
            raise ValueError("crop_size and span_s must be positive")
        self.crop_size, self.crop_scale, self.span_s = int(crop_size), float(crop_scale), float(span_s)
        self.with_background = bool(with_background)
        self._rows: deque[tuple[float, np.ndarray | None, np.ndarray | None, bool, np.ndarray]] = deque()
        self._bg_box: Box | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        self._rows.clear()
        self._bg_box = None

    def push(self, bgr: np.ndarray, sample: RoiSample) -> None:
        """One frame and its ROI sample (a masked face crop of ``crop_size``, or no face)."""
        s = self.crop_size
        good = has_model_crop(sample, s)
        bg = None
        if self.with_background:
            bg, self._bg_box = background_crop(bgr, sample.box, self.crop_scale, s, self._bg_box)
            bg = bg.astype(np.float16)
        face = sample.crop.astype(np.float16) if good else None
        mean = np.asarray(sample.rgb_mean, np.float32) if good else np.full(3, np.nan, np.float32)
        self._rows.append((float(sample.t_s), face, bg, good, mean))
        while self._rows and self._rows[-1][0] - self._rows[0][0] > self.span_s:
            self._rows.popleft()

    @property
    def face_s(self) -> float:
        rows = list(self._rows)  # one C-level copy: safe while another thread pushes
        if len(rows) < 2:
            return 0.0
        step = (rows[-1][0] - rows[0][0]) / (len(rows) - 1)
        return sum(r[3] for r in rows) * step if math.isfinite(step) else 0.0

    def snapshot(self) -> FrameCrops:
        rows = list(self._rows)
        s = self.crop_size
        zero = np.zeros((s, s, 3), np.float16)
        return FrameCrops(
            t_s=np.array([r[0] for r in rows], np.float64),
            face=np.array([r[1] if r[1] is not None else zero for r in rows], np.float16).reshape(-1, s, s, 3),
            background=np.array([r[2] if r[2] is not None else zero for r in rows], np.float16).reshape(-1, s, s, 3),
            face_ok=np.array([r[3] for r in rows], bool),
            rgb_mean=np.array([r[4] for r in rows], np.float32).reshape(-1, 3),
        )
