"""Each update's raw reading against the contact PPG's trailing 10 s, from the signal's 10th second
on (``training.replay.raw_reading_errors``), and benchmarks/raw_readings.py's table of them."""

from types import SimpleNamespace

import numpy as np

from tests.benchmark_modules import load_benchmark
from training.datasets import GroundTruth

FS = 30.0


class _Cached:
    def __init__(self, hr_bpm):
        self.t_s = np.arange(0, 40.0, 1 / FS)
        self._gt = GroundTruth(t_s=self.t_s, ppg=np.sin(2 * np.pi * hr_bpm / 60 * self.t_s))

    def ground_truth(self):
        return self._gt


def test_raw_errors_count_from_the_tenth_second_and_a_missing_reading_is_wrong():
    from training.replay import raw_reading_errors

    mod = load_benchmark("raw_readings")
    rec = _Cached(72.0)
    readings = [SimpleNamespace(t_s=float(t), hr_raw_bpm=72.0 if t < 30 else (None if t < 35 else 84.0))
                for t in range(6, 40)]
    errs = raw_reading_errors(rec, readings)
    assert len(errs) == 30  # 10 .. 39 s
    assert all(abs(e) < 0.5 for e in errs[:20]) and errs[20:25] == [None] * 5
    assert all(abs(e - 12.0) < 0.5 for e in errs[25:])
    text = mod.table({"subject1": errs})
    assert "| subject1 | 30 | 0.67 |" in text and "| pooled | 30 | 0.67 |" in text
