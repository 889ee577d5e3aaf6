import numpy as np
import pytest

from training.datasets import read_csv_ground_truth, read_dataset, read_ubfc, read_ubfc_ground_truth
from training.metrics import WindowHr, hr_metrics, mean_window_hr, reading_accuracy, window_hr, window_pairs


def _ppg(t, hr_bpm):
    return np.sin(2 * np.pi * hr_bpm / 60 * t) + 0.3 * np.sin(4 * np.pi * hr_bpm / 60 * t + 0.5)


def test_ubfc_layout_and_ground_truth(tmp_path):
    for name, hr in (("subject2", 70.0), ("subject10", 100.0)):
        d = tmp_path / name
        d.mkdir()
        (d / "vid.avi").write_bytes(b"")
        t = 5.0 + np.arange(300) / 30.0
        np.savetxt(d / "ground_truth.txt", np.stack([_ppg(t, hr), np.full_like(t, hr), t]))
    recs = read_ubfc(tmp_path)
    assert [r.name for r in recs] == ["subject2", "subject10"]  # numeric order
    gt = recs[1].ground_truth()
    assert gt.t_s[0] == 0.0 and len(gt.ppg) == 300
    assert abs(window_hr(gt.t_s, gt.ppg, 0, 10) - 100.0) < 0.5
    assert read_dataset(tmp_path)[0].dataset == "ubfc"


def test_ubfc_ground_truth_rejects_wrong_shape(tmp_path):
    p = tmp_path / "ground_truth.txt"
    np.savetxt(p, np.zeros((2, 10)))
    with pytest.raises(ValueError, match="3 rows"):
        read_ubfc_ground_truth(p)


def test_video_folder_with_csv_ground_truth(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "clip.mp4").write_bytes(b"")
    (tmp_path / "a" / "clip.csv").write_text("t_s,hr_bpm\n1.0,60\n2.0,61\n")
    (tmp_path / "b.mkv").write_bytes(b"")
    recs = read_dataset(tmp_path)
    assert sorted(r.name for r in recs) == ["a/clip.mp4", "b.mkv"]
    with_gt = [r for r in recs if r.ground_truth_path is not None]
    gt = with_gt[0].ground_truth()
    assert gt.t_s.tolist() == [0.0, 1.0] and gt.ppg is None and gt.hr_bpm.tolist() == [60, 61]
    bad = tmp_path / "bad.csv"
    bad.write_text("time,x\n1,2\n")
    with pytest.raises(ValueError):
        read_csv_ground_truth(bad)


def test_window_pairs_same_window_reference():
    t = np.arange(0, 60, 1 / 30)
    ref = _ppg(t, 90.0)
    est = np.where(t < 30, _ppg(t, 90.0), _ppg(t, 60.0))  # right, then wrong
    pairs = window_pairs(t, est, t, ref, 10.0)
    assert len(pairs) == 6  # 60 s of frames cover [0, 60): windows [0,10) .. [50,60)
    errs = [abs(p.hr_est_bpm - p.hr_ref_bpm) for p in pairs]
    assert max(errs[:3]) < 0.5 and min(errs[3:]) > 25


def test_window_without_enough_signal_is_missing():
    t = np.arange(0, 20, 1 / 30)
    est = _ppg(t, 80.0)
    est[t < 8] = np.nan  # face lost for 8 of 10 s
    pairs = window_pairs(t, est, t, _ppg(t, 80.0), 10.0)
    assert pairs[0].hr_est_bpm is None and pairs[1].hr_est_bpm is not None
    m = hr_metrics(pairs)
    assert m.n == 1 and m.n_missing == 1


def test_hr_metrics_values():
    pairs = [WindowHr(0, 62.0, 60.0), WindowHr(10, 70.0, 80.0), WindowHr(20, 101.0, 100.0)]
    m = hr_metrics(pairs)
    assert m.mae_bpm == pytest.approx((2 + 10 + 1) / 3)
    assert m.rmse_bpm == pytest.approx(np.sqrt((4 + 100 + 1) / 3))
    assert m.mape_pct == pytest.approx(100 * (2 / 60 + 10 / 80 + 1 / 100) / 3)
    assert m.within5_share == pytest.approx(2 / 3)
    assert m.pearson_r == pytest.approx(np.corrcoef([62, 70, 101], [60, 80, 100])[0, 1])
    empty = hr_metrics([WindowHr(0, None, 60.0)])
    assert empty.n == 0 and empty.n_missing == 1 and np.isnan(empty.mae_bpm)


def test_reading_accuracy_counts_a_missing_reading_as_a_miss_and_keeps_it_out_of_the_mae():
    within, mae = reading_accuracy([0.5, -5.0, 7.0, None, float("nan")])
    assert within == pytest.approx(2 / 5) and mae == pytest.approx((0.5 + 5.0 + 7.0) / 3)
    assert reading_accuracy([None, None])[0] == 0.0 and np.isnan(reading_accuracy([None])[1])
    assert all(np.isnan(reading_accuracy([])))
    assert reading_accuracy([4.0, 6.0], within_bpm=6.0) == (1.0, 5.0)


def test_the_average_hr_follows_a_wandering_rate_where_the_whole_span_peak_picks_one_rate():
    # 60 s of a pulse at 80 bpm for 40 s, then 110 bpm for 20 s (phase-continuous): the average HR is
    # 90 bpm; the whole span's spectral peak is the longer-held rate
    fs = 30.0
    t = np.arange(0, 60.0, 1.0 / fs)
    f_hz = np.where(t < 40.0, 80.0, 110.0) / 60.0
    x = np.sin(2 * np.pi * np.cumsum(f_hz) / fs)
    assert window_hr(t, x, 0.0, 60.0) == pytest.approx(80.0, abs=1.0)
    # the 10 s windows ending every second from 10 s to 60 s: 31 wholly at 80, 20 at 110 or mixed
    mean = mean_window_hr(t, x, 0.0, 60.0)
    assert 85.0 < mean < 95.0
    # a steady rate reads the same both ways; a span shorter than one window is read whole; one
    # without signal has none
    steady = np.sin(2 * np.pi * 1.2 * t)
    assert mean_window_hr(t, steady, 0.0, 60.0) == pytest.approx(72.0, abs=0.5)
    assert mean_window_hr(t, steady, 0.0, 8.0) == pytest.approx(window_hr(t, steady, 0.0, 8.0))
    assert mean_window_hr(t, steady, 0.0, 1.0) is None
    assert mean_window_hr(t, np.full_like(t, np.nan), 0.0, 60.0) is None
