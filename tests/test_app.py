"""GUI tests: pytest-qt drives the real window offscreen (the worker and capture threads run for
real). The demo and test clips are generated here; the MediaPipe face model is the bundle shipped
in assets/ (else $FCUS_FACE_MODEL or ../shared/models; tests that need it skip without one)."""

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

from app import capture  # noqa: E402
from app.capture import DEMO_HR_BPM, FrameQueue, SourceSpec  # noqa: E402
from app.recording import RecordingError, SessionRecorder, values_at  # noqa: E402
from app.settings import Settings, load_settings, save_settings  # noqa: E402
from model.types import Box, Face, HrReading  # noqa: E402
from model.video_source import SourceError  # noqa: E402

# ---- fixtures: ``env`` and ``run_app`` (tests/conftest.py) ---------------------------------------


def write_clip(path: Path, segments: list[tuple[str, float]], fps: float = 30.0) -> Path:
    """An MJPG clip of ('face' | 'blank', seconds) segments, 640x480."""
    from tests.face_frames import blank_canvas, face_image

    face = face_image()
    blank = blank_canvas()
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    assert w.isOpened()
    for kind, seconds in segments:
        img = face if kind == "face" else blank
        for _ in range(int(round(seconds * fps))):
            w.write(img)
    w.release()
    return path


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def no_camera(monkeypatch):
    def refuse(index=0, **kwargs):
        raise SourceError(f"camera {index} is not available (none connected, or in use)")

    monkeypatch.setattr(capture, "CameraSource", refuse)
    monkeypatch.setattr(capture, "camera_present", lambda index: None)


# ---- the real window ------------------------------------------------------------------------
def test_demo_known_hr_method_switch_and_recording(run_app, qtbot, env):
    """The demo's known pulse shows within 3 bpm with the default method (the shipped FCUS
    model); the method switches while the source keeps running; the session recording is in the
    analyze format."""
    rec_parent = env / "sessions"
    win = run_app("--source", "demo", "--record", str(rec_parent))

    def hr_ok() -> bool:
        return win.state == "reading" and win.hr_text().isdigit() and abs(int(win.hr_text()) - DEMO_HR_BPM) <= 3

    # the known HR within 3 bpm within 10 s of the first face (model loading and start-up before)
    qtbot.waitUntil(lambda: win.state in ("acquiring", "reading"), timeout=8000)
    qtbot.waitUntil(hr_ok, timeout=10000)
    assert win.source_info.spec.kind == "demo"
    assert win.recording_path is not None and win.recording_path.parent == rec_parent
    assert win.method_info.name == "fcus", "the shipped model is the default method"
    assert "fps" in win.sb_fps.text() and "FCUS" in win.sb_device.text() and "CPU" in win.sb_device.text()
    assert "mediapipe" in win.sb_tracker.text()
    # the face detector runs on key frames only (model.keyframe_tracking), as in analyze
    kf = win.worker._keyframes
    assert kf is not None and kf.frames > 60 and kf.key_frames < kf.frames / 3

    gen = win.worker._gen
    win.set_method("chrom")
    qtbot.waitUntil(lambda: win.method_info is not None and win.method_info.name == "chrom", timeout=3000)
    assert win.worker._gen == gen, "a method switch must keep the source running"
    assert win.method_combo.currentData() == "chrom"
    assert load_settings().method == "chrom"  # the user's choice is remembered
    qtbot.waitUntil(lambda: win.state in ("acquiring", "no_face"), timeout=3000)  # fresh estimator
    qtbot.waitUntil(hr_ok, timeout=12000)

    session = win.recording_path
    win.set_recording(False)
    qtbot.waitUntil(lambda: win.recording_path is None, timeout=3000)
    files = sorted(p.name for p in session.iterdir())
    assert {"bvp.csv", "hr.csv", "faces.csv", "events.csv", "session.json"} <= set(files)
    bvp = read_csv(session / "bvp.csv")
    hr = read_csv(session / "hr.csv")
    faces = read_csv(session / "faces.csv")
    events = read_csv(session / "events.csv")
    assert bvp[0] == ["t_s", "bvp"] and hr[0] == ["t_s", "hr_bpm", "quality", "withheld", "person"]
    assert faces[0] == ["t_s", "x", "y", "w", "h"]
    assert len(hr) > 10 and len(bvp) > 200
    assert len(faces) == len(bvp)  # one row per frame in both
    t = np.array([float(r[0]) for r in bvp[1:]])
    assert np.all(np.diff(t) > 0) and t[0] < 1.0 and t[-1] > 10.0
    shown = [float(r[1]) for r in hr[1:] if r[1]]
    assert shown and abs(np.median(shown) - DEMO_HR_BPM) <= 3
    assert any(r[1] == "" for r in hr[1:]), "withheld readings (acquiring) have an empty hr_bpm"
    assert sum(1 for r in bvp[1:] if r[1]) > 0.5 * len(bvp)
    names = [r[2] for r in events[1:]]
    assert names[0] == "record_start" and "method" in names and names[-1] == "record_stop"
    # hr.csv has no method column: events.csv says when each switch came, on the recording's time
    switches = [(float(r[0]), r[3]) for r in events[1:] if r[2] == "method"]
    assert [m for _, m in switches] == ["chrom"] and t[0] < switches[0][0] < t[-1], switches
    # the model file that read it, as analyze's summary.json names it (the shipped one here)
    from model.fcus_method import shipped_model_path

    meta = json.loads((session / "session.json").read_text())
    assert meta["model"]["path"] == str(shipped_model_path().resolve()) and len(meta["model"]["sha256"]) == 64
    assert win.method_info.model_file == ""  # the shipped model is not named on the status line


