"""The cross-check of FCUS's readings (``EstimatorConfig.check_methods``), chosen in nested
leave-subjects-out folds and scored once on subjects that took no part in the choice.

A window's reading passes when its SNR reaches the gate AND enough classic methods (CHROM, POS:
the skin colour of the same window, no learning) read a rate within ``check_bpm`` of it. Errors of
methods this different rarely coincide, so agreement is evidence of a right reading that the SNR
alone does not give; it lets the SNR gate open lower.

Four FCUS models are trained (1 epoch, no labels), each on 6 subjects, and every candidate (gate
opening x which methods must agree x tolerance) is scored on each model's 2 held-out subjects and
on faces without a pulse (a still photo; OpenCV's ``Megamind.avi`` when found). Per outer fold,
the candidate is chosen on the other 6 subjects' held-out readings (the other three models; their
labels only): the one that shows the most readings while at least 90 % of them are within 5 bpm
of the contact PPG (trailing 10 s) and none on a face without a pulse. It is scored once on the
fold's own 2 subjects, whose labels took no part in it; the current setting is scored beside it.
The frozen choice is the same rule on all 8 subjects' held-out readings. (The models of the other
folds were trained, without labels, on the fold's videos among others: no label of a scored
subject enters its choice.)

The FCUS BVP of each window is computed once per clip and reused by every candidate (the windows
do not depend on the gate), so the candidates cost only the estimator's own work.

    python benchmarks/check_choices.py [--cache DIR] [--data DIR] [--megamind FILE] [--scores PKL]
                                       [--space check|steady|start|cadence|cadence-cut|context|windows|coherence|
                                                posterior|posterior-gate|posterior-union|smoothed|
                                                smoothed-stream]
                                       [--more-no-pulse]

``--space steady`` chooses instead among the gate openings x the steadiness of the last window
HRs (``EstimatorConfig.steady_n``/``steady_bpm``: a noise peak moves from window to window).
``--space start`` adds how short the first window may be (``min_window_s``: 4, 5 or 6 s), which
decides how soon the first reading can come. ``--space context`` chooses among searching the
reading near the HR of the trailing 20 s (``EstimatorConfig.context_reading``) or not x the gate
opening x the steadiness. ``--space windows`` chooses among reading each update as the median of
the trailing 8, 10, 12, 15 and 20 s's HRs (``EstimatorConfig.reading_windows_s``) or as the
window's own x the gate opening x the steadiness. ``--space coherence`` chooses among the spatial
coherence a reading needs (``EstimatorConfig.coherence_min``: off, 0.1 or 0.2) x the smallest pulse
amplitude (``pulse_amplitude_min``: off or 1e-4) x the gate opening (+0.5, -0.5, -1.5 dB) x 3 or 5
steady window HRs.

``--space posterior`` reads each update as the mode of the HR posterior (``EstimatorConfig.hr_posterior``,
a forward filter through the window spectra) and gates on its mass within 5 bpm of it: how fast the
rate may move (2, 4, 6 bpm/s) x the mass the gate opens at (0.5-0.9) x the median of the last 1 or 3
shown readings. ``--space posterior-gate`` (the second study) chooses among the rate's speed (2, 4
bpm/s) x the mass the gate opens at (0.7, 0.8, 0.9) x closing 0.2 lower or not x a floor under the
window's SNR at the reading (``gate_min_snr_db``: off or -1 dB). ``--space posterior-union`` (the
third) adds showing what the SNR's gate with 3 steady window HRs shows beside the belief's gate
(``posterior_snr_gate``), whose readings take many windows to gather. ``--space smoothed`` reads
the shipped setting's updates again offline from the posterior smoothed over the whole stretch
(``EstimatorConfig.smooth_gate``: what a file's analysis can do and the live display cannot): the
smoothed belief's gate at 0.6-0.9 x also showing what the live gate showed or not.
``--space smoothed-stream`` (the second study) takes the smoothed belief's evidence from the
finished BVP stream's windows (``smooth_from_stream``) or the windows' own, x the gate at 0.7-0.97.

Every space's candidates change the shipped FCUS settings (``estimator_config("fcus")``), so since
the face's pulse checks ship, the other spaces' candidates run with them on; the tables of those
spaces in docs/accuracy.md were made before.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.estimator import EstimatorConfig, snr_gated  # noqa: E402
from model.pulse_methods import estimator_config  # noqa: E402
from model.signal.quality import quality_from_snr  # noqa: E402

CHECKS = {  # name -> (check_methods, check_min_agree)
    "no check": ((), 1),
    "chrom": (("chrom",), 1),
    "pos": (("pos",), 1),
    "chrom and pos": (("chrom", "pos"), 2),
    "chrom or pos": (("chrom", "pos"), 1),
}
GATE_OPEN_DB = (1.5, 0.5, -0.5, -1.5, -3.0, -5.0)
GATE_HYSTERESIS_DB = 1.2  # the gate closes this much lower than it opens
CHECK_BPM = (2.0, 3.0, 5.0)
SHOWN_WITHIN5_MIN = 0.9


def gate_at(open_db: float) -> dict[str, float]:
    """The estimator's gate settings opening at ``open_db`` SNR."""
    return {"gate_open": quality_from_snr(open_db), "gate_close": quality_from_snr(open_db - GATE_HYSTERESIS_DB)}


