"""Estimator choices inside nested leave-subjects-out folds, per pulse method, on the UBFC
subjects' crop cache:

1. the BVP stream: read window by window, HR-tracked (Viterbi, ``EstimatorConfig.hr_tracking``),
   HR-tracked with the stream narrowed around the tracked HR (``track_half_width_hz``), or
   narrowed around the HR of the trailing 20 or 30 s (``context_s``, ``context_half_width_hz``);
   objective: the mean of MAE@10s and MAE@20s (the two accuracy bars);
2. the quality gate's opening point (``gate_open``/``gate_close``, SNR at the HR in dB);
   objective: the most readings shown while at least 90 % of the shown readings are within 5 bpm
   of the contact PPG over the trailing 10 s, and no reading on a face without a pulse (a
   synthetic still photo and, when found, OpenCV's animated ``Megamind.avi``: ``--megamind``).

Prints every candidate on all subjects (in-sample: the table a tuned choice is usually reported
with), then the nested result: each outer fold's choice made on the other subjects, scored on its
own, pooled, and the frozen choice. The shipped FCUS model was trained (no labels) on these same
subjects, so its rows are in-sample for the network itself.

    python benchmarks/hr_choices.py [--cache DIR] [--data DIR] [--methods fcus,pos,chrom] [--megamind FILE]
"""

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.estimator import EstimatorConfig  # noqa: E402
from model.signal.quality import quality_from_snr  # noqa: E402
from training.nested import mae_10_20  # noqa: E402
from training.tables import per_subject_table, pooled_table  # noqa: E402

STREAMS = {  # name -> EstimatorConfig changes
    "window": {"hr_tracking": False},
    "tracked": {"hr_tracking": True},
    "tracked,narrow0.15": {"hr_tracking": True, "track_half_width_hz": 0.15},
    "tracked,narrow0.25": {"hr_tracking": True, "track_half_width_hz": 0.25},
    "tracked,narrow0.4": {"hr_tracking": True, "track_half_width_hz": 0.4},
    "tracked,narrow0.6": {"hr_tracking": True, "track_half_width_hz": 0.6},
    "context20,0.4": {"hr_tracking": False, "context_s": 20.0, "context_half_width_hz": 0.4},
    "context20,0.6": {"hr_tracking": False, "context_s": 20.0, "context_half_width_hz": 0.6},
    "context30,0.4": {"hr_tracking": False, "context_s": 30.0, "context_half_width_hz": 0.4},
    "context30,0.6": {"hr_tracking": False, "context_s": 30.0, "context_half_width_hz": 0.6},
}
GATE_OPEN_DB = (2.6, 2.0, 1.5, 1.0, 0.5, -0.5, -1.5)  # the gate opens at this SNR and closes 1.2 dB below
SHOWN_WITHIN5_MIN = 0.9


def gate_objective(no_pulse_coverage: dict[str, float]):
    """Lower is better: minus the coverage when the shown readings are right often enough and a
    face without a pulse gets none; else 1 + how far the shown readings fall short."""
    def objective(score) -> float:
        w5 = score.shown_within5
        if no_pulse_coverage.get(score.method, 0.0) > 0.0:
            return 2.0
        if not w5 == w5:
            return 1.5
        return -score.coverage if w5 >= SHOWN_WITHIN5_MIN else 1.0 + (SHOWN_WITHIN5_MIN - w5)
    return objective


def gate_settings(base: EstimatorConfig) -> dict[str, EstimatorConfig]:
    return {f"gate{db:+.1f}dB": replace(base, gate_open=quality_from_snr(db), gate_close=quality_from_snr(db - 1.2))
            for db in GATE_OPEN_DB}


def _no_pulse(megamind: Path | None = None):
    from training.benchmark import cached_no_pulse

    cached = cached_no_pulse(Path(tempfile.mkdtemp(prefix="fcus-nopulse-")), megamind)
    print("faces without a pulse: " + ", ".join(c.name for c in cached))
    return cached


def _choose(label, cands, cached, folds, objective):
    from training.nested import format_choices, nested_choice, score_candidates

    scores = score_candidates(cached, cands)
    result = nested_choice(scores, folds, objective)
    print(f"{label}: " + format_choices(result))
    return scores, result


def main(argv=None) -> int:
    from training.crop_cache import NO_DATA_HINT, add_reference_args, cached_reference_recordings
    from training.fcus_eval import loso_folds
    from training.nested import Candidate, score_candidates

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    ap.add_argument("--methods", default="fcus,pos,chrom", help="comma-separated pulse methods")
    ap.add_argument("--folds", type=int, default=4, help="outer leave-subjects-out folds")
    ap.add_argument("--megamind", type=Path, default=None,
                    help="OpenCV's Megamind.avi, a face without a pulse (default: Debian opencv-doc's path)")
    args = ap.parse_args(argv)
    cached = cached_reference_recordings(args.data, args.cache)
    if cached is None:
        print(f"hr_choices: {NO_DATA_HINT}", file=sys.stderr)
        return 2
    no_pulse = _no_pulse(args.megamind)
    folds = loso_folds([c.name for c in cached], args.folds)
    in_sample, nested = [], []
    for m in [x.strip() for x in args.methods.split(",") if x.strip()]:
        cands = [Candidate(f"{m}:{k}", m, replace(EstimatorConfig(), **v)) for k, v in STREAMS.items()]
        scores, res = _choose(f"{m} stream", cands, cached, folds, mae_10_20)
        in_sample += list(scores.values())
        nested.append(res.held_out.renamed(f"{m}: stream, nested"))
        stream_cfg = next(c.cfg for c in cands if c.name == res.frozen)
        gates = [Candidate(f"{m}:{k}", m, cfg) for k, cfg in gate_settings(stream_cfg).items()]
        np_cov = {name: sc.coverage for name, sc in score_candidates(no_pulse, gates).items()}
        scores, res = _choose(f"{m} gate", gates, cached, folds, gate_objective(np_cov))
        in_sample += list(scores.values())
        held = res.held_out.renamed(f"{m}: gate, nested")
        nested.append(held)
        print(f"  no-pulse coverage per gate: {np_cov}; held-out shown within 5 bpm: {held.shown_within5:.2f}")
    print()
    print(pooled_table(in_sample, "every candidate on all subjects (in-sample)"))
    print()
    print(pooled_table(nested, f"nested: chosen on the other subjects of each of {len(folds)} folds, "
                               "scored on the held-out ones"))
    print()
    print(per_subject_table(nested, "mae20"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
