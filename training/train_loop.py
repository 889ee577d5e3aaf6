"""The FCUS training loop: ``train(model, sampler, config)`` (see ``training.fcus_train`` for
what a run does and ``training.train_step`` for one step). A run resumed from a checkpoint
continues exactly as the uninterrupted run would: every step seeds its randomness from
``(seed, step)`` and the sampler's epochs are deterministic."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.distributed import SINGLE, DistEnv, convert_batchnorm, pick_device, wrap_ddp
from training.fcus_components import NullSpaceRegulariser
from training.orient import orient_like_pos
from training.train_config import TrainConfig, TrainResult
from training.train_state import STATE_FILE, jsonable, net_config_of, resumable_state, save_train_state
from training.train_step import Stepper, as_tensor, forward_of, frozen_buffers, resolve_two_views

logger = logging.getLogger(__name__)


def feature_dim(model: nn.Module, sampler: Any, device: torch.device) -> int | None:
    ch = getattr(model, "feature_channels", None)
    if isinstance(ch, int):
        return ch
    if not hasattr(model, "forward_with_features"):
        return None
    probe = next(iter(sampler.iter_epoch(0, fraction=min(1.0, 1.0 / max(1, len(sampler))))))
    with torch.no_grad(), frozen_buffers(model):
        _, f = forward_of(model, as_tensor(probe.face, device)[:1])
    return None if f is None else int(f.shape[1])


def _eval_steps(config: TrainConfig, steps_per_epoch: int, total: int) -> dict[int, float]:
    out: dict[int, float] = {}
    for e in config.eval_epochs:
        s = int(round(e * steps_per_epoch))
        if 0 < s <= total and e <= config.epochs + 1e-9:
            out.setdefault(s, e)
    return out


def train(
    model: nn.Module,
    sampler: Any,
    config: TrainConfig | None = None,
    *,
    on_checkpoint: Callable[[int, Path], None] | None = None,
    evaluate: Callable[[nn.Module], dict] | None = None,
    env: DistEnv = SINGLE,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train ``model`` (``forward_with_features(x) -> (bvp, feats)``) without labels on the clips
    of ``sampler``; see the module docstring. ``evaluate(model) -> dict`` is called (model in
    eval mode, no grad) at each epoch of ``config.eval_epochs`` reached (its result is kept as
    returned; checkpoints store a JSON form of it, which is what a resumed run gets back for the
    evaluations before the interruption); ``on_checkpoint(step, path)`` after each checkpoint
    written; ``on_step(step, last_step)`` after each step (rank 0: a progress display). ``env``:
    this process's place in a distributed run (``training.distributed``; the
    sampler must shard its batches for the same ranks): every rank takes the same steps, rank 0
    alone writes checkpoints, evaluates and shows progress. Returns a :class:`TrainResult`."""
    cfg = config or TrainConfig()
    device = pick_device(cfg.device, env)
    spe = len(sampler)
    if spe < 1:
        raise ValueError("the sampler yields no batch per epoch (too few clips for one batch?)")
    total = max(1, int(round(cfg.epochs * spe)))  # steps
    stop_at = total if cfg.max_steps is None else min(total, int(cfg.max_steps))
    ckpt_path = Path(cfg.checkpoint_dir) / STATE_FILE if cfg.checkpoint_dir else None

    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    if cfg.deterministic:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(cfg.seed)
    try:
        run = _Run(model, sampler, cfg, device, env, ckpt_path, on_checkpoint, evaluate)
        run.on_step = on_step if env.is_main else None
        return run.run(total, stop_at)
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_det_warn)


