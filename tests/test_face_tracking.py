"""Face trackers on synthetic frames made from skimage's astronaut (see tests/face_frames.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from model import face_tracking as ft
from model.face_model import FACE_MODEL_ENV
from model.face_tracking import (
    MediaPipeFaceTracker,
    OneEuroFilter,
    OneEuroParams,
    OpenCvFaceTracker,
    create_face_tracker,
)
from model.types import Box, Frame
from tests.face_frames import (
    add_noise,
    blank_canvas,
    face_image,
    frame,
    shared_face_model_path,
    two_faces_image,
)

MODEL_PATH = shared_face_model_path()
needs_model = pytest.mark.skipif(
    MODEL_PATH is None,
    reason=f"face model absent: no assets/face_landmarker.task, {FACE_MODEL_ENV} or "
           "../shared/models copy",
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def mp_tracker():
    with MediaPipeFaceTracker(MODEL_PATH) as tracker:
        yield tracker


def _static_offset(centre_xy: tuple[int, int]) -> tuple[float, float]:
    """Where the tracker puts the box centre relative to the pasted face centre."""
    with MediaPipeFaceTracker(MODEL_PATH) as tracker:
        face = tracker.process(frame(0, face_image(centre_xy)))
    assert face.ok
    return face.box.cx - centre_xy[0], face.box.cy - centre_xy[1]


# --- filter and helpers (no model needed) --------------------------------------------------
def test_one_euro_smooths_noise_and_follows_a_ramp():
    rng = np.random.default_rng(0)
    dt = 1 / 30
    flt = OneEuroFilter(OneEuroParams())
    noisy = 100 + rng.normal(0, 1.0, 300)
    out = np.array([flt(np.array([v]), dt, scale=180.0)[0] for v in noisy])
    assert out[30:].std() < 0.5 * noisy[30:].std()

    flt.reset()
    ramp = 100 + 3.0 * np.arange(90)
    out = np.array([flt(np.array([v]), dt, scale=180.0)[0] for v in ramp])
    lag = ramp[20:] - out[20:]
    assert 0 < lag.max() < 5.0


def test_iou():
    a = Box(0, 0, 10, 10)
    assert ft.iou(a, a) == pytest.approx(1.0)
    assert ft.iou(a, Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert ft.iou(a, Box(20, 20, 5, 5)) == 0.0


def test_detect_every_must_be_positive():
    with pytest.raises(ValueError):
        OpenCvFaceTracker(detect_every=0)


# --- MediaPipe -------------------------------------------------------------------------------
@needs_model
def test_finds_the_astronaut(mp_tracker):
    face = mp_tracker.process(frame(0, face_image((320, 240))))
    assert face.ok and face.tracker == "mediapipe" and face.n_faces == 1
    assert face.landmarks.shape == (478, 2) and face.landmarks.dtype == np.float32
    assert abs(face.box.cx - 320) < 15 and abs(face.box.cy - 240) < 15
    assert 150 < face.box.h < 230 and 120 < face.box.w < 220
    b = face.box
    inside = ((face.landmarks[:, 0] >= b.x - 1e-3) & (face.landmarks[:, 0] <= b.x + b.w + 1e-3)
              & (face.landmarks[:, 1] >= b.y - 1e-3) & (face.landmarks[:, 1] <= b.y + b.h + 1e-3))
    assert inside.all()


@needs_model
def test_box_is_stable_on_a_static_noisy_face(mp_tracker, rng):
    base = face_image((320, 240))
    centres = []
    for i in range(40):
        face = mp_tracker.process(frame(i, add_noise(base, rng, sigma=6.0)))
        assert face.ok
        centres.append((face.box.cx, face.box.cy, face.box.h))
    c = np.array(centres[5:])
    assert c[:, 0].std() < 0.5 and c[:, 1].std() < 0.5
    assert c[:, 2].std() < 1.0


@needs_model
@pytest.mark.parametrize("detect_every", [1, 2])
def test_box_follows_motion(rng, detect_every):
    off_x, off_y = _static_offset((200, 240))
    lags = []
    with MediaPipeFaceTracker(MODEL_PATH, detect_every=detect_every) as tracker:
        for i in range(50):
            cx = 200 + 3 * i  # 3 px per frame = 90 px/s at 30 fps
            face = tracker.process(frame(i, add_noise(face_image((cx, 240)), rng)))
            assert face.ok
            lags.append((cx + off_x - face.box.cx, 240 + off_y - face.box.cy))
    lag = np.array(lags)
    detected = lag[[i for i in range(5, len(lag)) if i % detect_every == 0]]  # detector ran
    assert np.abs(detected[:, 0]).max() < 5.0
    # a held frame is one frame (3 px) behind by design
    assert np.abs(lag[5:, 0]).max() < 5.0 + 3.0 * (detect_every - 1)
    assert np.abs(lag[5:, 1]).max() < 3.0
    assert lag[5:, 0].mean() > 0  # a causal filter trails, it does not lead


@needs_model
@pytest.mark.parametrize("detect_every, n_before", [(1, 10), (2, 10), (2, 9)])
def test_face_lost_then_found_elsewhere(rng, detect_every, n_before):
    # n_before=9 with detect_every=2: the face vanishes on a frame that would be held
    off_x, off_y = _static_offset((400, 250))
    with MediaPipeFaceTracker(MODEL_PATH, detect_every=detect_every) as tracker:
        i = 0
        for _ in range(n_before):
            assert tracker.process(frame(i, add_noise(face_image((220, 240)), rng))).ok
            i += 1
        for _ in range(4):
            lost = tracker.process(frame(i, add_noise(blank_canvas(), rng)))
            i += 1
            assert not lost.ok
            assert lost.box is None and lost.landmarks is None and lost.n_faces == 0
        back = tracker.process(frame(i, add_noise(face_image((400, 250)), rng)))
    assert back.ok  # found on the very first frame it is visible again (nobody else was in view)
    assert abs(back.box.cx - (400 + off_x)) < 2.0  # at the new place, no glide
    assert abs(back.box.cy - (250 + off_y)) < 2.0


@needs_model
def test_two_faces_follows_the_larger_one(mp_tracker, rng):
    base = two_faces_image()
    for i in range(30):
        face = mp_tracker.process(frame(i, add_noise(base, rng)))
        assert face.ok and face.n_faces == 2
        assert abs(face.box.cx - 190) < 25 and face.box.h > 150  # big face, centre x ~190


@needs_model
def test_two_faces_keeps_the_face_it_was_following(mp_tracker, rng):
    only_small = blank_canvas()
    only_small[:, 330:] = two_faces_image()[:, 330:]
    for i in range(5):
        face = mp_tracker.process(frame(i, add_noise(only_small, rng)))
        assert face.ok and face.n_faces == 1 and face.box.cx > 400
    both = two_faces_image()
    for i in range(5, 25):
        face = mp_tracker.process(frame(i, add_noise(both, rng)))
        assert face.ok and face.n_faces == 2
        assert face.box.cx > 400  # continuity (IoU) beats "largest"


class ScriptedTracker(ft.FaceTracker):
    """A FaceTracker whose detector returns the boxes it is given, frame by frame (``near``: those
    its look near a missed face finds, by default none)."""

    name = "scripted"

    def __init__(self, script: list[list[tuple[float, float]]], near=None, **kwargs) -> None:
        self.script = script  # per frame: the centres of the 100x100 faces found
        self.near = near
        self.near_calls = 0
        super().__init__(**kwargs)

    def _detect(self, frame: Frame) -> list[ft.Detection]:
        return [ft.Detection(Box(x - 50.0, y - 50.0, 100.0, 100.0)) for x, y in self.script[frame.index]]

    def _detect_near(self, frame: Frame, box: Box) -> list[ft.Detection]:
        self.near_calls += 1
        found = self.near[frame.index] if self.near is not None else []
        return [ft.Detection(Box(x - 50.0, y - 50.0, 100.0, 100.0)) for x, y in found]


def _canvas(centres: list[tuple[float, float]]) -> np.ndarray:
    """A black frame with a grey 100x100 square (a face) at each of ``centres``."""
    img = np.zeros((480, 640, 3), np.uint8)
    for x, y in centres:
        img[int(y) - 50:int(y) + 50, int(x) - 50:int(x) + 50] = 160
    return img


def _run(script: list[list[tuple[float, float]]], fps: float = 30.0,
         drawn: list[list[tuple[float, float]]] | None = None):
    """The faces tracked when the detector finds ``script``'s faces, frame by frame, in frames
    that show ``drawn``'s (by default the ones found)."""
    drawn = script if drawn is None else drawn
    with ScriptedTracker(script) as tracker:
        return [tracker.process(Frame(index=i, t_s=i / fps, bgr=_canvas(drawn[i]))) for i in range(len(script))]


