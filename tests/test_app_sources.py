"""The window says why it does not show the source asked for (it did not open, it was lost) and
offers the ways out; the exit status says when the asked source never opened or a recording
failed."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from app import capture  # noqa: E402
from model.video_source import SourceError  # noqa: E402
from tests.test_app import write_clip  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_missing_file_shows_the_demo_and_says_why(run_app, qtbot, env):
    missing = env / "missing.avi"
    win = run_app("--source", str(missing), "--method", "pos")
    qtbot.waitUntil(lambda: win.source_info is not None, timeout=6000)
    assert win.source_info.spec.kind == "demo" and win.source_info.fallback
    qtbot.waitUntil(lambda: win.source_banner.isVisible(), timeout=2000)
    text = win.source_banner_text()
    assert "missing.avi" in text and "demo" in text.lower(), text
    assert not win.banner.isVisible(), "one banner for one problem"
    assert "standing in for File missing.avi" in win.sb_source.text()
    assert win.btn_open_file.isVisible() and win.btn_retry.isVisible()
    assert not win.btn_demo.isVisible()  # the demo already runs
    assert win.worker.asked_failure and "missing.avi" in win.worker.asked_failure
    # the file appears; "Try again" opens it, the banner goes and the run no longer failed
    write_clip(missing, [("face", 2.0)])
    win.btn_retry.click()
    qtbot.waitUntil(lambda: win.source_info.spec.kind == "file", timeout=6000)
    assert not win.source_banner.isVisible()
    assert win.worker.asked_failure is None


def test_no_camera_on_first_run_says_so_with_a_way_out(run_app, qtbot, env, monkeypatch):
    def refuse(index=0, **kwargs):
        raise SourceError(f"camera {index} is not available (none connected, or in use)")

    monkeypatch.setattr(capture, "CameraSource", refuse)
    monkeypatch.setattr(capture, "camera_present", lambda index: None)
    win = run_app("--method", "pos")  # first run: camera 0 is tried, then the demo
    qtbot.waitUntil(lambda: win.source_banner.isVisible(), timeout=6000)
    assert "camera 0" in win.source_banner_text().lower() and "demo" in win.source_banner_text()
    assert win.btn_retry.text() == "Try camera 0 again"
    assert win.worker.asked_failure is None  # not asked for: the run does not fail for it


def test_camera_lost_is_in_the_banner_until_it_is_back(run_app, qtbot, env, monkeypatch):
    from tests.face_frames import FakeCamera

    class FlakyCamera(FakeCamera):
        """Delivers 1 s of frames, is gone for a while, then comes back."""

        def refuses(self, k):
            return 1 < k < 6

        def unplugs(self, k):
            return k == 1

    monkeypatch.setattr(capture, "CameraSource", FlakyCamera)
    monkeypatch.setattr(capture, "camera_present", lambda index: None)
    monkeypatch.setattr(capture, "CAMERA_RETRY_S", 0.3)
    win = run_app("--source", "camera:0", "--method", "pos")
    qtbot.waitUntil(lambda: win.source_info is not None and win.source_info.spec.kind == "camera", timeout=6000)
    assert not win.source_banner.isVisible()
    qtbot.waitUntil(lambda: win.source_banner.isVisible(), timeout=6000)
    text = win.source_banner_text()
    assert "unplugged" in text and "Camera 0" in text, text
    assert win.btn_demo.isVisible() and win.btn_open_file.isVisible() and win.btn_retry.isVisible()
    assert not win.banner.isVisible()
    qtbot.waitUntil(lambda: not win.source_banner.isVisible(), timeout=8000)  # reconnected
    qtbot.waitUntil(lambda: win.state != "no_signal", timeout=4000)
    assert win.worker.asked_failure is None


def _app(env: Path, *args: str, timeout_s: float = 90.0) -> subprocess.CompletedProcess:
    e = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FCUS_RPPG_CONFIG_DIR": str(env / "config"),
         "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "app.cli", "--no-download", "--method", "pos", *args],
                          capture_output=True, text=True, cwd=REPO, env=e, timeout=timeout_s)


def test_exit_status_when_the_asked_source_never_opened(env, tmp_path):
    r = _app(env, "--source", str(tmp_path / "missing.mp4"), "--quit-after", "3")
    assert r.returncode == 3, r.stderr
    assert "never opened" in r.stderr and "missing.mp4" in r.stderr
    r = _app(env, "--source", "camera:x", "--quit-after", "3")
    assert r.returncode == 2 and "--source" in r.stderr and "camera:x" in r.stderr
    r = _app(env, "--source", "demo", "--quit-after", "3")
    assert r.returncode == 0, r.stderr


def test_a_recording_run_says_where_the_session_went(env, tmp_path):
    r = _app(env, "--source", "demo", "--record", str(tmp_path / "sessions"), "--quit-after", "4")
    assert r.returncode == 0, r.stderr
    folders = [p for p in (tmp_path / "sessions").iterdir() if p.is_dir()]
    assert len(folders) == 1 and f"fcus-rppg: recorded {folders[0]}" in r.stdout


def test_exit_status_when_recording_failed(env, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    r = _app(env, "--source", "demo", "--record", str(not_a_dir), "--quit-after", "4")
    assert r.returncode == 4, r.stderr
    assert "recording" in r.stderr and str(not_a_dir) in r.stderr


def test_the_hr_trend_restarts_on_the_new_sources_own_time(run_app, qtbot, env):
    """Sources opened one after another: the trend shows only the current source's readings, its x axis
    the time within that source's session (it used to keep every source's readings on the app's clock)."""
    import time

    win = run_app("--source", "demo", "--method", "pos")
    qtbot.waitUntil(lambda: len(win.session.trend.t_s) >= 4, timeout=30000)
    first = list(win.session.trend.t_s)
    assert 0.0 < first[0] < 10.0
    qtbot.wait(2000)  # the app's clock runs on
    from app.capture import SourceSpec

    gen = win.worker._gen
    win.set_source(SourceSpec("demo"))
    switched = time.monotonic()
    def restarted() -> bool:  # the new source's readings only, each at most its time since the switch
        t = win.session.trend.t_s
        return (win.worker._gen != gen and len(t) >= 2 and t[0] < 10.0
                and t[-1] <= time.monotonic() - switched + 1.0)

    qtbot.waitUntil(restarted, timeout=30000)  # on the app's clock they would lie 8 s or more later
    assert win.session.trend.t_s[0] < first[-1], "on the new source's own time, not the app's"
    assert [m.label for m in win.session.trend.marks] == ["POS"]


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGTERM") or sys.platform == "win32", reason="POSIX signals")
def test_sigterm_finishes_the_recording_as_ctrl_c_does(env, tmp_path):
    """`kill PID` (a logout, a shutdown) used to end the app with 143 and leave the recording unfinished
    (no summary.json, no "ended"); now it closes the window as Ctrl+C and Quit do."""
    import json
    import signal
    import time

    e = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FCUS_RPPG_CONFIG_DIR": str(env / "config"),
         "PYTHONPATH": str(REPO)}
    sessions = tmp_path / "sessions"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--no-download", "--method", "pos", "--source", "demo",
                             "--record", str(sessions), "--quit-after", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=e)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            hr = list(sessions.glob("*/hr.csv"))
            if hr and len(hr[0].read_text().splitlines()) > 3:
                break
            time.sleep(0.5)
        else:
            pytest.fail("no readings recorded")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    folder = hr[0].parent
    assert (folder / "summary.json").is_file()
    assert json.loads((folder / "session.json").read_text()).get("ended")
    assert f"fcus-rppg: recorded {folder}" in out


