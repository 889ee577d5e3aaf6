"""Video recording in session folders: the real window records the demo with the video on; the
session is readable by ``train`` (training.datasets) and replays through ``analyze SESSION_DIR``
on its frames.csv times."""

from __future__ import annotations

import csv
import json
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from app.capture import DEMO_HR_BPM  # noqa: E402
from app.recording import RecordingError, SessionRecorder  # noqa: E402
from model.types import Box, Face, HrReading  # noqa: E402


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _record_demo_session(qtbot, rec_parent: Path) -> Path:
    """Record about 8 s of the demo with the video on; the session folder."""
    from app.main import launch

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
    return session


def _check_video(session: Path, n_rows: int, meta: dict) -> None:
    """video.avi decodes to frames.csv's frames at the recorded size."""
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
    assert abs(n_dec - n_rows) <= 2
    assert size == tuple(meta["video_size"]) and size == (640, 480)


def test_demo_recording_with_video_replays(qtbot, env, face_model_path):
    from model.analyze import run_analysis
    from training.datasets import read_dataset

    rec_parent = env / "sessions"
    session = _record_demo_session(qtbot, rec_parent)
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

    _check_video(session, len(rows), meta)

    recs = read_dataset(rec_parent)
    assert len(recs) == 1 and recs[0].dataset == "session" and Path(recs[0].video).name == "video.avi"
    n_iter = sum(1 for _ in recs[0].frames())
    assert abs(n_iter - len(rows)) <= 2

    # the session folder replays on frames.csv's times (frames dropped under load included)
    res = run_analysis(session, "pos", face_model=str(face_model_path), allow_download=False, progress=False)
    assert res.summary["source"]["kind"] == "session" and res.summary["frames"] == len(rows)
    assert np.allclose(res.frame_t_s, t - t[0], atol=1e-3)
    hr = res.summary["hr_bpm"]
    assert hr is not None and abs(hr - DEMO_HR_BPM) <= 3, res.summary


def test_recorder_video_write_errors(tmp_path, monkeypatch):
    """The video's errors are reported like the other recording errors."""
    rec = SessionRecorder(tmp_path, {}, video=True, video_fps=30.0)
    path = rec.start()
    img = np.full((48, 64, 3), 128, np.uint8)
    rec.frame(0.0, Face(ok=True, box=Box(1, 2, 3, 4)), img, 0)
    rec.frame(1 / 30, Face(ok=False), img[:24, :32], 1)  # another size: resized, noted
    assert rec.wait_video()  # the encoder runs on its own thread
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


