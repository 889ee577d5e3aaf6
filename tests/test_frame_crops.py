"""The app's buffer of the last minute of model crops (what Calibrate adapts on)."""

from __future__ import annotations

import numpy as np

from model.frame_crops import CropBuffer, background_crop
from model.types import Box, RoiSample

S = 36


def _frames(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    box = Box(200.0, 120.0, 160.0, 200.0)
    for i in range(n):
        bgr = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        crop = rng.uniform(0, 255, (S, S, 3)).astype(np.float32)
        face_ok = i % 5 != 4
        yield bgr, RoiSample(t_s=i / 30.0, face_ok=face_ok, rgb_mean=np.array([90.0, 70.0, 60.0]) if face_ok
                             else np.full(3, np.nan), skin_pixels=500 if face_ok else 0,
                             crop=crop if face_ok else None, box=box if face_ok else None)


def test_a_buffer_without_background_keeps_the_same_faces_and_zero_backgrounds():
    full, lean = CropBuffer(S, 1.2), CropBuffer(S, 1.2, with_background=False)
    for bgr, sample in _frames(40):
        full.push(bgr, sample)
        lean.push(bgr, sample)
    a, b = full.snapshot(), lean.snapshot()
    assert np.array_equal(a.face, b.face) and np.array_equal(a.face_ok, b.face_ok) and np.array_equal(a.t_s, b.t_s)
    assert b.background.shape == a.background.shape == (40, S, S, 3) and b.background.dtype == np.float16
    assert not b.background.any() and a.background.any()
    assert abs(lean.face_s - full.face_s) < 1e-9


def test_a_buffer_with_background_holds_the_crop_beside_the_face():
    buf = CropBuffer(S, 1.2)
    frames = list(_frames(3, seed=1))
    for bgr, sample in frames:
        buf.push(bgr, sample)
    want, _ = background_crop(frames[0][0], frames[0][1].box, 1.2, S)
    assert np.array_equal(buf.snapshot().background[0], want.astype(np.float16))
