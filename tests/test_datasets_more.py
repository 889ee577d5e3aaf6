"""Dataset readers beyond UBFC: PURE (frame images + JSON), the app's session folders, dispatch,
and Recording.frames()."""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np
import pytest

from model.types import Face
from model.video_source import SourceError
from training.datasets import (
    ImageFolderSource,
    Recording,
    read_dataset,
    read_pure,
    read_pure_ground_truth,
    read_sessions,
)

T0_NS = 1392643993642815000
STEP_NS = 33_366_667


def _img(k: int, w: int = 32, h: int = 24) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (10 * k, 100, 255 - 10 * k)
    img[0, 0] = (k, k, k)
    return img


def _write_pure(root, name="01-01", n=6, json_beside_images=True, hr=72.0):
    rec = root / name
    frames = rec / name
    frames.mkdir(parents=True)
    stamps = [T0_NS + k * STEP_NS + (1000 if k % 2 else 0) for k in range(n)]
    for k, ns in enumerate(stamps):
        cv2.imwrite(str(frames / f"Image{ns}.png"), _img(k))
    # pulse oximeter at 60 Hz, starting 0.1 s before the first image
    t_pk = T0_NS - 100_000_000 + np.arange(int(n / 30 * 60) + 12) * 16_666_667
    pkgs = [{"Timestamp": int(t), "Value": {"waveform": int(50 + 20 * np.sin(i / 3)), "pulseRate": hr,
                                            "o2saturation": 98, "signalStrength": 5}}
            for i, t in enumerate(t_pk)]
    data = {"/FullPackage": pkgs, "/Image": [{"Timestamp": s} for s in stamps]}
    jpath = (rec if json_beside_images else root) / f"{name}.json"
    jpath.write_text(json.dumps(data))
    return stamps, t_pk


def test_pure_layout_frames_and_ground_truth(tmp_path):
    stamps, t_pk = _write_pure(tmp_path, "01-02", json_beside_images=False, hr=80.0)
    _write_pure(tmp_path, "01-01")
    (tmp_path / "01-03").mkdir()  # an empty folder is not a recording
    recs = read_dataset(tmp_path)
    assert [r.name for r in recs] == ["01-01", "01-02"]
    assert all(r.dataset == "pure" for r in recs)
    rec = recs[1]
    assert rec.video.is_dir() and rec.ground_truth_path.name == "01-02.json"
    frames = list(rec.frames())
    assert len(frames) == 6 and [f.index for f in frames] == list(range(6))
    expect_t = (np.array(stamps) - stamps[0]) * 1e-9
    assert np.allclose([f.t_s for f in frames], expect_t, atol=1e-9)
    assert frames[0].t_s == 0.0
    for k, f in enumerate(frames):
        assert f.bgr.shape == (24, 32, 3) and f.bgr.dtype == np.uint8
        assert np.array_equal(f.bgr, _img(k))  # PNG is lossless; frames in time order
    gt = rec.ground_truth()
    assert gt.t_s[0] == pytest.approx(-0.1, abs=1e-6)  # seconds from the first image
    assert np.allclose(np.diff(gt.t_s), 1 / 60, atol=1e-6)
    assert len(gt.ppg) == len(t_pk) and np.all(gt.hr_bpm == 80.0)
    assert read_pure(tmp_path) == recs and read_dataset(tmp_path, kind="pure") == recs


def test_image_folder_source_counters_and_unreadable(tmp_path):
    for k in range(4):
        cv2.imwrite(str(tmp_path / f"frame_{k + 1:04d}.png"), _img(k))
    (tmp_path / "frame_0005.png").write_bytes(b"not a png")
    src = ImageFolderSource(tmp_path, fps_hz=25.0)
    assert len(src) == 5 and src.stamp_unit_s is None
    frames = list(src)
    assert [f.t_s for f in frames] == pytest.approx([0.0, 0.04, 0.08, 0.12])
    assert src.corrupt_frames == 1
    assert len(list(src)) == 4  # iterating again restarts
    with pytest.raises(SourceError):
        ImageFolderSource(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no frame images"):
        ImageFolderSource(tmp_path / "empty")


def test_image_folder_millisecond_stamps(tmp_path):
    for k in range(3):
        cv2.imwrite(str(tmp_path / f"{1700000000000 + 33 * k}.png"), _img(k))
    src = ImageFolderSource(tmp_path)
    assert src.stamp_unit_s == 1e-3
    assert [f.t_s for f in src] == pytest.approx([0.0, 0.033, 0.066])


def test_pure_ground_truth_rejects_other_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"/Image": []}))
    with pytest.raises(ValueError, match="FullPackage"):
        read_pure_ground_truth(p)
    p.write_text("{broken")
    with pytest.raises(ValueError):
        read_pure_ground_truth(p)


def _write_video(path, n=10, w=64, h=48, fps=30.0):
    wr = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert wr.isOpened()
    for k in range(n):
        wr.write(np.full((h, w, 3), 20 * k % 255, np.uint8))
    wr.release()


def _write_session(parent, with_video=True, video_name="video.avi", meta_video=None):
    from app.recording import SessionRecorder

    meta = {"source": "camera 0", "method": "pos", **({"video": meta_video} if meta_video else {})}
    rec = SessionRecorder(parent, meta)
    path = rec.start()
    for k in range(5):
        rec.frame(k / 30, Face(ok=False))
    rec.close(5 / 30)
    if with_video:
        _write_video(path / video_name)
    return path