STEADY = {  # name -> (steady_n, steady_bpm)
    "not steady-checked": (0, 5.0),
    "3 steady within 3 bpm": (3, 3.0),
    "3 steady within 5 bpm": (3, 5.0),
    "5 steady within 5 bpm": (5, 5.0),
}


def steady_candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """The gate opening x the steadiness of the last window HRs (no cross-check)."""
    base = snr_gated(base)
    out = {}
    for db in GATE_OPEN_DB:
        gate = gate_at(db)
        for name, (n, tol) in STEADY.items():
            label = f"gate {db:+.1f} dB, no check" + ("" if n == 0 else f", {name}")
            out[label] = replace(base, **gate, steady_n=n, steady_bpm=tol)
    return out


START_GATE_DB = (0.5, -0.5, -1.5)
START_STEADY = ("3 steady within 3 bpm", "3 steady within 5 bpm")
START_MIN_WINDOW_S = (4.0, 5.0, 6.0)


def start_candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """How short the first window may be (``min_window_s``: with 3 steady window HRs a reading
    comes 2 s after it at the earliest) x the gate opening x the steadiness."""
    base = snr_gated(base)
    out = {}
    for db in START_GATE_DB:
        gate = gate_at(db)
        for name in START_STEADY:
            n, tol = STEADY[name]
            for min_s in START_MIN_WINDOW_S:
                label = f"gate {db:+.1f} dB, no check, {name}, first window {min_s:.0f} s"
                out[label] = replace(base, **gate, steady_n=n, steady_bpm=tol, min_window_s=min_s)
    return out


CADENCE_GATE_DB = (0.5, -0.5)
CADENCE_STEADY_N = (3, 4, 5)
# (acquire_every_s, acquire_until_s): every second; twice a second until the first reading; the
# same but only during the signal's first 10 s (hr.csv after 10 s keeps one row a second)
CADENCE_ACQUIRE = {"": (None, float("inf")), ", every 0.5 s until the first reading": (0.5, float("inf")),
                   ", every 0.5 s until the first reading or 10 s": (0.5, 10.0)}


def cadence_candidates(base: EstimatorConfig, gates_db=CADENCE_GATE_DB, steady_n=CADENCE_STEADY_N,
                       acquire=CADENCE_ACQUIRE) -> dict[str, EstimatorConfig]:
    """How often judged updates come until the first reading (``acquire_every_s``, for at most
    ``acquire_until_s`` of signal) x how many steady window HRs (within 5 bpm) x the gate opening."""
    base = snr_gated(base)
    out = {}
    for db in gates_db:
        gate = gate_at(db)
        for n in steady_n:
            for name, (every, until) in acquire.items():
                label = f"gate {db:+.1f} dB, no check, {n} steady within 5 bpm{name}"
                out[label] = replace(base, **gate, steady_n=n, steady_bpm=5.0, acquire_every_s=every,
                                     acquire_until_s=until)
    return out