def test_hr_csv_numbers_the_person_each_reading_is_from(tmp_path):
    from app.recording import PERSON_EVENT

    rec = SessionRecorder(tmp_path, {})
    path = rec.start()
    rec.reading(HrReading(t_s=1.0, hr_bpm=70.0, quality=0.9))
    rec.event(1.5, PERSON_EVENT, "another")
    rec.reading(HrReading(t_s=2.0, hr_bpm=None, quality=0.0, withheld="acquiring"))
    rec.event(2.5, "face_lost")
    rec.reading(HrReading(t_s=3.0, hr_bpm=None, quality=0.0, withheld="no_face"))
    rec.close(3.0)
    with open(path / "hr.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["person"] for r in rows] == ["1", "2", "2"] and rows[0]["hr_bpm"] == "70.00"


@pytest.mark.parametrize("codec", ["mjpg", "mp4v"])
def test_a_12_5_fps_recording_keeps_its_rate(tmp_path, codec):
    """frames.csv holds the real times; session.json the requested rate and the rate the
    container really holds (OpenCV's MJPG writer rounds it; mp4v keeps 12.5); summary.json as
    analyze writes it."""
    rec = SessionRecorder(tmp_path, {"method": "pos"}, video=True, video_fps=12.5, codec=codec)
    path = rec.start()
    img = np.full((120, 160, 3), 128, np.uint8)
    for i in range(50):
        rec.frame(i / 12.5, Face(ok=True, box=Box(10, 10, 50, 50)), img, i)
    rec.close(49 / 12.5)
    t = np.array([float(r[1]) for r in read_csv(path / "frames.csv")[1:]])
    assert len(t) == 50 and np.allclose(np.diff(t), 0.08, atol=1e-4)
    meta = json.loads((path / "session.json").read_text())
    assert meta["video_requested_fps_hz"] == 12.5 and meta["video_frames"] == 50
    cap = cv2.VideoCapture(str(path / "video.avi"))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(meta["video_container_fps"], abs=1e-3)
    cap.release()
    assert meta["video_container_fps"] == (12.5 if codec == "mp4v" else 12.0)
    summary = json.loads((path / "summary.json").read_text())
    assert summary["frames"] == 50 and summary["fps_hz"] == pytest.approx(12.5, abs=1e-3)
    assert summary["method"] == "pos" and summary["face_share"] == 1.0
    assert summary["video"] == str(path / "video.avi")  # as analyze names its source
    assert summary["bvp_note"] == meta["bvp_note"] and "finished" in summary["bvp_note"]


KILLED_RECORDER = """
import sys, time
import numpy as np
from app.recording import SessionRecorder
from model.types import Box, Face, HrReading
rec = SessionRecorder(sys.argv[1], {"method": "pos"}, video=True, video_fps=30.0)
path = rec.start()
img = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
i = 0
while True:
    rec.frame(i / 30, Face(ok=True, box=Box(1, 2, 30, 40)), img, i)
    if i % 30 == 29:
        rec.reading(HrReading(t_s=i / 30, hr_bpm=70.0, quality=0.9))
        rec.bvp_update(np.arange(0, i / 30, 1 / 30), np.sin(np.arange(0, i / 30, 1 / 30)), i / 30, 1.0)
    rec.maybe_flush()
    if i == 90:
        print(path, flush=True)  # 3 s recorded: ready to be killed
    i += 1
    time.sleep(1 / 30)
"""


def test_a_killed_recording_is_repaired_on_the_next_start(tmp_path, monkeypatch):
    import signal
    import subprocess
    import sys

    from app import recording
    from app.recording import count_video_frames

    monkeypatch.setattr(recording, "DEAD_QUIET_S", 0.0)  # its pid is gone: no need to wait for quiet files

    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RECORDER, str(tmp_path)], cwd=repo,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(repo)})
    try:
        killed = Path(proc.stdout.readline().strip())
        # another app recording into the same folder meanwhile leaves the live session alone
        other = SessionRecorder(tmp_path, {})
        other.start()
        other.close()
        n_rows = len(read_csv(killed / "frames.csv"))
        time.sleep(0.7)
        assert "ended" not in json.loads((killed / "session.json").read_text())
        assert len(read_csv(killed / "frames.csv")) >= n_rows > 90  # frames.csv was not cut
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert killed.is_dir() and "ended" not in json.loads((killed / "session.json").read_text())
    assert not (killed / "summary.json").exists()

    new = SessionRecorder(tmp_path, {}).start()  # the next recording under the same folder
    assert new != killed
    meta = json.loads((killed / "session.json").read_text())
    assert meta["ended"].startswith("killed") and meta["repaired"]
    rows = read_csv(killed / "frames.csv")[1:]
    n_video = count_video_frames(killed / "video.avi")
    assert len(rows) == meta["video_frames"] == min(n_video, meta["frames_csv_rows_found"]) >= 90
    assert [int(r[0]) for r in rows] == list(range(len(rows)))
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["frames"] == meta["frames"] > 0 and summary["readings"] == meta["hr_updates"] >= 3
    assert summary["video"] == str(killed / "video.avi")
    # repaired once: a second start leaves it as it is
    before = (killed / "session.json").read_text()
    SessionRecorder(tmp_path, {}).start()
    assert (killed / "session.json").read_text() == before


