"""When ``analyze`` calls FCUS's whole-clip HR reliable (``summary.json``'s ``hr_reliable``: the
rule ``model.fcus_method.FCUS_RELIABLE``, a ``model.reliable_rule.ReliableRule``), chosen in
nested leave-subjects-out folds and scored once on subjects that took no part in the choice.

For each seed, four FCUS models are trained (1 epoch, no labels), each on 6 of the 8 dev
subjects; each model reads its 2 held-out subjects and the faces without a pulse (a still photo,
OpenCV's ``Megamind.avi`` when found, with ``--more-no-pulse`` the swaying photo with and without
a drifting light; the photos once per length in ``--no-pulse-s``, the shipped choice's 30 s and
120 s) through the streaming estimator with the shipped settings (``--runs``: a
pickle of those replays, read when it exists). Units: each clip whole and its 30 s segments,
each with its HR updates, its whole-clip HR (``model.clip_hr.whole_clip_hr`` on the unit's
stretch of the finished BVP stream) and, for the subjects, the truth: with ``--truth mean`` (the
default) the contact PPG's average HR over the unit (``training.metrics.mean_window_hr``: the mean
of its 10 s HRs, every second, as hr.csv's readings are scored), with ``--truth peak`` its spectral
peak over the whole unit (as ``benchmarks/clip_interval.py`` before), which on a clip whose rate
wanders lands on one of its rates rather than their average.

A rule is the three thresholds of a ``ReliableRule``: the share of the judged updates that
showed a reading, how many showed one, and how close the whole-clip HR must be to the shown
readings' median. Per outer fold (subjects held out in every seed), the rule is chosen on the
other folds' units: among the rules that call no unit without a pulse reliable and whose reliable
subject units are within 5 bpm of the truth in at least 90 % of cases, the one that calls the
most subject units reliable (ties: the stricter rule). It is applied once to the fold's own units;
the shipped rule and the hand-set rule the classic methods keep (``DEFAULT_RULE``, FCUS's rule
before this study) are scored beside it. The faces without a pulse are the same videos in every
fold (each fold's model reads them afresh), so they are no held-out videos. The frozen choice is
the same rule on every unit.

    python benchmarks/reliable_choice.py [--cache DIR] [--data DIR] [--seeds 0 1 2] [--megamind FILE]
                                         [--more-no-pulse] [--no-pulse-s 30 120] [--runs PKL]
                                         [--truth mean|peak]
"""

from __future__ import annotations

import argparse
import itertools
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.reliable_rule import AGREE_AT, DEFAULT_RULE, ReliableRule  # noqa: E402

SEGMENT_S = 30.0
MIN_UNIT_S = 10.0  # a no-pulse clip shorter than a segment is a unit of its own when at least this long
RIGHT_BPM = 5.0
RIGHT_SHARE_MIN = 0.9
SHARES = (0.0, 0.1, 0.15, 0.2, 0.25, DEFAULT_RULE.shown_share, 0.5)
MIN_SHOWN = (3, DEFAULT_RULE.min_shown, 8)
AGREE_BPM = (3.0, DEFAULT_RULE.agree_bpm, 8.0)
RULES = [ReliableRule(s, n, a, at) for s, n, a, at in itertools.product(SHARES, MIN_SHOWN, AGREE_BPM, AGREE_AT)]


def label(rule: ReliableRule) -> str:
    where = "of the readings where shown" if rule.agree_at == "readings" else "of their median"
    return f"share >= {rule.shown_share:.2f}, >= {rule.min_shown} shown, within {rule.agree_bpm:g} bpm {where}"


def strictness(rule: ReliableRule) -> tuple:
    # last: the agreement with each reading where it was shown asks more of the clip than with their median
    return (rule.shown_share, rule.min_shown, -rule.agree_bpm, AGREE_AT.index(rule.agree_at))


def shipped_rule() -> ReliableRule:
    from model.pulse_methods import reliable_rule

    return reliable_rule("fcus")


@dataclass(frozen=True)
class Unit:
    """One clip or 30 s segment read by one fold model; ``truth_bpm`` None on a face without a pulse."""

    name: str
    seed: int
    fold: int
    kind: str  # "clip" or "30 s"
    shown_bpm: tuple[float, ...]
    n_judged: int
    clip_hr_bpm: float | None
    truth_bpm: float | None
    path_gap_bpm: float | None = None  # the clip's tracked path against each shown reading (ClipHr.gap_to)

    @property
    def no_pulse(self) -> bool:
        return self.truth_bpm is None

    def reliable(self, rule: ReliableRule) -> bool:
        return rule.reliable(self.shown_bpm, self.n_judged, self.clip_hr_bpm, self.path_gap_bpm)

    def right(self) -> bool:
        return self.clip_hr_bpm is not None and abs(self.clip_hr_bpm - self.truth_bpm) <= RIGHT_BPM