def cadence_cut_candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """The cadence space at the -0.5 dB gate with 3 or 4 steady HRs (the second study)."""
    return cadence_candidates(base, gates_db=(-0.5,), steady_n=(3, 4))


def candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """The gate opening x the cross-check (which methods must agree, within how many bpm)."""
    base = snr_gated(base)
    out = {}
    for db in GATE_OPEN_DB:
        gate = gate_at(db)
        for check, (methods, min_agree) in CHECKS.items():
            for tol in CHECK_BPM if methods else (base.check_bpm,):
                label = f"gate {db:+.1f} dB, {check}" + (f" within {tol:.0f} bpm" if methods else "")
                out[label] = replace(base, **gate, check_methods=methods, check_min_agree=min_agree, check_bpm=tol,
                                     steady_n=0)
    return out


class WindowMemo:
    """A pulse method whose window BVPs are computed once (one clip; keyed by the window's grid
    start and length)."""

    def __init__(self, method) -> None:
        self.method = method
        self.name, self.needs_crops = method.name, method.needs_crops
        self.min_window_s = getattr(method, "min_window_s", 0.0)
        self._memo: dict[tuple[int, int], object] = {}

    def window_bvp(self, window):
        key = (int(window.grid_k0), len(window.t_s))
        if key not in self._memo:
            self._memo[key] = self.method.window_bvp(window)
        return self._memo[key]


def score_candidates(method_of, recordings, cands: dict[str, EstimatorConfig]):
    """{label: MethodScore} of every candidate on ``recordings``; ``method_of()`` a fresh method."""
    from training.replay import MethodScore, score_recording

    scores = {label: MethodScore(label) for label in cands}
    for rec in recordings:
        memo = WindowMemo(method_of())
        for label, cfg in cands.items():
            scores[label].clips.append(score_recording(rec, memo, cfg=cfg))
    return scores


def objective(score, no_pulse: set[str], coverage: str = "coverage") -> float:
    """Lower is better: minus the coverage on the subjects when their shown readings are right
    often enough and no face without a pulse got a reading (``coverage``: the MethodScore
    attribute, "coverage" or "time_coverage")."""
    from training.replay import MethodScore

    if any(c.n_shown > 0 for c in score.clips if c.name in no_pulse):
        return 2.0
    subj = MethodScore(score.method, clips=[c for c in score.clips if c.name not in no_pulse])
    w5 = subj.shown_within5
    if w5 != w5:
        return 1.5
    return -getattr(subj, coverage) if w5 >= SHOWN_WITHIN5_MIN else 1.0 + (SHOWN_WITHIN5_MIN - w5)


def choose(scores: dict, no_pulse: set[str], coverage: str = "coverage") -> str:
    return min(scores, key=lambda k: (objective(scores[k], no_pulse, coverage), list(scores).index(k)))


def current_label(cands: dict[str, EstimatorConfig], current: EstimatorConfig) -> str | None:
    """The candidate that is the shipped setting, None when none is."""
    same = [k for k, c in cands.items() if not c.check_methods and abs(c.gate_open - current.gate_open) < 1e-9
            and c.steady_n == current.steady_n and (c.steady_n == 0 or c.steady_bpm == current.steady_bpm)
            and c.min_window_s == current.min_window_s and c.acquire_every_s == current.acquire_every_s
            and c.acquire_until_s == current.acquire_until_s and c.context_s == current.context_s
            and c.context_half_width_hz == current.context_half_width_hz
            and c.context_reading == current.context_reading and c.reading_windows_s == current.reading_windows_s
            and c.coherence_min == current.coherence_min and c.pulse_amplitude_min == current.pulse_amplitude_min
            and c.hr_posterior == current.hr_posterior and c.hr_median_n == current.hr_median_n
            and abs(c.gate_close - current.gate_close) < 1e-9 and c.gate_min_snr_db == current.gate_min_snr_db
            and c.posterior_snr_gate == current.posterior_snr_gate
            and c.smooth_gate == current.smooth_gate and c.smooth_or_live == current.smooth_or_live
            and c.smooth_from_stream == current.smooth_from_stream]
    return same[0] if same else None


