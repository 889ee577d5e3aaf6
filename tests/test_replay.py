"""Replay and scoring of cached recordings (training.replay) and the result tables (training.tables),
on constructed cache entries with a known pulse and a contact reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.pulse_methods import make_pulse_method
from training.crop_cache import CachedRecording
from training.datasets import Recording
from training.metrics import WindowHr
from training.replay import ClipScore, MethodScore, pooled, replay, roi_samples, score_method, score_recording
from training.tables import per_subject_table, pooled_table

FS = 30.0
S = 36


def cached(tmp_path, name="subject3", n=1200, hr_bpm=72.0, box_hr_bpm=None, gone=None, ref=True, seed=0,
           pulse=0.01):
    """A cache entry with a pulse of ``hr_bpm`` in the skin colour and the skin crops, the fixed
    box carrying ``box_hr_bpm`` (the same pulse when None), the face lost in ``gone`` (s, s), and a
    contact PPG at ``hr_bpm`` written beside it (none when ``ref`` is False)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    f = hr_bpm / 60.0
    rel = pulse * np.sin(2 * np.pi * f * t)
    skin_rgb = np.array([190.0, 140.0, 110.0]) * (1 - np.array([0.33, 0.77, 0.53]) * rel[:, None])
    skin_rgb = skin_rgb + rng.normal(0, 0.05, skin_rgb.shape)
    fb = f if box_hr_bpm is None else box_hr_bpm / 60.0
    box_rgb = np.array([150.0, 120.0, 100.0]) * (1 - np.array([0.33, 0.77, 0.53])
                                                 * (pulse * np.sin(2 * np.pi * fb * t))[:, None])
    box_rgb = box_rgb + rng.normal(0, 0.05, box_rgb.shape)
    valid = np.ones(n, bool)
    if gone is not None:
        valid &= ~((t >= gone[0]) & (t < gone[1]))
    yy, xx = np.mgrid[0:S, 0:S]
    mask = (((xx - 17.5) / 12) ** 2 + ((yy - 19) / 15) ** 2 <= 1)[None, :, :, None]
    face = np.where(valid[:, None, None, None], skin_rgb[:, None, None, :] * mask, 0.0)
    rgb_mean = np.where(valid[:, None], skin_rgb, np.nan)
    gt = None
    if ref:
        gt = tmp_path / f"{name}.csv"
        ppg = np.sin(2 * np.pi * f * t)
        gt.write_text("t_s,ppg\n" + "".join(f"{a:.5f},{b:.6f}\n" for a, b in zip(t, ppg)))
    source = Recording(name=name, video=tmp_path / "none.avi", ground_truth_path=gt, dataset="ubfc")
    return CachedRecording(name=name, t_s=t, face=face.astype(np.float16), background=np.zeros_like(face, np.float16),
                           valid=valid, rgb_mean=rgb_mean.astype(np.float32), fs_hz=FS, source=source,
                           rgb_box=box_rgb.astype(np.float32), frame_t_s=t, meta={"track_s": 2.0})


def test_roi_samples_read_the_chosen_roi(tmp_path):
    rec = cached(tmp_path, n=300, gone=(4.0, 5.0))
    skin = roi_samples(rec, "skin")
    box = roi_samples(rec, "box")
    lost = (rec.t_s >= 4.0) & (rec.t_s < 5.0)
    assert [s.face_ok for s in skin] == list(~lost)
    assert all(s.face_ok for s in box)  # the fixed box is read whether or not the face is found
    assert np.allclose(box[0].rgb_mean, rec.rgb_box[0]) and np.allclose(skin[0].rgb_mean, rec.rgb_mean[0])
    assert skin[0].crop is None and roi_samples(rec, "skin", with_crops=True)[0].crop.shape == (S, S, 3)
    with pytest.raises(ValueError):
        roi_samples(rec, "box", with_crops=True)
    with pytest.raises(ValueError):
        roi_samples(rec, "forehead")


