"""Adaptation to one clip without labels: ``training.adapt`` and ``fcus-rppg analyze --adapt``."""

import copy
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from model.analyze import ADAPTED_MODEL_NAME, EXIT_BAD_INPUT, analyze_main  # noqa: E402
from training.synth import SynthConfig, write_clip  # noqa: E402

HR_BPM = 96.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("adapt-clip")
    return write_clip(SynthConfig(duration_s=14.0, hr_bpm=HR_BPM, hrv_std_bpm=1.0, seed=8), d, progress=False)


def test_adapt_model_changes_the_net_and_keeps_the_pulse(clip, tmp_path, face_model_path):
    import torch

    from model.fcus_contract import DEFAULT_CONTRACT
    from model.fcus_export import model_from_checkpoint
    from training.adapt import AdaptConfig, adapt_model, shipped_weights_path
    from training.crop_cache import build_cache
    from training.datasets import read_dataset
    from training.fcus_eval import TorchPulseMethod
    from training.replay import score_method

    cached = build_cache(read_dataset(clip.video_path), tmp_path / "cache", DEFAULT_CONTRACT,
                         face_model=face_model_path, progress=False)
    shipped, _ = model_from_checkpoint(shipped_weights_path())
    model = copy.deepcopy(shipped)
    result = adapt_model(model, cached, AdaptConfig(steps=4))
    assert result.steps == 4 and result.windows >= 2
    moved = sum(float((a - b).abs().sum()) for a, b in zip(model.state_dict().values(), shipped.state_dict().values())
                if a.dtype.is_floating_point)
    assert moved > 0  # the weights moved
    fresh, _ = model_from_checkpoint(shipped_weights_path())  # the model adapted was a copy
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), shipped.state_dict().values()))
    sc = score_method(TorchPulseMethod(model), cached)
    assert abs(sc.clips[0].clip_hr_bpm - HR_BPM) < 2.0


def test_adapt_refuses_a_clip_without_a_long_enough_face(tmp_path):
    from training.adapt import adapt_model

    class NoWindows:  # a cached recording whose face is never seen
        face = np.zeros((100, 36, 36, 3), dtype=np.float32)
        valid = np.zeros(100, dtype=bool)

    with pytest.raises(ValueError, match="no 160-frame stretch"):
        adapt_model(None, [NoWindows()])


def test_analyze_adapt_reads_the_clip_with_the_adapted_model(clip, tmp_path, face_model_path, capsys):
    out = tmp_path / "out"
    assert analyze_main([str(clip.video_path), "--out", str(out), "--adapt", "--quiet", "--no-download",
                         "--face-model", str(face_model_path)]) == 0
    line = capsys.readouterr().out  # the console line counts the adaptation's time apart from the reading's
    assert "method fcus, adapted in " in line and "x real time (the reading alone)" in line
    s = json.loads((out / "summary.json").read_text())
    assert s["adapted"]["model"] == str(out / ADAPTED_MODEL_NAME) and (out / ADAPTED_MODEL_NAME).is_file()
    assert "12 steps" in s["adapted"]["log"] and s["adapted"]["adapt_s"] > 0
    assert s["method"] == "fcus" and abs(s["hr_bpm"] - HR_BPM) < 2.0


def test_analyze_adapt_refuses_a_method_without_a_model_and_a_batch(clip, tmp_path, capsys):
    assert analyze_main([str(clip.video_path), "--out", str(tmp_path / "a"), "--adapt", "--method", "pos"]) \
        == EXIT_BAD_INPUT
    assert "--adapt adapts the FCUS model" in capsys.readouterr().err
    other = tmp_path / "other.avi"  # a second source (the same file named twice is analysed once)
    other.write_bytes(clip.video_path.read_bytes())
    assert analyze_main([str(clip.video_path), str(other), "--out", str(tmp_path / "b"), "--adapt"]) \
        == EXIT_BAD_INPUT
    assert "--adapt takes one source" in capsys.readouterr().err


def _buffer_of(clip, face_model_path, span_s=60.0):
    """The clip's frames through the app's path: key-frame tracking, the FCUS ROI, the CropBuffer."""
    from model.fcus_contract import DEFAULT_CONTRACT
    from model.frame_crops import CropBuffer
    from model.keyframe_tracking import create_keyframe_tracker
    from model.roi import RoiExtractor
    from model.video_source import VideoFileSource

    tracker, _ = create_keyframe_tracker(str(face_model_path), allow_download=False)
    roi = RoiExtractor(crop_size=DEFAULT_CONTRACT.crop_size, crop_scale=DEFAULT_CONTRACT.crop_scale, crop_masked=True)
    buf = CropBuffer(DEFAULT_CONTRACT.crop_size, DEFAULT_CONTRACT.crop_scale, span_s=span_s)
    try:
        for frame, face in tracker.track(VideoFileSource(clip.video_path)):
            buf.push(frame.bgr, roi.extract(frame, face))
    finally:
        tracker.close()
    return buf


