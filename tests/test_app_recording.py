"""Video recording in session folders: the real window records the demo with the video on; the
session is readable by ``train`` (training.datasets) and replays through ``analyze``."""

from __future__ import annotations

import csv
import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from app.capture import DEMO_HR_BPM  # noqa: E402
from app.recording import RecordingError, SessionRecorder  # noqa: E402
from model.types import Box, Face  # noqa: E402




def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_demo_recording_with_video_replays(qtbot, env, face_model_path):
    from app.main import launch
    from model.analyze import run_analysis
    from training.datasets import read_dataset

    rec_parent = env / "sessions"
    _, win, _ = launch(["--no-download", "--source", "demo", "--method", "pos", "--record", str(rec_parent)])
    qtbot.addWidget(win)
    try:
        assert win.worker.record_video, "video is on by default when recording"
        qtbot.waitUntil(lambda: win.recording_path is not None, timeout=15000)
        qtbot.waitUntil(lambda: win.worker._rec is not None and win.worker._rec.n_video_frames > 0,
                        timeout=10000)
        qtbot.wait(8000)
        session = win.recording_path
        win.set_recording(False)
        qtbot.waitUntil(lambda: win.recording_path is None, timeout=3000)
    finally:
        win.close()
    assert not win.worker.running

    meta = json.loads((session / "session.json").read_text())
    assert meta["video"] == "video.avi" and meta["frames_file"] == "frames.csv"
    n_meta = meta["video_frames"]
    frames = read_csv(session / "frames.csv")
    assert frames[0] == ["frame", "t_s", "source_frame"]
    rows = frames[1:]
    assert len(rows) == n_meta and n_meta >= 200  # ~8 s at 30 fps
    assert [int(r[0]) for r in rows] == list(range(len(rows)))
    t = np.array([float(r[1]) for r in rows])
    assert np.all(np.diff(t) > 0)
    # the same clock as bvp.csv / faces.csv: one row per processed frame in each
    faces_t = [float(r[0]) for r in read_csv(session / "faces.csv")[1:]]
    assert np.allclose(faces_t, t, atol=1e-3)

    cap = cv2.VideoCapture(str(session / "video.avi"))
    assert cap.isOpened()
    n_dec, size = 0, None
    while True:
        ok, img = cap.read()
        if not ok:
            break
        size = (img.shape[1], img.shape[0])
        n_dec += 1
    cap.release()
    assert abs(n_dec - len(rows)) <= 2
    assert size == tuple(meta["video_size"]) and size == (640, 480)

    recs = read_dataset(rec_parent)
    assert len(recs) == 1 and recs[0].dataset == "session" and Path(recs[0].video).name == "video.avi"
    n_iter = sum(1 for _ in recs[0].frames())
    assert abs(n_iter - len(rows)) <= 2

    res = run_analysis(session / "video.avi", "pos", face_model=str(face_model_path),
                       allow_download=False, progress=False)
    hr = res.summary["hr_bpm"]
    assert hr is not None and abs(hr - DEMO_HR_BPM) <= 3, res.summary


def test_recorder_video_write_errors(tmp_path, monkeypatch):
    """The video's errors are reported like the other recording errors."""
    rec = SessionRecorder(tmp_path, {}, video=True, video_fps=30.0)
    path = rec.start()
    img = np.full((48, 64, 3), 128, np.uint8)
    rec.frame(0.0, Face(ok=True, box=Box(1, 2, 3, 4)), img, 0)
    rec.frame(1 / 30, Face(ok=False), img[:24, :32], 1)  # another size: resized, noted
    rec.flush()
    assert len(read_csv(path / "frames.csv")) == 3
    assert any(r[2] == "video_resized" for r in read_csv(path / "events.csv"))
    monkeypatch.setattr("app.recording.MIN_FREE_BYTES", 1 << 62)  # "the disk is full"
    with pytest.raises(RecordingError, match="space"):
        rec.flush()
    assert rec.closed and rec.error
    rec.frame(2 / 30, None, img, 2)  # ignored after the error
    rec.close(1.0)
    cap = cv2.VideoCapture(str(path / "video.avi"))
    assert cap.isOpened() and cap.read()[0]
    cap.release()


def test_recorder_without_video_writes_no_video(tmp_path):
    rec = SessionRecorder(tmp_path, {})
    path = rec.start()
    rec.frame(0.0, None, np.zeros((8, 8, 3), np.uint8), 0)
    rec.close(0.1)
    assert not (path / "video.avi").exists() and not (path / "frames.csv").exists()
    assert "video" not in json.loads((path / "session.json").read_text())