def test_fixed_box_baseline_is_scored_on_its_own_trace(tmp_path):
    """The box carries another pulse than the skin region: each ROI is scored on its own."""
    rec = cached(tmp_path, hr_bpm=72.0, box_hr_bpm=108.0)
    pos = make_pulse_method("pos")
    skin = score_method(pos, [rec], "skin")
    box = score_method(pos, [rec], "box")
    assert skin.metrics(20.0).mae_bpm < 2.0 and skin.metrics(10.0).n == 4
    assert box.metrics(20.0).mae_bpm == pytest.approx(36.0, abs=3.0)
    assert box.label == "pos/box" and skin.label == "pos"


def test_coverage_and_shown_error(tmp_path):
    """Coverage is the share of HR updates that showed a reading; a clip without a pulse shows
    (almost) none, a clean one almost all after the first window, with a small shown error."""
    rec = cached(tmp_path, n=900)
    flat = cached(tmp_path, name="flat", n=900, pulse=0.0, seed=1)
    pos = make_pulse_method("pos")
    clean, noise = score_recording(rec, pos), score_recording(flat, pos)
    run = replay(rec, pos)
    readings = run.estimator.readings
    assert clean.n_updates == len(readings) and clean.n_shown == sum(r.hr_bpm is not None for r in readings)
    sc = MethodScore("pos", clips=[clean])
    assert sc.coverage == pytest.approx(clean.n_shown / clean.n_updates) and sc.coverage > 0.6
    assert len(clean.shown_err_bpm) == clean.n_shown and sc.shown_mae_bpm < 2.0
    assert MethodScore("pos", clips=[noise]).coverage < 0.2
    both = MethodScore("pos", clips=[clean, noise])
    assert both.coverage == pytest.approx((clean.n_shown + noise.n_shown) / (clean.n_updates + noise.n_updates))
    assert clean.clip_hr_bpm == pytest.approx(72.0, abs=1.5) and clean.ref_hr_bpm == pytest.approx(72.0, abs=1.0)
    # speed: media seconds over the tracking pass (meta) plus the replay
    assert clean.media_s == pytest.approx(rec.t_s[-1]) and clean.compute_s > 2.0


def test_no_reference_gives_coverage_only(tmp_path):
    rec = cached(tmp_path, n=600, ref=False)
    c = score_recording(rec, make_pulse_method("pos"))
    assert c.pairs == {} and c.shown_err_bpm == () and c.ref_hr_bpm is None and c.n_updates > 0
    table = pooled_table([MethodScore("pos", clips=[c])])
    assert "-" in table.splitlines()[-1]


def test_crop_method_and_classic_land_in_one_table_from_one_entry(tmp_path):
    """The torch net (crops) and POS (skin means) replayed from the same cache entry score the
    same windows and print as rows of one table."""
    torch = pytest.importorskip("torch")
    from tests.stand_in_nets import SkinMeanNet
    from training.fcus_eval import TorchPulseMethod

    torch.manual_seed(0)
    rec = cached(tmp_path, n=900)
    net = TorchPulseMethod(SkinMeanNet(seed=0))
    scores = [score_method(net, [rec]), score_method(make_pulse_method("pos"), [rec])]
    assert [c.name for s in scores for c in s.clips] == ["subject3", "subject3"]
    assert [p.t_start_s for p in scores[0].pairs(10.0)] == [p.t_start_s for p in scores[1].pairs(10.0)]
    assert scores[0].metrics(10.0).n == scores[1].metrics(10.0).n > 0
    lines = pooled_table(scores).splitlines()
    assert [ln.split()[0] for ln in lines[2:]] == ["fcus", "pos"]


def test_shipped_fcus_and_classic_in_one_table(tmp_path):
    """``make_pulse_method("fcus")`` (the shipped ONNX model) replays the cached crops."""
    try:
        fcus = make_pulse_method("fcus", providers="cpu")
    except FileNotFoundError:
        pytest.skip("no shipped FCUS model")
    rec = cached(tmp_path, n=900)
    scores = [score_method(fcus, [rec]), score_method(make_pulse_method("chrom"), [rec], "box")]
    assert scores[0].metrics(20.0).n + scores[0].metrics(20.0).n_missing == scores[1].metrics(20.0).n == 1
    # the same updates, plus FCUS's half-second ones before its first reading (at most 8, 6-10 s)
    assert 0 <= scores[0].clips[0].n_updates - scores[1].clips[0].n_updates <= 8
    assert "chrom/box" in pooled_table(scores)