def test_the_app_buffer_gives_the_crops_of_the_crop_cache(clip, tmp_path, face_model_path):
    """What Calibrate adapts on (the app's buffer, on the model's grid) is what analyze --adapt and
    training adapt on (the crop cache) for the same frames."""
    from model.fcus_contract import DEFAULT_CONTRACT
    from model.frame_crops import FrameCrops
    from training.adapt import recording_from_crops
    from training.crop_cache import build_cache
    from training.datasets import read_dataset

    crops = _buffer_of(clip, face_model_path).snapshot()
    crops.save(tmp_path / "c.npz")
    again = FrameCrops.load(tmp_path / "c.npz")
    assert np.array_equal(again.face, crops.face) and np.array_equal(again.t_s, crops.t_s)
    rec = recording_from_crops(again, DEFAULT_CONTRACT.fs_hz)
    cached = build_cache(read_dataset(clip.video_path), tmp_path / "cache", DEFAULT_CONTRACT,
                         face_model=face_model_path, progress=False)[0]
    assert rec.face.shape == cached.face.shape and np.array_equal(rec.valid, cached.valid)
    assert np.array_equal(rec.face, np.asarray(cached.face))
    assert np.array_equal(rec.background, np.asarray(cached.background))


def test_crop_buffer_keeps_the_last_span(clip, face_model_path):
    buf = _buffer_of(clip, face_model_path, span_s=5.0)
    snap = buf.snapshot()
    assert 4.9 <= snap.t_s[-1] - snap.t_s[0] <= 5.0 and snap.t_s[-1] > 13.0
    assert snap.face_ok.all() and 4.5 < buf.face_s <= 5.1 and abs(snap.face_s - buf.face_s) < 0.2


def test_adapt_on_saved_crops_writes_a_model_that_reads_the_pulse(clip, tmp_path, face_model_path):
    from training.adapt import adapt_main

    npz = tmp_path / "last-minute.npz"
    _buffer_of(clip, face_model_path).snapshot().save(npz)
    model = tmp_path / "adapted.onnx"
    assert adapt_main(["--crops", str(npz), "--out", str(model), "--steps", "3"]) == 0
    assert model.is_file()
    from model.fcus_method import FcusPulseMethod

    adapted = FcusPulseMethod(model, providers="cpu")  # the shipped net: no Conv3d path, no background read
    assert adapted.training_summary["adapt_steps"] == 3 and not adapted.adapt_reads_background
    assert adapted.training_summary["adapted_from"] == "fcus_rppg_weights.pt"  # a name, no local path
    out = tmp_path / "out"
    assert analyze_main([str(clip.video_path), "--out", str(out), "--model", str(model), "--quiet",
                         "--no-download", "--face-model", str(face_model_path)]) == 0
    assert abs(json.loads((out / "summary.json").read_text())["hr_bpm"] - HR_BPM) < 2.0
    with pytest.raises(SystemExit):  # SOURCE and --crops together
        adapt_main([str(clip.video_path), "--crops", str(npz), "--out", str(model)])


def test_adapt_refuses_a_file_that_is_not_saved_crops(tmp_path, capsys):
    from training.adapt import adapt_main

    bad = tmp_path / "not-crops.npz"
    np.savez(bad, something=np.zeros(3))
    assert adapt_main(["--crops", str(bad), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "fcus-rppg adapt:" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the crops are cut already: no face model or cache for them
        adapt_main(["--crops", str(bad), "--out", str(tmp_path / "m.onnx"), "--cache", str(tmp_path)])


def test_adapt_says_why_a_session_it_is_given_cannot_be_used(tmp_path, capsys):
    """A session still being recorded (no end marker, its files just written) is named with why,
    not as "not one video file or recorded session"."""
    from app.recording import SessionRecorder
    from training.adapt import adapt_main

    rec = SessionRecorder(tmp_path, {"method": "fcus"}, video=True, video_fps=30.0)
    live = rec.start()
    (live / "video.avi").write_bytes(b"")  # its video, still open
    assert adapt_main([str(live), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "still being recorded" in capsys.readouterr().err
    rec.close()
