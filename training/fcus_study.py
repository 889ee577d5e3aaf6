"""``fcus-rppg evaluate``: leave-subjects-out evaluation of FCUS-rPPG against the classic methods
from the same run, printed side by side; with --convergence the study of how many epochs it takes
(the paper's headline: about one), with --variants the ablation of the FCUS components.

Per fold the model is trained on the other subjects' clips (no labels) and scored on the held-out
subjects at each requested epoch; the held-out windows of all folds are pooled. POS and CHROM run
on the same tracking pass and the same windows.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

from model.pulse_methods import CLASSIC_METHOD_NAMES, make_pulse_method
from training.fcus_eval import TorchPulseMethod, bland_altman_png, convergence_png, loso_folds
from training.replay import WINDOWS_S, MethodScore, pooled, score_method
from training.tables import per_subject_table, pooled_table, text_table

log = logging.getLogger(__name__)

# name -> which components are on (masking, smoothing, null_space)
VARIANTS = {
    "fcus": (True, True, True),
    "plain": (False, False, False),
    "no-masking": (False, True, True),
    "no-smoothing": (True, False, True),
    "no-null-space": (True, True, False),
    "no-spatial": (True, True, True),
    "conv3d": (True, True, True),
    "no-envelope": (True, True, True),
    "envelope-1s": (True, True, True),
}
# variants that change the net rather than the training: name -> FcusNetConfig fields
NET_VARIANTS = {
    "no-spatial": {"prior_spatial": False},  # the prior's plain skin mean (before the spatial weighting)
    # with the Conv3d learned path added to the prior (the default before it was measured off)
    "conv3d": {"learned_path": True},
    # the output's envelope normalisation off, and over 1 s (31 frames) instead of 2 s (61)
    "no-envelope": {"envelope_frames": 0},
    "envelope-1s": {"envelope_frames": 31},
}
CONVERGENCE_EPOCHS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


def run_variant(variant: str, cached, folds: list[list[str]], base_cfg, epochs: float, eval_epochs, device: str,
                progress: bool = True) -> dict:
    """Train one variant on every fold; returns {epoch: MethodScore pooled over held-out subjects},
    plus timings."""
    from model.fcus_net import FcusNet, FcusNetConfig
    from training.clips import ClipSampler
    from training.train_loop import train

    masking, smoothing, null_space = VARIANTS[variant]
    by_epoch: dict[float, MethodScore] = {}
    times = []
    for k, test_names in enumerate(folds):
        train_recs = [c for c in cached if c.name not in test_names]
        test_recs = [c for c in cached if c.name in test_names]
        cfg = replace(base_cfg, epochs=epochs, eval_epochs=tuple(eval_epochs), masking=masking,
                      smoothing=smoothing, null_space=null_space, device=device, checkpoint_dir=None,
                      progress=progress)
        sampler = ClipSampler(train_recs, window_frames=cfg.window_frames, batch_size=cfg.batch_size, seed=cfg.seed)
        model = FcusNet(FcusNetConfig(seed=cfg.seed, **NET_VARIANTS.get(variant, {})))
        dev = device if device != "auto" else ("cuda" if _cuda() else "cpu")

        def evaluate(m, _test=test_recs, _dev=dev):
            return {"scores": score_method(TorchPulseMethod(m, device=_dev), _test)}

        t0 = time.perf_counter()
        result = train(model, sampler, cfg, evaluate=evaluate)
        times.append({"fold": k, "test": test_names, "train_time_s": result.train_time_s,
                      "wall_s": time.perf_counter() - t0, "steps_per_epoch": result.steps_per_epoch,
                      "epoch_times_s": result.epoch_times_s, "device": result.device,
                      "masked_share": result.masked_share, "undone_steps": result.undone_steps})
        for ev in result.evaluations:
            e = float(ev["epoch"])
            name = f"{variant}@{e:g}"
            by_epoch[e] = pooled(name, [by_epoch.get(e, MethodScore(name)), ev["result"]["scores"]])
        log.info("variant %s fold %d done in %.0f s", variant, k, times[-1]["wall_s"])
    return {"by_epoch": by_epoch, "times": times}


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def _number_list(cast, what: str, example: str, positive: bool = False):
    """An argparse type: comma-separated numbers (``cast``), at least one (and all > 0 with
    ``positive``); ``what`` and ``example`` word the error."""
    def parse(text: str) -> tuple:
        try:
            values = tuple(cast(x) for x in text.split(",") if x.strip())
        except ValueError:
            values = ()
        if not values or (positive and min(values) <= 0):
            raise argparse.ArgumentTypeError(f"{text!r}: comma-separated {what}, e.g. {example}")
        return values
    return parse


def _variant_list(text: str) -> list[str]:
    variants = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {unknown or [text]}; choose from {', '.join(VARIANTS)}")
    return variants


def _folds(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 2:
        raise argparse.ArgumentTypeError(f"{n}: at least 2 (each fold trains on the others)")
    return n


def _evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fcus-rppg evaluate", description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("--data", type=Path, default=None, help="UBFC-style folder (default ../shared/data/ubfc-dev)")
    p.add_argument("--folds", type=_folds, default=4, help="leave-subjects-out folds, 2 or more (default %(default)s)")
    p.add_argument("--epochs", type=float, default=1.0, help="epochs for the accuracy run (default %(default)g)")
    p.add_argument("--variants", type=_variant_list, default=["fcus"],
                   help=f"comma-separated, of {','.join(VARIANTS)} (default fcus)")
    p.add_argument("--convergence", action="store_true",
                   help=f"evaluate every variant at {', '.join(f'{e:g}' for e in CONVERGENCE_EPOCHS)} epochs "
                        "(trains up to the last; --eval-epochs replaces the list)")
    p.add_argument("--eval-epochs", type=_number_list(float, "positive numbers of epochs", "0.5,1", positive=True),
                   default=None, help="comma-separated epochs to evaluate at")
    p.add_argument("--cache", type=Path, default=None, help="crop cache folder (default: the user cache)")
    p.add_argument("--face-model", default=None,
                   help="MediaPipe face_landmarker.task for the crop cache (default: ../shared/models, else as "
                        "the app finds it)")
    p.add_argument("--device", default="auto", help="torch device for training: auto (CUDA when usable), cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="training seed (default %(default)s; see --seeds)")
    p.add_argument("--seeds", type=_number_list(int, "whole numbers", "0,1,2"), default=None,
                   help="comma-separated seeds (e.g. 0,1,2; replaces --seed): every variant is trained once "
                        "per seed and its rows pool the seeds' held-out windows (their MAE is the mean over "
                        "seeds when every seed scores every window)")
    p.add_argument("--out", type=Path, required=True, help="folder for tables (JSON) and plots (PNG)")
    p.add_argument("--quiet", action="store_true", help="no progress bars and no progress log")
    return p


def evaluate_main(argv: list[str] | None = None) -> int:
    p = _evaluate_parser()
    args = p.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out: {args.out} is a file, not a folder")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")

    from model.fcus_contract import DEFAULT_CONTRACT
    from training.crop_cache import build_cache
    from training.datasets import default_face_model, default_ubfc_root, read_dataset
    from training.train_config import TrainConfig

    root = args.data or default_ubfc_root()
    if root is None:
        print("fcus-rppg evaluate: no data (give --data or put UBFC subjects in ../shared/data/ubfc-dev)",
              file=sys.stderr)
        return 2
    face_model = args.face_model or default_face_model()
    recordings = [r for r in read_dataset(root) if r.ground_truth_path is not None]
    if len(recordings) < args.folds:
        print(f"fcus-rppg evaluate: {len(recordings)} recordings with a reference in {root}, fewer than the "
              f"{args.folds} folds", file=sys.stderr)
        return 2
    cached = build_cache(recordings, args.cache, DEFAULT_CONTRACT, face_model=face_model, progress=not args.quiet)
    eval_epochs = args.eval_epochs or (CONVERGENCE_EPOCHS if args.convergence else (args.epochs,))
    seeds = args.seeds or (args.seed,)
    base = TrainConfig(seed=seeds[0], progress=not args.quiet)
    return run_study(cached, args.variants, args.folds, args.epochs, eval_epochs, args.device, args.out, base,
                     seeds=seeds)


def pool_seed_scores(per_seed: dict[int, dict[float, MethodScore]], variant: str) -> dict[float, MethodScore]:
    """Per epoch, one score holding the held-out windows of every seed. The seeds score the same
    windows, so its MAE (and within-5-bpm share) is the mean of the seeds'."""
    epochs = sorted({e for by_epoch in per_seed.values() for e in by_epoch})
    return {e: pooled(f"{variant}@{e:g}", [by_epoch[e] for by_epoch in per_seed.values() if e in by_epoch])
            for e in epochs}