A, B = (200.0, 240.0), (480.0, 240.0)  # two people side by side


def test_a_missed_face_is_not_swapped_for_the_person_beside_it():
    # A is followed (taken first, alone); B joins; then the detector misses A for 10 frames while B stays
    script = [[A]] * 5 + [[A, B]] * 10 + [[B]] * 10 + [[A, B]] * 10
    faces = _run(script)
    followed = faces[0].track_id
    assert followed > 0 and all(f.ok and f.track_id == followed and abs(f.box.cx - A[0]) < 1 for f in faces[:15])
    for f in faces[15:25]:  # A unseen for a third of a second: no face, never B's box
        assert not f.ok and f.box is None and f.n_faces == 1
    back = faces[25:]
    assert all(f.ok and abs(f.box.cx - A[0]) < 1 and f.track_id == followed for f in back)  # the same person


def test_follows_the_other_person_once_the_first_is_gone_long_enough():
    script = [[A, B]] * 10 + [[B]] * 60
    faces = _run(script)
    switch = ScriptedTracker.switch_after_s  # seconds; frames at 30 fps
    first = next(i for i, f in enumerate(faces) if i >= 10 and f.ok)
    assert all(not f.ok and f.n_faces == 1 for f in faces[10:first])
    assert abs((first - 9) / 30.0 - switch) <= 1.5 / 30.0  # after switch_after_s without A
    assert abs(faces[first].box.cx - B[0]) < 1 and faces[first].track_id > faces[0].track_id
    assert all(f.ok and f.track_id == faces[first].track_id for f in faces[first:])