CONTEXT_GATE_DB = (0.5, -0.5, -1.5, -3.0)
CONTEXT_STEADY_N = (0, 3, 5)


def _with_context(base: EstimatorConfig) -> EstimatorConfig:
    """``base``, given the shipped context narrowing (20 s, +- 0.6 Hz) when it has none."""
    base = snr_gated(base)
    return base if base.context_s is not None else replace(base, context_s=20.0, context_half_width_hz=0.6)


def _reading_candidates(base: EstimatorConfig, field: str, options: dict[str, object]) -> dict[str, EstimatorConfig]:
    """``options`` (label suffix -> value of the estimator field ``field``) x the gate opening x
    how many steady window HRs (within 5 bpm), on ``base`` with the context narrowing."""
    base = _with_context(base)
    out = {}
    for suffix, value in options.items():
        for db in CONTEXT_GATE_DB:
            for n in CONTEXT_STEADY_N:
                label = f"gate {db:+.1f} dB, no check" + (f", {n} steady within 5 bpm" if n else "") + suffix
                out[label] = replace(base, **gate_at(db), steady_n=n, steady_bpm=5.0, **{field: value})
    return out


def context_candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """Whether the reading is searched near the context HR (``context_reading``) x the gate opening
    x how many steady window HRs (within 5 bpm)."""
    return _reading_candidates(base, "context_reading", {"": False, ", reading near the context HR": True})


READING_WINDOWS_S = (8.0, 10.0, 12.0, 15.0, 20.0)


def windows_candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """Whether the reading is the median of the trailing 8, 10, 12, 15 and 20 s's HRs
    (``reading_windows_s``) or the window's own x the gate opening x how many steady window HRs
    (within 5 bpm)."""
    return _reading_candidates(base, "reading_windows_s", {"": (), ", reading the median of 8-20 s windows":
                                                           READING_WINDOWS_S})


COHERENCE_MIN = (None, 0.1, 0.2)
PULSE_AMPLITUDE_MIN = (None, 1e-4)
COHERENCE_GATE_DB = (0.5, -0.5, -1.5)
COHERENCE_STEADY_N = (3, 5)


def coherence_candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """The spatial coherence a reading needs (``coherence_min``: none, or the mean correlation of
    the face regions' pulse at the rate) x the pulse's smallest amplitude (``pulse_amplitude_min``)
    x the gate opening x 3 or 5 steady window HRs."""
    base = _with_context(base)
    out = {}
    for value in COHERENCE_MIN:
        for amp in PULSE_AMPLITUDE_MIN:
            for db in COHERENCE_GATE_DB:
                for n in COHERENCE_STEADY_N:
                    label = (f"gate {db:+.1f} dB, no check, {n} steady within 5 bpm"
                             + ("" if value is None else f", coherence >= {value:.2f}")
                             + ("" if amp is None else f", amplitude >= {amp:.0e}"))
                    out[label] = replace(base, **gate_at(db), steady_n=n, steady_bpm=5.0, coherence_min=value,
                                         pulse_amplitude_min=amp)
    return out


POSTERIOR_RATE_SD = (2.0, 4.0, 6.0)
POSTERIOR_MASS = (0.5, 0.6, 0.7, 0.8, 0.9)
POSTERIOR_MEDIAN_N = (1, 3)


def posterior_candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """The reading and its quality from the HR posterior (``EstimatorConfig.hr_posterior``: the mode of
    a forward filter through the window spectra, the gate on its mass within 5 bpm of it) x how fast
    the rate may move (``rate_sd_bpm_per_s``) x the mass the gate opens at (no hysteresis) x the
    median of the last 1 or 3 shown readings; no steadiness check (the filter already weighs how the
    window HRs agree), the face's pulse checks as shipped."""
    from model.signal.hr_posterior import HrPosteriorConfig

    out = {}
    for sd in POSTERIOR_RATE_SD:
        for mass in POSTERIOR_MASS:
            for n in POSTERIOR_MEDIAN_N:
                label = (f"posterior, rate sd {sd:g} bpm/s, gate at mass {mass:.2f}"
                         + (f", median of {n}" if n > 1 else ""))
                out[label] = replace(base, hr_posterior=HrPosteriorConfig(rate_sd_bpm_per_s=sd), gate_open=mass,
                                     gate_close=mass, steady_n=0, hr_median_n=n, posterior_snr_gate=None)
    return out


