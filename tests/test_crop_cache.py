"""The crop cache: one tracking pass per recording, uniform grid, memory-mapped, atomic."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

import training.crop_cache as cc
from model.fcus_contract import DEFAULT_CONTRACT
from model.frame_crops import background_box
from model.types import Box, Face
from training.crop_cache import CachedRecording, build_cache, uniform_grid
from training.datasets import read_ubfc

CONTRACT = replace(DEFAULT_CONTRACT, crop_size=24)


# ---- pure functions ------------------------------------------------------------------------------
def test_uniform_grid_from_real_timestamps():
    t = np.arange(0, 5.0, 1 / 29.5)
    t = np.concatenate([t[t < 1.5], t[t > 2.9]])  # a 1.4 s hole in the stream
    ok = np.ones(len(t), bool)
    ok[(t > 3.5) & (t < 3.8)] = False  # face lost
    tg, nearest, valid = uniform_grid(t, 30.0, ok)
    assert np.allclose(np.diff(tg), 1 / 30) and tg[0] == 0.0 and tg[-1] <= t[-1] + 1e-9
    assert np.all(np.abs(t[nearest] - tg) <= np.abs(t[:, None] - tg[None]).min(axis=0) + 1e-12)
    far = np.abs(t[nearest] - tg) > 0.5
    assert far.any() and not valid[far].any()  # middle of the hole
    assert not valid[(tg > 2.0) & (tg < 2.4)].any()
    assert valid[(tg > 1.6) & (tg < 1.95)].all()  # within 0.5 s of the last frame before it
    assert not valid[(tg > 3.52) & (tg < 3.78)].any()
    assert valid[tg < 1.5].all() and valid[tg > 3.9].all()


def _rects_overlap(a, b):
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_background_box_beside_the_face():
    rng = np.random.default_rng(0)
    width, height = 640, 480
    for _ in range(500):
        h = rng.uniform(40, 300)
        w = h * rng.uniform(0.7, 1.0)
        face = Box(rng.uniform(-w / 4, width - 3 * w / 4), rng.uniform(-h / 4, height - 3 * h / 4), w, h)
        bg = background_box(face, 1.2, width, height)
        assert bg.w == bg.h and bg.w >= 8
        assert not _rects_overlap((bg.x, bg.y, bg.w, bg.h), (face.x, face.y, face.w, face.h))
        assert 0 <= bg.x and bg.x + bg.w <= width and 0 <= bg.y and bg.y + bg.h <= height
    # room on both sides: full crop side, on the side with more room, at the face's height
    bg = background_box(Box(400, 150, 100, 120), 1.2, width, height)
    assert bg.w == 144 and bg.x + bg.w <= 450 - 72 + 1e-9 and abs((bg.y + 72) - 210) < 1
    # a face filling the frame: the top corner, whatever it overlaps
    bg = background_box(Box(0, 0, 640, 480), 1.2, width, height)
    assert (bg.x, bg.y) in ((0.0, 0.0), (640.0 - bg.w, 0.0))


STUB_FACE = Box(60, 30, 50, 60)


# ---- a cache built with a stand-in tracker (no face model needed) ---------------------------------
class BoxTracker:
    """Stand-in tracker: a fixed face box (OpenCV-style, no landmarks), none in [t_gone]."""

    name = "stub"

    def __init__(self, box=STUB_FACE, gone=(1.0, 1.5)):
        self.box, self.gone = box, gone

    def process(self, frame):
        if self.gone[0] <= frame.t_s < self.gone[1]:
            return Face(ok=False, tracker=self.name)
        return Face(ok=True, box=self.box, tracker=self.name, n_faces=1)

    def track(self, frames):
        """As model.keyframe_tracking.KeyframeTracking yields them: (frame, face) in order."""
        for frame in frames:
            yield frame, self.process(frame)

    def close(self):
        pass


def _skin_video(path, n=60, fps=30.0):
    """A skin-coloured face rectangle on a blue-grey background (MJPG)."""
    wr = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, (200, 150))
    for k in range(n):
        img = np.full((150, 200, 3), (120, 90, 60), np.uint8)
        img[30:90, 60:110] = (110 + k % 3, 140, 190)  # BGR skin tone (YCrCb gate passes)
        wr.write(img)
    wr.release()


@pytest.fixture
def stub_env(tmp_path, monkeypatch):
    subj = tmp_path / "data" / "subject1"
    subj.mkdir(parents=True)
    _skin_video(subj / "vid.avi")
    made = []

    def make_tracker(face_model, allow_download, keyframes=None):
        made.append(1)
        return BoxTracker(), "stub tracker"

    monkeypatch.setattr(cc, "_make_tracker", make_tracker)
    return read_ubfc(tmp_path / "data"), tmp_path / "cache", made


def test_cache_builds_once_and_memory_maps(stub_env, monkeypatch):
    recs, cache, made = stub_env
    (e,) = build_cache(recs, cache, CONTRACT, face_model=None, progress=False)
    assert len(made) == 1
    s = CONTRACT.crop_size
    assert isinstance(e, CachedRecording) and e.source is recs[0] and e.name == "subject1"
    assert e.face.shape == (e.n_frames, s, s, 3) and e.face.dtype == np.float16
    assert e.background.shape == e.face.shape and e.background.dtype == np.float16
    assert isinstance(e.face, np.memmap) and isinstance(e.background, np.memmap)
    assert e.valid.dtype == bool and e.rgb_mean.shape == (e.n_frames, 3) and e.fs_hz == 30.0
    assert np.allclose(np.diff(e.t_s), 1 / 30)
    assert 58 <= e.n_frames <= 60
    gone = (e.t_s >= 1.0) & (e.t_s < 1.5)
    assert not e.valid[gone].any() and e.valid[~gone].all()
    assert np.all(np.isnan(e.rgb_mean[gone])) and np.all(np.isfinite(e.rgb_mean[~gone]))
    assert not e.face[gone].any()
    # masked: skin pixels (the box's forehead and cheek patches without landmarks) keep their
    # colour, everything else is exactly 0
    f = np.asarray(e.face[0], np.float32)
    skin = f.max(-1) > 0
    assert not f[0, 0].any() and not f[-1, -1].any() and 0.05 < skin.mean() < 0.6
    inner = cv2.erode(skin.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert np.allclose(f[inner], (190, 140, 110), atol=6)  # RGB skin tone
    # background: blue-grey pixels (RGB 60, 90, 120) only, beside the face box
    b = np.asarray(e.background[0], np.float32)
    assert np.allclose(b.mean(axis=(0, 1)), (60, 90, 120), atol=4)
    assert not _rects_overlap(e.background_box[0], e.face_box[0])
    assert e.meta["tracker"] == "stub" and e.meta["n_source_frames"] == 60
    # the fixed first box (the classic baseline ROI): its whole-box mean on the grid, read while
    # the face is lost too; the per-frame traces beside the grid
    assert e.rgb_box.shape == (e.n_frames, 3) and np.isfinite(e.rgb_box).all()
    assert np.allclose(e.rgb_box, (190, 140, 111), atol=3)  # RGB skin tone, the box is all skin
    assert e.frame_t_s.shape == (60,) and e.frame_rgb_mean.shape == (60, 3) and e.frame_rgb_box.shape == (60, 3)
    assert np.array_equal(e.rgb_box, e.frame_rgb_box[e.frame_index])
    assert e.media_s == pytest.approx(59 / 30) and e.track_s > 0
    # second call: nothing re-decoded
    monkeypatch.setattr(cc, "track_recording", lambda *a, **k: pytest.fail("re-decoded a cached recording"))
    (e2,) = build_cache(recs, cache, CONTRACT, face_model=None, progress=False)
    assert len(made) == 1 and e2.path == e.path
    assert np.array_equal(np.asarray(e2.face), np.asarray(e.face))
    # another crop size is another entry
    monkeypatch.undo()
    monkeypatch.setattr(cc, "_make_tracker", lambda *a: (BoxTracker(), "stub"))
    (e3,) = build_cache(recs, cache, replace(CONTRACT, crop_size=16), face_model=None, progress=False)
    assert e3.path != e.path and e3.face.shape[1:] == (16, 16, 3)
    # other key-frame tracking is another entry too, and the entry says which it was tracked with
    from model.keyframe_tracking import KeyframeConfig

    held = KeyframeConfig(every=2, interpolate=False)
    (e4,) = build_cache(recs, cache, CONTRACT, face_model=None, progress=False, keyframes=held)
    assert e4.path not in (e.path, e3.path)
    assert e4.meta["keyframes"]["every"] == 2 and e.meta["keyframes"] == dict(vars(KeyframeConfig()))


def test_fixed_box_starts_at_the_first_face_and_stays(stub_env, monkeypatch):
    """The box ROI is the first tracked box: NaN before it, then kept when the tracker moves on."""
    recs, cache, _ = stub_env

    class Moving(BoxTracker):
        def process(self, frame):
            face = super().process(frame)
            if face.ok and frame.t_s >= 1.0:  # later boxes are off the face (background only)
                return Face(ok=True, box=Box(0, 100, 40, 40), tracker=self.name, n_faces=1)
            return face

    monkeypatch.setattr(cc, "_make_tracker", lambda *a: (Moving(gone=(0.0, 0.5)), "stub"))
    (e,) = build_cache(recs, cache, CONTRACT, progress=False)
    before = e.t_s < 0.45
    assert np.isnan(e.rgb_box[before]).all() and np.isfinite(e.rgb_box[~before & (e.t_s > 0.55)]).all()
    later = e.t_s > 1.05
    assert np.allclose(e.rgb_box[later], (190, 140, 111), atol=3)  # still the first (face) box
    assert np.allclose(e.rgb_mean[later], (60, 90, 120), atol=4)  # the skin region followed the tracker


def test_changed_video_invalidates(stub_env):
    recs, cache, made = stub_env
    (e,) = build_cache(recs, cache, CONTRACT, progress=False)
    _skin_video(recs[0].video, n=45)
    (e2,) = build_cache(recs, cache, CONTRACT, progress=False)
    assert len(made) == 2 and e2.path != e.path and e2.meta["n_source_frames"] == 45


def test_failed_write_leaves_no_entry(stub_env, monkeypatch):
    recs, cache, made = stub_env
    calls = []
    real = cc._save_npy

    def failing(path, arr):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        real(path, arr)

    monkeypatch.setattr(cc, "_save_npy", failing)
    with pytest.raises(OSError, match="simulated"):
        build_cache(recs, cache, CONTRACT, progress=False)
    assert list(cache.iterdir()) == []  # no entry, no temporary folder
    monkeypatch.setattr(cc, "_save_npy", real)
    (e,) = build_cache(recs, cache, CONTRACT, progress=False)
    assert (e.path / "meta.json").is_file() and [p.name for p in cache.iterdir()] == [e.path.name]


def test_stale_temporary_folders_are_removed(stub_env):
    import os
    import time

    recs, cache, _ = stub_env
    stale = cache / ".tmp-subject1-abc-1-dead"
    stale.mkdir(parents=True)
    old = time.time() - 2 * 86400
    os.utime(stale, (old, old))
    fresh = cache / ".tmp-other-2-beef"  # maybe another run's work in progress: kept
    fresh.mkdir()
    build_cache(recs, cache, CONTRACT, progress=False)
    assert not stale.exists() and fresh.exists()


def test_default_cache_dir_is_user_cache():
    d = cc.default_cache_dir()
    assert d.name == "crops" and "fcus-rppg" in str(d)


# ---- end to end: synthetic clip, the app's MediaPipe tracker and ROI ------------------------------
@pytest.fixture(scope="module")
def synth_cache(tmp_path_factory, face_model_path):
    from training.synth import SynthConfig, write_clip

    root = tmp_path_factory.mktemp("synth")
    # a face that does not move (motion "none"): the crops' mechanics, not the tracking of a moving face
    cfg = SynthConfig(duration_s=8.0, width=320, height=240, hr_bpm=60.0, hrv_std_bpm=0.0, seed=3, motion="none")
    files = write_clip(cfg, root / "clean", progress=False)
    # the same clip with the face gone (a grey frame) from 3.0 s to 4.5 s
    gone = root / "gone"
    gone.mkdir()
    cap = cv2.VideoCapture(str(files.video_path))
    wr = cv2.VideoWriter(str(gone / "vid.avi"), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                         cfg.fs_hz, (cfg.width, cfg.height))
    k = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if 3.0 <= k / cfg.fs_hz < 4.5:
            img = np.full_like(img, 128)
        wr.write(img)
        k += 1
    wr.release()
    cap.release()
    recs = read_ubfc(root)
    assert [r.name for r in recs] == ["clean", "gone"]
    cache = root / "cache"
    entries = build_cache(recs, cache, DEFAULT_CONTRACT, face_model=face_model_path, progress=False)
    return {e.name: e for e in entries}, recs, cache, face_model_path


def test_synthetic_cache_end_to_end(synth_cache, monkeypatch):
    entries, recs, cache, model = synth_cache
    e = entries["clean"]
    s = DEFAULT_CONTRACT.crop_size
    assert e.meta["tracker"] == "mediapipe"
    assert e.face.shape == (240, s, s, 3) and e.face.dtype == np.float16
    assert np.allclose(np.diff(e.t_s), 1 / 30) and e.valid.all()
    f = np.asarray(e.face[100], np.float32)
    assert not f[0, 0].any() and not f[0, -1].any()  # corners outside the face oval are 0
    assert 0.2 < np.mean(f.max(-1) == 0) < 0.8 and f[s // 2].max() > 50
    fb, bb = e.face_box, e.background_box
    assert not any(_rects_overlap(bb[i], fb[i]) for i in range(e.n_frames))
    # the same crops as analyze's key-frame tracking and RoiExtractor on the same frames
    from model.keyframe_tracking import create_keyframe_tracker
    from model.roi import RoiExtractor

    tracker, _ = create_keyframe_tracker(model, allow_download=False)
    roi = RoiExtractor(crop_size=s, crop_scale=DEFAULT_CONTRACT.crop_scale, crop_masked=True)
    try:
        for frame, face in tracker.track(recs[0].frames()):
            sample = roi.extract(frame, face)
            if frame.index == 100:
                break
    finally:
        tracker.close()
    assert int(e.frame_index[100]) == 100
    assert np.allclose(sample.crop.astype(np.float16), e.face[100])
    # built once: a second call does not track again
    monkeypatch.setattr(cc, "track_recording", lambda *a, **k: pytest.fail("re-decoded"))
    again = build_cache(recs, cache, DEFAULT_CONTRACT, face_model=model, progress=False)
    assert [a.path for a in again] == [entries["clean"].path, entries["gone"].path]


def test_synthetic_face_gone_is_invalid(synth_cache):
    e = synth_cache[0]["gone"]
    t = e.t_s
    assert not e.valid[(t >= 3.05) & (t < 4.45)].any()
    assert e.valid[t < 2.95].all() and e.valid[t >= 4.6].all()
    assert not e.face[(t >= 3.05) & (t < 4.45)].any()


def test_speed_augmentation_on_the_tracked_synthetic_clip(synth_cache):
    """A 60 bpm clip read at speed 1.25 shows 75 bpm in the mean skin colour of its crops."""
    from model.signal import estimate_hr
    from training.clips import AugmentConfig, ClipSampler

    e = synth_cache[0]["clean"]

    def hr_of(speed):
        cfg = AugmentConfig(speed=True, flip=False, shift=False, brightness=False, speed_range=(speed, speed))
        b = next(ClipSampler([e], 160, batch_size=1, augment=cfg).iter_epoch(0))
        assert b.speed[0] == pytest.approx(speed)
        clip = b.face[0]  # (3, T, S, S)
        skin = (clip > 0).all(axis=(0, 1))
        green = clip[1][:, skin].mean(axis=1)
        return estimate_hr(green, 30.0).hr_bpm

    assert hr_of(1.0) == pytest.approx(60.0, abs=3.0)
    assert hr_of(1.25) == pytest.approx(75.0, abs=3.0)
