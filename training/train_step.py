"""One optimisation step of FCUS training with the enabled components (masking with the step
verifier, perturbation smoothing, null-space regularisation), on one batch or, in a distributed
run, on this rank's share of the global batch."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from training.distributed import gather_samples, gather_views, global_batch
from training.fcus_components import (
    NullSpaceRegulariser,
    SamStep,
    StepVerifier,
    keep_at_least,
    skin_mean_rgb,
    verify_details,
)
from training.fcus_losses import masked_mean, total_unsupervised_loss
from training.sharding import Shard, shard_rows
from training.train_config import TrainConfig


def as_tensor(x: Any, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32).to(device)


def _step_seed(seed: int, step: int) -> int:
    return (int(seed) * 1_000_003 + int(step) * 7919 + 12345) % (2**63 - 1)


@contextmanager
def frozen_buffers(model: nn.Module) -> Iterator[None]:
    """Run the model in its current mode but put its buffers (BatchNorm statistics) back after."""
    saved = {k: b.detach().clone() for k, b in model.named_buffers()}
    try:
        yield
    finally:
        with torch.no_grad():
            for k, b in model.named_buffers():
                b.copy_(saved[k])


def forward_of(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    if hasattr(model, "forward_with_features"):
        return model.forward_with_features(x)
    return model(x), None


def batch_field(batch: Any, name: str, default: Any = None) -> Any:
    return getattr(batch, name, default) if not isinstance(batch, dict) else batch.get(name, default)


def resolve_two_views(sampler: Any) -> Callable | None:
    """``two_views(batch, rng) -> (view_a, view_b)``: the sampler's own method when it has one,
    else ``training.clips.two_views``; None when neither is available."""
    fn = getattr(sampler, "two_views", None)
    if callable(fn):
        return fn
    try:
        from training.clips import two_views
    except ImportError:
        return None
    return two_views


class Stepper:
    """One optimisation step with the enabled components.

    In a distributed run ``forward`` is the DDP-wrapped net and each batch holds this rank's share
    of the global batch (``batch.shard``): the predictions are gathered so that every batch-level
    part (the losses, the mask and its top-up, the step verifier, the null-space estimate) sees
    the whole global batch, as one process would (``training.distributed``)."""

    def __init__(self, model: nn.Module, config: TrainConfig, device: torch.device,
                 optimizer: torch.optim.Optimizer, regulariser: NullSpaceRegulariser | None,
                 forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]] | None = None) -> None:
        self.model, self.cfg, self.device, self.opt = model, config, device, optimizer
        self.forward = forward or (lambda x: forward_of(model, x))
        self.priors = config.priors
        self.reg = regulariser
        self.sam = SamStep(model, rho=config.sam_rho, mode=config.smoothing_mode) if config.smoothing else None
        self.verifier = (
            StepVerifier(model, optimizer, rel_tolerance=config.undo_rel_tolerance)
            if config.masking and config.undo_worse_steps else None
        )
        self.views_fn: Callable | None = None
        self.warmup_steps = 0

    def _mask(self, bvp: torch.Tensor, n: int, views: int, skin_rgb: torch.Tensor | None,
              warmup: bool) -> tuple[torch.Tensor, int | None]:
        """The clips whose prediction passes the pulse prior (a clip passes when all its views
        do), topped up to ``mask_min_keep`` of the batch; and how many passed."""
        cfg = self.cfg
        if not cfg.masking:
            return torch.ones(n, dtype=torch.bool, device=bvp.device), None
        res = verify_details(
            bvp.detach(), cfg.fs_hz, priors=self.priors, skin_rgb=skin_rgb,
            min_prominence=cfg.mask_min_prominence, max_colour_slope=cfg.mask_max_colour_slope,
        )
        ok = res.mask
        if warmup:
            ok = res.weak_amplitude if res.weak_amplitude is not None else torch.ones_like(res.mask)
        passed = ok.reshape(views, n).all(dim=0)
        res_clip = type(res)(
            passed, res.peak_hz[:n], res.prominence.reshape(views, n).min(dim=0).values,
            None if res.colour_slope is None else res.colour_slope.reshape(views, n).max(dim=0).values,
            res.peak_in_band.reshape(views, n).all(dim=0), res.prominent.reshape(views, n).all(dim=0),
            None if res.weak_amplitude is None else res.weak_amplitude.reshape(views, n).all(dim=0),
        )
        return keep_at_least(res_clip, math.ceil(cfg.mask_min_keep * n)), int(passed.sum())

    def _objective(self, sb: "StepBatch", state: dict) -> torch.Tensor:
        """The batch objective at the current weights; ``state`` carries the mask (fixed at the
        first call of a step, so that SAM's second pass and the step verifier evaluate the same
        objective) and the loss parts for the history."""
        cfg, shard = self.cfg, sb.shard
        with global_batch(shard):
            bvp_local, feats_local = self.forward(sb.x)
        if self.reg is not None and feats_local is not None and cfg.null_mode in ("project", "both"):
            self.reg.attach_gradient_projection(feats_local)
        views = sb.views
        bvp = gather_views(bvp_local, views, shard)
        feats = None if feats_local is None else gather_views(feats_local, views, shard)
        n = sb.n
        bvp_a = bvp[:n]
        bvp_b = bvp[n: 2 * n] if views > 1 else None
        if "mask" not in state:
            state["mask"], state["verified"] = self._mask(bvp, n, views, sb.skin_rgb, state.get("warmup", False))
            if self.reg is not None and feats is not None:
                refs = []
                if sb.background_feats is not None:
                    refs.append(sb.background_feats)
                if cfg.null_out_of_band:
                    refs.append(self.reg.out_of_band(feats.detach()))
                if refs:
                    self.reg.update(torch.cat(refs, dim=0))
        mask = state["mask"]
        per_sample, parts = total_unsupervised_loss(
            bvp_a, cfg.fs_hz, self.priors, bvp_b=bvp_b, rec_index=sb.rec_index, weights=mask.to(bvp.dtype)
        )
        if self.reg is not None and feats is not None and cfg.null_mode in ("penalty", "both") and cfg.null_weight > 0:
            pen = self.reg.penalty(feats).reshape(views, n).mean(dim=0)
            parts["null_space"] = pen
            per_sample = per_sample + cfg.null_weight * pen
        state.setdefault("parts", parts)  # the history logs the first evaluation of the step
        return masked_mean(per_sample, mask)

    def _step_batch(self, batch: Any, rng: np.random.Generator) -> "StepBatch":
        cfg, model, device = self.cfg, self.model, self.device
        views_fn = self.views_fn if cfg.two_views else None
        if views_fn is not None:
            va, vb = views_fn(batch, rng)
            faces = [as_tensor(va.face, device), as_tensor(vb.face, device)]
        else:
            faces = [as_tensor(batch_field(batch, "face"), device)]
        n_local = faces[0].shape[0]
        shard = batch_field(batch, "shard") or shard_rows(n_local)
        x = torch.cat(faces, dim=0)
        rec_index = batch_field(batch, "rec_index")
        if rec_index is not None:
            local = torch.as_tensor(np.asarray(rec_index, dtype=np.float64), device=device).reshape(-1)
            rec_index = gather_samples(local, shard).round().long()
        skin_rgb = None
        if cfg.masking:
            skin_rgb = gather_views(skin_mean_rgb(x.to(torch.float64)), len(faces), shard)
        bg_feats = None
        background = batch_field(batch, "background")
        if self.reg is not None and cfg.null_background and background is not None:
            with torch.no_grad(), frozen_buffers(model), global_batch(shard):
                _, bg_local = forward_of(model, as_tensor(background, device))
            bg_feats = None if bg_local is None else gather_samples(bg_local, shard)
        return StepBatch(x, len(faces), shard.global_size, shard, rec_index, skin_rgb, bg_feats)

    def step(self, batch: Any, sampler: Any, step: int) -> dict:
        cfg, model = self.cfg, self.model
        rng = np.random.default_rng(_step_seed(cfg.seed, step))
        torch.manual_seed(_step_seed(cfg.seed, step))
        sb = self._step_batch(batch, rng)
        state: dict = {"warmup": step < self.warmup_steps}

        def closure() -> torch.Tensor:
            loss = self._objective(sb, state)
            loss.backward()
            return loss

        if self.sam is not None:
            loss_before = self.sam.gradient(closure)
            if self.sam.mode == "random" and self.verifier is not None:
                with torch.no_grad(), frozen_buffers(model):
                    loss_before = self._objective(sb.without_background(), state).detach()
        else:
            self.opt.zero_grad(set_to_none=True)
            loss_before = closure().detach()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if self.verifier is not None:
            self.verifier.snapshot()
        self.opt.step()
        undone = False
        if self.verifier is not None:
            undone = self.verifier.verify(
                float(loss_before), lambda: self._objective(sb.without_background(), dict(state))
            )
        mask = state["mask"]
        parts = {k: float(v.detach().mean()) for k, v in state["parts"].items()}
        return {
            "step": step + 1,
            "loss": float(loss_before),
            "loss_after": self.verifier.last_loss_after if self.verifier is not None else None,
            "masked_share": 1.0 - float(mask.float().mean()),
            "verified": state.get("verified"),
            "undone": bool(undone),
            **{f"loss_{k}": v for k, v in parts.items()},
        }


@dataclass
class StepBatch:
    """One step's inputs: ``x`` this rank's clips (``views`` blocks of its share), the global
    batch size ``n`` and, gathered over the global batch, the recording indices, the skin-mean
    colour of every view (for the masking's amplitude check) and the background features."""

    x: torch.Tensor
    views: int
    n: int
    shard: Shard
    rec_index: torch.Tensor | None
    skin_rgb: torch.Tensor | None
    background_feats: torch.Tensor | None

    def without_background(self) -> "StepBatch":
        return replace(self, background_feats=None)