def test_a_face_missed_on_the_whole_frame_is_looked_for_where_it_was():
    # A followed, B beside; the whole-frame pass misses A for 2 s (as MediaPipe does now and then with
    # two faces in view) while the look near A's last box finds it: A followed throughout, never B
    script = [[A, B]] * 10 + [[B]] * 60 + [[A, B]] * 10
    near = [[A]] * len(script)
    with ScriptedTracker(script, near=near) as tracker:
        faces = [tracker.process(Frame(index=i, t_s=i / 30.0, bgr=_canvas(script[i]))) for i in range(len(script))]
        assert tracker.near_calls == 60  # only on the misses
    assert all(f.ok and abs(f.box.cx - A[0]) < 1 and f.track_id == faces[0].track_id for f in faces)
    assert not any(f.new_person for f in faces) and all(f.n_faces == 2 for f in faces)
    # a face found near but elsewhere than A's box (not overlapping) is not taken for A; nothing
    # found near (A left): B followed after switch_after_s, as without the look
    for found in ([(A[0] + 120, A[1])], []):
        with ScriptedTracker(script, near=[found] * len(script)) as tracker:
            faces = [tracker.process(Frame(index=i, t_s=i / 30.0, bgr=_canvas(script[i]))) for i in range(len(script))]
        first = next(i for i, f in enumerate(faces) if i >= 10 and f.ok)
        assert abs((first - 9) / 30.0 - ScriptedTracker.switch_after_s) <= 1.5 / 30.0
        assert faces[first].new_person and abs(faces[first].box.cx - B[0]) < 1
    # the neighbour found in the crop too (its head reaches into it): the face overlapping A's box most
    with ScriptedTracker(script, near=[[(A[0] + 70, A[1]), (A[0] + 5, A[1])]] * len(script)) as tracker:
        faces = [tracker.process(Frame(index=i, t_s=i / 30.0, bgr=_canvas(script[i]))) for i in range(len(script))]
    assert all(f.ok and abs(f.box.cx - A[0]) < 6 and f.track_id == faces[0].track_id for f in faces)
    # off: no look near
    with ScriptedTracker(script, near=near) as tracker:
        tracker.look_near_scale = None
        faces = [tracker.process(Frame(index=i, t_s=i / 30.0, bgr=_canvas(script[i]))) for i in range(len(script))]
        assert tracker.near_calls == 0 and not all(f.ok for f in faces)


