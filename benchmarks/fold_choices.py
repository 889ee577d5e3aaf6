"""The FCUS stream choice of ``benchmarks/hr_choices.py`` made the way the product makes it, per
outer fold: a model trained (1 epoch, no labels) on the fold's 6 training subjects, the stream
setting chosen on those same 6 subjects' outputs (in-sample for the net, as the shipped model is
for the dev subjects), then the fold's model with the chosen setting scored once on the 2 held-out
subjects, which took part in neither the training nor the choice.

    python benchmarks/fold_choices.py [--cache DIR] [--data DIR]
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.estimator import EstimatorConfig  # noqa: E402
from model.pulse_methods import estimator_config  # noqa: E402

STREAMS = {
    "window": {"hr_tracking": False, "track_half_width_hz": None},
    "tracked": {"hr_tracking": True, "track_half_width_hz": None},
    "tracked,narrow0.15": {"hr_tracking": True, "track_half_width_hz": 0.15},
    "tracked,narrow0.25": {"hr_tracking": True, "track_half_width_hz": 0.25},
    "tracked,narrow0.6": {"hr_tracking": True, "track_half_width_hz": 0.6},
}


def mae_10_20(score) -> float:
    return (score.metrics(10.0).mae_bpm + score.metrics(20.0).mae_bpm) / 2.0


def fold_scores(cached, test_names, base_cfg) -> dict:
    """Train on the fold's other subjects; every stream setting's score on every subject."""
    from model.fcus_net import FcusNet, FcusNetConfig
    from training.clips import ClipSampler
    from training.fcus_eval import TorchPulseMethod
    from training.replay import score_method
    from training.train_loop import train

    train_recs = [c for c in cached if c.name not in test_names]
    cfg = replace(base_cfg, epochs=1.0, eval_epochs=(1.0,), checkpoint_dir=None, progress=False)
    sampler = ClipSampler(train_recs, window_frames=cfg.window_frames, batch_size=cfg.batch_size, seed=cfg.seed)
    fcus_cfg = estimator_config("fcus", EstimatorConfig())

    def evaluate(m):
        method = TorchPulseMethod(m)
        return {name: score_method(method, cached, label=name, cfg=replace(fcus_cfg, **v))
                for name, v in STREAMS.items()}

    result = train(FcusNet(FcusNetConfig(seed=cfg.seed)), sampler, cfg, evaluate=evaluate)
    return result.evaluations[-1]["result"]


def main(argv=None) -> int:
    from training.crop_cache import NO_DATA_HINT, cached_reference_recordings
    from training.fcus_eval import loso_folds
    from training.nested import choose
    from training.replay import MethodScore
    from training.tables import per_subject_table, pooled_table
    from training.train_config import TrainConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=None, help="crop cache folder (default: the user cache)")
    ap.add_argument("--data", type=Path, default=None, help="UBFC-style folder (default ../shared/data/ubfc-dev)")
    args = ap.parse_args(argv)
    cached = cached_reference_recordings(args.data, args.cache)
    if cached is None:
        print(f"fold_choices: {NO_DATA_HINT}", file=sys.stderr)
        return 2
    folds = loso_folds([c.name for c in cached], 4)
    held: dict[str, list] = {"nested choice": [], **{k: [] for k in STREAMS}}
    for test in folds:
        scores = fold_scores(cached, test, TrainConfig(progress=False))
        inner = {c.name for c in cached} - set(test)
        chosen, _ = choose(scores, inner, mae_10_20)
        print(f"held out {','.join(test)}: chosen on the other 6 -> {chosen}")
        for name, sc in scores.items():
            held[name] += [c for c in sc.clips if c.name in test]
        held["nested choice"] += [c for c in scores[chosen].clips if c.name in test]
    rows = [MethodScore(f"fcus fold models: {k}", clips=v) for k, v in held.items()]
    print(pooled_table(rows, "held-out subjects, fold-trained models (each setting, and the nested choice)"))
    print()
    print(per_subject_table(rows, "mae20"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