# ---- the tables ---------------------------------------------------------------------------------
def clip(name, errs20, ref=70.0, shown=(3, 4), clip_hr=71.0):
    pairs = {20.0: tuple(WindowHr(20.0 * i, None if e is None else ref + e, ref) for i, e in enumerate(errs20)),
             10.0: ()}
    return ClipScore(name=name, pairs=pairs, n_updates=shown[1], n_shown=shown[0], shown_err_bpm=(1.0, -3.0),
                     clip_hr_bpm=clip_hr, ref_hr_bpm=ref, media_s=60.0, compute_s=2.0)


def test_pooled_table_numbers():
    a = MethodScore("pos", dataset="ubfc", clips=[clip("subject10", [2.0, -4.0]), clip("subject3", [None, 6.0])])
    b = MethodScore("green", roi="box", dataset="ubfc", clips=[clip("subject3", [1.0], shown=(0, 5))])
    lines = pooled_table([a, b], "title").splitlines()
    assert lines[0] == "title"
    head = lines[1].split()
    row = dict(zip(head, lines[3].split()))
    assert row["dataset"] == "ubfc" and row["method"] == "pos"
    assert row["MAE@20s"] == "4.00" and row["n@20s"] == "3+1miss" and row["MAE@10s"] == "-"
    assert row["coverage"] == "0.75" and row["shown_err"] == "2.00" and row["x_realtime"] == "30.0"
    row_b = dict(zip(head, lines[4].split()))
    assert row_b["method"] == "green/box" and row_b["coverage"] == "0.00" and row_b["<5bpm@20s"] == "1.00"


def test_per_subject_table_orders_subjects_and_shows_the_value():
    a = MethodScore("pos", clips=[clip("subject10", [2.0]), clip("subject3", [6.0])])
    b = MethodScore("fcus", clips=[clip("subject3", [1.0], clip_hr=69.5)])
    lines = per_subject_table([a, b], "mae20").splitlines()
    assert lines[0].split() == ["subject", "pos", "MAE@20s", "fcus", "MAE@20s"]
    assert lines[1].split() == ["subject3", "6.00", "1.00"] and lines[2].split() == ["subject10", "2.00", "-"]
    hr = per_subject_table([a, b], "clip_hr", "whole-clip HR").splitlines()
    assert hr[0] == "whole-clip HR" and hr[2].split() == ["subject3", "70.0", "71.0", "69.5"]
    cov = per_subject_table([a], "coverage").splitlines()
    assert cov[1].split() == ["subject3", "0.75"]
    with pytest.raises(ValueError):
        per_subject_table([a], "nope")


def test_pooled_scores_keep_every_clip():
    a = MethodScore("fcus@1", clips=[clip("s0", [4.0])])
    b = MethodScore("fcus@1", clips=[clip("s0", [0.0]), clip("s1", [2.0])])
    p = pooled("fcus", [a, b])
    assert p.method == "fcus" and p.metrics(20.0).n == 3 and p.metrics(20.0).mae_bpm == pytest.approx(2.0)
    assert p.subjects() == ["s0", "s1"] and p.subject("s0").metrics(20.0).mae_bpm == pytest.approx(2.0)
    s = p.summary()
    assert s["metrics"]["20s"]["n"] == 3 and s["coverage"] == pytest.approx(0.75) and len(s["per_clip"]) == 3


def test_benchmark_skips_fcus_with_a_note_when_the_model_is_missing(tmp_path, monkeypatch):
    import model.fcus_method as fm
    from training.benchmark import load_methods

    monkeypatch.setattr(fm, "shipped_model_path", lambda: tmp_path / "missing.onnx")
    methods, notes = load_methods(["fcus", "pos"])
    assert [m.name for m in methods] == ["pos"] and len(notes) == 1 and notes[0].startswith("fcus: skipped")
    with pytest.raises(ValueError):
        load_methods(["nope"])


