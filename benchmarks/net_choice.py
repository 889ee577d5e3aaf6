"""A choice between network variants (``fcus-rppg evaluate``'s variants) made inside nested
leave-subjects-out folds: for each outer fold, every variant is trained (1 epoch, no labels) in
inner leave-subjects-out folds of the outer fold's training subjects and scored on their inner
held-out subjects; the variant with the best inner objective (mean of MAE@10s and MAE@20s) is
then trained on all the outer training subjects and scored once on the outer held-out subjects,
which took part in neither the training nor the choice. The frozen choice is the variant the same
objective picks on the outer folds pooled (every subject held out once).

    python benchmarks/net_choice.py [--cache DIR] [--data DIR] [--variants fcus,no-spatial] [--seed 0]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def fold_scores(variant: str, recordings, folds, seed: int):
    """``fcus-rppg evaluate``'s run of one variant (1 epoch) over ``folds`` of ``recordings``: the
    held-out subjects' scores, pooled."""
    from training.fcus_study import run_variant
    from training.train_config import TrainConfig

    run = run_variant(variant, list(recordings), [list(f) for f in folds], TrainConfig(progress=False, seed=seed),
                      1.0, (1.0,), "cpu", progress=False)
    return run["by_epoch"][1.0]


def main(argv=None) -> int:
    from training.crop_cache import NO_DATA_HINT, add_reference_args, cached_reference_recordings
    from training.fcus_eval import loso_folds
    from training.nested import mae_10_20
    from training.replay import MethodScore
    from training.tables import per_subject_table, pooled_table

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    ap.add_argument("--variants", default="fcus,no-spatial", help="comma-separated evaluate variants")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    cached = cached_reference_recordings(args.data, args.cache)
    if cached is None:
        print(f"net_choice: {NO_DATA_HINT}", file=sys.stderr)
        return 2
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    outer: dict[str, list] = {v: [] for v in variants}
    nested: list = []
    for test in loso_folds([c.name for c in cached], 4):
        train_recs = [c for c in cached if c.name not in test]
        inner_folds = loso_folds([c.name for c in train_recs], 3)
        objective = {v: mae_10_20(fold_scores(v, train_recs, inner_folds, args.seed)) for v in variants}
        chosen = min(objective, key=objective.get)
        for v in variants:
            sc = fold_scores(v, cached, [test], args.seed)
            outer[v].extend(sc.clips)
            if v == chosen:
                nested.extend(sc.clips)
        print(f"held out {','.join(test)}: inner objective "
              + ", ".join(f"{v} {o:.2f}" for v, o in objective.items()) + f" -> {chosen}", flush=True)
    rows = [MethodScore(f"{v} (every fold)", clips=c) for v, c in outer.items()]
    rows.append(MethodScore("nested choice", clips=nested))
    frozen = min(variants, key=lambda v: mae_10_20(MethodScore(v, clips=outer[v])))
    print()
    print(pooled_table(rows, f"held-out subjects, 1 epoch, seed {args.seed}"))
    print()
    print(per_subject_table(rows, "mae20"))
    print()
    print(per_subject_table(rows, "mae10"))
    print(f"\nfrozen choice (all subjects held out once): {frozen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