def test_a_lone_face_missed_while_someone_appears_elsewhere_is_looked_for_first():
    # only A seen so far; one frame the whole-frame pass finds only B, elsewhere: taken for A's jump
    # unless the look near A's box finds A still there
    script = [[A]] * 10 + [[B]] * 3 + [[A, B]] * 5
    with ScriptedTracker(script, near=[[A]] * len(script)) as tracker:
        faces = [tracker.process(Frame(index=i, t_s=i / 30.0, bgr=_canvas([A, B]))) for i in range(len(script))]
    assert all(f.ok and abs(f.box.cx - A[0]) < 1 and f.track_id == faces[0].track_id for f in faces)
    with ScriptedTracker(script) as tracker:  # nothing near A's box: A jumped (nobody else was about)
        faces = [tracker.process(Frame(index=i, t_s=i / 30.0, bgr=_canvas(script[i]))) for i in range(len(script))]
    assert faces[10].ok and abs(faces[10].box.cx - B[0]) < 1 and faces[10].track_id == faces[0].track_id


def test_a_failing_look_near_is_switched_off_and_the_frame_still_tracked(caplog):
    class Failing(ScriptedTracker):
        def _detect_near(self, frame, box):
            self.near_calls += 1
            raise RuntimeError("the face model file is gone")

    script = [[A, B]] * 5 + [[B]] * 10
    with Failing(script) as tracker, caplog.at_level("WARNING"):
        faces = [tracker.process(Frame(index=i, t_s=i / 30.0, bgr=_canvas(script[i]))) for i in range(len(script))]
        assert tracker.near_calls == 1 and tracker.look_near_scale is None
    assert all(not f.ok and f.n_faces == 1 for f in faces[5:])  # as without the look: no face, never B
    assert sum("near its last box failed" in r.getMessage() for r in caplog.records) == 1
    assert ScriptedTracker.look_near_scale == 2.0  # switched off for that tracker only


@needs_model
def test_mediapipe_finds_a_missed_face_in_the_crop_around_its_last_box(mp_tracker, rng):
    both = two_faces_image()
    first = mp_tracker.process(frame(0, add_noise(both, rng)))
    assert first.ok and first.box.cx < 330
    found = mp_tracker._detect_near(frame(1, add_noise(both, rng)), first.box)
    assert len(found) == 1 and ft.iou(found[0].box, first.box) > 0.6 and found[0].landmarks.shape == (478, 2)
    assert mp_tracker._detect_near(frame(2, blank_canvas()), first.box) == []
    # the whole-frame pass blind to the left face for 40 frames: still followed, through the crop
    whole = mp_tracker._detect
    mp_tracker._detect = lambda f: [d for d in whole(f) if d.box.cx > 330] if 3 <= f.index < 43 else whole(f)
    faces = [mp_tracker.process(frame(i, add_noise(both, rng))) for i in range(3, 48)]
    assert all(f.ok and f.box.cx < 330 and f.track_id == first.track_id for f in faces)


def test_a_lone_face_keeps_its_track_where_it_returns_and_where_it_jumps():
    # nobody else in view: a miss and a jump are the same person, followed at once
    script = [[A]] * 10 + [[]] * 3 + [[A]] * 5 + [[]] * 3 + [[B]] * 5 + [[A]] * 5
    faces = _run(script)
    assert [f.ok for f in faces[10:14]] == [False, False, False, True]
    assert [f.ok for f in faces[18:22]] == [False, False, False, True]
    assert len({f.track_id for f in faces if f.ok}) == 1
    assert abs(faces[21].box.cx - B[0]) < 1 and abs(faces[26].box.cx - A[0]) < 1


