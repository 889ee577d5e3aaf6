"""Frames from a folder of images (PURE: ``Image<ns>.png``), timed by the numbers in their names."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from model.types import Frame
from model.video_source import VIDEO_SUFFIXES, SourceError, loop_passes

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_DIGITS = re.compile(r"(\d+)")


def _name_number(path: Path) -> int | None:
    runs = _DIGITS.findall(path.stem)
    return int(runs[-1]) if runs else None


def _stamp_unit_s(numbers: np.ndarray) -> float | None:
    """Seconds per unit of the numbers in frame-image names: 1e-9 (ns), 1e-6, 1e-3 when the
    median step between frames is a plausible frame interval (5 ms .. 1 s) in that unit; None
    when the names are frame counters (step 1) or nothing fits."""
    if numbers.size < 2:
        return 1e-9 if numbers.size and numbers[0] > 10**15 else None
    step = float(np.median(np.diff(numbers)))
    if step <= 0:
        return None
    for unit in (1e-9, 1e-6, 1e-3):
        if 0.005 <= step * unit <= 1.0:
            return unit
    return None


def has_images(folder: Path) -> bool:
    """Whether ``folder`` is a folder of frame images: it directly holds a file with an image
    suffix and no video file (a folder of videos with a picture among them is a folder of videos)."""
    try:
        suffixes = {p.suffix.lower() for p in Path(folder).iterdir()}
    except OSError:
        return False
    return bool(suffixes & set(IMAGE_SUFFIXES)) and not suffixes & set(VIDEO_SUFFIXES)


class ImageFolderSource:
    """Frames from a folder of images (PURE: ``Image<ns>.png``), with times from the file names.

    Names ending in a time stamp (ns, us or ms, detected from the step between frames) give the
    times; frame counters or other names give ``index / fps_hz``. Times start at 0 s. Unreadable
    images are skipped (counted in ``corrupt_frames``); iterating again restarts at the first
    frame; ``loop=True`` repeats the folder with rising times (:func:`loop_passes`).
    """

    kind = "images"

    def __init__(self, folder: str | Path, *, fps_hz: float = 30.0, loop: bool = False) -> None:
        self.folder = self.path = Path(folder)
        self.loop = loop
        if not self.folder.is_dir():
            raise SourceError(f"image folder not found: {self.folder}")
        files = [p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        if not files:
            raise SourceError(f"{self.folder} holds no frame images ({', '.join(IMAGE_SUFFIXES)})")
        self.paths, self.t_s, self.stamp_unit_s, self.first_stamp = _ordered_times(files, fps_hz)
        t = self.t_s
        self.fps_hz = float((len(t) - 1) / (t[-1] - t[0])) if len(t) > 1 and t[-1] > t[0] else float(fps_hz)
        self.frame_times = "file names" if self.stamp_unit_s is not None else "nominal rate"
        self.corrupt_frames = 0
        self._size: tuple[int, int] | None = None

    @property
    def n_frames(self) -> int:
        return len(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the first readable image."""
        if self._size is None:
            for p in self.paths:
                img = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if img is not None and img.size:
                    self._size = (int(img.shape[1]), int(img.shape[0]))
                    break
            else:
                raise SourceError(f"{self.folder} holds no readable frame images")
        return self._size

    def describe(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), "frame_times": self.frame_times}

    def _one_pass(self) -> Iterator[Frame]:
        last = -math.inf
        for i, (p, t) in enumerate(zip(self.paths, self.t_s)):
            bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if bgr is None or bgr.size == 0:
                self.corrupt_frames += 1
                log.warning("skipping unreadable frame image %s", p)
                continue
            t = float(t)
            if t <= last:  # repeated stamp: keep the clock monotonic
                t = last + 1e-3
            last = t
            yield Frame(index=i, t_s=t, bgr=bgr)

    def __iter__(self) -> Iterator[Frame]:
        if self.loop:
            return loop_passes(self._one_pass, 1.0 / self.fps_hz)
        return self._one_pass()


def _ordered_times(files: list[Path], fps_hz: float) -> tuple[list[Path], np.ndarray, float | None, int | None]:
    """The images in time order, their times from 0 s, the unit of the stamps in their names
    (None: not stamps) and the first stamp."""
    numbers = [_name_number(p) for p in files]
    if not all(n is not None for n in numbers):
        files = sorted(files)
        return files, np.arange(len(files), dtype=np.float64) / fps_hz, None, None
    order = sorted(range(len(files)), key=lambda i: (numbers[i], files[i].name))
    files = [files[i] for i in order]
    nums = np.array([numbers[i] for i in order], dtype=np.int64)
    unit = _stamp_unit_s(nums)
    if unit is None:
        return files, np.arange(len(files), dtype=np.float64) / fps_hz, None, None
    return files, (nums - nums[0]).astype(np.float64) * unit, unit, int(nums[0])