def test_a_bad_source_is_named_exactly_as_given(run_app, qtbot, env, monkeypatch):
    """A user test saw "Bad/emptydir is neither ..." (the path's first letter capitalised) and "Video file
    not found: http:/example.com/v.mp4" (the address mangled as a path)."""
    monkeypatch.chdir(env)
    (env / "bad" / "emptydir").mkdir(parents=True)
    win = run_app("--source", "bad/emptydir", "--method", "pos")
    qtbot.waitUntil(lambda: bool(win.source_banner_text()), timeout=8000)
    assert win.source_banner_text().startswith("bad/emptydir is neither a recorded session"), win.source_banner_text()
    win.set_source(capture.SourceSpec.parse("http://example.com/v.mp4"))
    qtbot.waitUntil(lambda: "example.com" in win.source_banner_text(), timeout=8000)
    text = win.source_banner_text()
    assert text.startswith("Network streams are not supported: http://example.com/v.mp4 "), text
    assert "http:/example" not in text and "not found" not in text


def test_a_url_source_says_network_streams_are_not_supported(env, tmp_path):
    r = _app(env, "--source", "http://example.com/v.mp4", "--quit-after", "3")
    assert r.returncode == 3, r.stderr
    assert "network streams are not supported: http://example.com/v.mp4" in r.stderr, r.stderr
