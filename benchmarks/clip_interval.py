"""The whole-clip HR and its interval (``model.clip_hr``), chosen in nested leave-subjects-out
folds and checked on subjects that took no part in the choice.

For each seed, four FCUS models are trained (1 epoch, no labels), each on 6 of the 8 dev
subjects, and the 2 held-out subjects are replayed through the streaming estimator with the
shipped settings; their finished BVP streams are kept (``--streams``: a pickle, read when it
exists). Units: each held-out clip whole and its 30 s segments; the truth, with ``--truth mean``
(the default), the contact PPG's average HR over the unit (``training.metrics.mean_window_hr``:
the mean of its 10 s HRs, every second), with ``--truth peak`` its spectral peak over the whole
unit (the truth of the choices before session 16; on a clip whose rate wanders it lands on one of
its rates rather than their average). Per outer fold (same
seed), the way to make the clip HR (``model.clip_hr.CLIP_HR_WAYS``, the smallest mean error),
the interval's spread (the narrowest) and its conformal scale are chosen on the other folds'
units and used once on the fold's own: the printed coverage is what "choose, then use" gives on
subjects that took no part. The frozen choice is the same rule on all units of all seeds.

    python benchmarks/clip_interval.py [--cache DIR] [--data DIR] [--seeds 0 1 2] [--streams PKL]
                                       [--truth mean|peak]
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.clip_hr import (  # noqa: E402
    CLIP_HR_WAYS,
    INTERVAL_LEVEL,
    SPREADS,
    clip_hr_of,
    clip_windows,
    conformal_scale,
    spread_bpm,
)

SEGMENT_S = 30.0


@dataclass(frozen=True)
class Unit:
    """One clip or segment of a held-out subject: its truth, and per way its HR and spreads."""

    subject: str
    seed: int
    fold: int
    kind: str  # "clip" or "30 s"
    truth_bpm: float
    hr_bpm: dict  # way -> HR (None: none made)
    spread: dict  # (way, spread kind) -> bpm

    def err(self, way: str) -> float:
        hr = self.hr_bpm[way]
        return abs(hr - self.truth_bpm) if hr is not None else math.inf


def held_out_streams(cached, seeds: list[int]) -> list[dict]:
    """Every held-out subject's finished BVP stream, per seed and fold (fold models, shipped
    estimator settings)."""
    from model.estimator import EstimatorConfig
    from model.pulse_methods import estimator_config
    from training.fcus_eval import TorchPulseMethod, loso_folds, train_fold
    from training.replay import reference, replay
    from training.train_config import TrainConfig

    cfg = estimator_config("fcus", EstimatorConfig())
    out = []
    folds = loso_folds([c.name for c in cached], 4)
    for seed in seeds:
        for i, test in enumerate(folds):
            def evaluate(m, test=test):
                rows = []
                for c in (c for c in cached if c.name in test):
                    tg, vg = replay(c, TorchPulseMethod(m), cfg=cfg).estimator.bvp_stream()
                    rows.append({"subject": c.name, "t_s": tg, "bvp": vg, "fs_hz": cfg.fs_hz, "ref": reference(c)})
                return rows

            for row in train_fold(cached, test, TrainConfig(progress=False, seed=seed), evaluate):
                out.append({**row, "seed": seed, "fold": i})
            print(f"seed {seed}, fold {','.join(test)}: streams kept", flush=True)
    return out


def units_of(stream: dict, truth: str = "mean") -> list[Unit]:
    from training.metrics import CLIP_TRUTHS

    truth_of = CLIP_TRUTHS[truth]
    t, v, fs = stream["t_s"], stream["bvp"], stream["fs_hz"]
    if stream["ref"] is None or len(t) == 0:
        return []
    spans = [("clip", float(t[0]), float(t[-1]))]
    a = float(t[0])
    while a + SEGMENT_S <= t[-1] + 1e-6:
        spans.append(("30 s", a, a + SEGMENT_S))
        a += SEGMENT_S
    out = []
    for kind, a, b in spans:
        truth = truth_of(*stream["ref"], a, b)
        inside = (t >= a) & (t <= b)
        ti, vi = t[inside], v[inside]
        wins = clip_windows(ti, vi, fs)
        made = {w: clip_hr_of(w, ti, vi, fs, wins) for w in CLIP_HR_WAYS}
        hrs = {w: hr for w, (hr, _) in made.items()}
        spreads = {(w, s): spread_bpm(s, hr, rates) for w, (hr, rates) in made.items() for s in SPREADS
                   if hr is not None}
        if truth is not None:
            out.append(Unit(stream["subject"], stream["seed"], stream["fold"], kind, truth, hrs, spreads))
    return out


@dataclass(frozen=True)
class Choice:
    way: str
    spread: str
    scale: float


def choose(units: list[Unit], level: float) -> Choice:
    """The way with the smallest mean error (a unit without an HR counts as a miss of 30 bpm),
    then the spread whose calibrated interval is narrowest on average."""
    def mean_err(w):
        return float(np.mean([min(u.err(w), 30.0) for u in units]))

    way = min(CLIP_HR_WAYS, key=lambda w: (mean_err(w), CLIP_HR_WAYS.index(w)))
    best = None
    for s in SPREADS:
        scores = [u.err(way) / u.spread[(way, s)] if (way, s) in u.spread else math.inf for u in units]
        q = conformal_scale(np.asarray(scores), level)
        width = float(np.mean([q * u.spread[(way, s)] for u in units if (way, s) in u.spread]))
        if best is None or width < best[0]:
            best = (width, Choice(way, s, q))
    return best[1]


def apply(choice: Choice, units: list[Unit]) -> list[tuple[Unit, float | None, float | None, bool]]:
    """(unit, HR, half-width, covered) with a frozen choice."""
    rows = []
    for u in units:
        hr = u.hr_bpm[choice.way]
        half = choice.scale * u.spread[(choice.way, choice.spread)] if hr is not None else None
        rows.append((u, hr, half, hr is not None and half is not None and abs(hr - u.truth_bpm) <= half))
    return rows


def held_out(units: list[Unit], level: float) -> tuple[list, list[str]]:
    """Nested: per seed and outer fold, the choice made on the same seed's other folds."""
    rows, log = [], []
    for seed in sorted({u.seed for u in units}):
        mine = [u for u in units if u.seed == seed]
        for fold in sorted({u.fold for u in mine}):
            c = choose([u for u in mine if u.fold != fold], level)
            log.append(f"seed {seed} fold {fold}: {c.way}, {c.spread}, scale {c.scale:.2f}")
            rows += apply(c, [u for u in mine if u.fold == fold])
    return rows, log


