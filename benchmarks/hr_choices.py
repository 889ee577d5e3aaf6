"""Estimator choices inside nested leave-subjects-out folds: HR tracking across windows (Viterbi,
``EstimatorConfig.hr_tracking``) against window-by-window reading, the median over the last
accepted readings and the BVP stream narrowed around the tracked HR (``track_half_width_hz``),
for each pulse method on the UBFC subjects' crop cache.

Prints every candidate on all subjects (in-sample: the table a tuned choice is usually reported
with), then, per method, the nested result: each outer fold's choice made on the other subjects
and scored on its own, pooled, with the frozen choice. The shipped FCUS model was trained (no
labels) on these same subjects, so its rows are in-sample for the network itself.

    python benchmarks/hr_choices.py [--cache DIR] [--data DIR] [--methods fcus,pos,chrom]
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.estimator import EstimatorConfig  # noqa: E402
from training.tables import per_subject_table, pooled_table  # noqa: E402

SETTINGS = {  # name -> EstimatorConfig changes
    "window": {"hr_tracking": False, "hr_median_n": 3},
    "window-nomedian": {"hr_tracking": False, "hr_median_n": 1},
    "tracked": {"hr_tracking": True, "hr_median_n": 1},
    "tracked+median": {"hr_tracking": True, "hr_median_n": 3},
    "tracked,narrow0.15": {"hr_tracking": True, "hr_median_n": 1, "track_half_width_hz": 0.15},
    "tracked,narrow0.25": {"hr_tracking": True, "hr_median_n": 1, "track_half_width_hz": 0.25},
    "tracked,narrow0.4": {"hr_tracking": True, "hr_median_n": 1, "track_half_width_hz": 0.4},
    "tracked,narrow0.6": {"hr_tracking": True, "hr_median_n": 1, "track_half_width_hz": 0.6},
}


def main(argv=None) -> int:
    from model.fcus_contract import DEFAULT_CONTRACT
    from training.crop_cache import build_cache
    from training.datasets import default_face_model, default_ubfc_root, read_dataset
    from training.fcus_eval import loso_folds
    from training.nested import Candidate, format_choices, nested_choice, score_candidates

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=None, help="crop cache folder (default: the user cache)")
    ap.add_argument("--data", type=Path, default=None, help="UBFC-style folder (default ../shared/data/ubfc-dev)")
    ap.add_argument("--methods", default="fcus,pos,chrom", help="comma-separated pulse methods")
    ap.add_argument("--folds", type=int, default=4, help="outer leave-subjects-out folds")
    args = ap.parse_args(argv)
    root = args.data or default_ubfc_root()
    if root is None:
        print("hr_choices: no data (give --data or put UBFC subjects in ../shared/data/ubfc-dev)", file=sys.stderr)
        return 2
    recordings = [r for r in read_dataset(root) if r.ground_truth_path is not None]
    cached = build_cache(recordings, args.cache, DEFAULT_CONTRACT, face_model=default_face_model())
    folds = loso_folds([c.name for c in cached], args.folds)
    base = EstimatorConfig()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    all_scores, nested = [], []
    for m in methods:
        cands = [Candidate(f"{m}:{k}", m, replace(base, **v)) for k, v in SETTINGS.items()]
        scores = score_candidates(cached, cands)
        all_scores += list(scores.values())
        result = nested_choice(scores, folds)
        nested.append(result.held_out.renamed(f"{m}: nested choice"))
        print(f"{m}: " + format_choices(result))
    print()
    print(pooled_table(all_scores, "every candidate on all 8 subjects (in-sample)"))
    print()
    print(pooled_table(nested, f"nested: chosen on the other subjects of each of {len(folds)} folds, "
                               "scored on the held-out ones"))
    print()
    print(per_subject_table(nested, "mae20"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
