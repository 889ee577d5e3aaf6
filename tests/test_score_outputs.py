"""benchmarks/score_outputs.py: analyze's result folders scored against the contact PPG (bvp.csv
on 10/20 s windows, hr.csv's coverage after 10 s and its shown readings' error)."""

from pathlib import Path

import numpy as np

from tests.benchmark_modules import load_benchmark
from training.datasets import GroundTruth

FS = 30.0


def _module():
    return load_benchmark("score_outputs")


class _Rec:
    def __init__(self, name, hr_bpm):
        self.name = name
        t = np.arange(0, 41.0, 1 / FS)
        self._gt = GroundTruth(t_s=t, ppg=np.sin(2 * np.pi * hr_bpm / 60 * t), hr_bpm=None)

    def ground_truth(self):
        return self._gt


def _write(result: Path, bvp_hr_bpm: float, shown_bpm: float, shown_from_s: float):
    result.mkdir(parents=True)
    t = np.arange(0, 41.0, 1 / FS)
    v = np.sin(2 * np.pi * bvp_hr_bpm / 60 * t)
    (result / "bvp.csv").write_text("t_s,bvp\n" + "".join(f"{a:.4f},{b:.6f}\n" for a, b in zip(t, v)))
    rows = [f"{k:.3f},{shown_bpm if k >= shown_from_s else ''},0.5,{'' if k >= shown_from_s else 'weak_signal'}\n"
            for k in range(1, 41)]
    (result / "hr.csv").write_text("t_s,hr_bpm,quality,withheld\n" + "".join(rows))


def test_scores_windows_coverage_and_shown_readings(tmp_path):
    mod = _module()
    recs = [_Rec("subject1", 72.0)]
    _write(tmp_path / "right" / "subject1", 72.0, 72.0, 20)
    _write(tmp_path / "wrong" / "subject1", 90.0, 90.0, 10)
    right = mod.score_output(tmp_path / "right", recs)
    wrong = mod.score_output(tmp_path / "wrong", recs)
    assert len(right.errors["subject1"][10.0]) == 4 and len(right.errors["subject1"][20.0]) == 2
    assert max(right.errors["subject1"][10.0] + right.errors["subject1"][20.0]) < 0.5
    assert min(wrong.errors["subject1"][10.0]) > 15.0
    # hr.csv: 31 updates at 10..40 s; shown from 20 s (21) against from 10 s (31)
    assert right.updates["subject1"] == 31 and len(right.shown["subject1"]) == 21
    assert max(right.shown["subject1"]) < 1.0 and min(wrong.shown["subject1"]) > 15.0
    text = mod.table({"right": right, "wrong": wrong})
    assert "| subject1 | 0.0" in text and "0.68 | 1.00" in text and "1.00 | 0.00" in text
    # a recording without a result folder is left out
    assert "subject2" not in mod.score_output(tmp_path / "right", recs + [_Rec("subject2", 60.0)]).errors