def test_no_camera_opens_on_demo_then_file_face_lost_and_found(run_app, qtbot, env, monkeypatch):
    no_camera(monkeypatch)
    win = run_app()  # first run, no --source: camera 0 is tried, then the demo
    qtbot.waitUntil(lambda: win.source_info is not None, timeout=5000)
    assert win.source_info.spec.kind == "demo"
    assert any(level == "info" and "camera 0" in text.lower() and "demo" in text for level, text in win.messages)
    assert win.state != "no_signal"
    assert win.source_info.fallback and load_settings().source == ""  # next run tries the camera again

    clip = write_clip(env / "face_gap.avi", [("face", 2.0), ("blank", 1.5), ("face", 1.5)])
    win.set_source(SourceSpec.parse(str(clip), loop=False))
    qtbot.waitUntil(lambda: win.source_info.spec.kind == "file", timeout=5000)
    qtbot.waitUntil(lambda: win.state == "no_face", timeout=6000)
    assert "No face" in win.state_text() and win.hr_text() == "--"
    qtbot.waitUntil(lambda: win.state == "acquiring", timeout=4000)  # the face is back
    qtbot.waitUntil(lambda: win.state == "no_signal", timeout=5000)  # end of the file
    assert "end of" in win.state_text().lower()
    assert win.settings.source == str(clip)
    assert load_settings().source == str(clip)


def test_a_recording_ends_with_its_file(run_app, qtbot, env):
    """A file played once (--no-loop) under --record: at its end the recording is finished at once
    (summary.json, "ended", the Record button up), not when the window closes."""
    clip = write_clip(env / "short.avi", [("face", 3.0)])
    sessions = env / "sessions"
    win = run_app("--source", str(clip), "--no-loop", "--method", "pos", "--record", str(sessions))
    qtbot.waitUntil(lambda: win.recording_path is not None, timeout=6000)
    folder = win.recording_path
    assert win.act_record.isChecked()
    qtbot.waitUntil(lambda: win.state == "no_signal", timeout=8000)  # end of the file
    qtbot.waitUntil(lambda: win.recording_path is None, timeout=5000)
    assert not win.act_record.isChecked()
    assert (folder / "summary.json").is_file() and json.loads((folder / "session.json").read_text())["ended"]
    qtbot.waitUntil(lambda: any(f"Recording saved in {folder}" in text for _, text in win.messages), timeout=2000)
    events = [r[2] for r in csv.reader(open(folder / "events.csv"))][1:]
    assert events.index("source_eof") < events.index("record_stop"), events