def test_session_folders(tmp_path):
    s1 = _write_session(tmp_path)
    s2 = _write_session(tmp_path, with_video=False)  # no video: not a recording
    s3 = _write_session(tmp_path, video_name="clip.mp4.avi", meta_video="clip.mp4.avi")
    (s3 / "ground_truth.csv").write_text("t_s,hr_bpm\n0.0,70\n1.0,71\n")
    assert s2.is_dir()
    recs = read_dataset(tmp_path)
    assert [r.dataset for r in recs] == ["session", "session"]
    by_name = {r.name: r for r in recs}
    assert set(by_name) == {s1.name, s3.name}
    r1 = by_name[s1.name]
    assert r1.video == s1 / "video.avi" and r1.ground_truth() is None
    frames = list(r1.frames())
    assert len(frames) == 10
    assert np.allclose([f.t_s for f in frames], np.arange(10) / 30.0, atol=2e-3)
    r3 = by_name[s3.name]
    assert r3.video.name == "clip.mp4.avi"
    assert r3.ground_truth().hr_bpm.tolist() == [70.0, 71.0]
    # one session folder given directly
    assert [r.name for r in read_sessions(s1)] == [s1.name]
    assert read_dataset(s2, kind="session") == []


def test_dispatch_order_and_kinds(tmp_path):
    ubfc = tmp_path / "ubfc" / "subject1"
    ubfc.mkdir(parents=True)
    _write_video(ubfc / "vid.avi")
    assert read_dataset(tmp_path / "ubfc")[0].dataset == "ubfc"
    plain = tmp_path / "plain"
    plain.mkdir()
    _write_video(plain / "a.avi")
    recs = read_dataset(plain)
    assert [(r.name, r.dataset) for r in recs] == [("a.avi", "folder")]
    assert len(list(recs[0].frames())) == 10
    single = read_dataset(plain / "a.avi")
    assert single[0].video == plain / "a.avi"
    with pytest.raises(ValueError, match="kind"):
        read_dataset(plain, kind="nope")
    with pytest.raises(ValueError, match="not found"):
        read_dataset(tmp_path / "missing")
    # a folder of images without its JSON is not PURE
    imgs = tmp_path / "imgs" / "x"
    imgs.mkdir(parents=True)
    cv2.imwrite(str(imgs / "Image1.png"), _img(0))
    assert read_pure(tmp_path / "imgs") == []


def test_recording_frames_unreadable_video(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"nothing")
    with pytest.raises(SourceError):
        list(Recording("bad", bad, None, "folder").frames())


@pytest.mark.real_data
def test_ubfc_recording_frames(ubfc_root):
    rec = read_dataset(ubfc_root)[0]
    frames = list(itertools.islice(rec.frames(), 3))
    assert [f.index for f in frames] == [0, 1, 2]
    assert frames[0].t_s == 0.0 and 0.02 < frames[1].t_s < 0.05
    assert frames[0].bgr.shape == (480, 640, 3)


def test_a_folder_of_several_kinds_is_read_whole(tmp_path):
    """A developer's folder: two sessions, a synthetic (UBFC-style) clip, a phone video, a session
    recorded with the video off and one still being recorded. Every recording is read once (a
    session's or a subject's video is not also a loose video); the two sessions that cannot be
    used are named with why."""
    import os
    import time

    from model.session_source import RECORDING_QUIET_S
    from training.datasets import scan_dataset

    s1 = _write_session(tmp_path)
    s2 = _write_session(tmp_path)
    novid = _write_session(tmp_path, with_video=False)
    synth = tmp_path / "synth84"
    synth.mkdir()
    _write_video(synth / "vid.avi")
    (synth / "ground_truth.txt").write_text("1 2\n70 70\n0 1\n")
    _write_video(tmp_path / "phone.avi")
    (tmp_path / "synth85").mkdir()  # a synth run killed while writing: its video still .partial
    _write_video(tmp_path / "synth85" / "vid.partial.avi")
    live = _write_session(tmp_path)
    meta = json.loads((live / "session.json").read_text())
    del meta["ended"]  # no end marker, files just written: being recorded
    (live / "session.json").write_text(json.dumps(meta))

    scan = scan_dataset(tmp_path)
    assert sorted((r.name, r.dataset) for r in scan.recordings) == sorted(
        [(s1.name, "session"), (s2.name, "session"), ("synth84", "ubfc"), ("phone.avi", "folder")])
    assert [r.name for r in read_dataset(tmp_path)] == [r.name for r in scan.recordings]
    reasons = dict(scan.passed_over)
    assert "video off" in reasons[novid.name] and "still being recorded" in reasons[live.name]
    # the same folder long after its app was killed: its frames are read as far as they go
    old = time.time() - RECORDING_QUIET_S - 5
    for f in live.iterdir():
        os.utime(f, (old, old))
    assert live.name in {r.name for r in scan_dataset(tmp_path).recordings}
    # one kind asked for: that kind alone
    assert [r.dataset for r in scan_dataset(tmp_path, kind="ubfc").recordings] == ["ubfc"]
