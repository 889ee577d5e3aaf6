"""What adapting the model to one person's clip (no labels) does, on subjects the model never saw.

Per outer leave-subjects-out fold of the UBFC dev subjects: a model trained (1 epoch, no labels)
on the fold's other subjects; then, for each held-out subject, that model as it is and the same
model fine-tuned on the held-out subject's own clip for a number of steps (the unsupervised FCUS
objective: no label is read), each scored once on that clip. This is what ``fcus-rppg analyze
--adapt`` does with the shipped model. The steps and learning rate of ``--adapt`` are fixed in
``training.adapt.AdaptConfig`` and were not chosen on these scores; the other rows show how
sensitive the effect is to them.

    python benchmarks/adapt_study.py [--cache DIR] [--data DIR] [--steps 0,6,12,24]
"""

import argparse
import copy
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def held_out_runs(cached, steps_list: list[int]) -> tuple[dict, dict, dict]:
    """Per adaptation setting: the held-out clip scores at the shipped gate, the same with every
    update shown, and the seconds each adaptation took."""
    from model.estimator import EstimatorConfig
    from model.fcus_net import FcusNet, FcusNetConfig
    from model.pulse_methods import estimator_config
    from training.adapt import AdaptConfig, adapt_model
    from training.clips import ClipSampler
    from training.fcus_eval import TorchPulseMethod, loso_folds
    from training.replay import score_method
    from training.train_config import TrainConfig
    from training.train_loop import train

    base = replace(TrainConfig(progress=False), epochs=1.0, eval_epochs=(), checkpoint_dir=None)
    fcus_cfg = estimator_config("fcus", EstimatorConfig())
    ungated = replace(fcus_cfg, gate_open=0.0, gate_close=0.0)  # every update shown: the ceiling of any gate
    held: dict[str, list] = {}
    every_held: dict[str, list] = {}
    times: dict[int, list[float]] = {}
    for test in loso_folds([c.name for c in cached], 4):
        train_recs = [c for c in cached if c.name not in test]
        sampler = ClipSampler(train_recs, window_frames=base.window_frames, batch_size=base.batch_size, seed=base.seed)
        fold_model = FcusNet(FcusNetConfig(seed=base.seed))
        train(fold_model, sampler, base)
        for rec in (c for c in cached if c.name in test):
            for steps in steps_list:
                model = copy.deepcopy(fold_model)
                t0 = time.perf_counter()
                if steps:
                    adapt_model(model, [rec], replace(AdaptConfig(), steps=steps))
                times.setdefault(steps, []).append(time.perf_counter() - t0)
                label = "fold model, not adapted" if steps == 0 else f"adapted on the clip, {steps} steps"
                sc = score_method(TorchPulseMethod(model), [rec], label=label, cfg=fcus_cfg)
                every = score_method(TorchPulseMethod(model), [rec], label=label, cfg=ungated)
                held.setdefault(label, []).extend(sc.clips)
                every_held.setdefault(label, []).extend(every.clips)
                print(f"held out {rec.name}: {label}: {sc.metrics(10.0).mae_bpm:.2f} / {sc.metrics(20.0).mae_bpm:.2f} "
                      f"(MAE@10s / @20s), coverage {sc.coverage:.2f}, all readings within 5 bpm "
                      f"{every.shown_within5:.2f}", flush=True)
    return held, every_held, times


def main(argv=None) -> int:
    from training.adapt import AdaptConfig
    from training.crop_cache import NO_DATA_HINT, add_reference_args, cached_reference_recordings
    from training.replay import MethodScore
    from training.tables import per_subject_table, pooled_table

    steps = AdaptConfig().steps
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    ap.add_argument("--steps", default=f"0,{steps // 2},{steps},{2 * steps}",
                    help="adaptation steps to compare (0: the fold model as it is)")
    args = ap.parse_args(argv)
    cached = cached_reference_recordings(args.data, args.cache)
    if cached is None:
        print(f"adapt_study: {NO_DATA_HINT}", file=sys.stderr)
        return 2
    held, every_held, times = held_out_runs(cached, [int(s) for s in args.steps.split(",") if s.strip()])
    rows = [MethodScore(k, clips=v) for k, v in held.items()]
    print()
    print(pooled_table(rows, "held-out subjects: fold models, and the same models adapted on each held-out clip"))
    print()
    print(per_subject_table(rows, "mae20"))
    print()
    print(per_subject_table(rows, "mae10"))
    print()
    for k, v in every_held.items():
        print(f"{k}: {MethodScore(k, clips=v).shown_within5:.2f} of all readings (no gate) within 5 bpm")
    for n, ts in times.items():
        print(f"{n} steps: {sum(ts) / len(ts):.1f} s of adaptation per clip (mean of {len(ts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
