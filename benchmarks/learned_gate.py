"""A reading quality learned on real faces (``model.signal.reading_quality``), chosen and scored
in nested leave-subjects-out folds against the shipped SNR gate.

Four FCUS models per seed are trained (1 epoch, no labels), each on 6 of the 8 dev subjects. Each
replays its 2 held-out subjects and the faces without a pulse (a still photo; OpenCV's
``Megamind.avi`` when found; with ``--more-no-pulse`` the photo moving like a printed face, with
and without a drifting light) with the shipped settings, keeping every update's reading features
(``model.signal.reading_features``). A reading is right when it is within 5 bpm of the contact
PPG's HR over the trailing 10 s; a reading on a face without a pulse is never right.

Per outer fold (its 2 subjects, all seeds), on the other folds' readings only:

1. the feature set: each candidate set is fitted (logistic regression on standardised features,
   distances and spreads as log1p) on all but one inner fold, its threshold put at the most
   readings shown while >= 90 % of them are right and none on a face without a pulse, and scored
   on the inner fold left out; the set with the most inner held-out readings shown while >= 90 %
   of them are right wins;
2. that set fitted on all the other folds, its threshold chosen the same way.

The fold's own models then replay its subjects through the real estimator with that quality as
the gate (no steadiness rule: the spreads are features) and, beside it, the shipped settings;
the tables pool the outer folds. The frozen model is the same procedure on all 8 subjects'
readings (``--out`` writes it as JSON).

    python benchmarks/learned_gate.py [--cache DIR] [--data DIR] [--megamind FILE] [--seeds 0 1 2]
                                      [--rows PKL] [--out JSON] [--candidate LABEL] [--more-no-pulse]

Needs scikit-learn (the ``train`` extra) for the fit; the app reads the frozen numbers with numpy.
"""

from __future__ import annotations

import argparse
import copy
import json
import pickle
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_choices import SHOWN_WITHIN5_MIN, held_table, per_subject  # noqa: E402

from model.estimator import EstimatorConfig, snr_gated  # noqa: E402
from model.pulse_methods import estimator_config  # noqa: E402
from model.signal.reading_features import FEATURE_NAMES  # noqa: E402
from model.signal.reading_quality import ReadingQualityModel  # noqa: E402

SHIPPED_LABEL = "shipped (SNR gate, 3 steady)"
LEARNED_LABEL = "learned quality (nested)"
RIGHT_BPM = 5.0
REF_S = 10.0
LOG_FEATURES = ("d_half_bpm", "d_chrom_bpm", "d_pos_bpm", "spread3_bpm", "spread5_bpm")
FEATURE_SETS = {
    "SNR": ("snr_db",),
    "SNR, steadiness": ("snr_db", "spread3_bpm", "spread5_bpm"),
    "SNR, steadiness, CHROM": ("snr_db", "spread3_bpm", "spread5_bpm", "d_chrom_bpm"),
    "all but POS": tuple(n for n in FEATURE_NAMES if n != "d_pos_bpm"),
    "all": FEATURE_NAMES,
}
NO_PULSE_WEIGHTS = (1.0, 20.0)  # a face without a pulse must never read: its readings may weigh more


@dataclass(frozen=True)
class Rows:
    """Every judged update with an HR of the held-out and no-pulse clips: feature rows, right or
    not, the clip, the outer fold and the seed."""

    x: np.ndarray
    right: np.ndarray
    clip: np.ndarray
    fold: np.ndarray
    seed: np.ndarray
    no_pulse: np.ndarray

    def where(self, mask: np.ndarray) -> Rows:
        return Rows(*(getattr(self, f)[mask] for f in ("x", "right", "clip", "fold", "seed", "no_pulse")))

    @staticmethod
    def join(parts: list[Rows]) -> Rows:
        return Rows(*(np.concatenate([getattr(p, f) for p in parts])
                      for f in ("x", "right", "clip", "fold", "seed", "no_pulse")))


def clip_rows(rec, readings, fold: int, seed: int, no_pulse: bool) -> Rows:
    from training.metrics import window_hr
    from training.replay import reference

    ref = reference(rec)
    xs, right = [], []
    for r in readings:
        if r.features is None:
            continue
        ok = False
        if ref is not None and not no_pulse:
            truth = window_hr(ref[0], ref[1], r.t_s - REF_S, r.t_s)
            ok = truth is not None and abs(r.hr_raw_bpm - truth) <= RIGHT_BPM
        xs.append(r.features.as_array())
        right.append(ok)
    n = len(xs)
    return Rows(np.array(xs).reshape(n, len(FEATURE_NAMES)), np.array(right, dtype=bool), np.full(n, rec.name),
                np.full(n, fold), np.full(n, seed), np.full(n, no_pulse))


