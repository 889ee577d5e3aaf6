"""The ``fcus-rppg analyze`` contract on synthetic clips: files, headers, one row per frame,
HR updates at least once a second, summary fields, and the bad-input paths (clear message,
non-zero exit, no traceback)."""

import csv
import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from model.analyze import EXIT_BAD_INPUT, EXIT_NO_FACE, analyze_main, clip_hr_reliability
from model.pulse_methods import reliable_rule
from training.synth import SynthConfig, write_clip

HR_BPM = 84.0


@pytest.fixture(scope="module")
def synth_clip(tmp_path_factory, face_model_path):
    d = tmp_path_factory.mktemp("clip")
    cfg = SynthConfig(duration_s=14.0, hr_bpm=HR_BPM, hrv_std_bpm=1.0, seed=5)
    files = write_clip(cfg, d, progress=False)
    return SimpleNamespace(**vars(files), face_model=face_model_path)  # the tests never download


def clip_hr_reliable(shown_bpm, n_judged, clip_hr_bpm, method=None, path_gap_bpm=None):
    return clip_hr_reliability(shown_bpm, n_judged, clip_hr_bpm, method, path_gap_bpm)["hr_reliable"]


def _face(files) -> list[str]:
    return ["--no-download", "--face-model", str(files.face_model)]


def _rows(p: Path) -> list[dict]:
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def test_analyze_writes_the_contract(synth_clip, tmp_path):
    out = tmp_path / "out"
    rc = analyze_main([str(synth_clip.video_path), "--method", "pos", "--out", str(out), "--quiet",
                       *_face(synth_clip)])
    assert rc == 0
    assert (out / "bvp.csv").read_text().splitlines()[0] == "t_s,bvp"
    assert (out / "hr.csv").read_text().splitlines()[0] == "t_s,hr_bpm,quality,withheld,person"
    bvp = _rows(out / "bvp.csv")
    assert len(bvp) == synth_clip.n_frames
    t = np.array([float(r["t_s"]) for r in bvp])
    assert t[0] == 0.0 and np.allclose(np.diff(t), 1 / 30.0, atol=2e-3)
    vals = np.array([float(r["bvp"]) for r in bvp if r["bvp"] != ""])
    assert len(vals) > 0.9 * len(bvp)
    assert bvp[-1]["bvp"] != ""  # the face is there to the end, so is the last frame's value
    for name in ("bvp.csv", "hr.csv"):  # plain newlines, as the app's recordings have
        assert b"\r" not in (out / name).read_bytes()
    hr = _rows(out / "hr.csv")
    th = np.array([float(r["t_s"]) for r in hr])
    assert np.all(np.diff(th) <= 1.05) and th[-1] >= 13.0
    shown = [float(r["hr_bpm"]) for r in hr if r["hr_bpm"] != ""]
    assert shown and all(abs(h - HR_BPM) < 3.0 for h in shown)
    assert all(0.0 <= float(r["quality"]) <= 1.0 for r in hr)
    s = json.loads((out / "summary.json").read_text())
    for key in ("method", "hr_bpm", "frames", "fps_hz", "face_share", "tracker", "runtime_s"):
        assert key in s
    assert (s["hrv"] is None) == bool(s["hrv_withheld"])  # HRV, or why there is none
    assert s["model"] is None  # POS reads with no model file
    assert s["method"] == "pos" and s["frames"] == synth_clip.n_frames
    assert s["tracker"] == "mediapipe" and s["face_share"] > 0.95
    assert abs(s["hr_bpm"] - synth_clip.mean_hr_bpm) < 1.0
    assert 0 < s["hr_interval_bpm"] < 15.0 and s["hr_interval_level"] == 0.9 and s["hr_way"]  # hr_bpm +- it
    assert abs(s["hr_bpm"] - synth_clip.mean_hr_bpm) <= s["hr_interval_bpm"]
    assert s["hr_reliable"] is True and s["judged_shown_share"] >= 0.5
    assert abs(s["fps_hz"] - 30.0) < 0.1