class _Run:
    """One call of :func:`train`: the optimiser, the components, the resumed state, the loop."""

    def __init__(self, model: nn.Module, sampler: Any, cfg: TrainConfig, device: torch.device, env: DistEnv,
                 ckpt_path: Path | None, on_checkpoint: Callable[[int, Path], None] | None,
                 evaluate: Callable[[nn.Module], dict] | None) -> None:
        self.model, self.sampler, self.cfg, self.device, self.env = model, sampler, cfg, device, env
        self.ckpt_path, self.on_checkpoint, self.evaluate = ckpt_path, on_checkpoint, evaluate
        self.spe = len(sampler)
        if env.distributed:
            convert_batchnorm(model)  # statistics over the global batch (same parameters and buffers)
        model.to(device)
        model.train()
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.reg = self._regulariser()
        self.result = TrainResult(steps_per_epoch=self.spe, device=str(device), config=cfg.to_dict(),
                                  null_space_active=self.reg is not None)
        self.start, self.elapsed_prev = 0, 0.0
        self.epoch_time_acc: dict[int, float] = {}
        self.t0 = time.perf_counter()
        self.on_step: Callable[[int, int], None] | None = None

    def _regulariser(self) -> NullSpaceRegulariser | None:
        cfg = self.cfg
        if not cfg.null_space:
            return None
        fdim = feature_dim(self.model, self.sampler, self.device)
        if fdim is None:
            # the default net (no Conv3d learned path) has no features for the term to act on: not a
            # fault, so not a warning; training_summary.json's components_active says it
            logger.info("null-space term inactive: the net has no learned path (--learned-path on adds one)")
            return None
        return NullSpaceRegulariser(
            fdim, k=cfg.null_k, momentum=cfg.null_momentum, energy_threshold=cfg.null_energy_threshold,
            fs_hz=cfg.fs_hz, lo_hz=cfg.lo_hz, hi_hz=cfg.hi_hz,
        )

    def _data_id(self) -> list[str] | None:
        data_id = getattr(self.sampler, "data_id", None)
        return data_id() if callable(data_id) else None

    def _resume(self, total: int) -> None:
        st = (resumable_state(self.ckpt_path, self.cfg, self.model, self.spe, self.env, data=self._data_id())
              if self.cfg.resume else None)
        if st is None:
            return
        meta, result = st["meta"], self.result
        self.model.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        if self.reg is not None and st["null_space"]:
            self.reg.load_state_dict(st["null_space"])
        self.start = int(st["step"])
        result.history = list(meta.get("history", []))
        result.evaluations = list(meta.get("evaluations", []))
        result.undone_steps = int(meta.get("undone_steps", 0))
        self.elapsed_prev = float(meta.get("train_time_s", 0.0))
        self.epoch_time_acc = {int(k): float(v) for k, v in meta.get("epoch_time_acc", {}).items()}
        result.resumed_from_step = self.start
        logger.info("resumed from %s at step %d of %d", self.ckpt_path, self.start, total)

    def _stepper(self) -> Stepper:
        cfg, env = self.cfg, self.env
        forward = wrap_ddp(self.model, env, self.device) if env.distributed else None
        stepper = Stepper(self.model, cfg, self.device, self.optimizer, self.reg, forward)
        stepper.views_fn = resolve_two_views(self.sampler) if cfg.two_views else None
        stepper.warmup_steps = int(round(cfg.mask_warmup_epochs * self.spe))
        if cfg.two_views and stepper.views_fn is None:
            logger.warning("the sampler offers no two_views: training without the cross-view loss")
        return stepper

    def _elapsed(self) -> float:
        return self.elapsed_prev + (time.perf_counter() - self.t0)

    def _meta(self) -> dict:
        r = self.result
        return {
            "config": self.cfg.to_dict(), "net_config": net_config_of(self.model), "steps_per_epoch": self.spe,
            "data": self._data_id(),
            "history": r.history,
            "evaluations": jsonable(r.evaluations),  # results that are not JSON: as dataclass dicts or text
            "undone_steps": r.undone_steps, "train_time_s": self._elapsed(), "epoch_time_acc": self.epoch_time_acc,
        }

    def checkpoint(self, step: int) -> None:
        if self.ckpt_path is None or not self.env.is_main:
            return
        save_train_state(self.ckpt_path, self.model, self.optimizer, self.reg, step, self._meta())
        if self.on_checkpoint is not None:
            self.on_checkpoint(step, self.ckpt_path)

    def _evaluate(self, step: int, epoch: float) -> None:
        model, was = self.model, self.model.training
        model.eval()
        t = time.perf_counter()
        with torch.no_grad():
            res = self.evaluate(model)
        model.train(was)
        self.result.evaluations.append({"epoch": epoch, "step": step, "result": res, "elapsed_s": self._elapsed(),
                                        "eval_time_s": time.perf_counter() - t})

    def _epoch(self, epoch: int, step: int, total: int, stop_at: int, stepper: Stepper, bar, evals_at) -> int:
        """The steps of ``epoch`` from ``step`` on; returns the step reached."""
        cfg, spe, result = self.cfg, self.spe, self.result
        n_this = min(spe, total - epoch * spe)
        skip = step - epoch * spe
        done_evals = {int(e["step"]) for e in result.evaluations}
        te = time.perf_counter()
        for k, batch in enumerate(self.sampler.iter_epoch(epoch, fraction=n_this / spe)):
            if k >= n_this or step >= stop_at:
                break
            if k < skip:
                continue
            stats = stepper.step(batch, self.sampler, step)
            step += 1
            stats["epoch"] = step / spe
            result.history.append(stats)
            result.undone_steps += int(stats["undone"])
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{stats['loss']:.3f}", masked=f"{stats['masked_share']:.2f}")
            if self.on_step is not None:
                self.on_step(step, stop_at)
            if not math.isfinite(stats["loss"]):
                raise FloatingPointError(f"the loss is not finite at step {step}")
            if self.evaluate is not None and self.env.is_main and step in evals_at and step not in done_evals:
                self._evaluate(step, evals_at[step])
            if cfg.checkpoint_every and step % int(cfg.checkpoint_every) == 0 and step < stop_at:
                self.epoch_time_acc[epoch] = self.epoch_time_acc.get(epoch, 0.0) + time.perf_counter() - te
                te = time.perf_counter()
                self.checkpoint(step)
        self.epoch_time_acc[epoch] = self.epoch_time_acc.get(epoch, 0.0) + time.perf_counter() - te
        return step

    def _progress_bar(self, stop_at: int):
        if not (self.cfg.progress and self.env.is_main):
            return None
        from tqdm import tqdm

        return tqdm(total=stop_at, initial=self.start, desc="train", unit="step", leave=False)

    def run(self, total: int, stop_at: int) -> TrainResult:
        self._resume(total)
        stepper = self._stepper()
        evals_at = _eval_steps(self.cfg, self.spe, total)
        self.t0 = time.perf_counter()
        bar = self._progress_bar(stop_at)
        step = self.start
        try:
            for epoch in range(self.start // self.spe, math.ceil(total / self.spe)):
                if step >= stop_at:
                    break
                step = self._epoch(epoch, step, total, stop_at, stepper, bar, evals_at)
        finally:
            if bar is not None:
                bar.close()
        self._finish(step, total)
        self.checkpoint(step)
        self.model.train()
        return self.result

    def _finish(self, step: int, total: int) -> None:
        result, cfg = self.result, self.cfg
        result.steps = step
        result.epochs = step / self.spe
        result.train_time_s = self._elapsed()
        result.epoch_times_s = [self.epoch_time_acc[e] for e in sorted(self.epoch_time_acc)]
        hist = result.history
        result.masked_share = float(np.mean([h["masked_share"] for h in hist])) if hist else 0.0
        if step >= total and cfg.orient and self.env.is_main:  # the other ranks write nothing
            try:
                sampler = self.sampler.unsharded() if hasattr(self.sampler, "unsharded") else self.sampler
                result.orientation = orient_like_pos(self.model, sampler, fs_hz=cfg.fs_hz)
            except Exception as e:  # the sign is a convenience; never lose a finished run over it
                logger.warning("could not orient the model like POS: %s", e)
                result.orientation = {"error": str(e)}
