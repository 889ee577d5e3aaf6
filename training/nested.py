"""Choices made inside nested leave-subjects-out folds, scored once on subjects that took no part.

A *choice* is a set of candidates (estimator settings such as HR tracking on or off, a band, a
gate threshold; one pulse method each) of which one is to be frozen into the defaults. Choosing
the candidate that scores best on the same subjects it is then reported on overstates how well
it does on new faces. Here each outer fold holds out its test subjects; the candidate is chosen
on the remaining subjects only (``objective``, lower is better, on their pooled windows), and the
chosen candidate's score on the held-out subjects is what gets reported. Pooled over the outer
folds this is an honest estimate of the whole procedure ("choose, then use"); the frozen choice
itself is the one the same objective picks on all subjects.

Estimator settings need no training, so each candidate is replayed on each recording once
(:func:`score_candidates`) and every fold only pools those clip scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from model.estimator import EstimatorConfig
from model.pulse_methods import make_pulse_method
from training.replay import MethodScore, score_method

Objective = Callable[[MethodScore], float]


def mae20(score: MethodScore) -> float:
    """Pooled MAE on 20 s windows (a window without an estimate counts as missing, not as 0)."""
    return score.metrics(20.0).mae_bpm


def mae_10_20(score: MethodScore) -> float:
    """The mean of the pooled MAE on 10 s and on 20 s windows (both accuracy bars)."""
    return (score.metrics(10.0).mae_bpm + score.metrics(20.0).mae_bpm) / 2.0


@dataclass(frozen=True)
class Candidate:
    name: str
    method: str = "pos"
    cfg: EstimatorConfig = field(default_factory=EstimatorConfig)
    roi: str = "skin"


@dataclass(frozen=True)
class FoldChoice:
    test: tuple[str, ...]
    chosen: str
    inner_objective: dict[str, float]  # every candidate's objective on the fold's other subjects


@dataclass(frozen=True)
class NestedResult:
    folds: tuple[FoldChoice, ...]
    held_out: MethodScore  # the chosen candidate of each fold on its held-out subjects, pooled
    frozen: str  # the candidate the objective picks on all subjects


def score_candidates(cached: Sequence, candidates: Sequence[Candidate], *,
                     method_cache: dict | None = None) -> dict[str, MethodScore]:
    """Every candidate replayed and scored on every cached recording (one pass each)."""
    methods = {} if method_cache is None else method_cache
    out = {}
    for c in candidates:
        if c.method not in methods:
            methods[c.method] = make_pulse_method(c.method)
        out[c.name] = score_method(methods[c.method], cached, c.roi, label=c.name, cfg=c.cfg)
    return out


def _restricted(score: MethodScore, subjects: set[str]) -> MethodScore:
    return MethodScore(score.method, score.roi, score.dataset, [c for c in score.clips if c.name in subjects])


def choose(scores: dict[str, MethodScore], subjects: set[str], objective: Objective = mae20) -> tuple[str, dict]:
    """The candidate with the lowest objective on ``subjects`` (ties: the first listed), and every
    candidate's objective there."""
    values = {name: float(objective(_restricted(sc, subjects))) for name, sc in scores.items()}
    finite = {k: v for k, v in values.items() if v == v}
    if not finite:
        raise ValueError("no candidate has a finite objective on these subjects")
    best = min(finite, key=lambda k: (finite[k], list(scores).index(k)))
    return best, values


def nested_choice(scores: dict[str, MethodScore], folds: Sequence[Sequence[str]],
                  objective: Objective = mae20) -> NestedResult:
    """Choose inside each outer fold on the other subjects, score on the fold's subjects."""
    everyone = {c.name for sc in scores.values() for c in sc.clips}
    choices, held = [], []
    for test in folds:
        test_set = set(test)
        chosen, inner = choose(scores, everyone - test_set, objective)
        choices.append(FoldChoice(tuple(test), chosen, inner))
        held.append(_restricted(scores[chosen], test_set))
    frozen, _ = choose(scores, everyone, objective)
    pooled = MethodScore("nested choice", held[0].roi if held else "skin", "",
                         [c for h in held for c in h.clips])
    return NestedResult(tuple(choices), pooled, frozen)


def format_choices(result: NestedResult) -> str:
    lines = ["outer fold (held out) -> candidate chosen on the other subjects"]
    for f in result.folds:
        lines.append(f"  {','.join(f.test)} -> {f.chosen}")
    lines.append(f"frozen (chosen on all subjects): {result.frozen}")
    return "\n".join(lines)