def test_a_face_without_pulse_is_reported_not_reliable(tmp_path, face_model_path, capsys):
    files = write_clip(SynthConfig(duration_s=14.0, pulse_amplitude=0.0, sensor_noise_std=2.0, seed=11),
                       tmp_path / "clip", progress=False)
    out = tmp_path / "out"
    assert analyze_main([str(files.video_path), "--out", str(out), "--quiet", "--no-download",
                         "--face-model", str(face_model_path)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["hr_reliable"] is False and s["judged_shown_share"] < 1 / 3
    assert s["hr_interval_bpm"] is None  # no "+-" for an HR that is not reliable
    out_text = capsys.readouterr().out
    # summary.json and the console say why, by the rule of the method that ran
    assert s["hr_reliable_why_not"]
    assert f"HR not reliable: {s['hr_reliable_why_not']} (" in out_text


def test_clip_hr_is_reliable_only_with_enough_agreeing_readings():
    # Megamind.avi (no pulse) through CHROM: 2 of 6 judged updates shown at 61 bpm, whole-clip peak 112
    assert clip_hr_reliable([60.6, 61.3], 6, 112.3) is False
    assert clip_hr_reliable([60.6, 61.3], 6, 61.0) is False  # a third, but only two readings
    assert clip_hr_reliable([72.0] * 5, 15, 72.4) is True
    assert clip_hr_reliable([72.0] * 5, 16, 72.4) is False  # under a third of the judged updates
    assert clip_hr_reliable([72.0] * 8, 10, 80.0) is False  # the whole-clip peak reads another pulse
    assert clip_hr_reliable([72.0] * 8, 10, None) is False


def test_each_method_calls_its_clip_hr_reliable_by_its_own_rule():
    import pytest

    from model.reliable_rule import DEFAULT_RULE, ReliableRule

    # FCUS (benchmarks/reliable_choice.py): at least 3 readings whatever their share, the clip's tracked
    # path within 8 bpm of them where they were shown (the last argument: that median difference)
    assert clip_hr_reliable([72.0] * 3, 60, 79.5, "fcus", 7.5) is True
    assert clip_hr_reliable([72.0] * 3, 60, 79.5, "FCUS", 7.5) is True
    assert clip_hr_reliable([72.0] * 3, 60, 95.0, "fcus", 1.0) is True  # the rate moved: the median is far
    assert clip_hr_reliable([72.0] * 2, 2, 72.0, "fcus", 0.0) is False  # too few readings
    assert clip_hr_reliable([72.0] * 8, 24, 80.5, "fcus", 8.5) is False  # another pulse
    assert clip_hr_reliable([72.0] * 8, 24, 72.0, "fcus") is False  # no path at the readings
    # the classic methods, and a method outside the registry, keep the hand-set rule (5 readings)
    for method in ("chrom", "pos", "green", "someone-elses", None):
        assert clip_hr_reliable([72.0] * 5, 60, 72.0, method) is False
        assert clip_hr_reliable([72.0] * 5, 15, 72.0, method) is True
    assert DEFAULT_RULE.describe().startswith("at least 5 shown readings and 33% of the judged updates")
    # why not, for the user: each condition that failed, in order; empty when reliable
    fcus = reliable_rule("fcus")
    assert fcus.why_not([72.0] * 3, 60, 79.5, 7.5) == ""
    assert fcus.why_not([72.0] * 8, 24, None, 0.0) == "no whole-clip HR"
    assert fcus.why_not([72.0], 60, 72.0, 0.0) == "1 shown reading, fewer than 3"
    assert DEFAULT_RULE.why_not([72.0] * 5, 60, 72.0) == "5 of 60 judged updates showed a reading, under 33%"
    assert DEFAULT_RULE.why_not([90.8] * 8, 24, 114.7) == ("the shown readings' median (90.8 bpm) is 23.9 bpm "
                                                           "from the whole-clip HR, more than 5")
    assert fcus.why_not([90.8] * 8, 24, 114.7, 12.0) == ("the clip's tracked HR is 12.0 bpm from the shown "
                                                         "readings where they were shown (median), more than 8")
    assert fcus.describe() == ("at least 3 shown readings, the clip's tracked HR within 8 bpm of the readings "
                               "where they were shown")
    with pytest.raises(ValueError):
        ReliableRule(shown_share=1.5, min_shown=5, agree_bpm=5.0)
    with pytest.raises(ValueError):
        ReliableRule(shown_share=0.2, min_shown=0, agree_bpm=5.0)


def test_console_script_runs_without_traceback(synth_clip, tmp_path, face_model_path):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "app.cli", "analyze", str(synth_clip.video_path),
                        "--method", "chrom", "--out", str(out), "--quiet", "--no-download",
                        "--face-model", str(face_model_path)], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "method chrom" in r.stdout and "HR" in r.stdout


def test_missing_file(tmp_path, capsys):
    rc = analyze_main([str(tmp_path / "nope.mp4"), "--method", "pos", "--out", str(tmp_path / "o")])
    assert rc == EXIT_BAD_INPUT
    assert "not found" in capsys.readouterr().err


def test_corrupt_file(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    rc = analyze_main([str(bad), "--method", "pos", "--out", str(tmp_path / "o")])
    assert rc == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "bad.mp4" in err and "Traceback" not in err


def test_video_without_a_face(tmp_path, capsys, face_model_path):
    p = tmp_path / "wall.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(60):
        w.write(np.clip(120 + rng.normal(0, 3, (240, 320, 3)), 0, 255).astype(np.uint8))
    w.release()
    rc = analyze_main([str(p), "--method", "pos", "--out", str(tmp_path / "o"), "--quiet", "--no-download",
                       "--face-model", str(face_model_path)])
    assert rc == EXIT_NO_FACE
    assert "no face" in capsys.readouterr().err
    assert len(_rows(tmp_path / "o" / "bvp.csv")) == 60  # the contract holds even then


def test_unknown_method_is_an_argparse_error(tmp_path):
    with pytest.raises(SystemExit) as e:
        analyze_main(["x.mp4", "--method", "bogus", "--out", str(tmp_path)])
    assert e.value.code == 2


def test_an_empty_out_is_an_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        analyze_main(["x.mp4", "--out", ""])
    assert e.value.code == 2 and "--out: empty" in capsys.readouterr().err


@pytest.mark.parametrize("window", ["0", "-5", "3", "61", "ten"])
def test_a_window_outside_its_range_is_an_argparse_error(window, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        analyze_main(["x.mp4", f"--window-s={window}", "--out", str(tmp_path)])
    assert e.value.code == 2 and "--window-s" in capsys.readouterr().err


def test_the_estimator_refuses_a_window_outside_its_range():
    from model.estimator import EstimatorConfig

    for bad in ({"window_s": 0.0}, {"window_s": 3.0}, {"window_s": 80.0}, {"window_s": 8.0, "min_window_s": 9.0}):
        with pytest.raises(ValueError):
            EstimatorConfig(**bad)
    assert EstimatorConfig(window_s=4.0, min_window_s=4.0).window_s == 4.0


@pytest.mark.real_data
def test_real_subject_reads_its_contact_ppg_rate(ubfc_root, face_model_path, tmp_path):
    """UBFC subject 12 (a calm subject) through the whole pipeline: the whole-clip HR matches the
    HR of its contact PPG within 3 bpm."""
    from training.datasets import read_ubfc
    from training.metrics import window_hr

    rec = next((r for r in read_ubfc(ubfc_root) if r.name == "subject12"), None)
    if rec is None:
        pytest.skip("subject12 not in the UBFC folder")
    out = tmp_path / "s12"
    rc = analyze_main([str(rec.video), "--method", "chrom", "--out", str(out), "--quiet", "--no-download",
                       "--face-model", str(face_model_path)])
    assert rc == 0
    gt = rec.ground_truth()
    ref = window_hr(gt.t_s, gt.ppg, 0.0, float(gt.t_s[-1]))
    s = json.loads((out / "summary.json").read_text())
    assert abs(s["hr_bpm"] - ref) < 3.0, (s["hr_bpm"], ref)
    assert s["x_real_time"] > 1.0


# ---- results are written all or nothing; --out is checked first ----------------------------
class _FullDiskFile:
    """A text file that takes ``room`` characters and then raises ENOSPC, like a full disk."""

    def __init__(self, fh, room: int):
        self._fh, self._room = fh, room

    def write(self, text: str) -> int:
        if len(text) > self._room:
            self._fh.write(text[:self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(text)
        return self._fh.write(text)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_a_full_disk_mid_write_keeps_the_earlier_results(synth_clip, tmp_path, monkeypatch, capsys):
    import builtins

    from model.analyze import run_analysis, write_outputs

    out = tmp_path / "out"
    assert analyze_main([str(synth_clip.video_path), "--method", "pos", "--out", str(out), "--quiet",
                         *_face(synth_clip)]) == 0
    before = _snapshot(out)
    assert set(before) == {"bvp.csv", "hr.csv", "summary.json"}
    # a second run (another method: other numbers) whose writing hits a full disk mid-bvp.csv
    result = run_analysis(synth_clip.video_path, "chrom", face_model=str(synth_clip.face_model),
                          allow_download=False, progress=False)
    real_open = builtins.open

    def full_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return _FullDiskFile(fh, 2000) if "w" in mode and str(out) in str(file) else fh

    monkeypatch.setattr(builtins, "open", full_open)
    with pytest.raises(OSError) as e:
        write_outputs(out, result)
    monkeypatch.setattr(builtins, "open", real_open)
    assert e.value.errno == errno.ENOSPC
    assert _snapshot(out) == before  # complete, consistent, nothing left behind

    # through the command: exit 2, a message, the earlier results unchanged
    monkeypatch.setattr("model.analyze.run_analysis", lambda *a, **k: result)
    monkeypatch.setattr(builtins, "open", full_open)
    rc = analyze_main([str(synth_clip.video_path), "--method", "chrom", "--out", str(out), "--quiet"])
    monkeypatch.setattr(builtins, "open", real_open)
    assert rc == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "No space left" in err and "unchanged" in err
    assert _snapshot(out) == before


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A real 256 KiB file system (tmpfs; needs root and mount rights, else skipped)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_a_really_full_disk_keeps_the_earlier_results(synth_clip, tiny_tmpfs, capsys):
    out = tiny_tmpfs / "out"
    args = [str(synth_clip.video_path), "--method", "pos", "--out", str(out), "--quiet", *_face(synth_clip)]
    assert analyze_main(args) == 0
    before = _snapshot(out)
    # fill the disk, leaving less room than one bvp.csv (about 7 KB here)
    st = os.statvfs(tiny_tmpfs)
    (tiny_tmpfs / "filler").write_bytes(b"\0" * (st.f_bavail * st.f_frsize - 4096))
    assert analyze_main(args) == EXIT_BAD_INPUT
    assert "No space left" in capsys.readouterr().err
    assert _snapshot(out) == before


@pytest.mark.parametrize("case", ["file", "under_a_file", "read_only"])
def test_a_bad_out_is_refused_before_decoding(synth_clip, tmp_path, monkeypatch, capsys, case):
    if case == "file":
        out = tmp_path / "results.txt"
        out.write_text("not a folder")
    elif case == "under_a_file":
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "sub" / "out"
    else:  # a read-only file system: no permission even for root
        mnt = tmp_path / "ro"
        mnt.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mnt)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs here: {r.stderr.decode().strip()}")
        out = mnt / "out"

    def no_decoding(*a, **k):
        raise AssertionError("the video was decoded before --out was checked")

    monkeypatch.setattr("model.analyze.run_analysis", no_decoding)
    try:
        rc = analyze_main([str(synth_clip.video_path), "--method", "pos", "--out", str(out), "--quiet"])
    finally:
        if case == "read_only":
            subprocess.run(["umount", str(tmp_path / "ro")], capture_output=True)
    assert rc == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("fcus-rppg analyze: --out: ") and str(out.parent) in err, err


def _wall_clip(path: Path, n_frames: int = 10) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (160, 120))
    for _ in range(n_frames):
        w.write(np.full((120, 160, 3), 120, np.uint8))
    w.release()
    return path


def test_a_missing_explicit_face_model_exits_2(tmp_path, capsys):
    clip = _wall_clip(tmp_path / "wall.avi")
    rc = analyze_main([str(clip), "--method", "pos", "--out", str(tmp_path / "o"), "--quiet",
                       "--face-model", str(tmp_path / "missing.task")])
    assert rc == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"Face model not found: {tmp_path / 'missing.task'}" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing measured with another tracker


def test_tracker_mediapipe_that_cannot_run_exits_2(tmp_path, monkeypatch, capsys):
    from model import face_model as fm

    damaged = tmp_path / "assets" / "face_landmarker.task"
    damaged.parent.mkdir()
    damaged.write_bytes(b"truncated")
    monkeypatch.setattr(fm, "shipped_face_model_path", lambda: damaged)
    monkeypatch.delenv("FCUS_FACE_MODEL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    clip = _wall_clip(tmp_path / "wall.avi")
    args = [str(clip), "--method", "pos", "--quiet", "--no-download"]
    assert analyze_main([*args, "--out", str(tmp_path / "o"), "--tracker", "mediapipe"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "MediaPipe face tracker unavailable: Face model damaged" in err and str(damaged) in err
    # without the explicit request the OpenCV fallback runs and says so
    assert analyze_main([*args, "--out", str(tmp_path / "o2")]) == EXIT_NO_FACE
    summary = json.loads((tmp_path / "o2" / "summary.json").read_text())
    assert summary["tracker"] == "opencv" and "reinstall fcus-rppg" in summary["tracker_message"]


def test_profile_prints_every_stage_beside_the_decode_floor(synth_clip, tmp_path, capsys):
    from model.profile import STAGES

    out = tmp_path / "out"
    rc = analyze_main([str(synth_clip.video_path), "--method", "pos", "--out", str(out), "--quiet", "--profile",
                       *_face(synth_clip)])
    assert rc == 0
    text = capsys.readouterr().out
    rows = {line[:34].strip(): line[34:].split() for line in text.splitlines() if line[:34].strip() in STAGES}
    assert set(rows) == set(STAGES)
    per_frame = {k: float(v[0]) for k, v in rows.items()}
    assert per_frame["face tracking"] > 0 and per_frame["decode"] > 0 and per_frame["pulse method"] > 0
    assert "decode floor (plain OpenCV decode, same file)" in text and "whole process" in text
    assert "pulse method ran on: CPU" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inference"]["device"] == "CPU" and summary["tracker_key_frames"] < summary["frames"]
    n = len(_rows(out / "bvp.csv"))
    assert f"{n} frames" in text


def test_the_profiler_splits_the_estimator_from_the_stages_it_calls():
    from model.profile import Profiler

    class Slow:
        def work(self):
            time.sleep(0.02)

    prof = Profiler()
    method, roi = Slow(), Slow()
    prof.wrap(method, "work", "pulse method")
    prof.wrap(roi, "work", "ROI (skin mask, crop)")  # its own thread in analyze: outside the push
    prof.push_s = 0.05
    for _ in range(2):
        method.work()
        roi.work()
    prof.settle()
    inner = prof.wall_s["pulse method"]
    assert 0.035 < inner < 0.05 and 0.035 < prof.wall_s["ROI (skin mask, crop)"] < 0.05
    assert abs(prof.wall_s["estimator (resample, HR, stream)"] - (0.05 - inner)) < 1e-9


def test_a_batch_analyses_every_source_and_skips_a_corrupt_one(synth_clip, tmp_path, capsys):
    """Two good clips (one given in a folder) and a corrupt file, two processes: a result folder
    per good clip like a single run's, summary.csv with a row each, the corrupt one failed and
    skipped, exit 1."""
    import shutil

    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(synth_clip.video_path, folder / "a.avi")
    (folder / "broken.mp4").write_bytes(b"not a video at all" * 100)
    out = tmp_path / "out"
    rc = analyze_main([str(synth_clip.video_path), str(folder), "--method", "pos", "--out", str(out), "--quiet",
                       "--jobs", "2", *_face(synth_clip)])
    assert rc == 1
    rows = _rows(out / "summary.csv")
    assert b"\r" not in (out / "summary.csv").read_bytes()
    assert [Path(r["source"]).name for r in rows] == [synth_clip.video_path.name, "a.avi", "broken.mp4"]
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"] and rows[2]["error"]
    for r in rows[:2]:
        d = Path(r["out_dir"])
        assert {p.name for p in d.iterdir()} >= {"bvp.csv", "hr.csv", "summary.json"}
        assert abs(float(r["hr_bpm"]) - HR_BPM) < 3 and float(r["hr_interval_bpm"]) > 0
        # the reliability and, when not, why (as in the clip's own summary.json)
        own = json.loads((d / "summary.json").read_text())
        assert r["hr_reliable"] == str(own["hr_reliable"]) and r["hr_reliable_why_not"] == own["hr_reliable_why_not"]
    captured = capsys.readouterr()
    assert "broken.mp4" in captured.err
    assert "2 of 3 sources analysed; 1 failed and was skipped" in captured.out


def test_a_folder_of_videos_with_a_picture_in_it_is_still_a_batch(tmp_path, capsys):
    """A picture (a thumbnail, a still) among videos does not turn the folder into a one-frame image
    sequence; every video suffix a phone or camera writes is taken; what the scan passes over is
    named on the console; a source named twice is analysed once."""
    from model.batch_analyze import duplicate_count, expand_sources, skipped_files
    from model.image_source import has_images

    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("a.mp4", "b.MOV", "c.m4v", "d.3gp", "e.mjpeg", "cover.png", "notes.txt"):
        (folder / name).write_bytes(b"")
    assert not has_images(folder)
    assert [p.name for p in expand_sources([folder])] == ["a.mp4", "b.MOV", "c.m4v", "d.3gp", "e.mjpeg"]
    assert [p.name for p in skipped_files([folder])] == ["cover.png", "notes.txt"]
    # the same file by two names, and once more inside the folder
    assert [p.name for p in expand_sources([folder / "a.mp4", folder / ".." / "clips" / "a.mp4", folder])] == \
        ["a.mp4", "b.MOV", "c.m4v", "d.3gp", "e.mjpeg"]
    assert duplicate_count([folder / "a.mp4", folder]) == 1
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "frame_0001.png").write_bytes(b"")
    assert has_images(frames) and expand_sources([frames]) == [frames] and skipped_files([frames]) == []
    rc = analyze_main([str(folder / "notes.txt"), str(folder), "--out", str(tmp_path / "out"), "--quiet",
                       "--jobs", "1", "--method", "pos"])
    err = capsys.readouterr().err
    assert rc == 1  # the empty files fail, each on its row
    assert "not analysed (not a video by its suffix, nor a recorded session): cover.png, notes.txt" in err


def test_images_without_time_stamps_take_fps_and_say_so(synth_clip, tmp_path, capsys):
    """A folder of counter-named frame images has no times of its own: the console says which rate
    was taken, and --fps gives the camera's (the clip is then that much longer, its HR that much
    lower)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    cap = cv2.VideoCapture(str(synth_clip.video_path))
    k = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        cv2.imwrite(str(frames / f"frame_{k:05d}.png"), bgr)
        k += 1
    runs = {}
    for fps in (None, 15.0):
        out = tmp_path / f"out{fps}"
        extra = ["--fps", str(fps)] if fps else []
        assert analyze_main([str(frames), "--method", "pos", "--out", str(out), "--quiet", *extra,
                             *_face(synth_clip)]) == 0
        err = capsys.readouterr().err
        assert "the image names carry no time stamps" in err and "--fps" in err
        runs[fps] = json.loads((out / "summary.json").read_text())
    assert runs[None]["fps_hz"] == pytest.approx(30.0) and runs[15.0]["fps_hz"] == pytest.approx(15.0)
    assert runs[15.0]["duration_s"] == pytest.approx(2 * runs[None]["duration_s"], rel=0.01)
    assert abs(runs[None]["hr_bpm"] - HR_BPM) < 3


@pytest.mark.parametrize("bad", [["--jobs", "0"], ["--jobs", "-1"], ["--fps", "0"], ["--fps", "nan"]])
def test_jobs_and_fps_must_be_positive(tmp_path, capsys, bad):
    with pytest.raises(SystemExit) as e:
        analyze_main(["x.mp4", "--out", str(tmp_path / "o"), *bad])
    assert e.value.code == 2 and "must be above 0" in capsys.readouterr().err


def test_an_empty_batch_folder_is_refused(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no videos here")
    rc = analyze_main([str(empty), str(empty), "--out", str(tmp_path / "out"), "--quiet"])
    assert rc == 2 and "no video" in capsys.readouterr().err


def test_batch_result_folders_are_named_after_their_sources(tmp_path):
    from model.batch_analyze import result_dirs

    a, b = tmp_path / "subject3" / "vid.mp4", tmp_path / "subject10" / "vid.mp4"
    c = tmp_path / "x" / "walk.avi"
    for f in (a, b, c):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    names = [d.name for d in result_dirs([a, b, c, c], tmp_path / "out")]
    assert names == ["subject3-vid", "subject10-vid", "x-walk", "x-walk-2"]


def test_process_age_counts_from_the_process_start():
    """The profile's whole-process wall time starts when the process did (imports included)."""
    code = ("import time; time.sleep(0.6); from model.profile import process_age_s; "
            "print(process_age_s(0.0))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=str(Path(__file__).resolve().parent.parent))
    age = float(done.stdout.strip())
    assert 0.6 <= age < 10.0


def test_short_read_warning_speaks_only_when_far_fewer_frames_were_read():
    from model.analyze import short_read_warning

    assert short_read_warning(300, 300) == "" and short_read_warning(290, 300) == ""
    assert short_read_warning(10, 0) == ""  # the container announced no count
    assert "151 of the 300" in short_read_warning(151, 300) and "truncated" in short_read_warning(151, 300)


def test_a_truncated_avi_is_analysed_with_a_warning(synth_clip, tmp_path, capsys):
    """A file cut short (an interrupted copy) that still decodes up to the cut: its frames are
    measured, and the console and summary.json say how many of the announced ones were read."""
    data = synth_clip.video_path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert analyze_main([str(cut), "--method", "pos", "--out", str(out), "--quiet", *_face(synth_clip)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["frames_announced"] == synth_clip.n_frames and s["frames"] < 0.7 * synth_clip.n_frames
    assert "truncated" in s["frames_warning"] and "truncated" in capsys.readouterr().err
    full = tmp_path / "full"
    assert analyze_main([str(synth_clip.video_path), "--method", "pos", "--out", str(full), "--quiet",
                         *_face(synth_clip)]) == 0
    assert json.loads((full / "summary.json").read_text())["frames_warning"] is None
    batch = tmp_path / "batch"  # in a batch: its summary.csv row and the console say it too
    assert analyze_main([str(cut), str(synth_clip.video_path), "--method", "pos", "--out", str(batch), "--quiet",
                         "--jobs", "1", *_face(synth_clip)]) == 0
    rows = _rows(batch / "summary.csv")
    assert "truncated" in rows[0]["frames_warning"] and rows[1]["frames_warning"] == ""
    assert "truncated" in capsys.readouterr().err


def test_a_clip_shorter_than_the_first_window_says_why_it_has_no_hr(synth_clip, tmp_path, capsys):
    cap = cv2.VideoCapture(str(synth_clip.video_path))
    p = tmp_path / "three_s.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 30.0,
                        (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))))
    for _ in range(90):
        w.write(cap.read()[1])
    w.release()
    cap.release()
    assert analyze_main([str(p), "--method", "pos", "--out", str(tmp_path / "o"), "--quiet", *_face(synth_clip)]) == 0
    # 90 frames at 30 fps span 2.97 s: never rounded up to a length the clip does not have
    assert "HR not measurable: the clip is 2.9 s long, a reading needs 6 s of face" in capsys.readouterr().out


def test_summary_names_the_model_file_that_read_the_clip(synth_clip, tmp_path):
    import hashlib

    from model.fcus_method import shipped_model_path

    out = tmp_path / "o"
    assert analyze_main([str(synth_clip.video_path), "--method", "fcus", "--out", str(out), "--quiet",
                         *_face(synth_clip)]) == 0
    model = json.loads((out / "summary.json").read_text())["model"]
    shipped = shipped_model_path()
    assert model == {"path": str(shipped.resolve()), "sha256": hashlib.sha256(shipped.read_bytes()).hexdigest()}


def test_the_console_says_why_there_is_no_hr_and_gives_no_interval_to_an_unconfirmed_one():
    from model.analyze import _hr_text

    base = {"estimator": {"min_window_s": 6.0}, "method": "fcus", "hr_interval_bpm": 4.3}
    brief = dict(base, hr_bpm=None, duration_s=22.0, face_share=0.09)
    assert _hr_text(brief) == "not measurable: the face is in view for 1.9 s, a reading needs 6 s of face"
    broken = dict(base, hr_bpm=None, duration_s=22.0, face_share=0.6)
    assert _hr_text(broken) == "not measurable: the face was never in view for 6 s at a stretch"
    unsure = dict(base, hr_bpm=97.6, hr_reliable=False, hr_reliable_why_not="0 shown readings, fewer than 3",
                  judged_shown_share=0.0, withheld_counts={"acquiring": 5, "no_face": 40, "unsure": 9,
                                                          "weak_signal": 12})
    text = _hr_text(unsure)
    assert "+-" not in text and "most withheld as weak signal" in text and "suggests 98 bpm, unconfirmed" in text
    assert _hr_text(dict(base, hr_bpm=71.24, hr_reliable=True)) == "71.2 +- 4.3 bpm"


def _recoded(src: Path, dst: Path, frame_fn) -> Path:
    """``src`` with ``frame_fn`` applied to every frame, written to ``dst`` (MJPG, 30 fps)."""
    cap = cv2.VideoCapture(str(src))
    writer = None
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        out = frame_fn(bgr)
        if writer is None:
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, out.shape[1::-1])
        writer.write(out)
    cap.release()
    writer.release()
    return dst


def test_two_faces_in_view_are_counted_and_said(synth_clip, tmp_path, capsys):
    """Two faces side by side: one is measured, and the console and summary.json say two were seen."""
    two = _recoded(synth_clip.video_path, tmp_path / "two.avi", lambda bgr: np.hstack([bgr, bgr[:, ::-1]]))
    out = tmp_path / "out"
    assert analyze_main([str(two), "--method", "pos", "--out", str(out), "--quiet", *_face(synth_clip)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["faces_seen_max"] == 2 and s["several_faces_share"] > 0.9
    assert "2 faces in view" in capsys.readouterr().err
    one = tmp_path / "one"
    assert analyze_main([str(synth_clip.video_path), "--method", "pos", "--out", str(one), "--quiet",
                         *_face(synth_clip)]) == 0
    s1 = json.loads((one / "summary.json").read_text())
    assert s1["faces_seen_max"] == 1 and s1["several_faces_share"] == 0.0
    assert "faces in view" not in capsys.readouterr().err


def test_a_greyscale_video_is_said_to_have_no_colour(synth_clip, tmp_path, capsys):
    """The synthetic face (a clear pulse) filmed by a greyscale camera: no reading, every judged
    update withheld as no_colour, and the console says why without suggesting a rate."""
    grey = _recoded(synth_clip.video_path, tmp_path / "grey.avi",
                    lambda bgr: cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR))
    out = tmp_path / "out"
    assert analyze_main([str(grey), "--out", str(out), *_face(synth_clip)]) == 0
    s = json.loads((out / "summary.json").read_text())
    judged = {k: v for k, v in s["withheld_counts"].items() if k not in ("acquiring", "no_face")}
    assert judged and set(judged) == {"no_colour"} and s["hr_reliable"] is False
    assert all(not r["hr_bpm"] for r in _rows(out / "hr.csv"))
    captured = capsys.readouterr()
    assert "the video has no colour" in captured.err and "(the video has no colour)" in captured.out
    assert "suggests" not in captured.out


def test_files_an_earlier_run_left_in_out_are_named_and_left_alone(synth_clip, tmp_path, capsys):
    """A reused --out: an adapted model and a batch's summary.csv from earlier runs are not this run's
    results; the console says so and leaves them as they were (a single run's files beside a
    batch's are named the same way)."""
    from model.analyze import ADAPTED_MODEL_NAME, earlier_files_note

    out = tmp_path / "out"
    out.mkdir()
    (out / ADAPTED_MODEL_NAME).write_bytes(b"an earlier run's model")
    (out / "summary.csv").write_text("source,status\n")
    (out / "notes.txt").write_text("the user's own file")
    assert analyze_main([str(synth_clip.video_path), "--method", "pos", "--out", str(out), "--quiet",
                         *_face(synth_clip)]) == 0
    err = capsys.readouterr().err
    assert f"also holds {ADAPTED_MODEL_NAME}, summary.csv from an earlier run" in err and "notes.txt" not in err
    assert (out / ADAPTED_MODEL_NAME).read_bytes() == b"an earlier run's model"
    assert earlier_files_note(out, {"bvp.csv", "hr.csv", "summary.json", ADAPTED_MODEL_NAME, "summary.csv"}) == ""
    # a batch into the same folder: the single run's files at its top are named
    note = earlier_files_note(out, {"summary.csv"})
    assert "bvp.csv" in note and "hr.csv" in note and "summary.json" in note
    assert earlier_files_note(tmp_path / "fresh", {"summary.csv"}) == ""


def test_the_summary_gives_an_interval_only_to_a_reliable_hr():
    from model.analyze import clip_hr_fields
    from model.clip_hr import ClipHr

    clip = ClipHr(93.9, 4.3, 0.9, "tracked", 40)
    assert clip_hr_fields(clip, True) == clip.as_dict()
    unsure = clip_hr_fields(clip, False)
    assert unsure["hr_bpm"] == 93.9 and unsure["hr_interval_bpm"] is None and unsure["hr_interval_level"] == 0.9
    assert list(unsure) == list(clip.as_dict())  # the same fields, in the same order


def test_two_people_measured_one_after_the_other_give_no_clip_hr(tmp_path, capsys, face_model_path):
    """The measured face leaves while another stays in view: after a second the other one is measured,
    and the summary says two people were, with no whole-clip HR that would blend them."""
    from tests.face_frames import add_noise, blank_canvas, two_faces_image

    both = two_faces_image()
    only_small = blank_canvas()
    only_small[:, 330:] = both[:, 330:]
    p = tmp_path / "two.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    rng = np.random.default_rng(0)
    for i in range(150):
        w.write(add_noise(both if i < 60 else only_small, rng))
    w.release()
    rc = analyze_main([str(p), "--method", "pos", "--out", str(tmp_path / "o"), "--quiet", "--no-download",
                       "--face-model", str(face_model_path)])
    assert rc == 0, capsys.readouterr().err
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["people_measured"] == 2 and not s["hr_reliable"] and s["hr_interval_bpm"] is None
    assert "2 people were measured" in s["hr_reliable_why_not"]
    with open(tmp_path / "o" / "hr.csv", newline="") as fh:  # each reading says whose it is
        person = [(float(r["t_s"]), int(r["person"])) for r in csv.DictReader(fh)]
    assert person[0][1] == 1 and person[-1][1] == 2 and [p for _, p in person] == sorted(p for _, p in person)
    assert all(p == 1 for t, p in person if t < 2.0)  # the first face was measured until it left at 2 s