def table(rows: list, title: str) -> str:
    lines = [f"| {title} | units | HR made | mean error (bpm) | median half-width (bpm) | covered |",
             "|---|---|---|---|---|---|"]
    for kind in ("clip", "30 s"):
        sel = [r for r in rows if r[0].kind == kind]
        made = [r for r in sel if r[1] is not None]
        err = np.mean([abs(r[1] - r[0].truth_bpm) for r in made]) if made else math.nan
        half = np.median([r[2] for r in made]) if made else math.nan
        cov = np.mean([r[3] for r in sel]) if sel else math.nan
        lines.append(f"| {kind} | {len(sel)} | {len(made)} | {err:.2f} | {half:.1f} | {cov:.2f} |")
    return "\n".join(lines)


def per_subject(rows: list) -> str:
    lines = ["| seed | subject | truth (bpm) | clip HR +- interval (bpm) | covered |", "|---|---|---|---|---|"]
    for u, hr, half, cov in sorted((r for r in rows if r[0].kind == "clip"), key=lambda r: (r[0].seed, r[0].subject)):
        shown = f"{hr:.1f} +- {half:.1f}" if hr is not None else "none"
        lines.append(f"| {u.seed} | {u.subject} | {u.truth_bpm:.1f} | {shown} | {'yes' if cov else 'no'} |")
    return "\n".join(lines)


def ways_table(units: list[Unit]) -> str:
    lines = ["| way (not nested: every held-out unit) | clip: mean error | clip: within 5 bpm | 30 s: mean error |",
             "|---|---|---|---|"]
    for w in CLIP_HR_WAYS:
        cells = []
        for kind in ("clip", "30 s"):
            errs = [min(u.err(w), 30.0) for u in units if u.kind == kind]
            cells.append(f"{np.mean(errs):.2f}")
            if kind == "clip":
                cells.append(f"{np.mean([e <= 5.0 for e in errs]):.2f}")
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from training.benchmark import add_clip_truth_arg, kept_pickle
    from training.crop_cache import NO_DATA_HINT, add_reference_args, cached_reference_recordings
    from training.metrics import CLIP_TRUTH_LABELS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the fold models' training seeds")
    ap.add_argument("--streams", type=Path, default=None,
                    help="pickle of the held-out streams: read when it exists (no training), else written")
    add_clip_truth_arg(ap)
    ap.add_argument("--level", type=float, default=INTERVAL_LEVEL, help="the share of clips the interval should cover")
    args = ap.parse_args(argv)

    def make_streams():
        cached = cached_reference_recordings(args.data, args.cache)
        if cached is None:
            print(f"clip_interval: {NO_DATA_HINT}", file=sys.stderr)
            return None
        return held_out_streams(cached, args.seeds)

    streams = kept_pickle(args.streams, make_streams)
    if streams is None:
        return 2
    units = [u for s in streams for u in units_of(s, args.truth)]
    print(f"truth: the contact PPG's {CLIP_TRUTH_LABELS[args.truth]} over each unit")
    print(ways_table(units))
    rows, log = held_out(units, args.level)
    print("\n" + "\n".join(log))
    print(f"\nHeld out (nested; the interval claims {args.level:.0%}):")
    print(table(rows, "held out"))
    print()
    print(per_subject(rows))
    frozen = choose(units, args.level)
    print(f"\nFrozen on all units: way {frozen.way!r}, spread {frozen.spread!r}, scale {frozen.scale:.2f}")
    print(table(apply(frozen, units), "all units, frozen (not nested)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
