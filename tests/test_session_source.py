"""Frame times are data: a recorded session folder replays on its frames.csv times, not on its
video's nominal container rate, through the one opener that analyze, the app and training share
(model.frame_source.open_frame_source). Synthetic sessions only."""

from __future__ import annotations

import csv
import json
import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.capture import CaptureThread, FileOpened, FrameQueue, SourceSpec, open_source
from app.recording import SessionRecorder
from model.analyze import analyze_main
from model.frame_source import open_frame_source
from model.session_source import SessionSource
from model.synthetic.config import SynthConfig
from model.synthetic.frames import generate_frames
from model.types import Face
from model.video_source import SourceError, VideoFileSource

CONTAINER_FPS = 30.0
REAL_FPS = 24.0  # the camera's real rate: 1.25x slower than the container claims
HR_BPM = 72.0


def _gray(k: int, w: int = 64, h: int = 48) -> np.ndarray:
    """A frame that says which one it is: grey level 8 k (survives MJPG within a few levels)."""
    return np.full((h, w, 3), (8 * k) % 256, np.uint8)


def write_session(folder: Path, images, rows: list[tuple[int, float]] | None,
                  fps: float = CONTAINER_FPS) -> Path:
    """A session folder as app.recording writes one: session.json, video.avi (MJPG at the nominal
    ``fps``) and frames.csv with ``rows`` = (frame, t_s) (no frames.csv when None)."""
    folder.mkdir(parents=True)
    (folder / "session.json").write_text(json.dumps({"video": "video.avi", "frames_file": "frames.csv"}))
    wr = None
    for img in images:
        if wr is None:
            h, w = img.shape[:2]
            wr = cv2.VideoWriter(str(folder / "video.avi"), cv2.CAP_OPENCV_MJPEG,
                                 cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
            assert wr.isOpened()
        wr.write(img)
    wr.release()
    if rows is not None:
        with open(folder / "frames.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["frame", "t_s", "source_frame"])
            w.writerows([i, f"{t:.6f}", i] for i, t in rows)
    return folder


def _times(source) -> tuple[list[int], np.ndarray]:
    frames = list(source)
    return [f.index for f in frames], np.array([f.t_s for f in frames])


# ---- (a) the source yields frames.csv's times ------------------------------------------------------
def test_session_source_yields_frames_csv_times(tmp_path):
    t = 0.5 + np.arange(20) / REAL_FPS  # the session clock: first frame at 0.5 s
    s = write_session(tmp_path / "s", [_gray(k) for k in range(20)], list(enumerate(t)))
    src = open_frame_source(s)
    assert isinstance(src, SessionSource) and src.kind == "session" and src.frame_times == "frames.csv"
    idx, ts = _times(src)
    assert idx == list(range(20))
    assert np.allclose(ts, t - t[0], atol=1e-6)  # from 0 s, like every source
    assert src.fps_hz == pytest.approx(REAL_FPS, rel=1e-3) and src.n_frames == 20
    assert src.size == (64, 48) and src.info.fps_hz == pytest.approx(CONTAINER_FPS)
    d = src.describe()
    assert d["kind"] == "session" and d["frame_times"] == "frames.csv"
    assert d["t_origin_s"] == pytest.approx(0.5) and d["container_fps_hz"] == pytest.approx(CONTAINER_FPS)
    # the bare video keeps its container's times: 1/30 s a frame
    _, tv = _times(VideoFileSource(s / "video.avi"))
    assert np.allclose(np.diff(tv), 1 / CONTAINER_FPS, atol=1e-3)
    assert len(list(src)) == 20  # iterating again restarts


# ---- (c) jittered times and dropped frames -------------------------------------------------------------
def test_jitter_dropped_frames_and_extra_rows(tmp_path, caplog):
    rng = np.random.default_rng(3)
    t = np.arange(24) / REAL_FPS + rng.uniform(-0.015, 0.015, 24)
    listed = [i for i in range(24) if i not in (3, 7, 8)]  # the video holds 3, 7, 8: not valid frames
    rows = [(i, t[i]) for i in listed] + [(24, 1.2), (25, 1.25)]  # rows the video does not hold
    s = write_session(tmp_path / "s", [_gray(k) for k in range(24)], rows)
    with open(s / "frames.csv", "a") as fh:
        fh.write("26,\n")  # a killed recording's cut last row
    with caplog.at_level(logging.WARNING, logger="model.session_source"):
        src = SessionSource(s)
    assert "unreadable row" in caplog.text
    frames = list(src)
    assert [f.index for f in frames] == listed
    assert np.allclose([f.t_s for f in frames], t[listed] - t[0], atol=1e-6)
    for f in frames:  # each listed frame is the video's frame of that index
        assert abs(float(f.bgr.mean()) - _gray(f.index).mean()) < 3
    assert src.n_frames == len(listed)


def test_session_without_frame_times_falls_back_to_the_container_with_a_warning(tmp_path, caplog):
    s = write_session(tmp_path / "none", [_gray(k) for k in range(10)], None)
    e = write_session(tmp_path / "empty", [_gray(k) for k in range(10)], [])
    for folder in (s, e):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="model.session_source"):
            src = open_frame_source(folder)
        assert "no frame times" in caplog.text and src.frame_times == "container"
        idx, ts = _times(src)
        assert idx == list(range(10)) and np.allclose(np.diff(ts), 1 / CONTAINER_FPS, atol=1e-3)


def test_unusable_sessions_are_refused_with_a_clear_message(tmp_path):
    bad = write_session(tmp_path / "bad", [_gray(k) for k in range(4)], None)
    (bad / "frames.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SourceError, match="frame,t_s"):
        open_frame_source(bad)
    novideo = tmp_path / "novideo"
    novideo.mkdir()
    (novideo / "session.json").write_text("{}")
    with pytest.raises(SourceError, match="no video"):
        open_frame_source(novideo)
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceError, match="neither a recorded session"):
        open_frame_source(tmp_path / "plain")
    with pytest.raises(SourceError, match="not found"):
        open_frame_source(tmp_path / "missing.avi")


# ---- (b) analyze SESSION_DIR: the real span and the true HR ---------------------------------------------
@pytest.fixture(scope="module")
def pulse_session(tmp_path_factory) -> Path:
    """12 s of a synthetic face with a 72 bpm pulse captured at 24 fps, in a 30 fps container."""
    cfg = SynthConfig(duration_s=12.0, fs_hz=REAL_FPS, hr_bpm=HR_BPM, hrv_std_bpm=1.0, seed=7, width=320, height=240)
    t, images = [], []
    for ti, img in generate_frames(cfg):
        t.append(ti)
        images.append(img)
    return write_session(tmp_path_factory.mktemp("pulse") / "session", images, list(enumerate(t)))


def _analyze(path: Path, out: Path, face_model: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    assert analyze_main([str(path), "--method", "pos", "--out", str(out), "--quiet", "--no-download",
                         "--face-model", str(face_model)]) == 0
    with open(out / "bvp.csv", newline="") as fh:
        t_bvp = np.array([float(r["t_s"]) for r in csv.DictReader(fh)])
    with open(out / "hr.csv", newline="") as fh:
        t_hr = np.array([float(r["t_s"]) for r in csv.DictReader(fh)])
    return t_bvp, t_hr, json.loads((out / "summary.json").read_text())


def test_analyze_session_dir_runs_on_the_real_times(pulse_session, tmp_path, face_model_path):
    tb_s, th_s, s_sess = _analyze(pulse_session, tmp_path / "session", face_model_path)
    tb_v, _, s_vid = _analyze(pulse_session / "video.avi", tmp_path / "video", face_model_path)
    assert len(tb_s) == len(tb_v) == s_sess["frames"] == 288
    assert tb_s[-1] / tb_v[-1] == pytest.approx(1.25, rel=0.01)  # the acceptance check
    assert th_s[-1] >= 11.0
    assert s_sess["source"]["kind"] == "session" and s_sess["source"]["frame_times"] == "frames.csv"
    assert s_sess["fps_hz"] == pytest.approx(REAL_FPS, rel=0.01)
    assert s_vid["source"]["kind"] == "video" and s_vid["fps_hz"] == pytest.approx(CONTAINER_FPS, rel=0.01)
    assert abs(s_sess["hr_bpm"] - HR_BPM) < 3.0, s_sess["hr_bpm"]  # the true HR ...
    assert abs(s_vid["hr_bpm"] - 1.25 * HR_BPM) < 4.0, s_vid["hr_bpm"]  # ... not the container's 1.25x


def test_analyze_refuses_to_write_into_the_session_it_reads(pulse_session, capsys):
    """The app's own hr.csv and summary.json of a recording are not overwritten by analyze's."""
    before = {p.name: p.stat().st_mtime_ns for p in pulse_session.iterdir()}
    rc = analyze_main([str(pulse_session), "--method", "pos", "--out", str(pulse_session / "."), "--quiet"])
    assert rc == 2 and "--out is the folder being analysed" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in pulse_session.iterdir()} == before


# ---- (d) a session the real recorder wrote replays through the same path ---------------------------------
def _recorded_session(parent: Path, n: int = 30) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(5)
    t = np.arange(n) / REAL_FPS + rng.uniform(-0.01, 0.01, n)
    t[0] = 0.0
    rec = SessionRecorder(parent, {"source": "camera:0", "method": "pos"}, video=True, video_fps=CONTAINER_FPS)
    path = rec.start()
    for k in range(n):
        rec.frame(float(t[k]), Face(ok=False), _gray(k, 96, 72), k)
    rec.close(float(t[-1]))
    return path, t


def test_recorded_session_replays_on_its_times_everywhere(tmp_path, monkeypatch):
    import training.crop_cache as cc
    from tests.test_crop_cache import CONTRACT, BoxTracker
    from training.datasets import read_dataset

    path, t = _recorded_session(tmp_path / "sessions")
    assert json.loads((path / "session.json").read_text())["video_container_fps"] == CONTAINER_FPS
    idx, ts = _times(open_frame_source(path))
    assert idx == list(range(30)) and np.allclose(ts, t, atol=2e-4)  # frames.csv keeps 4 decimals
    (rec,) = read_dataset(tmp_path / "sessions")
    assert rec.dataset == "session" and rec.source_path == path
    assert rec.frame_source().kind == "session"
    assert np.allclose([f.t_s for f in rec.frames()], t, atol=2e-4)
    opened = open_source(SourceSpec.parse(str(path), loop=False))
    assert isinstance(opened, FileOpened)
    assert np.allclose([f.t_s for f in opened.frames(threading.Event(), lambda *a: None)], t, atol=2e-4)
    # the crop cache tracks the session on its real times, and a changed frames.csv is a new entry
    monkeypatch.setattr(cc, "_make_tracker", lambda *a: (BoxTracker(gone=(-1.0, -1.0)), "stub"))
    (entry,) = cc.build_cache([rec], tmp_path / "cache", CONTRACT, progress=False)
    assert entry.meta["source_fps_hz"] == pytest.approx((len(t) - 1) / t[-1], rel=1e-3)
    assert entry.t_s[-1] == pytest.approx(t[-1], abs=1 / CONTRACT.fs_hz)
    rows = (path / "frames.csv").read_text().splitlines()
    (path / "frames.csv").write_text("\n".join(rows[:-5]) + "\n")
    (again,) = cc.build_cache([rec], tmp_path / "cache", CONTRACT, progress=False)
    assert again.path != entry.path and again.meta["n_source_frames"] == 25


# ---- (e) the app opens a session folder and paces it at its real times -------------------------------------
def test_app_source_spec_accepts_a_session_folder(tmp_path):
    t = np.arange(20) / REAL_FPS
    s = write_session(tmp_path / "20260101-120000", [_gray(k) for k in range(20)], list(enumerate(t)))
    spec = SourceSpec.parse(str(s), loop=True)
    assert spec.kind == "file" and spec.path == str(s)
    assert spec.label == "Session 20260101-120000 (loop)"
    opened = open_source(spec)
    assert opened.nominal_fps_hz == pytest.approx(REAL_FPS, rel=1e-3) and opened.size == (64, 48)
    stop = threading.Event()
    got = []
    for f in opened.frames(stop, lambda *a: None):
        got.append(f.t_s)
        if len(got) == 45:
            break
    assert np.allclose(got[:20], t, atol=1e-6)
    assert np.all(np.diff(got) > 0) and np.allclose(np.diff(got), 1 / REAL_FPS, atol=1e-4)  # loops on
    # paced: the capture thread delivers the 20 frames no faster than their 0.79 s of real time
    q = FrameQueue(maxsize=100)
    events = []
    cap = CaptureThread(open_source(SourceSpec.parse(str(s), loop=False)), q, lambda k, m: events.append(k))
    t0 = time.monotonic()
    cap.start()
    cap.join(10.0)
    wall_s = time.monotonic() - t0
    assert events == ["eof"] and len(q) == 20
    assert wall_s >= 0.95 * t[-1]  # at the container's 30 fps it would take 0.63 s


def test_a_paced_source_waits_at_its_first_frame_until_go_and_loses_none(tmp_path):
    # the app's worker loads its face tracker after the source opened: a file must not play on (and
    # drop its first frames in the small queue) meanwhile, or a recording starts a few frames late
    t = np.arange(20) / REAL_FPS
    s = write_session(tmp_path / "20260101-120000", [_gray(k) for k in range(20)], list(enumerate(t)))
    q = FrameQueue(maxsize=4)  # the worker's queue size
    go = threading.Event()
    events = []
    cap = CaptureThread(open_source(SourceSpec.parse(str(s), loop=False)), q, lambda k, m: events.append(k), go=go)
    cap.start()
    time.sleep(0.5)  # 15 frames of real time: a source that played on would have filled the queue
    assert len(q) == 1 and q.dropped == 0  # the first frame only (the picture), the rest waits
    first = q.get(timeout=1.0)[1]
    go.set()
    got = [first.t_s]
    while len(got) < 20:
        item = q.get(timeout=2.0)
        assert item is not None
        got.append(item[1].t_s)
    cap.join(5.0)
    assert np.allclose(got, t, atol=1e-6) and q.dropped == 0 and events == ["eof"]
    # without a gate (a camera, or a source opened once the tracker is there) nothing waits
    q2 = FrameQueue(maxsize=100)
    cap2 = CaptureThread(open_source(SourceSpec.parse(str(s), loop=False)), q2, lambda k, m: None)
    cap2.start()
    cap2.join(10.0)
    assert len(q2) == 20


def test_a_frames_csv_cut_short_of_the_video_is_reported(tmp_path):
    """frames.csv listing far fewer frames than session.json says the video holds (cut by a repair
    while the session was being recorded, before repairs checked the recorder): the listed frames
    are read, and the source says what is missing."""
    path, _ = _recorded_session(tmp_path, n=40)
    assert SessionSource(path).listed_warning == ""
    rows = (path / "frames.csv").read_text().splitlines()
    (path / "frames.csv").write_text("\n".join(rows[:11]) + "\n")  # header + 10 frames
    src = SessionSource(path)
    assert src.n_frames == 10
    assert "frames.csv lists 10 frames but session.json says the video holds 40" in src.listed_warning
