"""benchmarks/clip_interval.py: the units it scores the whole-clip HR on, and their truth."""

import numpy as np
import pytest

from tests.benchmark_modules import load_benchmark


def test_a_units_truth_is_the_reference_average_or_its_whole_span_peak():
    mod = load_benchmark("clip_interval")
    fs = 30.0
    t = np.arange(0, 60.0, 1.0 / fs)
    ppg = np.sin(2 * np.pi * np.cumsum(np.where(t < 40.0, 80.0, 110.0) / 60.0) / fs)  # 40 s at 80, 20 at 110 bpm
    stream = {"subject": "subjectX", "t_s": t, "bvp": np.sin(2 * np.pi * 1.5 * t), "fs_hz": fs, "ref": (t, ppg),
              "seed": 0, "fold": 1}
    mean_units = mod.units_of(stream, "mean")
    peak_units = mod.units_of(stream, "peak")
    assert [u.kind for u in mean_units] == ["clip", "30 s"] == [u.kind for u in peak_units]
    assert 85.0 < mean_units[0].truth_bpm < 95.0 and peak_units[0].truth_bpm == pytest.approx(80.0, abs=1.0)
    assert mean_units[1].truth_bpm == pytest.approx(80.0, abs=1.0)  # the first 30 s hold one rate
    assert mean_units[0].hr_bpm["tracked"] == pytest.approx(90.0, abs=1.0)  # the stream's own 90 bpm