def test_without_a_model_the_default_falls_back_to_pos_quietly(run_app, qtbot, env, monkeypatch):
    from model import fcus_method

    monkeypatch.setattr(fcus_method, "shipped_model_path", lambda: env / "no_shipped_model.onnx")
    win = run_app("--source", "demo")
    qtbot.waitUntil(lambda: win.method_info is not None, timeout=6000)
    assert win.method_info.name == "pos" and not win.method_info.note
    assert not any(level in ("warning", "error") and "FCUS" in text for level, text in win.messages)
    assert win.settings.method == "fcus"  # the preference stays for when a model is there


def test_corrupt_file_and_wrong_model_keep_the_app_usable(run_app, qtbot, env):
    bad = env / "broken.mp4"
    bad.write_bytes(os.urandom(4096))
    bad_model = env / "model.onnx"
    bad_model.write_bytes(b"not an onnx model")
    win = run_app("--source", str(bad), "--method", "fcus", "--model", str(bad_model))
    qtbot.waitUntil(lambda: win.source_info is not None and win.method_info is not None, timeout=6000)
    # The corrupt file is reported, and the demo runs instead.
    assert win.source_info.spec.kind == "demo"
    assert any(level == "error" and "broken.mp4" in text for level, text in win.messages)
    # The wrong model is reported; POS measures instead.
    assert win.method_info.name == "pos"
    assert "FCUS" in win.method_info.note
    assert win.banner.isVisible() or win.statusBar().currentMessage()
    assert any(lv == "warning" and "FCUS unavailable" in t for lv, t in win.messages)  # the user is told
    # Opening the corrupt file while running: a message, the demo keeps running.
    gen = win.worker._gen
    n = len(win.messages)
    win.set_source(SourceSpec.parse(str(bad)))
    qtbot.waitUntil(lambda: any("broken.mp4" in t for _, t in win.messages[n:]), timeout=5000)
    assert win.worker._gen == gen and win.source_info.spec.kind == "demo"
    # A recording folder that cannot be created: reported, the measurement goes on.
    not_a_dir = env / "not_a_dir"
    not_a_dir.write_text("")
    n = len(win.messages)
    win.set_recording(True, parent_dir=str(not_a_dir))
    qtbot.waitUntil(lambda: any(lv == "error" and "recording" in t for lv, t in win.messages[n:]), timeout=4000)
    assert win.recording_path is None and not win.act_record.isChecked()
    frames_before = win._last_frame.stats.frames if win._last_frame else 0
    qtbot.waitUntil(lambda: win._last_frame is not None and win._last_frame.stats.frames > frames_before + 10,
                    timeout=4000)


def test_camera_unplugged_then_other_source_and_privacy(run_app, qtbot, env, monkeypatch):

    from tests.face_frames import FakeCamera

    class UnpluggedAfterOneSecond(FakeCamera):
        """Delivers 1 s of frames, then is gone for good."""
        refused_text = "camera {index} is not available (none connected, or in use)"

        def refuses(self, k):
            return k > 1

    monkeypatch.setattr(capture, "CameraSource", UnpluggedAfterOneSecond)
    monkeypatch.setattr(capture, "camera_present", lambda index: None)
    monkeypatch.setattr(capture, "CAMERA_RETRY_S", 0.2)
    win = run_app("--source", "camera:0")
    qtbot.waitUntil(lambda: win.source_info is not None, timeout=5000)
    assert win.source_info.spec.kind == "camera" and win.source_combo.currentData() == "camera:0"
    qtbot.waitUntil(lambda: win.state == "no_signal", timeout=6000)
    assert "unplugged" in win.state_text() and win.hr_text() == "--"
    # Still usable: privacy on, another source.
    win.set_privacy("hide")
    win.set_source(SourceSpec("demo"))
    qtbot.waitUntil(lambda: win.source_info.spec.kind == "demo" and win.state != "no_signal", timeout=6000)
    qtbot.waitUntil(lambda: "hidden" in win.video.text(), timeout=3000)
    assert win.video.pixmap().isNull()
    assert load_settings().privacy == "hide"