def test_an_unfinished_session_counts_as_recorded_while_its_recorder_lives(tmp_path):
    """recording_alive: a session this process records is alive until closed; one whose recorder's
    pid lives on this machine is alive, one whose pid is gone is dead once its files are quiet for
    DEAD_QUIET_S, one from an earlier boot is dead; one written elsewhere (or with no usable pid) is
    alive while its files changed within RECORDING_QUIET_S."""
    import subprocess

    from app import recording
    from app.recording import DEAD_QUIET_S, RECORDING_QUIET_S, recording_alive, repair_session

    rec = SessionRecorder(tmp_path / "a", {})
    path = rec.start()
    meta = json.loads((path / "session.json").read_text())
    assert meta["recorder"]["pid"] == os.getpid() and recording_alive(path, meta)
    assert not repair_session(path)
    rec.close()
    t = time.time() - DEAD_QUIET_S - 1
    for f in path.iterdir():
        os.utime(f, (t, t))
    assert not recording_alive(path, meta)  # this process's pid, no longer open here, files quiet

    other = SessionRecorder(tmp_path / "b", {})
    far = other.start()
    other._close_files()  # dropped without its end marker
    recording._OPEN_SESSIONS.discard(far.resolve())
    meta = json.loads((far / "session.json").read_text())

    def aged(seconds):
        t = time.time() - seconds
        for f in far.iterdir():
            os.utime(f, (t, t))

    def as_recorder(**fields):
        m = {**meta, "recorder": {**meta["recorder"], **fields}}
        (far / "session.json").write_text(json.dumps(m))
        return m

    if os.name == "posix" and meta["recorder"]["boot"]:
        child = subprocess.Popen(["sleep", "30"])
        try:
            aged(RECORDING_QUIET_S + 5)
            assert recording_alive(far, as_recorder(pid=child.pid))  # its recorder lives, however quiet
        finally:
            child.kill()
            child.wait(5)
        gone = as_recorder(pid=child.pid)
        aged(0)
        assert recording_alive(far, gone)  # gone, but its files just changed: another pid namespace?
        aged(DEAD_QUIET_S + 1)
        assert not recording_alive(far, gone)
        aged(0)
        assert not recording_alive(far, as_recorder(pid=child.pid, boot="an earlier boot"))
    for odd in (True, 0, -1):  # no usable pid: the files decide
        aged(0)
        assert recording_alive(far, as_recorder(pid=odd, host="another-machine"))
    elsewhere = as_recorder(host="another-machine")
    aged(0)
    assert recording_alive(far, elsewhere) and not repair_session(far)
    aged(RECORDING_QUIET_S + 5)
    assert not recording_alive(far, elsewhere) and repair_session(far)
    assert json.loads((far / "session.json").read_text())["ended"].startswith("killed")