def run_study(cached, variants: list[str], n_folds: int, final_epochs: float, eval_epochs, device: str,
              out: Path, base, seeds=None) -> int:
    """Classic baselines + every variant on leave-subjects-out folds, once per seed (``seeds``,
    default ``base.seed``; the variants' rows pool the seeds); prints the tables and writes
    evaluation.json, bland_altman.png and (with several eval epochs) convergence.png to ``out``."""
    seeds = tuple(seeds) if seeds else (base.seed,)
    folds = loso_folds([c.name for c in cached], n_folds)
    epochs = max(max(eval_epochs), final_epochs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    # classic baselines on the same recordings and windows
    t0 = time.perf_counter()
    classic = {m: score_method(make_pulse_method(m), cached) for m in CLASSIC_METHOD_NAMES}
    results = {}
    for v in variants:
        runs = {sd: run_variant(v, cached, folds, replace(base, seed=sd), epochs, eval_epochs, device,
                                progress=base.progress) for sd in seeds}
        per_seed = {sd: r["by_epoch"] for sd, r in runs.items()}
        results[v] = {"by_epoch": pool_seed_scores(per_seed, v), "per_seed": per_seed,
                      "times": [dict(t, seed=sd) for sd, r in runs.items() for t in r["times"]]}
    print(f"folds (held-out subjects): {folds}")
    if len(seeds) > 1:
        print(f"seeds {list(seeds)}: each variant's rows pool the seeds' held-out windows (MAE = mean over seeds)")
    print(f"evaluated in {time.perf_counter() - t0:.0f} s")
    first = results[variants[0]]["by_epoch"]
    final_e = final_epochs if final_epochs in first else max(first)
    table = {f"{v}@{final_e:g}ep": results[v]["by_epoch"][final_e].renamed(f"{v}@{final_e:g}ep")
             for v in variants if final_e in results[v]["by_epoch"]}
    table.update(classic)
    _print_study(table, results, variants, len(folds), seeds, final_e, eval_epochs)
    fcus_final = table.get(f"{variants[0]}@{final_e:g}ep")
    _write_study(out, folds, table, results, variants, seeds, final_e, eval_epochs, classic, fcus_final)
    return 0


def _print_study(table: dict, results: dict, variants: list[str], n_folds: int, seeds, final_e: float,
                 eval_epochs) -> None:
    print()
    print(pooled_table(list(table.values()), f"held-out subjects, pooled over {n_folds} leave-subjects-out folds"))
    print()
    print(per_subject_table(list(table.values()), "mae20"))
    if len(seeds) > 1:
        print()
        print(seed_table(results, final_e))
    if len(eval_epochs) > 1:
        print()
        print(convergence_table(results, eval_epochs))
    for v in variants:
        per_fold = ", ".join(f"{t['train_time_s']:.0f}s/{t['device']}" for t in results[v]["times"])
        print(f"train time per fold ({v}): {per_fold}")


def _by_epoch_rows(by_epoch: dict) -> dict:
    return {f"{e:g}": {f"{w:.0f}s": sc.metrics(w).row() for w in WINDOWS_S} for e, sc in sorted(by_epoch.items())}


def _write_study(out: Path, folds, table: dict, results: dict, variants: list[str], seeds, final_e: float,
                 eval_epochs, classic: dict, fcus_final) -> None:
    """evaluation.json, bland_altman.png and (with several eval epochs) convergence.png."""
    if fcus_final is not None:
        bland_altman_png(fcus_final.pairs(20.0), out / "bland_altman.png",
                         f"{variants[0]} @ {final_e:g} epoch(s), 20 s windows, held-out subjects"
                         + (f", {len(seeds)} seeds pooled" if len(seeds) > 1 else ""))
    if len(eval_epochs) > 1:
        curves = {v: [(e, sc.metrics(20.0).mae_bpm) for e, sc in sorted(results[v]["by_epoch"].items())]
                  for v in variants}
        convergence_png(curves, out / "convergence.png",
                        {m: classic[m].metrics(20.0).mae_bpm for m in ("pos", "chrom")})
    dump = {
        "folds": folds,
        "table": {k: sc.summary() for k, sc in table.items()},
        "convergence": {v: _by_epoch_rows(results[v]["by_epoch"]) for v in variants},
        "times": {v: results[v]["times"] for v in variants},
        "seeds": list(seeds),
        "per_seed": {v: {str(sd): _by_epoch_rows(by_epoch) for sd, by_epoch in results[v]["per_seed"].items()}
                     for v in variants},
    }
    (out / "evaluation.json").write_text(json.dumps(dump, indent=2, default=float))
    print(f"written: {out}/evaluation.json" + (", bland_altman.png" if fcus_final else "")
          + (", convergence.png" if len(eval_epochs) > 1 else ""))


def seed_table(results: dict, epoch: float) -> str:
    """Held-out MAE @20 s of every variant for each seed, and their mean, at ``epoch``."""
    seeds = sorted({sd for res in results.values() for sd in res["per_seed"]})
    head = ["variant"] + [f"seed {sd}" for sd in seeds] + ["mean"]
    rows = []
    for v, res in results.items():
        maes = [res["per_seed"][sd][epoch].metrics(20.0).mae_bpm if epoch in res["per_seed"].get(sd, {}) else None
                for sd in seeds]
        have = [m for m in maes if m is not None]
        rows.append([v] + ["-" if m is None else f"{m:.2f}" for m in maes]
                    + [f"{sum(have) / len(have):.2f}" if have else "-"])
    return text_table(head, rows, f"held-out MAE @20 s by seed ({epoch:g} epochs)", rule=False)


def convergence_table(results: dict, eval_epochs) -> str:
    head = ["variant"] + [f"MAE@20s {e:g}ep" for e in eval_epochs]
    rows = []
    for v, res in results.items():
        row = [v]
        for e in eval_epochs:
            sc = res["by_epoch"].get(float(e))
            row.append("-" if sc is None else f"{sc.metrics(20.0).mae_bpm:.2f}")
        rows.append(row)
    return text_table(head, rows, "convergence (held-out MAE @20 s by epochs trained)", rule=False)