def fit(rows: Rows, names: tuple[str, ...], no_pulse_weight: float = 1.0) -> ReadingQualityModel:
    from sklearn.linear_model import LogisticRegression

    base = ReadingQualityModel(names=names, log_names=tuple(n for n in names if n in LOG_FEATURES),
                               mean=(0.0,) * len(names), scale=(1.0,) * len(names), coef=(0.0,) * len(names),
                               intercept=0.0)
    x = base.inputs(rows.x)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    weight = np.where(rows.no_pulse, no_pulse_weight, 1.0)
    lr = LogisticRegression(C=1.0, max_iter=3000).fit((x - mean) / scale, rows.right, sample_weight=weight)
    return replace(base, mean=tuple(map(float, mean)), scale=tuple(map(float, scale)),
                   coef=tuple(map(float, lr.coef_[0])), intercept=float(lr.intercept_[0]))


def threshold(model: ReadingQualityModel, rows: Rows) -> float:
    """The lowest probability to show at: the most readings shown with >= 90 % of them right and
    none on a face without a pulse (1.0: none qualifies)."""
    p = model.probabilities(rows.x)
    cap = float(p[rows.no_pulse].max()) if rows.no_pulse.any() else -1.0
    ps, ok = p[~rows.no_pulse], rows.right[~rows.no_pulse]
    order = np.argsort(-ps)
    prec = np.cumsum(ok[order]) / np.arange(1, len(order) + 1)
    best = 1.0
    for k in range(len(order)):
        t = ps[order[k]]
        if t > cap and prec[k] >= SHOWN_WITHIN5_MIN and (k + 1 == len(order) or ps[order[k + 1]] < t):
            best = float(t)
    return best


def shown_score(model: ReadingQualityModel, t: float, rows: Rows) -> tuple[int, int, int]:
    """(right shown, shown, no-pulse shown) of ``rows`` at threshold ``t``."""
    shown = model.probabilities(rows.x) >= t
    sub = shown & ~rows.no_pulse
    return int((sub & rows.right).sum()), int(sub.sum()), int((shown & rows.no_pulse).sum())


def candidates() -> dict[str, tuple[tuple[str, ...], float]]:
    """{label: (feature names, weight of the no-pulse faces' readings in the fit)}."""
    return {f"{name}, no-pulse weight {w:g}": (names, w) for name, names in FEATURE_SETS.items()
            for w in NO_PULSE_WEIGHTS}


def choose(rows: Rows) -> str:
    """The candidate with the most inner held-out readings shown at >= 90 % right and none on a
    face without a pulse (leave-one-fold-out over ``rows``' folds); when none qualifies, the
    fewest readings on faces without a pulse, then >= 90 % right, then the most shown."""
    folds = sorted(set(rows.fold.tolist()))
    best, best_key = None, None
    for label, (names, w) in candidates().items():
        right = shown = nop = 0
        for j in folds:
            inner = rows.where(rows.fold != j)
            m = fit(inner, names, w)
            r, s, n = shown_score(m, threshold(m, inner), rows.where(rows.fold == j))
            right, shown, nop = right + r, shown + s, nop + n
        precise = shown > 0 and right / shown >= SHOWN_WITHIN5_MIN
        key = (precise and nop == 0, -nop, precise, shown)
        print(f"    {label}: {shown} shown, {right / max(shown, 1):.2f} right, {nop} on no-pulse faces", flush=True)
        if best_key is None or key > best_key:
            best, best_key = label, key
    return best


def learned_config(shipped: EstimatorConfig, model: ReadingQualityModel, t: float) -> EstimatorConfig:
    return replace(shipped, reading_quality=model, gate_open=t, gate_close=t, steady_n=0)