def held_out_runs(cached, no_pulse_recs, seeds: list[int]) -> list[dict]:
    """Per seed, fold and clip (the fold's held-out subjects and the faces without a pulse): the
    HR updates, the finished BVP stream and the reference (None without a pulse)."""
    from model.estimator import EstimatorConfig
    from model.pulse_methods import estimator_config
    from training.fcus_eval import TorchPulseMethod, loso_folds, train_fold
    from training.replay import reference, replay
    from training.train_config import TrainConfig

    folds = loso_folds([c.name for c in cached], 4)
    out = []
    for seed in seeds:
        for i, test in enumerate(folds):
            def evaluate(m, test=test):
                rows = []
                for c in [c for c in cached if c.name in test] + list(no_pulse_recs):
                    cfg = estimator_config("fcus", EstimatorConfig(fs_hz=c.fs_hz))
                    est = replay(c, TorchPulseMethod(m), cfg=cfg).estimator
                    tg, vg = est.bvp_stream()
                    rows.append({"name": c.name, "readings": [(r.t_s, r.hr_bpm, r.hr_raw_bpm) for r in est.readings],
                                 "t_s": tg, "bvp": vg, "fs_hz": cfg.fs_hz, "lo_bpm": cfg.lo_bpm,
                                 "hi_bpm": cfg.hi_bpm, "ref": reference(c)})
                return rows

            for row in train_fold(cached, test, TrainConfig(progress=False, seed=seed), evaluate):
                out.append({**row, "seed": seed, "fold": i})
            print(f"seed {seed}, fold {','.join(test)}: replays kept", flush=True)
    return out


def units_of(run: dict, truth: str = "mean") -> list[Unit]:
    """The run's clip and its 30 s segments (a no-pulse clip shorter than a segment: the clip
    only); ``truth``: the reference's average HR over the unit ("mean") or its spectral peak ("peak")."""
    from model.clip_hr import whole_clip_hr
    from training.metrics import CLIP_TRUTHS

    truth_of = CLIP_TRUTHS[truth]

    t, v = run["t_s"], run["bvp"]
    if len(t) == 0:
        return []
    spans = [("clip", float(t[0]), float(t[-1]))]
    a = float(t[0])
    while a + SEGMENT_S <= t[-1] + 1e-6:
        spans.append(("30 s", a, a + SEGMENT_S))
        a += SEGMENT_S
    out = []
    for kind, a, b in spans:
        if b - a < MIN_UNIT_S:
            continue
        truth = truth_of(*run["ref"], a, b) if run["ref"] is not None else None
        if run["ref"] is not None and truth is None:
            continue
        inside = (t >= a) & (t <= b)
        clip = whole_clip_hr(t[inside], v[inside], run["fs_hz"], lo_bpm=run["lo_bpm"], hi_bpm=run["hi_bpm"])
        mine = [r for r in run["readings"] if a < r[0] <= b + 1e-6]
        shown = tuple(float(r[1]) for r in mine if r[1] is not None)
        shown_t = [float(r[0]) for r in mine if r[1] is not None]
        judged = sum(r[2] is not None for r in mine)
        out.append(Unit(run["name"], run["seed"], run["fold"], kind, shown, judged, clip.hr_bpm, truth,
                        clip.gap_to(shown_t, shown)))
    return out


def score(rule: ReliableRule, units: list[Unit]) -> tuple[float, float, int]:
    """(share of subject units called reliable, share of those within 5 bpm, no-pulse units called reliable)."""
    subj = [u for u in units if not u.no_pulse]
    called = [u for u in subj if u.reliable(rule)]
    right = float(np.mean([u.right() for u in called])) if called else math.nan
    return len(called) / max(len(subj), 1), right, sum(u.reliable(rule) for u in units if u.no_pulse)


def choose(units: list[Unit]) -> ReliableRule:
    """The admissible rule (no no-pulse unit reliable, >= 90 % of the reliable units right) that
    calls the most subject units reliable; ties go to the stricter rule. None admissible: the
    strictest rule."""
    def key(rule):
        called, right, nop = score(rule, units)
        ok = nop == 0 and (called == 0 or right >= RIGHT_SHARE_MIN)
        return (0 if ok else 1, -called if ok else 0, tuple(-x for x in strictness(rule)))

    return min(RULES, key=key)