def test_command_line_method_and_loop_are_not_saved(run_app, qtbot):
    """--method and --loop choose for one run; the saved settings keep the user's own choices,
    while a choice made in the window is saved."""
    saved = load_settings()
    win = run_app("--source", "demo", "--method", "chrom", "--loop" if not saved.loop else "--no-loop")
    qtbot.waitUntil(lambda: win.method_info is not None and win.method_info.name == "chrom", timeout=5000)
    assert win.act_loop.isChecked() == (not saved.loop)
    win.close()
    after = load_settings()
    assert (after.method, after.loop) == (saved.method, saved.loop)
    win2 = run_app("--source", "demo")
    win2.act_loop.setChecked(not saved.loop)  # the menu's choice is saved
    assert load_settings().loop == (not saved.loop)


def test_record_and_calibrate_stay_in_reach_in_the_smallest_window(run_app, qtbot):
    """At the window's minimum size the toolbar hides its last items behind its overflow arrow:
    Record and Calibrate are not among them, and Calibrate is in the Method menu as well."""
    from PySide6.QtWidgets import QToolBar

    win = run_app("--source", "demo")
    win.show()
    win.resize(win.minimumSizeHint())
    qtbot.waitUntil(lambda: win.width() <= max(win.minimumSizeHint().width(), 700), timeout=3000)
    qtbot.wait(50)
    tb = win.findChild(QToolBar)
    for act in (win.act_record, win.act_calibrate):
        button = tb.widgetForAction(act)
        assert button is not None and button.isVisible(), act.text()
        assert button.geometry().right() <= tb.width()
    win._rebuild_method_menu()
    assert win.act_calibrate in win.menu_method.actions()


# ---- parts without a window ------------------------------------------------------------------
def test_frame_queue_drops_oldest_and_counts():
    q = FrameQueue(3)
    for i in range(5):
        q.put(i)
    assert q.dropped == 2 and len(q) == 3
    assert [q.get(0), q.get(0), q.get(0), q.get(0.01)] == [2, 3, 4, None]


def test_source_spec_parse():
    assert SourceSpec.parse("demo").kind == "demo"
    assert SourceSpec.parse("camera:2").camera_index == 2
    assert SourceSpec.parse("camera").camera_index == 0
    assert SourceSpec.parse("7").kind == "camera" and SourceSpec.parse("7").camera_index == 7  # OpenCV's numbering
    f = SourceSpec.parse("~/clip.mp4", loop=False)
    assert f.kind == "file" and not f.loop and not f.path.startswith("~")
    assert SourceSpec.parse(f.to_text()).path == f.path
    # a relative path is saved absolute: the setting opens the same file from another working folder
    rel = SourceSpec.parse("clips/s12.mp4")
    assert Path(rel.to_text()).is_absolute() and rel.to_text() == str(Path.cwd() / "clips" / "s12.mp4")
    with pytest.raises(ValueError):
        SourceSpec.parse("camera:x")


def test_settings_round_trip_and_bad_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FCUS_RPPG_CONFIG_DIR", str(tmp_path))
    assert load_settings() == Settings()
    save_settings(Settings(source="camera:1", method="chrom", overlay=False, privacy="blur", record_video=False))
    s = load_settings()
    assert (s.source, s.method, s.overlay, s.privacy) == ("camera:1", "chrom", False, "blur")
    assert s.record_video is False
    (tmp_path / "settings.toml").write_text("this is = = not toml")
    assert load_settings() == Settings()