def test_a_lone_face_back_after_looking_away_keeps_its_track():
    # 40 frames (1.3 s) unseen, nobody else in view, back where it was: the same person
    faces = _run([[A]] * 50 + [[]] * 40 + [[(A[0] + 20, A[1])]] * 3)
    assert faces[90].ok and faces[90].track_id == faces[0].track_id and not faces[90].new_person
    # back elsewhere (someone else sat down, maybe): a new track, not flagged (nobody else was seen)
    faces = _run([[A]] * 50 + [[]] * 40 + [[B]] * 3)
    assert faces[90].ok and faces[90].track_id > faces[0].track_id and not faces[90].new_person


def test_a_face_back_after_same_person_within_s_is_a_new_track():
    gone = round(ScriptedTracker.same_person_within_s * 30) + 3  # frames at 30 fps
    faces = _run([[A]] * 10 + [[]] * gone + [[A]] * 3)
    assert faces[10 + gone].ok and faces[10 + gone].track_id > faces[0].track_id
    assert not faces[10 + gone].new_person  # nobody else was about: not flagged either


def test_a_face_back_after_someone_else_was_seen_is_a_new_track():
    C = (480.0, 100.0)
    # A leaves, two others pass (seen, not followed: A was seen just before), one face comes back
    faces = _run([[A]] * 10 + [[]] * 5 + [[B, C]] * 3 + [[]] * 40 + [[A]] * 3)
    assert not any(f.ok for f in faces[10:58])
    assert faces[-1].ok and faces[-1].track_id > faces[0].track_id
    # A seen with someone else, then both gone: whoever comes back alone is not assumed to be A
    faces = _run([[A]] * 5 + [[A, B]] * 5 + [[]] * 40 + [[A]] * 3)
    assert faces[-1].ok and faces[-1].track_id > faces[0].track_id


def test_track_ids_are_never_reused_after_a_reset():
    canvas = np.zeros((480, 640, 3), np.uint8)
    with ScriptedTracker([[A]] * 2) as tracker:
        first = tracker.process(Frame(index=0, t_s=0.0, bgr=canvas)).track_id
        tracker.reset()
        assert tracker.process(Frame(index=1, t_s=0.0, bgr=canvas)).track_id > first


def test_a_face_moving_a_little_keeps_its_track():
    script = [[(200.0 + 4 * i, 240.0)] for i in range(30)]
    faces = _run(script)
    assert len({f.track_id for f in faces}) == 1 and all(f.ok for f in faces)


def test_a_time_jump_forgets_the_people_beside():
    # a loop or seek: who stood beside whom before it says nothing after it
    canvas = np.zeros((480, 640, 3), np.uint8)
    script = [[A, B]] * 5 + [[B]] * 3
    with ScriptedTracker(script) as tracker:
        faces = [tracker.process(Frame(index=i, t_s=i / 30.0 + (10.0 if i >= 5 else 0.0), bgr=canvas))
                 for i in range(len(script))]
    assert faces[5].ok and abs(faces[5].box.cx - B[0]) < 1


@needs_model
def test_two_real_faces_the_followed_one_covered_then_back(mp_tracker, rng):
    both = two_faces_image()
    only_small = blank_canvas()
    only_small[:, 330:] = both[:, 330:]
    faces = [mp_tracker.process(frame(i, add_noise(both, rng))) for i in range(5)]
    faces += [mp_tracker.process(frame(i, add_noise(only_small, rng))) for i in range(5, 15)]
    faces += [mp_tracker.process(frame(i, add_noise(both, rng))) for i in range(15, 20)]
    assert all(f.ok and f.box.cx < 330 for f in faces[:5])
    assert all(not f.ok and f.n_faces == 1 for f in faces[5:15])  # never the small face on the right
    assert all(f.ok and f.box.cx < 330 and f.track_id == faces[0].track_id for f in faces[15:])


@needs_model
def test_timestamps_repeating_or_going_back(mp_tracker, rng):
    base = face_image((320, 240))
    times = [0.0, 0.033, 0.033, 0.033, 0.066, 0.1, 0.0, 0.033, 5.0, 4.0, 4.0]
    for i, t_s in enumerate(times):
        face = mp_tracker.process(Frame(index=i, t_s=t_s, bgr=add_noise(base, rng)))
        assert face.ok
    stamps = []
    for t_s in [1.0, 1.0, 0.5, 1.0004, 2.0]:
        stamps.append(mp_tracker._timestamp_ms(t_s))
    assert all(b > a for a, b in zip(stamps, stamps[1:]))


