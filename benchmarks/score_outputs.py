"""Score ``fcus-rppg analyze`` result folders against a dataset's contact PPG, the way a release
is scored on clips nobody here has: each clip's ``bvp.csv`` with a plain FFT peak on back-to-back
10 s and 20 s windows (``training.metrics.window_pairs``, the reference the contact PPG's peak over
the same window), and its ``hr.csv``: the share of the updates after the first 10 s that show a
reading, and the share of the shown readings within 5 bpm of the contact PPG over their trailing
10 s. One row per subject and output folder, then the pooled rows, so two versions' outputs of the
same clips sit side by side.

    fcus-rppg analyze ../shared/data/ubfc-dev --out OUT_A      # or a folder of the clips
    python benchmarks/score_outputs.py OUT_A [OUT_B ...] [--data ../shared/data/ubfc-dev]

An output folder holds one result folder per clip (``OUT/<recording name>/bvp.csv``, as a batch
``analyze`` writes them); a recording without one is left out of that folder's rows.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.types import HrReading  # noqa: E402
from training.metrics import window_pairs  # noqa: E402
from training.replay import WINDOWS_S, shown_errors  # noqa: E402

HR_CSV_FROM_S = 10.0  # hr.csv's coverage counts the updates after the first 10 s
WITHIN_BPM = 5.0


@dataclass
class OutputScore:
    """The window errors and hr.csv counts of one output folder, per subject."""

    errors: dict[str, dict[float, list[float]]] = field(default_factory=dict)
    updates: dict[str, int] = field(default_factory=dict)
    shown: dict[str, list[float]] = field(default_factory=dict)  # |shown - trailing reference|


def _column(rows: list[dict], name: str) -> np.ndarray:
    return np.array([float(r[name]) if r[name] not in ("", None) else np.nan for r in rows])


def score_clip(result_dir: Path, ref_t: np.ndarray, ref_ppg: np.ndarray
               ) -> tuple[dict[float, list[float]], int, list[float]]:
    """(window errors per window length, hr.csv updates after the first 10 s, |shown error|s)."""
    with open(result_dir / "bvp.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    t, v = _column(rows, "t_s"), _column(rows, "bvp")
    errors = {w: [abs(p.hr_est_bpm - p.hr_ref_bpm) for p in window_pairs(t, v, ref_t, ref_ppg, w)
                  if p.hr_est_bpm is not None] for w in WINDOWS_S}
    with open(result_dir / "hr.csv", newline="") as f:
        hr_rows = [r for r in csv.DictReader(f) if float(r["t_s"]) >= HR_CSV_FROM_S]
    readings = [HrReading(t_s=float(r["t_s"]), hr_bpm=float(r["hr_bpm"]) if r["hr_bpm"] else None, quality=0.0)
                for r in hr_rows]
    return errors, len(hr_rows), [abs(e) for e in shown_errors(readings, ref_t, ref_ppg)]


def score_output(out_dir: Path, recordings) -> OutputScore:
    score = OutputScore()
    for rec in recordings:
        result = out_dir / rec.name
        gt = rec.ground_truth()
        if not (result / "bvp.csv").is_file() or gt is None or gt.ppg is None:
            continue
        errors, n_updates, shown = score_clip(result, np.asarray(gt.t_s, float), np.asarray(gt.ppg, float))
        score.errors[rec.name], score.updates[rec.name], score.shown[rec.name] = errors, n_updates, shown
    return score


def _cells(errors: dict[float, list[float]], n_updates: int, shown: list[float]) -> list[str]:
    mae = [f"{np.mean(errors[w]):.2f}" if errors[w] else "-" for w in WINDOWS_S]
    coverage = f"{len(shown) / n_updates:.2f}" if n_updates else "-"
    within = f"{np.mean(np.asarray(shown) < WITHIN_BPM):.2f}" if shown else "-"
    return [*mae, coverage, within]


def table(scores: dict[str, OutputScore]) -> str:
    heads = ["MAE@10s", "MAE@20s", "hr.csv coverage", "shown within 5 bpm"]
    head = "| subject | " + " | ".join(f"{label}: {h}" for label in scores for h in heads) + " |"
    lines = [head, "|" + "---|" * (1 + len(heads) * len(scores))]
    names = sorted({n for s in scores.values() for n in s.errors}, key=lambda n: (len(n), n))
    for n in names:
        cells = []
        for s in scores.values():
            cells += _cells(s.errors[n], s.updates[n], s.shown[n]) if n in s.errors else ["-"] * len(heads)
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    pooled = []
    for s in scores.values():
        errors = {w: [e for n in s.errors for e in s.errors[n][w]] for w in WINDOWS_S}
        pooled += _cells(errors, sum(s.updates.values()), [e for v in s.shown.values() for e in v])
    lines.append("| **pooled** | " + " | ".join(pooled) + " |")
    n_windows = [len([e for v in s.errors.values() for e in v[w]]) for s in scores.values() for w in WINDOWS_S]
    return "\n".join(lines) + f"\n\n(windows pooled per folder, 10 s / 20 s: {n_windows})"


def main(argv: list[str] | None = None) -> int:
    from training.datasets import default_ubfc_root, read_dataset

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outputs", type=Path, nargs="+", help="analyze output folders (OUT/<recording>/bvp.csv)")
    ap.add_argument("--data", type=Path, default=None,
                    help="the dataset the clips came from (default: ../shared/data/ubfc-dev)")
    args = ap.parse_args(argv)
    data = args.data or default_ubfc_root()
    if data is None or not Path(data).exists():
        print("score_outputs: no dataset with the contact PPG (give --data)", file=sys.stderr)
        return 2
    recordings = read_dataset(Path(data))
    scores = {str(o): score_output(o, recordings) for o in args.outputs}
    if not any(s.errors for s in scores.values()):
        print("score_outputs: no result folder matches a recording of the dataset", file=sys.stderr)
        return 2
    print(table(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
