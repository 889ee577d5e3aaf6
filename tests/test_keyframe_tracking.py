"""Offline key-frame tracking (model.keyframe_tracking): detector on key frames, the face
interpolated between them, a key frame at once when the face moves, leaves or comes back."""

from __future__ import annotations

import numpy as np
import pytest

from model.face_tracking import Detection, FaceTracker, MediaPipeFaceTracker
from model.keyframe_tracking import KeyframeConfig, KeyframeTracking, create_keyframe_tracker, interpolate_face
from model.types import Box, Face
from tests.face_frames import add_noise, blank_canvas, face_image, frame, shared_face_model_path

MODEL_PATH = shared_face_model_path()
needs_model = pytest.mark.skipif(MODEL_PATH is None, reason="face model absent")


class ScriptedTracker(FaceTracker):
    """A detector that returns a given box per frame index (None: no face) and counts its calls."""

    name = "scripted"

    def __init__(self, boxes: dict[int, Box | None]) -> None:
        self.boxes = boxes
        self.calls: list[int] = []
        super().__init__(detect_every=1)

    def _detect(self, frame):
        self.calls.append(frame.index)
        box = self.boxes.get(frame.index)
        if box is None:
            return []
        pts = np.array([[box.x, box.y], [box.x + box.w, box.y + box.h]], dtype=np.float32)
        return [Detection(box, pts)]


def test_interpolate_face_is_linear_and_keeps_the_key_face_for_another_face():
    a = Face(ok=True, box=Box(100, 100, 50, 60), landmarks=np.array([[100, 100]], np.float32), tracker="t")
    b = Face(ok=True, box=Box(110, 104, 54, 60), landmarks=np.array([[110, 108]], np.float32), tracker="t")
    mid = interpolate_face(a, b, 0.5)
    assert (mid.box.x, mid.box.y, mid.box.w, mid.box.h) == (105, 102, 52, 60)
    np.testing.assert_allclose(mid.landmarks, [[105, 104]])
    far = Face(ok=True, box=Box(400, 300, 50, 60), tracker="t")  # no overlap: another face
    assert interpolate_face(a, far, 0.5) is a
    assert interpolate_face(a, Face(ok=False), 0.5) is a


def test_detects_on_every_nth_frame_and_interpolates_a_moving_box():
    # a static grey canvas: the thumbnail never changes, so only the count makes key frames
    boxes = {i: Box(100.0 + 2 * i, 120.0, 80.0, 90.0) for i in range(40)}
    det = ScriptedTracker(boxes)
    kt = KeyframeTracking(det, KeyframeConfig(every=8))
    img = blank_canvas()
    out = list(kt.track(frame(i, img) for i in range(40)))
    assert [f.index for f, _ in out] == list(range(40))  # every frame, in order
    assert det.calls == [0, 8, 16, 24, 32]
    assert kt.key_frames == 5
    xs = np.array([face.box.x for _, face in out[:33]])
    # between key frames the box moves in equal steps (the One-Euro filter only smooths the keys)
    steps = np.diff(xs[8:33])
    assert np.ptp(steps[:7]) < 1e-6 and steps.min() > 0
    # after the last key frame the box is held
    assert all(face.box.x == out[32][1].box.x for _, face in out[32:])


def test_a_changed_face_region_makes_a_key_frame_at_once():
    boxes = {i: Box(200.0, 150.0, 120.0, 140.0) for i in range(20)}
    det = ScriptedTracker(boxes)
    kt = KeyframeTracking(det, KeyframeConfig(every=10))
    frames = [frame(i, face_image((260, 220))) for i in range(20)]
    frames[5] = frame(5, blank_canvas())  # the face region changes on frame 5
    list(kt.track(frames))
    assert det.calls[:3] == [0, 5, 6]  # 5: changed; 6: changed back against key frame 5


def test_without_a_face_every_frame_is_a_key_frame_and_a_returning_face_is_found_at_once():
    box = Box(200.0, 150.0, 120.0, 140.0)
    boxes = {i: (None if 3 <= i < 7 else box) for i in range(20)}
    det = ScriptedTracker(boxes)
    with_face, empty = face_image((260, 220)), blank_canvas()
    frames = [frame(i, empty if 3 <= i < 7 else with_face) for i in range(20)]
    out = list(KeyframeTracking(det, KeyframeConfig(every=8)).track(frames))
    assert [f.ok for _, f in out[:8]] == [True, True, True, False, False, False, False, True]
    # 3: the face region changed; 4-6: no face, every frame; 7: the face is back
    assert det.calls[:6] == [0, 3, 4, 5, 6, 7]


def test_a_gap_in_time_makes_a_key_frame():
    boxes = {i: Box(100.0, 100.0, 80.0, 80.0) for i in range(40)}
    det = ScriptedTracker(boxes)
    img = blank_canvas()
    frames = [frame(i, img) for i in range(4)] + [frame(i, img, fps=30.0) for i in range(30, 34)]
    list(KeyframeTracking(det, KeyframeConfig(every=8, max_gap_s=0.5)).track(frames))
    assert det.calls == [0, 30]


def test_config_is_checked():
    with pytest.raises(ValueError):
        KeyframeConfig(every=0)
    with pytest.raises(ValueError):
        KeyframeConfig(change_threshold=0)


@needs_model
@pytest.mark.parametrize("px_per_frame, max_keys", [(0.5, 15), (2.0, 40)])
def test_mediapipe_key_frames_follow_a_moving_face_within_a_few_pixels(px_per_frame, max_keys):
    """The astronaut moving at 15 and 60 px/s: interpolated boxes stay within 3 px of the detector
    on every frame; the faster face gets more key frames (the thumbnail check)."""
    rng = np.random.default_rng(5)
    frames = [frame(i, add_noise(face_image((int(200 + px_per_frame * i), 240)), rng)) for i in range(60)]
    with MediaPipeFaceTracker(MODEL_PATH) as every_frame:
        ref = [every_frame.process(f) for f in frames]
    kt, _ = create_keyframe_tracker(MODEL_PATH)
    try:
        out = list(kt.track(frames))
    finally:
        kt.close()
    assert kt.key_frames <= max_keys
    cx = np.array([f.box.cx for _, f in out])
    cx_ref = np.array([f.box.cx for f in ref])
    assert np.abs(cx - cx_ref)[5:-8].max() < 3.0
