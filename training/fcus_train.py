"""Unsupervised FCUS-rPPG training: the ``fcus-rppg train`` command, and what a run does.

The parts, one module each: ``training.train_config`` (``TrainConfig``, ``TrainResult``),
``training.clips`` (the data: ``ClipSampler``), ``model.fcus_net`` (the network),
``training.fcus_losses`` (the losses), ``training.fcus_components`` (the three FCUS components),
``training.train_step`` (one step), ``training.train_loop`` (``train``: the loop),
``training.train_state`` (checkpoints), ``training.orient`` (the sign after training) and
``training.distributed`` (several processes under torchrun).

``train(model, sampler, config)`` runs the loop: for each batch of clips from the sampler
(``training.clips.ClipSampler``: ``len()`` batches per epoch, ``iter_epoch(epoch, fraction)``,
``two_views(batch, rng)``), the model predicts the BVP of two spatially augmented views of the
same clips; the loss is ``training.fcus_losses.total_unsupervised_loss`` (spectral priors plus
cross-view agreement and cross-clip disagreement) and the three FCUS components of
``training.fcus_components`` apply, each behind its own switch (docs/ARCHITECTURE.md, "FCUS-rPPG as
we build it"):

- ``masking``: post-verification masking (samples whose prediction fails the pulse prior get a
  zero gradient; during the first ``mask_warmup_epochs`` only the weak-amplitude check applies,
  since an untrained net's output fails the spectral checks almost everywhere; at least
  ``mask_min_keep`` of each batch is kept) and the step verifier (a step that makes the batch
  worse is undone);
- ``smoothing``: the gradient is taken at SAM-perturbed (or randomly perturbed) weights;
- ``null_space``: a running noise subspace from the features of background crops and of the
  out-of-band part of the face features; the in-band face features are penalised for lying in
  it (and/or the gradient reaching the features is projected out of it).

Determinism: every step draws its randomness (view augmentation, random perturbations) from
generators seeded by ``(seed, step)``, so a run resumed from a checkpoint continues exactly as
the uninterrupted run would. Checkpoints (``checkpoint_dir/train_state.pt``) hold tensors and a
JSON string only and are read with ``torch.load(weights_only=True)``: never arbitrary pickles.

Ground truth never enters training. After training, ``orient_like_pos`` fixes the sign (the
losses are sign-blind) so the BVP rises with the blood volume like POS's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from torch import nn

from model.results_io import write_files_atomic
from training.distributed import DEFAULT_TIMEOUT_S, SINGLE, DistEnv, all_gather_objects, barrier
from training.sharding import shard_rows
from training.train_config import TrainConfig, TrainResult
from training.train_loop import train
from training.train_state import atomic_torch_save, fcus_export_module, jsonable

WEIGHTS_FILE = "fcus_weights.pt"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fcus-rppg train",
        description="Train the FCUS-rPPG model without labels (ground truth is never used). "
                    "Under torchrun (torchrun --nproc-per-node=N --no-python fcus-rppg train ...) "
                    "the same command trains on N processes with DistributedDataParallel.",
    )
    p.add_argument("--data", action="append", default=[], metavar="DIR",
                   help="dataset folder (UBFC, PURE, app sessions or a folder of videos); repeatable")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder: checkpoint, weights, summary")
    p.add_argument("--epochs", type=float, default=1.0, help="epochs (fractions allowed; default 1)")
    p.add_argument("--batch-size", type=int, default=4,
                   help="clips per step, the global batch: split across the processes of a distributed run")
    p.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate (default 3e-3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample order, augmentations and init")
    p.add_argument("--init", default=None, metavar="WEIGHTS",
                   help="start from these weights (fine-tuning), e.g. assets/fcus_rppg_weights.pt; "
                        "the net's architecture comes from the file")
    p.add_argument("--learned-path", choices=("on", "off"), default=None,
                   help="a fresh net with (on) or without (off: the trained colour prior alone) its Conv3d "
                        "learned path (default: FcusNetConfig's); with --init the file decides")
    p.add_argument("--no-masking", action="store_true", help="switch off post-verification masking")
    p.add_argument("--no-smoothing", action="store_true", help="switch off perturbation-based smoothing")
    p.add_argument("--no-null-space", action="store_true", help="switch off null-space regularisation")
    p.add_argument("--exclude", default="",
                   help="comma-separated recording names to leave out (e.g. subject3,subject8)")
    p.add_argument("--cache", default=None, metavar="DIR", help="crop cache folder (default: the user cache)")
    p.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="add N synthetic 20 s clips (fcus-rppg synth: a face at rest or swaying, HR 45-180 bpm), "
                        "written to OUT/synthetic (about 47 MB each, MJPG) and kept for the next run")
    p.add_argument("--device", default="auto",
                   help="auto (CUDA when present) | cpu | cuda; a distributed run takes LOCAL_RANK's GPU")
    p.add_argument("--no-resume", action="store_true", help="start afresh even when OUT holds a checkpoint")
    p.add_argument("--checkpoint-every", type=int, default=100, metavar="STEPS",
                   help="write a resumable checkpoint every STEPS steps (default 100)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--face-model", default=None, help="MediaPipe face landmarker (for building the cache)")
    p.add_argument("--dist-timeout-s", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help="distributed runs: how long a collective waits for the other processes before "
                        "the run ends with an error (default 1800: the crop cache is built first)")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    return p


def _synthetic_recordings(n: int, out: Path, seed: int) -> list:
    """Write ``n`` synthetic clips (varied HR, at rest and swaying) under ``out/synthetic``."""
    from training.datasets import read_dataset
    from training.synth import SUITE_HR_BPM, SynthConfig, write_clip

    root = out / "synthetic"
    names = set()
    for i in range(n):
        hr = SUITE_HR_BPM[i % len(SUITE_HR_BPM)]
        motion = "rest" if (i // len(SUITE_HR_BPM)) % 2 == 0 else "sway"  # "none" is a photograph
        sc = SynthConfig(hr_bpm=hr, motion=motion, seed=seed + i, illumination_drift=0.02)
        folder = root / f"synth{i:02d}_{sc.slug}"
        names.add(folder.name)
        if not (folder / "ground_truth.txt").is_file():
            write_clip(sc, folder, progress=False)
    # these N clips only: an earlier run's other clips in the same folder are not this run's
    return [r for r in read_dataset(root, kind="ubfc") if r.name in names]


class _Refused(Exception):
    """A problem with the command line or the data: the message goes to the user, exit 2."""


def _check_args(args: argparse.Namespace) -> None:
    """What can be checked before any heavy work."""
    if not args.data and not args.synthetic:
        raise _Refused("give --data DIR (repeatable) and/or --synthetic N")
    for d in args.data:
        if not Path(d).exists():
            raise _Refused(f"{d} does not exist")
    if args.batch_size < 1 or args.synthetic < 0 or not args.epochs > 0 or not args.lr > 0:
        raise _Refused("--batch-size must be >= 1, --epochs and --lr > 0, --synthetic >= 0")
    if args.checkpoint_every < 0 or (args.threads is not None and args.threads < 1):
        raise _Refused("--checkpoint-every must be >= 0 and --threads >= 1")
    if args.init and args.learned_path is not None:
        raise _Refused("--learned-path sets up a fresh net; with --init the weights file decides")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _Refused(f"cannot create --out {out}: {e}") from None
    if not os.access(out, os.W_OK):
        raise _Refused(f"--out {out} is not writable")


def _initial_model(args: argparse.Namespace, seed: int):
    """``(model, net_config)``: the --init weights, else a fresh FcusNet."""
    from model.fcus_net import FcusNet, FcusNetConfig

    if not args.init:
        cfg = FcusNetConfig(seed=seed)
        if args.learned_path is not None:
            cfg = replace(cfg, learned_path=args.learned_path == "on")
        return FcusNet(cfg), cfg

    fx = fcus_export_module()
    if fx is None:
        raise _Refused("--init needs model.fcus_export")
    try:
        model, _ = fx.model_from_checkpoint(args.init)
    except Exception as e:  # noqa: BLE001 - a damaged file raises many kinds
        raise _Refused(f"cannot load --init {args.init}: {e}") from None
    return model, model.config


def _recordings(args: argparse.Namespace, out: Path, env: DistEnv) -> tuple[list, set[str], list]:
    """``(recordings, excluded, passed_over)``: every recording the --data folders hold (each once,
    however often named), less --exclude, plus --synthetic's; what a folder scan passed over as
    ``(name, reason)``. Says on the console what was passed over, named twice or excluded by a name
    that matches nothing."""
    from training.datasets import scan_dataset

    recordings, passed_over, seen = [], [], set()
    twice = 0
    for d in args.data:
        try:
            scan = scan_dataset(Path(d))
        except ValueError as e:
            raise _Refused(str(e)) from None
        passed_over += scan.passed_over
        for r in scan.recordings:
            key = Path(r.source_path).resolve()
            if key in seen:
                twice += 1
                continue
            seen.add(key)
            recordings.append(r)
    excluded = {s.strip() for s in args.exclude.split(",") if s.strip()}
    unmatched = sorted(excluded - {r.name for r in recordings})
    recordings = [r for r in recordings if r.name not in excluded]
    if env.is_main:
        for name, why in passed_over:
            print(f"fcus-rppg train: skipping {name}: {why}", file=sys.stderr)
        if twice:
            print(f"fcus-rppg train: {twice} recording{'s' if twice > 1 else ''} named more than once, used once",
                  file=sys.stderr)
        if unmatched:
            print(f"fcus-rppg train: --exclude: no recording is named {', '.join(unmatched)}", file=sys.stderr)
    if args.synthetic:
        synthetic = _synthetic_recordings(args.synthetic, out, args.seed) if env.local_rank == 0 else None
        barrier(env)  # one writer per machine; the others read the clips it wrote
        recordings.extend(synthetic if synthetic is not None
                          else _synthetic_recordings(args.synthetic, out, args.seed))
    if not recordings:
        above = f" ({len(passed_over)} passed over, above)" if passed_over else ""
        raise _Refused(f"no recordings to train on{above}")
    return recordings, excluded, passed_over


def _cached_recordings(recordings: list, args: argparse.Namespace, contract, env: DistEnv) -> tuple[list, list]:
    """The crop cache of every readable recording, built in parallel by the processes of each
    machine (complete entries only); ``(cached, skipped)`` with ``(name, reason)`` per skip."""
    from training import crop_cache

    setup = crop_cache.open_cache(args.cache, args.face_model)
    mine = crop_cache.build_missing(recordings, setup, contract, part=(env.local_rank, env.local_world_size),
                                    progress=env.is_main and sys.stderr.isatty())
    barrier(env)
    skipped = sorted({s for part in all_gather_objects(mine, env) for s in part})
    bad = {name for name, _ in skipped}  # unreadable on some machine: left out everywhere
    cached = crop_cache.load_cached([r for r in recordings if r.name not in bad], setup, contract)
    if env.is_main:
        for name, why in skipped:
            print(f"fcus-rppg train: skipping {name}: {why}", file=sys.stderr)
        if skipped:
            print(f"fcus-rppg train: skipped {len(skipped)} of {len(recordings)} recordings", file=sys.stderr)
    if not cached:
        raise _Refused("none of the recordings could be read")
    short = [c for c in cached if int(np.sum(c.valid)) < contract.window_frames]
    need_s = contract.window_frames / contract.fs_hz
    for c in short:  # a clip shorter than one training window gives the sampler nothing
        why = f"{int(np.sum(c.valid)) / contract.fs_hz:.1f} s of face, a training window needs {need_s:.1f} s"
        skipped.append((c.name, why))
        if env.is_main:
            print(f"fcus-rppg train: skipping {c.name}: {why}", file=sys.stderr)
    cached = [c for c in cached if all(c is not x for x in short)]
    if not cached:
        raise _Refused("no recording has a face in enough frames for one window")
    return cached, skipped


def train_main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    env = SINGLE
    try:
        _check_args(args)
        model, net_cfg = _initial_model(args, args.seed)
        from training.distributed import init as init_distributed

        try:
            env = init_distributed(args.device, args.dist_timeout_s)
        except ValueError as e:  # torchrun's variables or the GPUs do not fit
            raise _Refused(str(e)) from None
        return _train_command(args, argv, model, net_cfg, env)
    except _Refused as e:
        print(f"fcus-rppg train: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: how to go on
        state = Path(args.out) / "checkpoint" / "train_state.pt"
        if state.is_file():
            again = "the same command without --no-resume" if args.no_resume else "the same command"
            how = f"{again} resumes from the last checkpoint ({state})"
        else:
            how = "no training step was saved yet; the clips tracked so far stay in the crop cache"
        if env.is_main:
            print(f"\nfcus-rppg train: interrupted; {how}", file=sys.stderr)
        return 130
    except ImportError as e:
        print(f"fcus-rppg train: a training module is missing ({e})", file=sys.stderr)
        return 2
    except Exception as e:
        if env.distributed:  # name the rank: torchrun then ends the others
            print(f"fcus-rppg train: rank {env.rank} of {env.world_size} failed: {type(e).__name__}: {e}",
                  file=sys.stderr)
        raise
    finally:
        from training.distributed import shutdown

        shutdown(env)


def _train_command(args: argparse.Namespace, argv: list[str] | None, model, net_cfg, env: DistEnv) -> int:
    from model.fcus_contract import DEFAULT_CONTRACT
    from training.clips import ClipSampler

    out = Path(args.out)
    contract = DEFAULT_CONTRACT
    cfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, fs_hz=contract.fs_hz,
        window_frames=contract.window_frames, masking=not args.no_masking, smoothing=not args.no_smoothing,
        null_space=not args.no_null_space, device=args.device, checkpoint_dir=str(out / "checkpoint"),
        resume=not args.no_resume, checkpoint_every=args.checkpoint_every, num_threads=args.threads,
        init_weights=str(Path(args.init).resolve()) if args.init else None,
        progress=sys.stderr.isatty(),  # a bar redrawn into a log file leaves escape codes in it
    )
    if not env.distributed:  # settings that cannot resume OUT's run: said before minutes of tracking
        from training.train_state import STATE_FILE, check_settings_early

        try:
            check_settings_early(Path(cfg.checkpoint_dir) / STATE_FILE, cfg, model)
        except ValueError as e:
            raise _Refused(str(e)) from None
    recordings, excluded, passed_over = _recordings(args, out, env)
    cached, skipped = _cached_recordings(recordings, args, contract, env)
    skipped = passed_over + skipped
    sampler = ClipSampler(cached, window_frames=cfg.window_frames, batch_size=cfg.batch_size, seed=cfg.seed,
                          world_size=env.world_size, rank=env.rank)
    if len(sampler) < 1:
        raise _Refused("the recordings give no training window")
    seen = all_gather_objects((sorted(c.name for c in cached), len(sampler)), env)
    if any(s != seen[0] for s in seen):
        raise _Refused("the processes see different data (a cache that differs between machines?): "
                       + "; ".join(f"rank {r}: {len(s[0])} recordings, {s[1]} batches" for r, s in enumerate(seen)))
    t = time.perf_counter()
    try:
        result = train(model, sampler, cfg, env=env)
    except ValueError as e:  # e.g. OUT holds a checkpoint of a run with other settings, or a damaged one
        raise _Refused(str(e)) from None
    wall = time.perf_counter() - t
    barrier(env)
    if not env.is_main:
        return 0
    summary = {
        "data": [str(Path(d).resolve()) for d in args.data],
        "recordings": [c.name for c in cached],  # what it trained on (skipped: what it did not, and why)
        "skipped": [{"name": n, "reason": why} for n, why in skipped],
        "excluded": sorted(excluded),
        "synthetic_clips": args.synthetic,
        "init": str(Path(args.init).resolve()) if args.init else None,
        "command": "fcus-rppg train " + " ".join(argv if argv is not None else sys.argv[1:]),
        "world_size": env.world_size,
        "per_rank_batch_size": max(shard_rows(cfg.batch_size, env.world_size, 0).sizes),
        "backend": env.backend,
        **_result_summary(result),
        "wall_time_s": wall,
        "components": cfg.components(),
        # what acted: the null-space term needs the learned path's features
        "components_active": {**cfg.components(), "null_space": result.null_space_active},
        "config": cfg.to_dict(),
        "model_config": net_cfg.to_dict(),
    }
    _write_outputs(out, model, summary)
    if result.resumed_from_step is not None and result.resumed_from_step >= result.steps:
        print(f"the training in {out} had already run all its {result.steps} steps: nothing trained, its weights "
              "written again (--no-resume starts afresh)")
        return 0
    if result.resumed_from_step:
        print(f"resumed the training in {out} from step {result.resumed_from_step} of {result.steps} "
              "(--no-resume starts afresh); the time below counts every run of it")
    print(f"trained {result.steps} steps ({result.epochs:g} epochs) in {result.train_time_s:.0f} s on "
          f"{result.device}" + (f" x {env.world_size} processes" if env.distributed else "")
          + f"; weights {out / WEIGHTS_FILE}, summary {out / 'training_summary.json'}")
    return 0


def _result_summary(result: TrainResult) -> dict:
    return {
        "epochs": result.epochs,
        "steps": result.steps,
        "steps_per_epoch": result.steps_per_epoch,
        "train_time_s": result.train_time_s,
        "epoch_times_s": result.epoch_times_s,
        "device": result.device,
        "final_loss": result.losses[-1] if result.losses else None,
        "losses": result.losses,
        "masked_share": result.masked_share,
        "undone_steps": result.undone_steps,
        "resumed_from_step": result.resumed_from_step,  # 0: trained from the start in this run
        "orientation": result.orientation,
    }


def _write_outputs(out: Path, model: nn.Module, summary: dict) -> None:
    weights = out / WEIGHTS_FILE
    summary = jsonable({**summary, "weights": str(weights)})
    write_files_atomic(out, {"training_summary.json": lambda fh: fh.write(json.dumps(summary, indent=2))})
    model.cpu()
    fx = fcus_export_module()
    if fx is not None:
        fx.save_checkpoint(weights, model, extra={"training_summary": summary})
    else:
        atomic_torch_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, weights)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(train_main())
