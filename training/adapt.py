"""Adaptation to one person without labels: fine-tune a trained FCUS net on the clip it is about to
read, with the same unsupervised objective it was trained with (``training.train_loop``).

``fcus-rppg analyze --adapt`` tracks the clip once into the crop cache, fine-tunes the shipped
weights on its crops (:func:`adapt_model`), exports the adapted net to ONNX and reads the clip
with it (:func:`adapt_to_recording`). ``benchmarks/adapt_study.py`` measures the effect on
held-out subjects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from model.adapt_child import PROGRESS_PREFIX

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdaptConfig:
    """Fixed before the held-out study (not chosen on its scores): 12 steps of 4 windows of 160
    frames (a 1 min clip holds about 11 such windows, so each is seen about 4 times, at other
    phases each pass) at a third of the training learning rate, so the net moves towards the clip
    without forgetting what it learnt on many faces."""

    steps: int = 12
    lr: float = 1e-3
    batch_size: int = 4
    seed: int = 0
    threads: int | None = None  # torch CPU threads (None: torch's default)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr <= 0 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1 and lr > 0")


@dataclass(frozen=True)
class AdaptResult:
    steps: int
    train_s: float
    windows: int  # windows of the clip the sampler cut


def adapt_model(model, recordings: Sequence, config: AdaptConfig | None = None,
                on_step: Callable[[int, int], None] | None = None):
    """Fine-tune ``model`` (an FcusNet, in place) on the cached ``recordings`` for
    ``config.steps`` steps (``on_step(step, steps)`` after each); returns an :class:`AdaptResult`.
    Raises ValueError when the clips hold no window of the model's length (a face seen for less
    than about 5 s)."""
    from training.clips import ClipSampler
    from training.train_config import TrainConfig
    from training.train_loop import train

    cfg = config or AdaptConfig()
    base = TrainConfig(progress=False)
    sampler = ClipSampler(list(recordings), window_frames=base.window_frames, batch_size=cfg.batch_size,
                          seed=cfg.seed, phase_jitter=True)
    if sampler.n_windows == 0:
        raise ValueError(f"the clip holds no {base.window_frames}-frame stretch with a face to adapt on")
    tcfg = replace(base, epochs=cfg.steps / len(sampler), lr=cfg.lr, seed=cfg.seed, eval_epochs=(),
                   checkpoint_dir=None, mask_warmup_epochs=0.0, num_threads=cfg.threads)
    t0 = time.perf_counter()
    result = train(model, sampler, tcfg, on_step=on_step)
    return AdaptResult(steps=result.steps, train_s=time.perf_counter() - t0, windows=sampler.n_windows)


def shipped_weights_path() -> Path:
    """The shipped model's torch weights, beside its ONNX file (``fcus-rppg export`` writes both)."""
    from model.fcus_contract import weights_beside
    from model.fcus_method import shipped_model_path

    return weights_beside(shipped_model_path())


def adapt_to_recording(recording, out_onnx: Path, *, weights: Path | None = None, cache_dir: Path | None = None,
                       face_model: Path | None = None, config: AdaptConfig | None = None,
                       on_step: Callable[[int, int], None] | None = None) -> AdaptResult:
    """Track ``recording`` into the crop cache, fine-tune ``weights`` (default: the shipped
    weights) on it and export the adapted net to ``out_onnx`` (checked against the torch net:
    ValueError, and no file, when they differ)."""
    from model.fcus_contract import DEFAULT_CONTRACT
    from training.crop_cache import build_cache

    cached = build_cache([recording], cache_dir, DEFAULT_CONTRACT, face_model=face_model, progress=False)
    return _adapt_and_export(cached, out_onnx, weights, config, on_step)


def _adapt_and_export(recordings: Sequence, out_onnx: Path, weights: Path | None,
                      config: AdaptConfig | None, on_step: Callable[[int, int], None] | None = None) -> AdaptResult:
    """Load ``weights`` (default: the shipped ones), fine-tune on ``recordings``, export checked."""
    from model.fcus_contract import DEFAULT_CONTRACT
    from model.fcus_export import export_checked, model_from_checkpoint

    model, _ = model_from_checkpoint(weights or shipped_weights_path())
    result = adapt_model(model, recordings, config, on_step)
    model.eval()
    summary = {"adapted_from": Path(weights or shipped_weights_path()).name, "adapt_steps": result.steps}
    export_checked(model, out_onnx, DEFAULT_CONTRACT, summary)
    log.info("adapted on %d windows in %d steps (%.1f s)", result.windows, result.steps, result.train_s)
    return result