def table(rows: dict[str, list[tuple[Unit, bool]]]) -> str:
    lines = ["| rule | kind | subject units | called reliable | reliable ones within 5 bpm "
             "| not called but within 5 bpm | no-pulse units called reliable |", "|---|---|---|---|---|---|---|"]
    for name, pairs in rows.items():
        for kind in ("clip", "30 s"):
            sel = [(u, r) for u, r in pairs if u.kind == kind]
            subj = [(u, r) for u, r in sel if not u.no_pulse]
            called = [u for u, r in subj if r]
            right = f"{np.mean([u.right() for u in called]):.2f}" if called else "-"
            missed = sum(u.right() for u, r in subj if not r)
            nop = [r for u, r in sel if u.no_pulse]
            lines.append(f"| {name} | {kind} | {len(subj)} | {len(called) / max(len(subj), 1):.2f} | {right} | "
                         f"{missed} | {sum(nop)} of {len(nop)} |")
    return "\n".join(lines)


def per_subject(rows: dict[str, list[tuple[Unit, bool]]]) -> str:
    """Whole clips: per subject, how many of its (seed) clips each rule called reliable and how
    many of those were within 5 bpm."""
    from training.replay import subject_key

    names = sorted({u.name for pairs in rows.values() for u, _ in pairs if not u.no_pulse}, key=subject_key)
    head = " | ".join(f"{k}: reliable (right)" for k in rows)
    lines = [f"| subject | clip HR - truth (bpm, per seed) | {head} |", "|---|---|" + "---|" * len(rows)]
    first = next(iter(rows.values()))
    for n in names:
        errs = ", ".join(f"{u.clip_hr_bpm - u.truth_bpm:+.1f}" if u.clip_hr_bpm is not None else "none"
                         for u, _ in sorted(first, key=lambda p: p[0].seed) if u.name == n and u.kind == "clip")
        cells = []
        for pairs in rows.values():
            mine = [(u, r) for u, r in pairs if u.name == n and u.kind == "clip"]
            called = [u for u, r in mine if r]
            cells.append(f"{len(called)}/{len(mine)} ({sum(u.right() for u in called)})")
        lines.append(f"| {n} | {errs} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from training.benchmark import add_clip_truth_arg, add_no_pulse_args, kept_pickle, study_recordings
    from training.crop_cache import add_reference_args
    from training.metrics import CLIP_TRUTH_LABELS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    add_no_pulse_args(ap)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the fold models' training seeds")
    ap.add_argument("--runs", type=Path, default=None,
                    help="pickle of the held-out replays: read when it exists (no training), else written")
    add_clip_truth_arg(ap)
    args = ap.parse_args(argv)

    def make_runs():
        tmp = Path(tempfile.mkdtemp(prefix="fcus-reliable-"))
        try:
            inputs = study_recordings(args, "reliable_choice", tmp)
            return None if inputs is None else held_out_runs(*inputs, args.seeds)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    runs = kept_pickle(args.runs, make_runs)
    if runs is None:
        return 2
    units = [u for r in runs for u in units_of(r, args.truth)]
    print(f"truth: the contact PPG's {CLIP_TRUTH_LABELS[args.truth]} over each unit")
    nested: list[tuple[Unit, bool]] = []
    for fold in sorted({u.fold for u in units}):
        rule = choose([u for u in units if u.fold != fold])
        mine = [u for u in units if u.fold == fold]
        subjects = sorted({u.name for u in mine if not u.no_pulse})
        print(f"held out {','.join(subjects)}: chosen on the other folds -> {label(rule)}")
        nested += [(u, u.reliable(rule)) for u in mine]
    shipped = shipped_rule()
    rows = {f"hand-set ({label(DEFAULT_RULE)})": [(u, u.reliable(DEFAULT_RULE)) for u in units],
            f"shipped ({label(shipped)}; chosen on every unit, not nested)": [(u, u.reliable(shipped)) for u in units],
            "nested choice": nested}
    print("\nHeld out (each fold's rule chosen on the other folds' subjects and their no-pulse replays):")
    print(table(rows))
    print()
    print(per_subject(rows))
    frozen = choose(units)
    print(f"\nFrozen choice (the same rule on every unit): {label(frozen)}")
    print(table({f"frozen ({label(frozen)}), not nested": [(u, u.reliable(frozen)) for u in units]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