def test_recorder_format_and_flush(tmp_path):
    rec = SessionRecorder(tmp_path, {"method": "pos"}, t0_s=10.0)
    path = rec.start()
    face = Face(ok=True, box=Box(1.0, 2.0, 30.0, 40.0))
    for k in range(6):
        rec.frame(10.0 + k / 30, face if k != 3 else Face(ok=False))
    tg = 10.0 + np.arange(0, 8) / 30
    vg = np.where((np.arange(8) == 2) | (np.arange(8) >= 5), np.nan, np.arange(8.0))
    rec.bvp_update(tg, vg, t_now_s=10.0 + 5 / 30)  # frame 5: value still to come, held
    rec.reading(HrReading(t_s=11.0, hr_bpm=None, quality=0.1))
    rec.reading(HrReading(t_s=12.0, hr_bpm=71.234, quality=0.9))
    rec.flush()  # what a kill would leave behind
    bvp = read_csv(path / "bvp.csv")
    assert bvp == [["t_s", "bvp"], ["0.0000", "0.00000"], ["0.0333", "1.00000"], ["0.0667", ""],
                   ["0.1000", "3.00000"], ["0.1333", "4.00000"]]
    assert read_csv(path / "hr.csv") == [["t_s", "hr_bpm", "quality", "withheld", "person"],
                                         ["1.000", "", "0.100", "", "1"], ["2.000", "71.23", "0.900", "", "1"]]
    faces = read_csv(path / "faces.csv")
    assert faces[1] == ["0.0000", "1.0", "2.0", "30.0", "40.0"] and faces[4] == ["0.1000", "", "", "", ""]
    rec.close(13.0)
    assert len(read_csv(path / "bvp.csv")) == 7  # the last frame written (empty) at close
    assert read_csv(path / "events.csv")[-1][2] == "record_stop"


def test_recorder_writes_settled_bvp_and_the_rest_at_close(tmp_path):
    """With ``settle_s`` (the app passes its estimator's window) a frame's row waits until it is
    that old, then holds the value known then (the finished one); close writes the frames still
    waiting with the values of the stream it is given."""
    rec = SessionRecorder(tmp_path, {"method": "fcus"}, t0_s=0.0)
    path = rec.start()
    t = np.arange(0, 60) / 30.0  # 2 s of frames
    for ti in t:
        rec.frame(float(ti), Face(ok=True, box=Box(1.0, 2.0, 30.0, 40.0)))
    rec.bvp_update(t, np.full(len(t), 1.0), t_now_s=2.0, hold_s=1.5, settle_s=1.0)
    rec.flush()
    rows = read_csv(path / "bvp.csv")[1:]
    assert len(rows) == 31 and all(r[1] == "1.00000" for r in rows)  # the frames up to 1.0 s
    # later: the values changed (more windows overlap them); close writes the waiting ones with those
    rec.close(2.0, (t, np.full(len(t), 2.0)))
    rows = read_csv(path / "bvp.csv")[1:]
    assert len(rows) == 60 and rows[30][1] == "1.00000" and all(r[1] == "2.00000" for r in rows[31:])


def test_recorder_flushes_every_waiting_frame_when_the_estimator_is_replaced(tmp_path):
    """A new source or method replaces the estimator: the frames still waiting get the values the
    old one knows now, the newest (not measured yet) an empty row, and none waits for the next one."""
    rec = SessionRecorder(tmp_path, {"method": "fcus"}, t0_s=0.0)
    path = rec.start()
    t = np.arange(0, 30) / 30.0
    for ti in t:
        rec.frame(float(ti), Face(ok=True, box=Box(1.0, 2.0, 30.0, 40.0)))
    rec.flush_bvp((t[:-1], np.full(len(t) - 1, 0.5)))
    rec.flush()
    rows = read_csv(path / "bvp.csv")[1:]
    assert len(rows) == 30 and all(r[1] == "0.50000" for r in rows[:-1]) and rows[-1][1] == ""
    rec.bvp_update(t, np.full(len(t), 2.0), t_now_s=2.0)  # the next estimator's stream: nothing left to write
    rec.close(2.0)
    assert len(read_csv(path / "bvp.csv")) == 31


def test_recorder_reports_write_errors(tmp_path, monkeypatch):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(RecordingError):
        SessionRecorder(not_a_dir).start()

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full to simulate a full disk")
    rec = SessionRecorder(tmp_path / "s")
    rec.start()
    rec._fh["bvp"].close()
    rec._fh["bvp"] = open("/dev/full", "w")  # noqa: SIM115 - a full disk from now on
    rec._w["bvp"] = csv.writer(rec._fh["bvp"])
    rec.frame(0.0, None)
    rec.bvp_update(np.array([0.0]), np.array([1.0]), 0.0)
    with pytest.raises(RecordingError, match="No space"):
        rec.flush()
    assert rec.error and rec.closed
    rec.frame(0.1, None)  # later calls are silent no-ops
    rec.close()