def collect(cached, folds, no_pulse_recs, seeds, shipped):
    """Per seed and fold: the kept model and its readings' rows (held-out and no-pulse clips)."""
    from training.fcus_eval import TorchPulseMethod, train_fold
    from training.replay import replay
    from training.train_config import TrainConfig

    nets, parts = {}, []
    for seed in seeds:
        for i, test in enumerate(folds):
            def evaluate(m, i=i, test=test, seed=seed):
                out = []
                for rec in [c for c in cached if c.name in test] + list(no_pulse_recs):
                    cfg = replace(shipped, fs_hz=rec.fs_hz, keep_features=True)
                    run = replay(rec, TorchPulseMethod(m), cfg=cfg)
                    out.append(clip_rows(rec, run.estimator.readings, i, seed, rec.name not in test))
                return copy.deepcopy(m).eval(), out

            net, rows = train_fold(cached, test, TrainConfig(progress=False, seed=seed), evaluate)
            nets[(seed, i)] = net
            parts += rows
            print(f"seed {seed}, fold {','.join(test)}: {sum(len(r.right) for r in rows)} readings kept", flush=True)
    return nets, Rows.join(parts)


def nested_scores(cached, folds, no_pulse_recs, nets, rows: Rows, shipped: EstimatorConfig,
                  forced: str | None = None) -> dict[str, list]:
    """Per outer fold: the candidate (``forced``, else chosen on the other folds) fitted and
    thresholded on the other folds; the fold's own models replay its subjects with that quality as
    the gate and with the shipped settings."""
    from training.fcus_eval import TorchPulseMethod
    from training.replay import score_recording

    seeds = sorted({s for s, _ in nets})
    learned = LEARNED_LABEL if forced is None else f"{forced} (every fold; not a nested choice)"
    out: dict[str, list] = {SHIPPED_LABEL: [], learned: []}
    for i, test in enumerate(folds):
        inner = rows.where(rows.fold != i)
        print(f"held out {','.join(test)}: feature sets on the other folds:")
        name = forced or choose(inner)
        model = fit(inner, *candidates()[name])
        t = threshold(model, inner)
        print(f"  -> {name}, show at p >= {t:.3f}", flush=True)
        configs = {SHIPPED_LABEL: shipped, learned: learned_config(shipped, model, t)}
        for seed in seeds:
            for rec in [c for c in cached if c.name in test] + list(no_pulse_recs):
                for label, cfg in configs.items():
                    out[label].append(score_recording(rec, TorchPulseMethod(nets[(seed, i)]),
                                                      cfg=replace(cfg, fs_hz=rec.fs_hz)))
    return out


def main(argv=None) -> int:
    from training.benchmark import add_no_pulse_args, study_recordings
    from training.crop_cache import add_reference_args
    from training.fcus_eval import loso_folds

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    add_no_pulse_args(ap)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--rows", type=Path, default=None, help="pickle of the kept models and rows: read when it "
                                                             "exists (no training), else written")
    ap.add_argument("--candidate", choices=tuple(candidates()), default=None,
                    help="score this candidate in every fold instead of the nested choice (not a nested result)")
    ap.add_argument("--out", type=Path, default=None, help="write the frozen model and threshold (JSON)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="fcus-gate-"))
    inputs = study_recordings(args, "learned_gate", tmp)
    if inputs is None:
        return 2
    cached, no_pulse_recs = inputs
    no_pulse = {r.name for r in no_pulse_recs}
    shipped = snr_gated(estimator_config("fcus", EstimatorConfig()))  # the SNR gate it was measured against
    folds = loso_folds([c.name for c in cached], 4)
    if args.rows is not None and args.rows.is_file():
        nets, rows = pickle.loads(args.rows.read_bytes())
    else:
        nets, rows = collect(cached, folds, no_pulse_recs, args.seeds, shipped)
        if args.rows is not None:
            args.rows.write_bytes(pickle.dumps((nets, rows)))
    seeds = sorted({s for s, _ in nets})
    table_rows = nested_scores(cached, folds, no_pulse_recs, nets, rows, shipped, args.candidate)
    print(f"\nHeld-out subjects, fold-trained FCUS models, seeds {seeds} (each fold's choice made on the other "
          "6 subjects):")
    print(held_table(table_rows, no_pulse))
    print()
    print(per_subject(table_rows, no_pulse))
    print("\nFrozen (the same procedure on all 8 subjects' held-out readings):")
    name = choose(rows)
    model = fit(rows, *candidates()[name])
    t = threshold(model, rows)
    frozen = {"candidate": name, "threshold": t, "model": model.as_dict()}
    print(json.dumps(frozen, indent=1))
    if args.out is not None:
        args.out.write_text(json.dumps(frozen, indent=1) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
