"""benchmarks/reference_clock.py: the contact reference read on the capture's clock and the video's."""

import numpy as np

from tests.benchmark_modules import load_benchmark

FPS = 30.0
N = int(60 * FPS)


def pulse_at(t_s: np.ndarray, hr_bpm: float) -> np.ndarray:
    return np.sin(2 * np.pi * hr_bpm / 60.0 * t_s)


def test_the_same_clock_agrees_everywhere():
    mod = load_benchmark("reference_clock")
    t = np.arange(N) / FPS
    r = mod.clock_agreement("even", t, pulse_at(t, 72.0), t)
    assert len(r.hr_capture_bpm) == 50  # every second from 10 s to 59 s (the last frame is at 59.97 s)
    assert r.within == 1.0
    assert np.allclose(r.hr_video_bpm, r.hr_capture_bpm)
    assert np.allclose(r.stretch_range, 1.0)


def test_frames_captured_slower_than_the_video_plays_read_faster_there():
    mod = load_benchmark("reference_clock")
    video_t = np.arange(N) / FPS
    # the second half of the capture took 25 % longer than the file plays it (the camera slowed)
    dt = np.where(np.arange(N) < N // 2, 1.0 / FPS, 1.25 / FPS)
    capture_t = np.concatenate([[0.0], np.cumsum(dt[:-1])])
    ppg = pulse_at(capture_t, 72.0)  # a steady pulse on the capture's clock
    r = mod.clock_agreement("slowing", capture_t, ppg, video_t)
    assert np.all(np.abs(r.hr_capture_bpm - 72.0) < 2.0)
    late = r.hr_video_bpm[-10:]  # windows wholly in the slow half: 72 * 1.25 = 90 bpm on the video's clock
    assert np.all(np.abs(late - 90.0) < 2.5)
    assert 0.0 < r.within < 1.0
    assert abs(r.stretch_range[1] - 1.25) < 0.01 and abs(r.stretch_range[0] - 1.0) < 0.01


def test_the_table_pools_the_recordings():
    mod = load_benchmark("reference_clock")
    t = np.arange(N) / FPS
    rows = [mod.clock_agreement(f"subject{i}", t, pulse_at(t, 60.0 + 10 * i), t) for i in (3, 10)]
    text = mod.table(rows)
    assert "| subject3 | 50 | 1.000 |" in text and "| subject10 | 50 | 1.000 |" in text
    assert "| pooled | 100 | 1.000 |" in text
