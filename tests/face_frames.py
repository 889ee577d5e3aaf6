"""Synthetic test frames built from ``skimage.data.astronaut()`` (public domain).

The astronaut's face (about x 180-270, y 72-177 in the 512x512 original) is cut out with a margin,
scaled, and pasted onto a grey 640x480 canvas, so tests know where the face is.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from model.face_model import FACE_MODEL_ENV, shipped_face_model_path
from model.types import Frame

CANVAS_HW = (480, 640)
GREY = 128
# Face cut-out in the original image (x0, y0, x1, y1): face plus some hair, neck and background.
_PATCH_XYXY = (140, 30, 310, 230)
# Approximate face centre inside that cut-out (original pixels).
_FACE_CENTRE_IN_PATCH = (225 - 140, 125 - 30)

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_face_model_path() -> Path | None:
    """The real face model: the bundle shipped in assets/ (what users get), else
    $FCUS_FACE_MODEL or ../shared/models next to the repository."""
    candidates = [shipped_face_model_path()]
    env = os.environ.get(FACE_MODEL_ENV, "").strip()
    if env:
        candidates.append(Path(env))
    candidates.append(REPO_ROOT.parent / "shared" / "models" / "face_landmarker.task")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=8)
def face_patch_bgr(scale: float) -> np.ndarray:
    """The astronaut's face cut-out, scaled, as BGR uint8."""
    x0, y0, x1, y1 = _PATCH_XYXY
    rgb = data.astronaut()[y0:y1, x0:x1]
    patch = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out = cv2.cvtColor(patch, cv2.COLOR_RGB2BGR)
    out.setflags(write=False)
    return out


def blank_canvas() -> np.ndarray:
    return np.full((*CANVAS_HW, 3), GREY, dtype=np.uint8)


def paste_face(canvas: np.ndarray, centre_xy: tuple[int, int], scale: float = 1.8) -> np.ndarray:
    """Paste the face so that its centre lands at ``centre_xy`` (clipped at the edges)."""
    patch = face_patch_bgr(scale)
    ph, pw = patch.shape[:2]
    fx, fy = (int(round(c * scale)) for c in _FACE_CENTRE_IN_PATCH)
    x0, y0 = centre_xy[0] - fx, centre_xy[1] - fy
    H, W = canvas.shape[:2]
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + pw, W), min(y0 + ph, H)
    if cx1 > cx0 and cy1 > cy0:
        canvas[cy0:cy1, cx0:cx1] = patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    return canvas


def face_image(centre_xy: tuple[int, int] = (320, 240), scale: float = 1.8) -> np.ndarray:
    return paste_face(blank_canvas(), centre_xy, scale)


def two_faces_image(big_scale: float = 1.8, small_scale: float = 1.3) -> np.ndarray:
    """A big face on the left and a smaller one on the right."""
    canvas = blank_canvas()
    paste_face(canvas, (190, 240), big_scale)
    paste_face(canvas, (480, 230), small_scale)
    return canvas


def add_noise(bgr: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    """Per-frame sensor noise."""
    noisy = bgr.astype(np.float32) + rng.normal(0.0, sigma, bgr.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def frame(index: int, bgr: np.ndarray, fps: float = 30.0) -> Frame:
    return Frame(index=index, t_s=index / fps, bgr=bgr)


class FakeCamera:
    """Stands in for ``model.video_source.CameraSource``: face frames at 30 fps on a monotonic
    clock. Each opening is counted (per subclass); ``refuses(k)`` says whether the k-th opening
    fails (camera absent or busy), ``unplugs(k)`` whether the camera of the k-th opening stops
    after ``frames_per_pass`` frames (unplugged)."""

    opened = 0
    frames_per_pass = 30
    refused_text = "camera {index} is not available"

    def refuses(self, k: int) -> bool:
        return False

    def unplugs(self, k: int) -> bool:
        return True

    def __init__(self, index=0, **kwargs):
        from model.video_source import SourceError

        cls = type(self)
        cls.opened += 1
        if self.refuses(cls.opened):
            raise SourceError(self.refused_text.format(index=index))
        self.index, self.n, self.t0 = index, 0, time.monotonic()
        self.img = face_image()
        self._unplugs = self.unplugs(cls.opened)

    def read(self) -> Frame:
        from model.video_source import SourceError

        self.n += 1
        if self._unplugs and self.n > self.frames_per_pass:
            raise SourceError(f"camera {self.index} stopped delivering frames (unplugged?)")
        time.sleep(1 / 30)
        return Frame(self.n, time.monotonic() - self.t0, self.img)

    def close(self) -> None:
        pass