POSTERIOR_GATE_RATE_SD = (2.0, 4.0)
POSTERIOR_GATE_OPEN = (0.7, 0.8, 0.9)
POSTERIOR_GATE_HYSTERESIS = (0.0, 0.2)
POSTERIOR_GATE_MIN_SNR_DB = (None, -1.0)


def posterior_gate_candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """The HR posterior's reading and mass (the second study): how fast the rate may move x the mass
    the gate opens at x how much lower it closes (hysteresis) x a floor under the window's SNR at the
    reading (``gate_min_snr_db``); each reading shown as it is, no steadiness check, the face's pulse
    checks as shipped."""
    from model.signal.hr_posterior import HrPosteriorConfig

    out = {}
    grid = itertools.product(POSTERIOR_GATE_RATE_SD, POSTERIOR_GATE_OPEN, POSTERIOR_GATE_HYSTERESIS,
                             POSTERIOR_GATE_MIN_SNR_DB)
    for sd, mass, hyst, floor in grid:
        label = (f"posterior, rate sd {sd:g} bpm/s, gate at mass {mass:.2f}"
                 + (f", closes below {mass - hyst:.2f}" if hyst else "")
                 + (f", SNR >= {floor:+.1f} dB" if floor is not None else ""))
        out[label] = replace(base, hr_posterior=HrPosteriorConfig(rate_sd_bpm_per_s=sd), gate_open=mass,
                             gate_close=mass - hyst, gate_min_snr_db=floor, steady_n=0, hr_median_n=1,
                             posterior_snr_gate=None)
    return out


UNION_POSTERIOR_GATES = ((0.9, 0.7), (0.9, 0.5), (0.8, 0.6))  # (opens at, closes below), mass
UNION_SNR_GATE_DB = (-0.5, 0.5)  # where the SNR's gate opens (it closes GATE_HYSTERESIS_DB lower)


def posterior_union_candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """The third study of the HR posterior: its gate alone (rate sd 4 bpm/s, the second study's choice)
    x also showing what the SNR's gate with 3 steady window HRs shows (``posterior_snr_gate``: the
    shipped -0.5 dB, or +0.5 dB), the belief's gate opening and closing at (0.9, 0.7), (0.9, 0.5) or
    (0.8, 0.6)."""
    from model.signal.hr_posterior import HrPosteriorConfig

    post = HrPosteriorConfig(rate_sd_bpm_per_s=4.0)
    out = {}
    for open_at, close_below in UNION_POSTERIOR_GATES:
        label = f"posterior, rate sd 4 bpm/s, gate at mass {open_at:.2f}, closes below {close_below:.2f}"
        one = replace(base, hr_posterior=post, gate_open=open_at, gate_close=close_below, gate_min_snr_db=None,
                      hr_median_n=1, posterior_snr_gate=None)
        out[label] = replace(one, steady_n=0)
        for db in UNION_SNR_GATE_DB:
            gate = gate_at(db)
            out[label + f", or the SNR gate at {db:+.1f} dB with 3 steady"] = replace(
                one, steady_n=3, steady_bpm=5.0, posterior_snr_gate=(gate["gate_open"], gate["gate_close"]))
    return out


SMOOTH_GATES = ((0.9, 0.7), (0.8, 0.6), (0.7, 0.5), (0.6, 0.4))


def smoothed_candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """The shipped setting read again offline from the HR posterior smoothed over the whole stretch
    (``EstimatorConfig.smooth_gate``, what ``finish()`` does): the smoothed belief's gate opening at
    0.6-0.9 and closing 0.2 lower x also showing what the live gate showed (``smooth_or_live``) or
    not; the shipped (live) readings beside them."""
    out = {}
    for open_at, close_below in SMOOTH_GATES:
        label = f"smoothed, gate at mass {open_at:.2f}, closes below {close_below:.2f}"
        out[label] = replace(base, smooth_gate=(open_at, close_below), smooth_or_live=False)
        out[label + ", or the live gate"] = replace(base, smooth_gate=(open_at, close_below), smooth_or_live=True)
    return out