@needs_model
def test_detect_every_2_holds_the_face_between_detections(rng):
    calls = []
    with MediaPipeFaceTracker(MODEL_PATH, detect_every=2) as tracker:
        detect = tracker._detect

        def counting(fr):
            calls.append(fr.index)
            return detect(fr)

        tracker._detect = counting
        faces = [tracker.process(frame(i, add_noise(face_image((320, 240)), rng)))
                 for i in range(10)]
    assert calls == [0, 2, 4, 6, 8]
    assert all(f.ok for f in faces)
    assert faces[3] is faces[2]


@needs_model
def test_closed_tracker_refuses_frames():
    tracker = MediaPipeFaceTracker(MODEL_PATH)
    tracker.close()
    tracker.close()  # idempotent
    with pytest.raises(RuntimeError):
        tracker.process(frame(0, face_image()))


# --- OpenCV fallback and factory -------------------------------------------------------------
def test_opencv_tracker_finds_the_face(rng):
    with OpenCvFaceTracker() as tracker:
        faces = [tracker.process(frame(i, add_noise(face_image((300, 250)), rng)))
                 for i in range(5)]
        lost = tracker.process(frame(5, blank_canvas()))
    for face in faces:
        assert face.ok and face.tracker == "opencv" and face.landmarks is None
        assert abs(face.box.cx - 300) < 25 and abs(face.box.cy - 250) < 35
        assert 120 < face.box.w < 260
    assert not lost.ok and lost.box is None


def test_factory_refuses_a_missing_explicit_model(tmp_path, monkeypatch):
    monkeypatch.delenv(FACE_MODEL_ENV, raising=False)
    with pytest.raises(ft.FaceTrackerRequestError, match="Face model not found: .*bogus.task"):
        create_face_tracker(tmp_path / "bogus.task", allow_download=False, cache_dir=tmp_path / "cache")


def test_factory_refuses_a_corrupt_explicit_model(tmp_path, monkeypatch):
    monkeypatch.delenv(FACE_MODEL_ENV, raising=False)
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(b"this is not a task bundle")
    with pytest.raises(ft.FaceTrackerRequestError, match="Face model unreadable: .*face_landmarker.task"):
        create_face_tracker(bad, allow_download=False)


def _damaged_shipped_bundle(tmp_path, monkeypatch):
    from model import face_model as fm

    damaged = tmp_path / "assets" / "face_landmarker.task"
    damaged.parent.mkdir()
    damaged.write_bytes(b"truncated")
    monkeypatch.delenv(FACE_MODEL_ENV, raising=False)
    monkeypatch.setattr(fm, "shipped_face_model_path", lambda: damaged)
    return damaged


def test_factory_falls_back_with_one_readable_line(tmp_path, monkeypatch, caplog):
    damaged = _damaged_shipped_bundle(tmp_path, monkeypatch)
    with caplog.at_level(logging.WARNING, logger=ft.__name__):
        tracker, message = create_face_tracker(allow_download=False, cache_dir=tmp_path / "cache")
    with tracker:
        assert isinstance(tracker, OpenCvFaceTracker) and tracker.name == "opencv"
    assert message == ("Face tracking: OpenCV fallback (coarser skin region). Face model damaged "
                       f"(SHA-256 differs): {damaged}; reinstall fcus-rppg or pass --face-model FILE")
    assert any(r.levelno == logging.WARNING and "OpenCV fallback" in r.getMessage()
               for r in caplog.records)


def test_factory_falls_back_when_the_env_model_file_is_corrupt(tmp_path, monkeypatch):
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(b"this is not a task bundle")
    monkeypatch.setenv(FACE_MODEL_ENV, str(bad))
    tracker, message = create_face_tracker(allow_download=False)
    with tracker:
        assert tracker.name == "opencv"
    assert message.endswith(f"Face model unreadable: {bad}; reinstall fcus-rppg or pass --face-model FILE")