def test_the_time_share_shown_does_not_depend_on_how_often_updates_come():
    from types import SimpleNamespace

    from training.replay import shown_time_share

    def reading(t, shown):
        return SimpleNamespace(t_s=t, hr_bpm=70.0 if shown else None)

    every_s = [reading(float(t), t >= 5) for t in range(1, 11)]  # shown from 5 s on: 6 of 10 s
    assert abs(shown_time_share(every_s) - 0.6) < 1e-9
    # the same withheld 4 s, updated twice a second: the update share drops, the time share does not
    twice = [reading(1.0 + 0.5 * k, False) for k in range(8)] + [reading(float(t), True) for t in range(5, 11)]
    assert abs(shown_time_share(twice) - 0.6) < 0.03  # (the last update holds for the median interval)
    assert sum(r.hr_bpm is not None for r in twice) / len(twice) < 0.45
    assert shown_time_share(every_s[:1]) != shown_time_share(every_s[:1])  # NaN: one update says nothing


def test_the_faces_without_a_pulse(tmp_path, monkeypatch):
    """The still photo always; the moving photos only when asked; Megamind.avi when found; every
    synthetic one without a pulse."""
    import training.benchmark as tb
    import training.synth as synth

    made = {}

    def fake_write_clip(config, out_dir, progress=True):
        made[Path(out_dir).name] = config
        return synth.SynthClipFiles(out_dir=Path(out_dir), video_path=Path(out_dir) / "vid.avi",
                                    ground_truth_txt=Path(out_dir) / "gt.txt",
                                    ground_truth_json=Path(out_dir) / "gt.json", n_frames=900, mean_hr_bpm=0.0)

    monkeypatch.setattr(synth, "write_clip", fake_write_clip)
    mega = tmp_path / "Megamind.avi"
    mega.write_bytes(b"x")
    names = [r.name for r in tb.no_pulse_recordings(tmp_path, mega)]
    assert names == ["still-photo", "Megamind.avi"]
    names = [r.name for r in tb.no_pulse_recordings(tmp_path, tmp_path / "missing.avi", more=True)]
    assert names == ["still-photo", *tb.MORE_NO_PULSE]
    assert all(c.pulse_amplitude == 0.0 for c in made.values())
    assert made["moving-photo"].motion == "sway" and made["moving-photo-light-drift"].illumination_drift > 0
    assert all(r.ground_truth_path is None for r in tb.no_pulse_recordings(tmp_path, None, more=True))
    # several lengths: each photo once per length, a length other than the default in its name
    names = [r.name for r in tb.no_pulse_recordings(tmp_path, None, more=True, durations_s=(30.0, 120.0))]
    assert names == ["still-photo", *tb.MORE_NO_PULSE, "still-photo-120s", *(f"{n}-120s" for n in tb.MORE_NO_PULSE)]
    assert made["still-photo-120s"].duration_s == 120.0 and made["still-photo"].duration_s == 30.0


def test_a_recordings_clip_truth_is_its_average_hr_and_is_kept_per_recording():
    from training.replay import reference_clip_hr

    fs = 30.0
    t = np.arange(0, 60.0, 1.0 / fs)
    wandering = np.sin(2 * np.pi * np.cumsum(np.where(t < 40.0, 80.0, 110.0) / 60.0) / fs)  # 40 s at 80, 20 at 110
    steady = np.sin(2 * np.pi * 1.2 * t)
    hr = reference_clip_hr("subjectX", t, wandering)
    assert 85.0 < hr < 95.0  # the average, not the whole span's peak (80)
    # the same name and clock with another PPG is another recording, not the kept one
    assert reference_clip_hr("subjectX", t, steady) == pytest.approx(72.0, abs=0.5)
    assert reference_clip_hr("subjectX", t, wandering) == hr


@pytest.mark.parametrize("bad", [["--ubfc", "{tmp}/nowhere"], ["--no-synth", "--no-nopulse", "--no-ubfc"],
                                 ["--no-synth", "--no-nopulse", "--ubfc", "{tmp}", "--subjects", "subjectX"]])
def test_benchmark_refuses_what_would_run_nothing_or_fail_late(bad, tmp_path, capsys):
    from training.benchmark import benchmark_main

    with pytest.raises(SystemExit) as e:
        benchmark_main([a.format(tmp=tmp_path) for a in bad])
    assert e.value.code == 2 and "fcus-rppg benchmark: error:" in capsys.readouterr().err