STREAM_SMOOTH_GATES = ((0.97, 0.9), (0.95, 0.85), (0.9, 0.7), (0.8, 0.6), (0.7, 0.5))


def smoothed_stream_candidates(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    """The second study of the smoothed belief: its evidence from the finished BVP stream's windows
    (``smooth_from_stream``: what bvp.csv holds) or the windows' own BVPs x the gate opening at
    0.7-0.97 (higher than the first study's, whose readings were right too rarely)."""
    out = {}
    for open_at, close_below in STREAM_SMOOTH_GATES:
        gate = f"gate at mass {open_at:.2f}, closes below {close_below:.2f}"
        out[f"smoothed from the stream, {gate}"] = replace(base, smooth_gate=(open_at, close_below),
                                                          smooth_from_stream=True)
        if open_at > 0.9:
            out[f"smoothed, {gate}"] = replace(base, smooth_gate=(open_at, close_below))
    return out


SPACES = {"check": candidates, "steady": steady_candidates, "start": start_candidates,
          "cadence": cadence_candidates, "cadence-cut": cadence_cut_candidates, "context": context_candidates,
          "windows": windows_candidates, "coherence": coherence_candidates, "posterior": posterior_candidates,
          "posterior-gate": posterior_gate_candidates, "posterior-union": posterior_union_candidates,
          "smoothed": smoothed_candidates, "smoothed-stream": smoothed_stream_candidates}
# What "coverage" means in the objective: the share of the updates, or, where the candidates
# update at different rates, the share of the time a reading was shown.
COVERAGE_OF = {"cadence": "time_coverage", "cadence-cut": "time_coverage"}


def with_shipped(cands: dict[str, EstimatorConfig]) -> tuple[dict[str, EstimatorConfig], str]:
    """The candidates and the label of the shipped setting among them; when it is not one of them
    it is added, to be scored beside them, as "shipped default"."""
    shipped = estimator_config("fcus", EstimatorConfig())
    current = current_label(cands, shipped)
    if current is None:
        current = "shipped default"
        cands = {**cands, current: shipped}
    return cands, current


def fold_scores(cached, test, no_pulse_recs, cands, base_train) -> dict:
    """Train on the fold's other subjects; every candidate on its held-out subjects and on the
    faces without a pulse."""
    from training.fcus_eval import TorchPulseMethod, train_fold

    def evaluate(m):
        t0 = time.perf_counter()
        out = score_candidates(lambda: TorchPulseMethod(m), [c for c in cached if c.name in test]
                               + list(no_pulse_recs), cands)
        print(f"fold {','.join(test)}: {len(cands)} candidates scored ({time.perf_counter() - t0:.0f} s)", flush=True)
        return out

    return train_fold(cached, test, base_train, evaluate)


def restricted(per_fold: list[dict], folds: list, label: str):
    """One candidate's clips from the given folds' scores (each fold's held-out subjects and its
    own no-pulse clips)."""
    from training.replay import MethodScore

    return MethodScore(label, clips=[c for f in folds for c in per_fold[f][label].clips])


def held_table(rows: dict[str, list], no_pulse: set[str]) -> str:
    from training.replay import MethodScore

    lines = ["| setting | coverage | time shown | shown within 5 bpm | shown MAE (bpm) | no-pulse updates shown "
             "| first reading within 8 s | median first reading (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, clips in rows.items():
        subj = MethodScore(name, clips=[c for c in clips if c.name not in no_pulse])
        nop = [c for c in clips if c.name in no_pulse]
        nop_share = sum(c.n_shown for c in nop) / max(sum(c.n_updates for c in nop), 1)
        first = [c.first_shown_s if c.first_shown_s is not None else float("inf") for c in subj.clips]
        early = f"{sum(f <= 8.0 for f in first)}/{len(first)}"
        lines.append(f"| {name} | {subj.coverage:.2f} | {subj.time_coverage:.2f} | {subj.shown_within5:.2f} | "
                     f"{subj.shown_mae_bpm:.2f} | {nop_share:.2f} | {early} | {np.median(first):.1f} |")
    return "\n".join(lines)


def per_subject(rows: dict[str, list], no_pulse: set[str]) -> str:
    from training.replay import MethodScore, subject_key

    names = sorted({c.name for clips in rows.values() for c in clips if c.name not in no_pulse}, key=subject_key)
    lines = ["| subject | " + " | ".join(f"{k}: coverage / within 5" for k in rows) + " |",
             "|---|" + "---|" * len(rows)]
    for n in names:
        cells = []
        for clips in rows.values():
            sc = MethodScore(n, clips=[c for c in clips if c.name == n])
            cells.append(f"{sc.coverage:.2f} / {sc.shown_within5:.2f}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from training.benchmark import add_no_pulse_args, study_recordings
    from training.crop_cache import add_reference_args
    from training.fcus_eval import loso_folds
    from training.train_config import TrainConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    add_no_pulse_args(ap)
    ap.add_argument("--seed", type=int, default=0, help="the fold models' training seed")
    ap.add_argument("--space", choices=tuple(SPACES), default="check",
                    help="the candidates (module docstring): the cross-check (default), the steadiness of "
                         "the window HRs, the first window's length, the update cadence, the reading near the "
                         "context HR, the reading windows' median, the face's spatial coherence, or the HR "
                         "posterior's reading and mass (three studies)")
    ap.add_argument("--scores", type=Path, default=None,
                    help="pickle of the fold models' scores: read when it exists (no training), else written")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="fcus-check-"))
    inputs = study_recordings(args, "check_choices", tmp)
    if inputs is None:
        return 2
    cached, no_pulse_recs = inputs
    no_pulse = {r.name for r in no_pulse_recs}
    make, cov = SPACES[args.space], COVERAGE_OF.get(args.space, "coverage")
    cands, current = with_shipped(make(estimator_config("fcus", EstimatorConfig())))
    print(f"{len(cands)} candidates; faces without a pulse: {sorted(no_pulse)}", flush=True)
    folds = loso_folds([c.name for c in cached], 4)
    if args.scores is not None and args.scores.is_file():
        per_fold = pickle.loads(args.scores.read_bytes())
    else:
        train_cfg = TrainConfig(progress=False, seed=args.seed)
        per_fold = [fold_scores(cached, test, no_pulse_recs, cands, train_cfg) for test in folds]
        if args.scores is not None:
            args.scores.write_bytes(pickle.dumps(per_fold))
    rows: dict[str, list] = {"shipped default": [], "nested choice": []}
    for i, test in enumerate(folds):
        others = [j for j in range(len(folds)) if j != i]
        inner = {label: restricted(per_fold, others, label) for label in cands}
        chosen = choose(inner, no_pulse, cov)
        print(f"held out {','.join(test)}: chosen on the other 6 -> {chosen} "
              f"(inner objective {objective(inner[chosen], no_pulse, cov):.2f}: "
              "minus the coverage when the aim is met)")
        rows["shipped default"] += per_fold[i][current].clips
        rows["nested choice"] += per_fold[i][chosen].clips
    print("\nHeld-out subjects, fold-trained FCUS models (each fold's choice made on the other 6 subjects):")
    print(held_table(rows, no_pulse))
    print()
    print(per_subject(rows, no_pulse))
    everyone = {label: restricted(per_fold, list(range(len(folds))), label) for label in cands}
    frozen = choose(everyone, no_pulse, cov)
    print(f"\nFrozen choice (the same rule on all 8 subjects' held-out readings): {frozen}")
    top = sorted(everyone, key=lambda k: objective(everyone[k], no_pulse, cov))[:8]
    print(held_table({k: everyone[k].clips for k in dict.fromkeys([current, *top])}, no_pulse)
          .replace("| setting", "| setting (all 8, held out; not nested)"))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
