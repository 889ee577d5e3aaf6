"""benchmarks/reference_clock.py: the contact reference read on the capture's clock and the video's."""

import math

import numpy as np
import pytest

from tests.benchmark_modules import load_benchmark

FS_HZ = 30.0
N = int(60 * FS_HZ)


def pulse_at(t_s: np.ndarray, hr_bpm: float) -> np.ndarray:
    return np.sin(2 * np.pi * hr_bpm / 60.0 * t_s)


def test_the_same_clock_agrees_everywhere():
    mod = load_benchmark("reference_clock")
    t = np.arange(N) / FS_HZ
    r = mod.clock_agreement("even", t, pulse_at(t, 72.0), t)
    assert len(r.hr_capture_bpm) == 50  # every second from 10 s to 59 s (the last frame is at 59.97 s)
    assert r.within == 1.0
    assert np.allclose(r.hr_video_bpm, r.hr_capture_bpm)
    assert np.allclose(r.stretch_range, 1.0) and r.drift_max_s == 0.0


def test_each_clock_counts_from_its_first_frame_and_one_extra_frame_is_dropped():
    mod = load_benchmark("reference_clock")
    t = np.arange(N) / FS_HZ
    capture_t = 1000.0 + t  # the oximeter's own time stamps
    video_t = 0.5 / FS_HZ + np.arange(N + 1) / FS_HZ  # one frame more than samples, the first not at 0
    r = mod.clock_agreement("offset", capture_t, pulse_at(t, 72.0), video_t)
    assert len(r.hr_capture_bpm) == 50 and r.within == 1.0
    assert np.allclose(r.hr_capture_bpm, 72.0, atol=2.0) and np.allclose(r.hr_video_bpm, r.hr_capture_bpm)
    assert r.drift_max_s < 1e-9
    with pytest.raises(ValueError, match="not one per frame"):
        mod.clock_agreement("mismatch", capture_t, pulse_at(t, 72.0), np.arange(N + 2) / FS_HZ)


def test_frames_captured_slower_than_the_video_plays_read_faster_there():
    mod = load_benchmark("reference_clock")
    video_t = np.arange(N) / FS_HZ
    # the second half of the capture took 25 % longer than the file plays it (the camera slowed)
    dt = np.where(np.arange(N) < N // 2, 1.0 / FS_HZ, 1.25 / FS_HZ)
    capture_t = np.concatenate([[0.0], np.cumsum(dt[:-1])])
    ppg = pulse_at(capture_t, 72.0)  # a steady pulse on the capture's clock
    r = mod.clock_agreement("slowing", capture_t, ppg, video_t)
    assert len(r.hr_capture_bpm) == 50  # the video's clock ends first
    assert np.all(np.abs(r.hr_capture_bpm - 72.0) < 2.0)
    assert np.all(np.abs(r.hr_video_bpm[:15] - 72.0) < 2.0)  # windows ending by 24 s: before the slow half
    late = r.hr_video_bpm[-10:]  # windows wholly in the slow half: 72 * 1.25 = 90 bpm on the video's clock
    assert np.all(np.abs(late - 90.0) < 2.5)
    assert 0.0 < r.within < 1.0
    assert abs(r.stretch_range[1] - 1.25) < 0.01 and abs(r.stretch_range[0] - 1.0) < 0.01
    assert abs(r.drift_max_s - 0.25 * (N - 1 - N // 2) / FS_HZ) < 1e-6


def test_the_stretch_is_over_the_frames_of_10_s_of_video():
    mod = load_benchmark("reference_clock")
    video_t = np.arange(N) / FS_HZ
    gap_s = 0.5  # the camera missed frames once: one frame interval of half a second
    dt = np.full(N - 1, 1.0 / FS_HZ)
    dt[600] = gap_s
    capture_t = np.concatenate([[0.0], np.cumsum(dt)])
    r = mod.clock_agreement("gap", capture_t, pulse_at(capture_t, 72.0), video_t)
    # the 300 frames of 10 s of video that hold the gap took 10 s plus the frames it skipped
    assert abs(r.stretch_range[1] - (1.0 + (gap_s - 1.0 / FS_HZ) / 10.0)) < 1e-6
    assert abs(r.stretch_range[0] - 1.0) < 1e-9
    assert abs(r.drift_max_s - (gap_s - 1.0 / FS_HZ)) < 1e-9


def test_a_clip_shorter_than_a_window_has_no_windows_and_no_stretch():
    mod = load_benchmark("reference_clock")
    t = np.arange(int(5 * FS_HZ)) / FS_HZ
    r = mod.clock_agreement("short", t, pulse_at(t, 72.0), t)
    assert len(r.hr_capture_bpm) == 0 and all(math.isnan(x) for x in r.stretch_range)
    text = mod.table([r])
    assert "| short | 0 |  |  | nan-nan |" in text and "pooled" not in text
    assert "pooled" not in mod.table([])


def test_the_table_pools_the_recordings():
    mod = load_benchmark("reference_clock")
    t = np.arange(N) / FS_HZ
    rows = [mod.clock_agreement(f"subject{i}", t, pulse_at(t, 60.0 + 10 * i), t) for i in (3, 10)]
    text = mod.table(rows)
    assert "| subject3 | 50 | 1.000 | +0.00 | 1.000-1.000 | 0.00 |" in text and "| subject10 | 50 | 1.000 |" in text
    assert "| pooled | 100 | 1.000 | +0.00 |" in text