def recording_from_crops(crops, fs_hz: float, name: str = "calibration"):
    """A :class:`~model.frame_crops.FrameCrops` (the app's last minute) on the model's uniform
    grid, as the crop cache puts a clip (nearest frame; no face or a gap: not valid)."""
    from training.crop_cache import CachedRecording, uniform_grid

    if len(crops.t_s) < 2:
        raise ValueError("the buffer holds fewer than 2 frames")
    tg, nearest, valid = uniform_grid(crops.t_s, fs_hz, crops.face_ok)
    return CachedRecording(name=name, t_s=tg, face=crops.face[nearest], background=crops.background[nearest],
                           valid=valid, rgb_mean=crops.rgb_mean[nearest].astype(np.float64), fs_hz=fs_hz)


def adapt_to_crops(crops, out_onnx: Path, *, weights: Path | None = None,
                   config: AdaptConfig | None = None, on_step: Callable[[int, int], None] | None = None) -> AdaptResult:
    """Fine-tune ``weights`` (default: the shipped weights) on ``crops`` (the app's "Calibrate":
    the face crops of its last minute) and export the adapted net to ``out_onnx`` (checked)."""
    from model.fcus_contract import DEFAULT_CONTRACT

    if crops.face.shape[1] != DEFAULT_CONTRACT.crop_size:
        raise ValueError(f"crops of {crops.face.shape[1]} px; the model takes {DEFAULT_CONTRACT.crop_size}")
    return _adapt_and_export([recording_from_crops(crops, DEFAULT_CONTRACT.fs_hz)], out_onnx, weights, config,
                             on_step)


def adapt_main(argv: list[str] | None = None) -> int:
    """``fcus-rppg adapt SOURCE --out MODEL.onnx``: fine-tune the shipped FCUS model on one clip
    (no labels) and write the adapted model; ``fcus-rppg analyze SOURCE --adapt`` runs this and
    reads the clip with the result."""
    import argparse
    import sys
    import zipfile

    from training.datasets import scan_dataset

    p = argparse.ArgumentParser(prog="fcus-rppg adapt", description=" ".join(
        (adapt_main.__doc__ or "").replace("``", "").split()))
    p.add_argument("source", metavar="SOURCE", nargs="?",
                   help="video file or a session folder the app recorded")
    p.add_argument("--crops", type=Path, default=None,
                   help="instead of SOURCE: face crops the app saved (its Calibrate action, model.frame_crops)")
    p.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    p.add_argument("--weights", type=Path, default=None, help="torch weights to start from (default: the shipped ones)")
    p.add_argument("--steps", type=int, default=AdaptConfig.steps, help="fine-tuning steps (default %(default)s)")
    p.add_argument("--lr", type=float, default=AdaptConfig.lr, help="learning rate (default %(default)s)")
    p.add_argument("--face-model", type=Path, default=None,
                   help="MediaPipe face_landmarker.task (default: resolved as analyze does)")
    p.add_argument("--cache", type=Path, default=None, help="crop cache folder (default: the user cache)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--progress", action="store_true",
                   help=f"print '{PROGRESS_PREFIX} K of N' after each step (for a program that shows it)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if (args.source is None) == (args.crops is None):
        p.error("give SOURCE or --crops (one of them)")
    if args.crops is not None and (args.cache is not None or args.face_model is not None):
        p.error("--cache and --face-model apply to SOURCE (the crops are cut already)")
    t0 = time.perf_counter()
    on_step = (lambda step, steps: print(f"{PROGRESS_PREFIX} {step} of {steps}", flush=True)) if args.progress else None
    try:
        cfg = AdaptConfig(steps=args.steps, lr=args.lr, threads=args.threads)
        if args.crops is not None:
            from model.frame_crops import FrameCrops

            result = adapt_to_crops(FrameCrops.load(args.crops), args.out, weights=args.weights, config=cfg,
                                    on_step=on_step)
        else:
            scan = scan_dataset(Path(args.source))
            recordings = scan.recordings
            if not recordings and len(scan.passed_over) == 1:  # a session that cannot be used, and why
                raise ValueError(f"{args.source}: {scan.passed_over[0][1]}")
            if len(recordings) != 1:
                raise ValueError(f"{args.source}: not one video file or recorded session")
            result = adapt_to_recording(recordings[0], args.out, weights=args.weights, cache_dir=args.cache,
                                        face_model=args.face_model, config=cfg, on_step=on_step)
    except (OSError, ValueError, RuntimeError, KeyError, zipfile.BadZipFile) as e:  # KeyError: not our crops file
        print(f"fcus-rppg adapt: {e}", file=sys.stderr)
        return 2
    print(f"{Path(args.source or args.crops).name}: adapted on {result.windows} windows in {result.steps} steps "
          f"({result.train_s:.1f} s of training, {time.perf_counter() - t0:.1f} s in all) -> {args.out}")
    return 0