def test_factory_prefer_mediapipe_refuses_the_fallback(tmp_path, monkeypatch):
    _damaged_shipped_bundle(tmp_path, monkeypatch)
    with pytest.raises(ft.FaceTrackerRequestError, match="MediaPipe face tracker unavailable"):
        create_face_tracker(prefer="mediapipe", allow_download=False, cache_dir=tmp_path / "cache")


@needs_model
def test_factory_prefers_mediapipe_and_honours_prefer_opencv():
    tracker, message = create_face_tracker(MODEL_PATH, allow_download=False, detect_every=2)
    with tracker:
        assert isinstance(tracker, MediaPipeFaceTracker) and tracker.detect_every == 2
        assert "MediaPipe" in message
    tracker, message = create_face_tracker(MODEL_PATH, prefer="opencv")
    with tracker:
        assert tracker.name == "opencv" and "OpenCV" in message
    with pytest.raises(ValueError):
        create_face_tracker(MODEL_PATH, prefer="dlib")


def test_creating_the_mediapipe_tracker_does_not_import_matplotlib_or_audio():
    """MediaPipe's drawing helpers (and matplotlib.pyplot behind them, ~0.5 s of every start) and
    its audio tasks (sounddevice) load on first use only; they still work when used."""
    import subprocess
    import sys

    if MODEL_PATH is None:
        pytest.skip("face model absent")
    code = (
        "import sys\n"
        "from model.face_tracking import MediaPipeFaceTracker\n"
        f"t = MediaPipeFaceTracker({str(MODEL_PATH)!r}); t.close()\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
        "assert type(sys.modules['mediapipe.tasks.python.audio']).__name__ == '_LoadedOnFirstUse'\n"
        "assert 'mediapipe.tasks.python.audio.audio_classifier' not in sys.modules, 'audio imported'\n"
        "from mediapipe.tasks.python.vision import drawing_utils\n"
        "assert drawing_utils.DrawingSpec().thickness == 2\n"
        "assert 'matplotlib.pyplot' in sys.modules\n"
        "from mediapipe.tasks.python import audio\n"
        "assert audio.AudioClassifier.__name__ == 'AudioClassifier'\n"
        "assert 'mediapipe.tasks.python.audio.audio_classifier' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=str(Path(__file__).resolve().parent.parent))
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_first_face_of_another_person_is_flagged():
    faces = _run([[A, B]] * 10 + [[B]] * 40)
    flagged = [i for i, f in enumerate(faces) if f.new_person]
    assert len(flagged) == 1 and faces[flagged[0]].ok and abs(faces[flagged[0]].box.cx - B[0]) < 1
    gone = round(ScriptedTracker.same_person_within_s * 30) + 3
    lone = _run([[A]] * 10 + [[]] * gone + [[B]] * 5)  # nobody else was about: not flagged, whoever it is
    assert not any(f.new_person for f in lone) and lone[-1].track_id > lone[0].track_id


def test_another_person_is_flagged_on_one_frame_only_with_key_frames_and_held_frames():
    """The flag marks the first face of the new track; the frames held or interpolated after it are
    the same face (else hr.csv's person column and the app's message would count one per frame)."""
    from model.keyframe_tracking import KeyframeConfig, KeyframeTracking

    script = [[A, B]] * 10 + [[B]] * 80
    frames = [Frame(index=i, t_s=i / 30.0, bgr=_canvas(script[i])) for i in range(len(script))]
    with ScriptedTracker(script, detect_every=4) as held:
        faces = [held.process(f) for f in frames]
    assert sum(f.new_person for f in faces) == 1
    kt = KeyframeTracking(ScriptedTracker(script), KeyframeConfig(every=6))
    out = list(kt.track(frames))
    assert [f.index for f, _ in out] == list(range(len(script)))
    assert sum(face.new_person for _, face in out) == 1


def test_a_face_seen_beside_the_followed_one_just_before_it_left_is_not_taken_for_it():
    # B seen beside A until 3 frames before A's last sighting; then one face back where A was
    faces = _run([[A]] * 10 + [[A, B]] * 10 + [[A]] * 3 + [[]] * 40 + [[A]] * 3)
    assert faces[-1].ok and faces[-1].track_id > faces[0].track_id