def test_a_recorded_sessions_clip_hr_is_judged_by_its_methods_rule(tmp_path):
    from app.recording import session_summary

    fs = 30.0
    t = np.arange(0, 60.0, 1.0 / fs)
    with open(tmp_path / "bvp.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "bvp"])
        w.writerows([f"{x:.4f}", f"{np.sin(2 * np.pi * 1.2 * x):.5f}"] for x in t)  # 72 bpm
    with open(tmp_path / "hr.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "hr_bpm", "quality", "withheld"])
        # 3 of 15 updates showed 72 bpm: FCUS's rule (3 shown, any share) calls it reliable; the classic
        # methods' (5 shown, a third) does not
        w.writerows([f"{s * 4:.3f}", "72.00" if s % 5 == 0 else "", "0.5", "" if s % 5 == 0 else "weak_signal"]
                    for s in range(1, 16))
    meta = {"estimator": {"fs_hz": fs}}
    chrom = session_summary(tmp_path, {**meta, "method": "chrom"})
    assert chrom["hr_reliable"] is False and chrom["hr_reliable_why_not"] == "3 shown readings, fewer than 5"
    # an HR that is not reliable gets no interval (it would read as "72.0 +- 4.3")
    assert chrom["hr_bpm"] is not None and chrom["hr_interval_bpm"] is None
    fcus = session_summary(tmp_path, {**meta, "method": "fcus"})
    assert abs(fcus["hr_bpm"] - 72.0) < 1.0 and fcus["hr_reliable"] is True and fcus["hr_reliable_why_not"] == ""
    assert fcus["hr_interval_bpm"] > 0
    assert fcus["withheld_counts"] == chrom["withheld_counts"] == {"weak_signal": 12}


def test_a_recorded_sessions_summary_counts_the_withheld_updates_as_analyze_does(tmp_path):
    """summary.json's withheld_counts (hr.csv's withheld column counted) is analyze's, so a clinician
    can see why the readings were withheld."""
    from app.recording import PERSON_EVENT, session_summary
    from model.analyze import HR_HEADER, hr_row, withheld_counts

    whys = ["acquiring"] * 6 + ["", "unsure", "", "weak_signal", "weak_signal", "no_face", "motion", ""]
    readings = [HrReading(t_s=float(k), hr_bpm=70.0 if not why else None, quality=0.5, withheld=why)
                for k, why in enumerate(whys)]
    with open(tmp_path / "hr.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HR_HEADER)
        w.writerows(hr_row(r.t_s, r) for r in readings)
    s = session_summary(tmp_path, {"estimator": {"fs_hz": 30.0}, "method": "pos"})
    assert s["withheld_counts"] == withheld_counts((r.hr_bpm, r.withheld) for r in readings)
    assert s["withheld_counts"] == {"acquiring": 6, "unsure": 1, "weak_signal": 2, "no_face": 1, "motion": 1}
    assert s["people_measured"] == 1
    with open(tmp_path / "events.csv", "w", newline="") as fh:  # the worker's word: another person measured
        csv.writer(fh).writerows([["t_s", "wall_time", "event", "detail"], ["20.0", "x", PERSON_EVENT, "another"]])
    s = session_summary(tmp_path, {"estimator": {"fs_hz": 30.0}, "method": "pos"})
    assert s["people_measured"] == 2 and not s["hr_reliable"] and "2 people" in s["hr_reliable_why_not"]


def test_every_frame_gets_its_finished_bvp_when_updates_come_a_little_over_a_second_apart(tmp_path):
    from app.recording import recorder_span_s, values_at

    fs_hz, fps_hz, hold_s = 30.0, 29.37, 10.0  # a UBFC clip's rate: an update every 30 frames, 1.02 s
    grid = np.arange(0.0, 40.0, 1.0 / fs_hz)
    stream = np.sin(2 * np.pi * 1.2 * grid)

    def record(span_s: float) -> np.ndarray:
        rec = SessionRecorder(tmp_path / f"span{span_s:g}", {"method": "fcus"})
        path = rec.start()
        n_frames = int(35 * fps_hz)
        for i in range(n_frames):
            t = i / fps_hz
            rec.frame(t, Face(ok=True, box=Box(1, 2, 30, 40)))
            if i % 30 == 29:  # the stream as the worker hands it over: its last span_s seconds
                keep = (grid >= t - span_s) & (grid <= t)
                rec.bvp_update(grid[keep], stream[keep], t, hold_s, hold_s)
        rec.close(n_frames / fps_hz)
        with open(path / "bvp.csv", newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        t_rows = np.array([float(r[0]) for r in rows])
        v_rows = np.array([float(r[1]) if r[1] else np.nan for r in rows])
        old = t_rows < n_frames / fps_hz - hold_s - 1.0  # rows written by updates, not by stopping
        known = old & np.isfinite(v_rows)  # rows hold t_s to 0.1 ms and the BVP to 5 decimals
        assert np.allclose(v_rows[known], values_at(grid, stream, t_rows[known]), atol=5e-3)
        return v_rows[old]

    assert np.isnan(record(hold_s + 1.0)).sum() > 0  # the span the worker used to hand over
    assert np.isnan(record(recorder_span_s(hold_s))).sum() == 0


@pytest.mark.parametrize("fps_hz", [30.0, 60.0])
def test_the_frames_from_before_a_long_stall_of_the_source_still_get_their_finished_bvp(tmp_path, fps_hz):
    """A camera that froze for 40 s (or a laptop that slept): the recorder's frames from before the
    stall get the values the estimator finished for them, as the worker hands it the stream."""
    from app.recording import recorder_span_s
    from model.estimator import EstimatorConfig, StreamingEstimator
    from model.pulse_methods import make_pulse_method
    from model.types import RoiSample

    stall_s = 40.0
    t = np.concatenate([np.arange(0.0, 25.0, 1 / fps_hz), np.arange(25.0 + stall_s, 50.0 + stall_s, 1 / fps_hz)])
    skin, pbv = np.array([180.0, 130.0, 110.0]), np.array([0.33, 0.77, 0.53])
    rng = np.random.default_rng(0)
    rgb = skin * (1 - 0.006 * np.sin(2 * np.pi * 1.2 * t)[:, None] * pbv / np.linalg.norm(pbv))
    rgb += rng.normal(0, 0.3, rgb.shape)

    def record(new_span: bool) -> tuple[np.ndarray, np.ndarray, StreamingEstimator]:
        est = StreamingEstimator(make_pulse_method("pos"), EstimatorConfig())
        hold_s = est.cfg.window_s
        rec = SessionRecorder(tmp_path / ("new" if new_span else "old"), {"method": "pos"})
        path = rec.start()
        for ti, ci in zip(t, rgb):
            rec.frame(float(ti), Face(ok=True, box=Box(1, 2, 30, 40)))
            upd = est.push_roi(RoiSample(t_s=float(ti), face_ok=True, rgb_mean=ci))
            if upd.reading is not None:  # what the worker's _emit_reading hands the recorder
                t_now = float(upd.reading.t_s)
                span_s = recorder_span_s(hold_s, t_now, rec.oldest_pending_t_s) if new_span else recorder_span_s(hold_s)
                tr, vr = est.recent_bvp(span_s)
                rec.bvp_update(tr, vr, t_now, hold_s, hold_s)
        rec.close(float(t[-1]))
        with open(path / "bvp.csv", newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        return np.array([float(r[0]) for r in rows]), np.array([float(r[1]) if r[1] else np.nan for r in rows]), est

    from app.recording import values_at

    t_new, v_new, est = record(True)
    assert len(t_new) == len(t)
    tg, vg = est.bvp_stream()  # what analyze writes for the same frames
    finished = values_at(tg, vg, t_new)
    # the frames of the last 10 s before the stall, measured before it (those after the last
    # update before it are in no window, in analyze's stream too)
    before_stall = (t_new > 15.0) & (t_new < 25.0) & np.isfinite(finished)
    assert before_stall.sum() > 8 * fps_hz
    assert np.isfinite(v_new[before_stall]).all()
    assert np.allclose(v_new[before_stall], finished[before_stall], atol=5e-3)
    _, v_old, _ = record(False)
    assert np.isnan(v_old[before_stall]).sum() > 8 * fps_hz  # the fixed span lost the rows before the stall


def test_frames_wait_no_longer_once_the_bvp_updates_have_stopped(tmp_path):
    """No update for 40 s (the estimator was rebuilt and measures nothing): the frames older than
    15 s are written, empty, instead of piling up."""
    from app.recording import STOPPED_UPDATES_FRAMES

    rec = SessionRecorder(tmp_path, {"method": "pos"})
    path = rec.start()
    for i in range(40 * 30):
        rec.frame(i / 30.0, Face(ok=True, box=Box(1, 2, 30, 40)))
    assert STOPPED_UPDATES_FRAMES < 40 * 30
    assert rec.oldest_pending_t_s is not None and rec.oldest_pending_t_s >= 39.9 - 20.0
    rec.close(40.0)
    with open(path / "bvp.csv", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    assert len(rows) == 40 * 30 and all(r[1] == "" for r in rows)