def test_values_at_needs_both_neighbours():
    tg = np.arange(5) / 10
    vg = np.array([0.0, 1.0, np.nan, 3.0, 4.0])
    out = values_at(tg, vg, np.array([0.05, 0.15, 0.3, 0.35, 0.5]))
    assert out[0] == pytest.approx(0.5) and np.isnan(out[1]) and out[2] == pytest.approx(3.0)
    assert out[3] == pytest.approx(3.5) and np.isnan(out[4])


def test_app_never_imports_torch_or_training():
    """The app's modules pull in neither torch nor training/, not even once the demo source
    (model.synthetic, imported when it opens) has rendered a frame."""
    import subprocess
    import sys

    code = ("import sys, threading, app.main, app.window, app.worker, app.capture, app.recording, app.settings; "
            "demo = app.capture.open_source(app.capture.SourceSpec('demo')); "
            "next(iter(demo.frames(threading.Event(), lambda *a: None))); "
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.split('.')[0] == 'training'); "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       cwd=Path(__file__).resolve().parents[1],
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_failed_event_write_stops_the_recording_and_measuring_goes_on(run_app, qtbot, env):
    win = run_app("--source", "demo", "--method", "pos", "--record", str(env / "sessions"))
    qtbot.waitUntil(lambda: win.recording_path is not None and win.worker._rec is not None
                    and win.worker._last_t is not None, timeout=8000)

    def full_disk(*_args):
        raise RecordingError("cannot write events.csv: No space left on device")

    win.worker._rec.event = full_disk
    n = len(win.messages)
    win.set_method("chrom")
    qtbot.waitUntil(lambda: win.method_info is not None and win.method_info.name == "chrom", timeout=4000)
    qtbot.waitUntil(lambda: win.recording_path is None, timeout=3000)
    assert any(lv == "error" and "No space" in t for lv, t in win.messages[n:])
    assert win.worker._thread.is_alive() and not win.act_record.isChecked()


@pytest.mark.parametrize("kind", ["missing", "junk"])
def test_an_unusable_face_model_exits_2_before_a_window(tmp_path, monkeypatch, capsys, kind):
    from app import main as app_main_module

    def no_window(argv=None):
        raise AssertionError("the window must not open")

    monkeypatch.setattr(app_main_module, "launch", no_window)
    path = tmp_path / f"{kind}.task"
    if kind == "junk":
        path.write_bytes(b"not a task bundle")
    assert app_main_module.app_main(["--face-model", str(path), "--source", "demo"]) == 2
    err = capsys.readouterr().err
    word = "not found" if kind == "missing" else "unreadable"
    assert f"fcus-rppg: Face model {word}: {path}" in err and err.count("\n") == 1


def test_a_missing_model_file_exits_2_before_a_window(tmp_path, monkeypatch, capsys):
    """It used to open the window with POS instead, and say nothing."""
    from app import main as app_main_module

    def no_window(argv=None):
        raise AssertionError("the window must not open")

    monkeypatch.setattr(app_main_module, "launch", no_window)
    path = tmp_path / "missing.onnx"
    assert app_main_module.app_main(["--model", str(path), "--source", "demo"]) == 2
    assert f"fcus-rppg: --model: FCUS model file not found: {path}" in capsys.readouterr().err
    # there, but not a model the app can run (the weights given for the model): refused the same way
    weights = tmp_path / "fcus_weights.pt"
    weights.write_bytes(b"\x80\x02 torch weights, not ONNX")
    assert app_main_module.app_main(["--model", str(weights), "--source", "demo"]) == 2
    assert f"fcus-rppg: --model: cannot use {weights}: " in capsys.readouterr().err


