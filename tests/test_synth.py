"""Synthetic pulse video: ground truth, pixels, files, determinism, motion, face detection."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from model.synthetic.config import CODECS, SynthConfig
from model.synthetic.frames import SynthRenderer, generate_frames, ground_truth, render_clip
from model.synthetic.pulse import SYSTOLIC_PHASE, ppg_waveform, pulse_template
from training.synth import SUITE_HR_BPM, config_from_dict, suite_configs, synth_main, write_clip

SMALL = SynthConfig(duration_s=4.0, width=320, height=240, seed=7)


def _read_ubfc_ground_truth(path: Path) -> list[list[float]]:
    """Parse like the UBFC-rPPG readers do: one row per line, whitespace-separated floats."""
    lines = [ln for ln in path.read_text().split("\n") if ln.strip()]
    return [[float(x) for x in ln.split()] for ln in lines]


def _decode(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"cannot open {path}"
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_written_clip_decodes_and_matches_ground_truth(tmp_path: Path, codec: str) -> None:
    cfg = replace(SMALL, codec=codec)
    files = write_clip(cfg, tmp_path, progress=False)
    assert files.video_path.name == f"vid.{CODECS[codec].ext}"
    assert not list(tmp_path.glob("*partial*"))

    frames = _decode(files.video_path)
    assert len(frames) == cfg.n_frames == files.n_frames
    assert frames[0].shape == (cfg.height, cfg.width, 3)

    rows = _read_ubfc_ground_truth(files.ground_truth_txt)
    assert len(rows) == 3
    assert {len(r) for r in rows} == {len(frames)}
    assert np.array_equal(np.loadtxt(files.ground_truth_txt).shape, (3, len(frames)))
    ppg, hr, t_s = (np.asarray(r) for r in rows)
    assert t_s[0] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(np.diff(t_s), 1.0 / cfg.fs_hz, atol=1e-6)
    assert abs(ppg.mean()) < 1e-3 and ppg.std() == pytest.approx(1.0, abs=1e-3)
    assert hr.mean() == pytest.approx(cfg.hr_bpm, abs=0.5)

    meta = json.loads(files.ground_truth_json.read_text())
    assert meta["n_frames"] == len(frames)
    assert meta["video"] == files.video_path.name
    assert meta["mean_hr_bpm"] == pytest.approx(hr.mean(), abs=1e-3)
    assert config_from_dict(meta["config"]) == cfg
    if CODECS[codec].lossless:  # lossless: the file holds exactly the rendered frames
        renderer = SynthRenderer(cfg)
        for i in (0, len(frames) // 2, len(frames) - 1):
            assert np.array_equal(frames[i], renderer.frame(i))


@pytest.mark.parametrize("hr_bpm", SUITE_HR_BPM)
def test_heart_rate_and_beat_count_match_config(hr_bpm: float) -> None:
    cfg = SynthConfig(duration_s=20.0, hr_bpm=hr_bpm, hrv_std_bpm=2.0, seed=int(hr_bpm))
    gt = ground_truth(cfg)
    assert gt.t_s.size == gt.bvp.size == gt.hr_bpm.size == cfg.n_frames
    assert gt.mean_hr_bpm == pytest.approx(hr_bpm, abs=0.5)
    assert abs(gt.beat_t_s.size - cfg.duration_s * hr_bpm / 60.0) <= 1.0
    ibi_s = np.diff(gt.beat_t_s)
    assert 60.0 / ibi_s.mean() == pytest.approx(hr_bpm, abs=1.5)
    # the variability is there, with the configured size
    assert gt.hr_bpm.std() == pytest.approx(cfg.hrv_std_bpm, rel=0.25)
    assert ibi_s.std() > 0.0


def test_no_hrv_gives_regular_beats() -> None:
    gt = ground_truth(SynthConfig(duration_s=10.0, hr_bpm=90.0, hrv_std_bpm=0.0))
    np.testing.assert_allclose(np.diff(gt.beat_t_s), 60.0 / 90.0, atol=1e-3)
    np.testing.assert_allclose(gt.hr_bpm, 90.0)


def test_waveform_has_systolic_peak_and_dicrotic_notch() -> None:
    phase = np.linspace(0.0, 1.0, 1001, endpoint=False)
    wave = pulse_template(phase)
    assert wave.min() == pytest.approx(0.0, abs=1e-4) and wave.max() == pytest.approx(1.0, abs=1e-4)
    assert phase[np.argmax(wave)] == pytest.approx(SYSTOLIC_PHASE, abs=1e-3)
    d = np.diff(wave)
    peaks = np.flatnonzero((d[:-1] > 0) & (d[1:] <= 0)) + 1
    assert len(peaks) == 2, "systolic peak plus diastolic wave"
    notch = wave[peaks[0] : peaks[1]].min()
    assert notch < wave[peaks[1]] < wave[peaks[0]]


def test_waveform_driven_by_beat_times_keeps_them() -> None:
    beats = np.cumsum(np.r_[0.3, 0.8, 0.9, 0.85, 0.75, 0.8, 0.95, 0.9])
    t_s = np.arange(0.0, beats[-1] + 0.5, 1.0 / 60.0)
    wave = ppg_waveform(t_s, beat_t_s=beats)
    np.testing.assert_allclose(wave.beat_t_s, beats, atol=1e-2)
    # each beat's systolic peak is where the waveform peaks
    for b in beats[1:-1]:
        near = np.abs(t_s - b) < 0.25
        assert abs(t_s[near][np.argmax(wave.bvp[near])] - b) < 2.0 / 60.0
    assert abs(wave.bvp.mean()) < 1e-9 and wave.bvp.std() == pytest.approx(1.0)


def test_pulse_is_in_the_skin_pixels_along_pbv() -> None:
    # a face that does not move (motion "none"): the pixels of frame 0's skin mask stay skin
    cfg = replace(SMALL, duration_s=6.0, sensor_noise_std=0.0, hr_bpm=75.0, motion="none")
    clip = render_clip(cfg)
    renderer = SynthRenderer(cfg)
    skin = renderer.skin_mask(0) > 0.5
    assert skin.sum() > 2000
    frames = clip.frames.astype(np.float64)
    rgb_mean = frames[:, skin, :].mean(axis=1)[:, ::-1]  # N x (R, G, B)

    r_green = np.corrcoef(rgb_mean[:, 1], clip.bvp)[0, 1]
    assert r_green < -0.9  # blood absorbs: green darkens as the blood volume rises
    # relative change per unit BVP, per channel: green strongest, then blue, then red (PBV)
    rel = np.array([np.polyfit(clip.bvp, rgb_mean[:, c], 1)[0] / rgb_mean[:, c].mean() for c in range(3)])
    assert rel[1] < rel[2] < rel[0] < 0  # all darken with blood volume, green most
    assert rel / rel[1] == pytest.approx([0.33 / 0.77, 1.0, 0.53 / 0.77], abs=0.08)
    # green trough-to-peak is the configured amplitude (AC/DC)
    g = rgb_mean[:, 1]
    assert (g.max() - g.min()) / g.mean() == pytest.approx(cfg.pulse_amplitude, rel=0.35)
    # pixels away from the face do not pulse
    background = renderer.skin_mask(0) == 0
    background[:, cfg.width // 4 : 3 * cfg.width // 4] = False
    assert np.ptp(frames[:, background, :].mean(axis=1), axis=0).max() < 1e-9


def test_illumination_is_common_mode() -> None:
    cfg = replace(SMALL, sensor_noise_std=0.0, illumination_drift=-0.1, flicker_hz=7.0,
                  flicker_amplitude=0.03, pulse_amplitude=0.0)
    clip = render_clip(cfg)
    assert np.ptp(clip.illumination) > 0.1
    means = clip.frames.reshape(clip.n_frames, -1, 3).astype(np.float64).mean(axis=1)
    ratio = means / means[0]
    expected = clip.illumination / clip.illumination[0]
    for c in range(3):  # all channels follow the same gain
        np.testing.assert_allclose(ratio[:, c], expected, atol=0.004)


def test_same_seed_same_clip_other_seed_differs() -> None:
    cfg = replace(SMALL, duration_s=2.0, motion="sway")
    a, b = render_clip(cfg), render_clip(cfg)
    assert np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.bvp, b.bvp) and np.array_equal(a.beat_t_s, b.beat_t_s)
    streamed = [f for _, f in generate_frames(cfg)]
    assert np.array_equal(np.stack(streamed), a.frames)
    c = render_clip(replace(cfg, seed=cfg.seed + 1))
    assert not np.array_equal(a.frames, c.frames)
    assert not np.allclose(a.bvp, c.bvp)


def test_motion_moves_face_and_its_pulse() -> None:
    cfg = replace(SMALL, duration_s=6.0, motion="sway", motion_amplitude_px=10.0, sensor_noise_std=0.0)
    renderer = SynthRenderer(cfg)
    masks = [renderer.skin_mask(i) for i in range(0, cfg.n_frames, 5)]
    yy, xx = np.mgrid[0 : cfg.height, 0 : cfg.width]
    centroids = np.array([[(m * xx).sum() / m.sum(), (m * yy).sum() / m.sum()] for m in masks])
    span = np.ptp(centroids, axis=0)
    assert span[0] > 8.0  # the face sways sideways by about +-10 px (scaled to this frame size)
    assert np.hypot(*span) < 60.0

    still = SynthRenderer(replace(cfg, motion="none"))
    diff = np.abs(renderer.frame(45).astype(int) - still.frame(45).astype(int)).mean()
    assert diff > 2.0

    # the pulse travels with the face: skin mean under each frame's own mask still tracks BVP
    green = []
    for i in range(cfg.n_frames):
        m = renderer.skin_mask(i) > 0.5
        green.append(renderer.frame(i)[:, :, 1][m].mean())
    assert np.corrcoef(green, renderer.truth().bvp)[0, 1] < -0.9


def test_timestamp_jitter_keeps_order() -> None:
    gt = ground_truth(replace(SMALL, timestamp_jitter_s=0.004))
    d = np.diff(gt.t_s)
    assert np.all(d > 0)
    assert d.std() > 1e-3
    assert d.mean() == pytest.approx(1.0 / SMALL.fs_hz, rel=0.02)


def test_suite_configs() -> None:
    for kind, motion in (("still", "rest"), ("motion", "sway")):  # "still": a seated person at rest
        configs = suite_configs(kind)
        assert [c.hr_bpm for c in configs] == [45.0, 60.0, 75.0, 90.0, 120.0, 150.0, 180.0]
        assert {c.motion for c in configs} == {motion}
        assert len({c.seed for c in configs}) == len(configs)
        assert len({c.slug for c in configs}) == len(configs)
    with pytest.raises(ValueError):
        suite_configs("bogus")


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="codec"):
        SynthConfig(codec="h264")
    with pytest.raises(ValueError, match="motion"):
        SynthConfig(motion="dance")
    with pytest.raises(ValueError, match="hr_bpm"):
        SynthConfig(hr_bpm=5.0)


def test_cli_writes_suite(tmp_path: Path) -> None:
    rc = synth_main(["--out", str(tmp_path), "--suite", "motion", "--duration-s", "1",
                     "--width", "128", "--height", "96", "--quiet"])
    assert rc == 0
    dirs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(dirs) == len(SUITE_HR_BPM)
    for d in dirs:
        assert (d / "vid.avi").is_file() and (d / "ground_truth.txt").is_file()
        meta = json.loads((d / "ground_truth.json").read_text())
        assert meta["config"]["motion"] == "sway" and meta["n_frames"] == 30


@pytest.mark.parametrize("bad", [["--duration-s", "-1"], ["--hr-bpm", "0"], ["--width", "0"]])
def test_a_bad_option_value_is_an_argument_error(bad, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        synth_main(["--out", str(tmp_path / "bad"), *bad, "--quiet"])
    assert e.value.code == 2
    assert "fcus-rppg synth: error: invalid SynthConfig" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_mediapipe_detects_the_rendered_face(face_model_path) -> None:
    model = face_model_path
    mp = pytest.importorskip("mediapipe")
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model)),
        running_mode=vision.RunningMode.IMAGE,
    )
    landmarker = vision.FaceLandmarker.create_from_options(options)
    try:
        for cfg, i in ((SynthConfig(duration_s=2.0), 0), (SynthConfig(duration_s=4.0, motion="sway"), 100)):
            renderer = SynthRenderer(cfg)
            rgb = np.ascontiguousarray(renderer.frame(i)[:, :, ::-1])
            result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
            assert len(result.face_landmarks) == 1
            pts = np.array([[p.x * cfg.width, p.y * cfg.height] for p in result.face_landmarks[0]])
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            assert 150 <= y1 - y0 <= 220, "face about 170-200 px tall in a 640x480 frame"
            bx, by, bw, bh = renderer.face_box(i)
            ix = max(0.0, min(x1, bx + bw) - max(x0, bx))
            iy = max(0.0, min(y1, by + bh) - max(y0, by))
            inter = ix * iy
            iou = inter / ((x1 - x0) * (y1 - y0) + bw * bh - inter)
            assert iou > 0.6
    finally:
        landmarker.close()


def test_a_face_at_rest_moves_a_little_and_a_photo_not_at_all() -> None:
    """The default motion ("rest") moves the face like a seated person (a live face is never still,
    and the estimator withholds a face that does not move); "none" is a photograph."""
    from model.synthetic.config import REST_MOTION

    boxes = {}
    for motion in ("rest", "none"):
        r = SynthRenderer(replace(SMALL, duration_s=10.0, motion=motion))
        boxes[motion] = np.array([r.face_box(i) for i in range(len(r.t_s))])
    assert SynthConfig().motion == "rest"
    spread = np.hypot(*boxes["rest"][:, :2].std(axis=0))
    amplitude_px = REST_MOTION["amplitude_px"] * SMALL.width / 640.0  # given at 640 px wide
    assert 0.3 * amplitude_px < spread < 2 * amplitude_px
    assert np.ptp(boxes["none"], axis=0).max() == 0.0
