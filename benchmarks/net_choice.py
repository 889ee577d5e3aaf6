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
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def train_and_score(variant: str, train_recs, test_recs, seed: int):
    """One variant trained on ``train_recs`` (1 epoch) and scored on ``test_recs``."""
    from model.fcus_net import FcusNet, FcusNetConfig
    from training.clips import ClipSampler
    from training.fcus_eval import TorchPulseMethod
    from training.fcus_study import NET_VARIANTS, VARIANTS
    from training.replay import score_method
    from training.train_config import TrainConfig
    from training.train_loop import train

    masking, smoothing, null_space = VARIANTS[variant]
    cfg = replace(TrainConfig(progress=False), epochs=1.0, eval_epochs=(), checkpoint_dir=None, seed=seed,
                  masking=masking, smoothing=smoothing, null_space=null_space)
    sampler = ClipSampler(list(train_recs), window_frames=cfg.window_frames, batch_size=cfg.batch_size, seed=seed)
    model = FcusNet(FcusNetConfig(seed=seed, **NET_VARIANTS.get(variant, {})))
    train(model, sampler, cfg)
    return score_method(TorchPulseMethod(model), list(test_recs), label=variant)


def main(argv=None) -> int:
    from training.crop_cache import NO_DATA_HINT, cached_reference_recordings
    from training.fcus_eval import loso_folds
    from training.nested import mae_10_20
    from training.replay import MethodScore
    from training.tables import per_subject_table, pooled_table

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=None, help="crop cache folder (default: the user cache)")
    ap.add_argument("--data", type=Path, default=None, help="UBFC-style folder (default ../shared/data/ubfc-dev)")
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
        inner_scores = {v: MethodScore(v) for v in variants}
        for inner_test in loso_folds([c.name for c in train_recs], 3):
            inner_train = [c for c in train_recs if c.name not in inner_test]
            inner_held = [c for c in train_recs if c.name in inner_test]
            for v in variants:
                inner_scores[v].clips.extend(train_and_score(v, inner_train, inner_held, args.seed).clips)
        objective = {v: mae_10_20(sc) for v, sc in inner_scores.items()}
        chosen = min(objective, key=objective.get)
        held = [c for c in cached if c.name in test]
        for v in variants:
            sc = train_and_score(v, train_recs, held, args.seed)
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