def test_video_view_paints_the_frames_colours_and_overlay(qtbot):
    """The worker hands the window B, G, R, 255 bytes (QImage's RGB32); the picture on screen has
    the frame's own colours (a swapped byte order would paint red as blue) and the overlay's."""
    from PySide6.QtGui import QColor

    from app.cards.video_view import VideoView
    from app.worker import OVERLAY_BOX_BGRA, Worker

    bgr = np.zeros((120, 160, 3), np.uint8)
    bgr[:, :80] = (30, 60, 200)  # left half: red-ish in BGR
    bgr[:, 80:] = (200, 120, 10)  # right half: blue-ish
    worker = Worker.__new__(Worker)  # only the picture path: no threads, no source
    worker.privacy, worker.overlay, worker._roi = "off", True, None
    face = Face(ok=True, box=Box(60, 30, 40, 40), n_faces=1)
    bgra = worker._display_image(bgr, face)
    assert bgra.shape == (120, 160, 4) and (bgra[..., 3] == 255).all()
    assert bgr[35, 70].tolist() == [30, 60, 200]  # the frame itself is untouched (still to be measured)
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(320, 240)  # its smallest size: the picture at twice its own
    view.show_bgra(bgra)
    img = view.grab().toImage()
    assert QColor(img.pixel(40, 120)).getRgb()[:3] == (200, 60, 30)
    assert QColor(img.pixel(280, 120)).getRgb()[:3] == (10, 120, 200)
    b, g, r, _ = OVERLAY_BOX_BGRA
    assert QColor(img.pixel(121, 100)).getRgb()[:3] == (r, g, b)  # the face box's left edge
    view.resize(400, 240)  # wider than the picture: black bars left and right of it
    img = view.grab().toImage()
    assert QColor(img.pixel(10, 120)).getRgb()[:3] == (0, 0, 0)
    assert QColor(img.pixel(390, 120)).getRgb()[:3] == (0, 0, 0)
    assert QColor(img.pixel(60, 120)).getRgb()[:3] == (200, 60, 30)
    view.show_text("No face in view")  # the text on black, no picture left
    img = view.grab().toImage()
    assert QColor(img.pixel(5, 5)).getRgb()[:3] == (0, 0, 0)
    assert any(QColor(img.pixel(x, 120)).getRgb()[:3] != (0, 0, 0) for x in range(100, 300))
    wide = worker._display_image(cv2.resize(bgr, (1280, 960), interpolation=cv2.INTER_NEAREST), None)
    assert wide.shape == (720, 960, 4) and (wide[..., 3] == 255).all()  # scaled to the display width
    assert wide[360, 100, :3].tolist() == [30, 60, 200] and wide[360, 900, :3].tolist() == [200, 120, 10]


def test_hr_card_keeps_its_height_whatever_the_state_says(qtbot):
    """A state that wraps to two lines and back must not resize the card: it would move the trend
    card below it and make the window re-lay out and repaint both at every reading. Every message
    still fits, at the card's narrowest too (a longer one may take more lines)."""
    from types import SimpleNamespace

    from app.cards.hr_card import HrCard
    from app.session_model import NO_VALUE, STATE_TEXT, WITHHELD_TEXT

    card = HrCard()
    qtbot.addWidget(card)
    card.show()

    def show(text: str) -> tuple[int, int]:
        card.refresh(SimpleNamespace(state="unreliable", state_text=text, hr_text=NO_VALUE, quality=None,
                                     sdnn_text=NO_VALUE, rmssd_text=NO_VALUE, resp_text=NO_VALUE, hrv_note="",
                                     resp_note=""))
        card.resize(card.width(), max(260, card.heightForWidth(card.width())))  # what a layout gives it
        qtbot.wait(10)
        lab = card.state_label
        assert lab.heightForWidth(lab.width()) <= lab.height(), f"{text!r} is cut off"
        return lab.height(), card.height()

    lost = "No signal: Camera 0 stopped delivering frames (unplugged?) Reconnecting..."
    texts = [*STATE_TEXT.values(), *(f"{STATE_TEXT['unreliable']}: {w}" for w in WITHHELD_TEXT.values())]
    card.resize(500, 260)
    assert len({show(t) for t in texts}) == 1, "one height for every state at the usual width"
    assert card.state_label.heightForWidth(card.state_label.width()) > card.state_label.fontMetrics().lineSpacing() + 10
    show(lost)
    card.resize(card.minimumSizeHint().width(), 260)
    for t in [*texts, lost]:
        show(t)


def test_hr_card_says_why_the_hrv_is_empty(qtbot):
    from app.cards.hr_card import HrCard
    from app.session_model import HRV_TIP, RESP_TIP, SessionModel

    card = HrCard()
    qtbot.addWidget(card)
    session = SessionModel()
    card.refresh(session)
    assert card.sdnn_label.toolTip() == HRV_TIP and card.resp_label.toolTip() == RESP_TIP  # before any reading
    session.hrv_note = "HRV needs a very clear pulse to time each heartbeat"
    session.resp_note = "No breathing rate: the breathing does not show clearly in the pulse right now."
    card.refresh(session)
    assert card.sdnn_label.toolTip() == card.rmssd_label.toolTip() == session.hrv_note
    assert card.resp_label.toolTip() == session.resp_note


def test_quality_bar_length_and_colour_agree(qtbot):
    """A shown FCUS reading just above its gate's opening fills the bar to the green mark (60 %), not to
    its raw quality (with the SNR gate that shipped before session 22, 0.17 filled 17 %); CHROM's
    withheld 0.36 is red and short of the amber mark."""
    from types import SimpleNamespace

    from app.cards.hr_card import HrCard
    from app.cards.theme import BAD, GOOD
    from app.session_model import BAR_CLOSE_MARK, SessionModel
    from model.pulse_methods import estimator_config

    card = HrCard()
    qtbot.addWidget(card)
    session = SessionModel()
    cfg = estimator_config("fcus")
    session.method_info = SimpleNamespace(name="fcus", gate=(cfg.gate_open, cfg.gate_close))
    session.quality, session.state = cfg.gate_open + 0.005, "reading"
    card.refresh(session)
    assert 60 <= card.quality_bar.value() <= 62 and GOOD in card.quality_bar.styleSheet()
    session.quality = 0.17  # far below FCUS's gate: short of the amber mark, not green
    card.refresh(session)
    assert card.quality_bar.value() < 100 * BAR_CLOSE_MARK and GOOD not in card.quality_bar.styleSheet()
    session.method_info = SimpleNamespace(name="chrom", gate=(0.6, 0.4))
    session.quality, session.state = 0.36, "unreliable"
    card.refresh(session)
    assert card.quality_bar.value() < 100 * BAR_CLOSE_MARK and BAD in card.quality_bar.styleSheet()


def test_trend_card_marks_each_methods_stretch(qtbot):
    import pyqtgraph as pg

    from app.cards.trend_card import TrendCard
    from app.session_model import SessionModel

    card = TrendCard()
    qtbot.addWidget(card)
    session = SessionModel()
    for k, m in enumerate(["pos", "pos", "chrom", "green", "fcus"]):
        session.trend.add(6.0 + k, 70.0, m)
    card.refresh(session)
    lines = [i for i in card.plot.getPlotItem().items if isinstance(i, pg.InfiniteLine)]
    assert [ln.value() for ln in lines] == [6.0, 8.0, 9.0, 10.0]
    assert [ln.label.format for ln in lines] == ["POS", "CHROM", "GREEN", session.trend.marks[-1].label]
    session.trend = type(session.trend)()  # a new source
    card.refresh(session)
    assert not [i for i in card.plot.getPlotItem().items if isinstance(i, pg.InfiniteLine)]




def test_the_window_says_when_it_measures_another_person(run_app, qtbot, env):
    """The measured (larger) face leaves while a smaller one stays: after a second the window says it
    now measures another face, and the trend has a break marked there (a user test found it silent)."""
    from app.session_model import ANOTHER_PERSON
    from tests.face_frames import blank_canvas, two_faces_image

    both = two_faces_image()
    only_small = blank_canvas()
    only_small[:, 330:] = both[:, 330:]
    clip = env / "two.avi"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    for i in range(240):
        w.write(both if i < 90 else only_small)
    w.release()
    win = run_app("--source", str(clip), "--no-loop", "--method", "pos")
    qtbot.waitUntil(lambda: any("Now measuring another face" in text for _, text in win.messages), timeout=20000)
    qtbot.waitUntil(lambda: any(m.label == ANOTHER_PERSON for m in win.session.trend.marks), timeout=5000)
