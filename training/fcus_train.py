"""Unsupervised FCUS-rPPG training (``fcus-rppg train``).

``train(model, sampler, config)`` runs the loop: for each batch of clips from the sampler
(``training.clips.ClipSampler``: ``len()`` batches per epoch, ``iter_epoch(epoch, fraction)``,
``two_views(batch, rng)``), the model predicts the BVP of two spatially augmented views of the
same clips; the loss is ``training.fcus_losses.total_unsupervised_loss`` (spectral priors plus
cross-view agreement and cross-clip disagreement) and the three FCUS components of
``training.fcus_components`` apply, each behind its own switch (DESIGN.md, "FCUS-rPPG as we build
it"):

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
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.distributed import (
    DEFAULT_TIMEOUT_S,
    SINGLE,
    DistEnv,
    all_gather_objects,
    barrier,
    broadcast_object,
    convert_batchnorm,
    gather_samples,
    gather_views,
    global_batch,
    pick_device,
    wrap_ddp,
)
from training.fcus_components import (
    NullSpaceRegulariser,
    SamStep,
    StepVerifier,
    keep_at_least,
    skin_mean_rgb,
    verify_details,
)
from training.fcus_losses import SpectralPriors, masked_mean, total_unsupervised_loss
from training.sharding import Shard, shard_rows

logger = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
WEIGHTS_FILE = "fcus_weights.pt"
FORMAT = "fcus-rppg-train-state/1"
DEFAULT_EVAL_EPOCHS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass
class TrainConfig:
    """Everything that defines a training run. The three FCUS components are ``masking``,
    ``smoothing`` and ``null_space``; their settings follow each switch."""

    epochs: float = 1.0  # fractional allowed
    batch_size: int = 4  # used by train_main to build the sampler (the sampler owns batching)
    lr: float = 3e-3  # 1e-3 needed 2 epochs for what 3e-3 reaches in 1 (docs/fcus_study.md)
    weight_decay: float = 1e-4
    seed: int = 0
    fs_hz: float = 30.0
    window_frames: int = 160
    grad_clip: float | None = 5.0
    two_views: bool = True  # cross-view agreement on two augmented views (needs sampler.two_views)
    # Spectral priors and loss weights (see training.fcus_losses.SpectralPriors)
    lo_hz: float = 0.66
    hi_hz: float = 3.0
    w_bandwidth: float = 1.0
    w_sparsity: float = 1.0
    w_variance: float = 1.0
    w_cross_view: float = 1.0
    w_cross_clip: float = 0.05
    # 1. post-verification masking (gradient level) + step verification
    masking: bool = True
    mask_min_prominence: float = 0.2
    mask_max_colour_slope: float = 0.03
    mask_min_keep: float = 0.25  # share of the batch always kept (the best-scoring samples)
    # epochs during which only the amplitude check masks (an untrained net's output is mostly drift,
    # so the spectral checks would mask most of the batch exactly when its gradient teaches most)
    mask_warmup_epochs: float = 0.5
    undo_worse_steps: bool = True
    undo_rel_tolerance: float = 0.05
    # 2. perturbation-based smoothing (loss-landscape level)
    smoothing: bool = True
    smoothing_mode: str = "sam"  # "sam" | "random"
    sam_rho: float = 0.05
    # 3. noise-aware null-space regularisation (feature level)
    null_space: bool = True
    null_mode: str = "penalty"  # "penalty" | "project" | "both"
    null_weight: float = 0.1
    null_k: int = 4
    null_momentum: float = 0.99
    null_energy_threshold: float = 0.05
    null_background: bool = True  # background crops as noise references
    null_out_of_band: bool = True  # out-of-band part of the face features as noise references
    # bookkeeping
    eval_epochs: tuple[float, ...] = DEFAULT_EVAL_EPOCHS
    device: str = "auto"
    checkpoint_dir: str | None = None
    checkpoint_every: int = 100  # steps
    resume: bool = True
    max_steps: int | None = None  # stop after this global step (an interruption, for tests)
    num_threads: int | None = None  # torch CPU threads (None: leave torch's choice)
    deterministic: bool = True
    progress: bool = True
    orient: bool = True  # orient the sign like POS after training
    init_weights: str | None = None  # fine-tuning: the weights the run started from (a resumed run must match)

    def __post_init__(self) -> None:
        if not self.epochs > 0:
            raise ValueError(f"epochs must be > 0 (got {self.epochs})")
        if self.smoothing_mode not in ("sam", "random"):
            raise ValueError(f"smoothing_mode must be 'sam' or 'random' (got {self.smoothing_mode!r})")
        if self.null_mode not in ("penalty", "project", "both"):
            raise ValueError(f"null_mode must be 'penalty', 'project' or 'both' (got {self.null_mode!r})")
        self.eval_epochs = tuple(float(e) for e in self.eval_epochs)

    @property
    def priors(self) -> SpectralPriors:
        return SpectralPriors(
            lo_hz=self.lo_hz, hi_hz=self.hi_hz, w_bandwidth=self.w_bandwidth, w_sparsity=self.w_sparsity,
            w_variance=self.w_variance, w_cross_view=self.w_cross_view, w_cross_clip=self.w_cross_clip,
        )

    def components(self) -> dict[str, bool]:
        return {"masking": self.masking, "smoothing": self.smoothing, "null_space": self.null_space}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["eval_epochs"] = list(self.eval_epochs)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        if "eval_epochs" in values:
            values["eval_epochs"] = tuple(values["eval_epochs"])
        return cls(**values)


# Fields that do not change the trajectory of the first steps: a checkpoint may be resumed with
# other values of these.
_RESUME_FREE = {
    "epochs", "eval_epochs", "device", "checkpoint_dir", "checkpoint_every", "resume", "max_steps",
    "num_threads", "progress", "orient", "batch_size", "window_frames",
}


@dataclass
class TrainResult:
    """What a run did: per-step history, evaluations at the requested epochs, timings."""

    steps: int = 0
    steps_per_epoch: int = 0
    epochs: float = 0.0
    history: list[dict] = field(default_factory=list)  # one dict per step
    evaluations: list[dict] = field(default_factory=list)  # {"epoch", "step", "result", "elapsed_s"}
    epoch_times_s: list[float] = field(default_factory=list)
    undone_steps: int = 0
    masked_share: float = 0.0  # over all steps: share of samples masked
    train_time_s: float = 0.0
    device: str = "cpu"
    resumed_from_step: int | None = None
    orientation: dict | None = None
    config: dict = field(default_factory=dict)

    @property
    def losses(self) -> list[float]:
        return [h["loss"] for h in self.history]

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def _as_tensor(x: Any, device: torch.device) -> torch.Tensor:
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


def _forward(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    if hasattr(model, "forward_with_features"):
        return model.forward_with_features(x)
    return model(x), None


def _feature_dim(model: nn.Module, sampler: Any, device: torch.device) -> int | None:
    ch = getattr(model, "feature_channels", None)
    if isinstance(ch, int):
        return ch
    if not hasattr(model, "forward_with_features"):
        return None
    probe = next(iter(sampler.iter_epoch(0, fraction=min(1.0, 1.0 / max(1, len(sampler))))))
    with torch.no_grad(), frozen_buffers(model):
        _, f = _forward(model, _as_tensor(probe.face, device)[:1])
    return None if f is None else int(f.shape[1])


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


def _atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().tolist()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if is_dataclass(v) and not isinstance(v, type):
        try:
            return _jsonable(asdict(v))
        except Exception:  # noqa: BLE001 - fall back to the text form
            pass
    return repr(v)


def _fcus_export():
    try:
        from model import fcus_export
    except ImportError:
        return None
    return fcus_export if hasattr(fcus_export, "save_checkpoint") else None


def save_train_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                     regulariser: NullSpaceRegulariser | None, step: int, meta: dict) -> None:
    """Write the resumable state. With ``model.fcus_export``: its checkpoint (weights as a tensor
    dict, optimizer state beside it, everything else as JSON: loadable by
    ``fcus_export.model_from_checkpoint`` too); without it, one ``torch.save`` of tensors plus a
    JSON string. Either is read back with ``weights_only=True``: never an arbitrary pickle."""
    null = {}
    if regulariser is not None:
        null = {"cov": regulariser.cov.tolist(), "n_updates": regulariser.n_updates}
    trainer = {"format": FORMAT, "step": int(step), "null_space": null, "meta": _jsonable(meta)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fx = _fcus_export()
    if fx is not None:
        fx.save_checkpoint(path, model, optimizer_state=optimizer.state_dict(), extra={"trainer": trainer})
        return
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "trainer_json": json.dumps(trainer),
    }
    _atomic_torch_save(state, path)


def load_train_state(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a state written by ``save_train_state`` safely: ``{"step", "model", "optimizer",
    "null_space", "meta"}``."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".json")
    fx = _fcus_export()
    if sidecar.is_file():
        if fx is None:
            raise ValueError(f"{path} is a model.fcus_export checkpoint, but model.fcus_export is unavailable")
        weights, extra = fx.load_checkpoint(path)
        optim = fx.load_optimizer_state(path)
        trainer = extra.get("trainer")
        model_state = weights
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "trainer_json" not in state:
            raise ValueError(f"{path} is not an FCUS training state")
        trainer = json.loads(state["trainer_json"])
        model_state, optim = state["model"], state["optimizer"]
    if not isinstance(trainer, dict) or trainer.get("format") != FORMAT or optim is None:
        raise ValueError(f"{path} is not an FCUS training state ({FORMAT}) with its optimizer state")
    null = trainer.get("null_space") or {}
    if null:
        null = {"cov": torch.tensor(null["cov"], dtype=torch.float64), "n_updates": int(null["n_updates"])}
    net_config = trainer["meta"].get("net_config")
    if net_config is None and fx is not None and sidecar.is_file():
        net_config = fx.checkpoint_meta(path).get("net_config")  # states written before the trainer kept it
    return {"step": int(trainer["step"]), "model": model_state, "optimizer": optim,
            "null_space": null, "meta": trainer["meta"], "net_config": net_config}


def _net_config(model: nn.Module) -> dict | None:
    """The network's settings that a resumed run must share (its ``config`` without the init seed,
    which the checkpoint's weights replace); None for a model without a config."""
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(cfg, "to_dict") or not hasattr(type(cfg), "from_dict"):
        return None
    return _settings_without_seed(cfg)


def _settings_without_seed(cfg) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k != "seed"}


def _batch_field(batch: Any, name: str, default: Any = None) -> Any:
    return getattr(batch, name, default) if not isinstance(batch, dict) else batch.get(name, default)


# ------------------------------------------------------------------------------------------
# the training step
# ------------------------------------------------------------------------------------------


class _Stepper:
    """One optimisation step with the enabled components.

    In a distributed run ``forward`` is the DDP-wrapped net and each batch holds this rank's share
    of the global batch (``batch.shard``): the predictions are gathered so that every batch-level
    part (the losses, the mask and its top-up, the step verifier, the null-space estimate) sees
    the whole global batch, as one process would (``training.distributed``)."""

    def __init__(self, model: nn.Module, config: TrainConfig, device: torch.device,
                 optimizer: torch.optim.Optimizer, regulariser: NullSpaceRegulariser | None,
                 forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]] | None = None) -> None:
        self.model, self.cfg, self.device, self.opt = model, config, device, optimizer
        self.forward = forward or (lambda x: _forward(model, x))
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

    def _objective(self, sb: "_StepBatch", state: dict) -> torch.Tensor:
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
            bvp_a, cfg.fs_hz, self.priors, bvp_b=bvp_b, rec_index=sb.rec, weights=mask.to(bvp.dtype)
        )
        if self.reg is not None and feats is not None and cfg.null_mode in ("penalty", "both") and cfg.null_weight > 0:
            pen = self.reg.penalty(feats).reshape(views, n).mean(dim=0)
            parts["null_space"] = pen
            per_sample = per_sample + cfg.null_weight * pen
        state.setdefault("parts", parts)  # the history logs the first evaluation of the step
        return masked_mean(per_sample, mask)

    def _step_batch(self, batch: Any, rng: np.random.Generator) -> "_StepBatch":
        cfg, model, device = self.cfg, self.model, self.device
        views_fn = self.views_fn if cfg.two_views else None
        if views_fn is not None:
            va, vb = views_fn(batch, rng)
            faces = [_as_tensor(va.face, device), _as_tensor(vb.face, device)]
        else:
            faces = [_as_tensor(_batch_field(batch, "face"), device)]
        n_local = faces[0].shape[0]
        shard = _batch_field(batch, "shard") or shard_rows(n_local)
        x = torch.cat(faces, dim=0)
        rec = _batch_field(batch, "rec_index")
        if rec is not None:
            rec_t = torch.as_tensor(np.asarray(rec, dtype=np.float64), device=device).reshape(-1)
            rec = gather_samples(rec_t, shard).round().long()
        skin_rgb = None
        if cfg.masking:
            skin_rgb = gather_views(skin_mean_rgb(x.to(torch.float64)), len(faces), shard)
        bg_feats = None
        background = _batch_field(batch, "background")
        if self.reg is not None and cfg.null_background and background is not None:
            with torch.no_grad(), frozen_buffers(model), global_batch(shard):
                _, bg_local = _forward(model, _as_tensor(background, device))
            bg_feats = None if bg_local is None else gather_samples(bg_local, shard)
        return _StepBatch(x, len(faces), shard.global_size, shard, rec, skin_rgb, bg_feats)

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
class _StepBatch:
    """One step's inputs: ``x`` this rank's clips (``views`` blocks of its share), the global
    batch size ``n`` and, gathered over the global batch, the recording indices, the skin-mean
    colour of every view (for the masking's amplitude check) and the background features."""

    x: torch.Tensor
    views: int
    n: int
    shard: Shard
    rec: torch.Tensor | None
    skin_rgb: torch.Tensor | None
    background_feats: torch.Tensor | None

    def without_background(self) -> "_StepBatch":
        return replace(self, background_feats=None)


# ------------------------------------------------------------------------------------------
# train
# ------------------------------------------------------------------------------------------


def _eval_steps(config: TrainConfig, steps_per_epoch: int, total: int) -> dict[int, float]:
    out: dict[int, float] = {}
    for e in config.eval_epochs:
        s = int(round(e * steps_per_epoch))
        if 0 < s <= total and e <= config.epochs + 1e-9:
            out.setdefault(s, e)
    return out


def _check_resumable(st: dict, cfg: TrainConfig, model: nn.Module, spe: int, ckpt_path: Path) -> None:
    """Refuse a state written by a run with other settings, another network or other data."""
    meta = st["meta"]
    old = TrainConfig.from_dict(meta.get("config", {}))
    diff = [f.name for f in fields(TrainConfig) if f.name not in _RESUME_FREE
            and getattr(old, f.name) != getattr(cfg, f.name)]
    if diff:
        raise ValueError(
            f"{ckpt_path} was written by a run with other settings ({', '.join(diff)}): "
            "resume it with the same settings, or use another checkpoint directory / resume=False"
        )
    want = _net_config(model)
    if want is not None:
        saved = st["net_config"]
        have = None if saved is None else _settings_without_seed(type(model.config).from_dict(saved))
        if have != want:
            what = "no network settings" if have is None else ", ".join(
                sorted(k for k in want if have.get(k) != want[k]))
            raise ValueError(f"{ckpt_path} was written for another network ({what}): resume it with the same "
                             "network, or use another checkpoint directory / resume=False")
    if meta.get("steps_per_epoch") != spe:
        raise ValueError(f"{ckpt_path}: the sampler has {spe} batches per epoch, the checkpoint "
                         f"{meta.get('steps_per_epoch')}: not the same data")


def _resumable_state(ckpt_path: Path | None, cfg: TrainConfig, model: nn.Module, spe: int,
                     env: DistEnv) -> dict | None:
    """The checkpoint to resume from (None: start afresh). Rank 0 reads and checks it and every
    rank gets the same state (no shared file system needed); a state that cannot be read or
    does not fit this run raises the same ValueError on every rank."""
    st, error = None, None
    if env.is_main and ckpt_path is not None and ckpt_path.is_file():
        try:
            st = load_train_state(ckpt_path)
        except Exception as e:  # noqa: BLE001 - torch.load raises many kinds on a damaged file
            first = (str(e).strip().splitlines() or [""])[0][:200]  # torch's text goes on for lines
            error = (f"cannot read the checkpoint {ckpt_path} (damaged or not a training state: "
                     f"{type(e).__name__}: {first}); start afresh with --no-resume (or resume=False), "
                     "or delete that file")
        if st is not None:
            try:
                _check_resumable(st, cfg, model, spe, ckpt_path)
            except ValueError as e:
                st, error = None, str(e)
    st, error = broadcast_object((st, error), env)
    if error is not None:
        raise ValueError(error)
    return st


def train(
    model: nn.Module,
    sampler: Any,
    config: TrainConfig | None = None,
    *,
    on_checkpoint: Callable[[int, Path], None] | None = None,
    evaluate: Callable[[nn.Module], dict] | None = None,
    env: DistEnv = SINGLE,
) -> TrainResult:
    """Train ``model`` (``forward_with_features(x) -> (bvp, feats)``) without labels on the clips
    of ``sampler``; see the module docstring. ``evaluate(model) -> dict`` is called (model in
    eval mode, no grad) at each epoch of ``config.eval_epochs`` reached (its result is kept as
    returned; checkpoints store a JSON form of it, which is what a resumed run gets back for the
    evaluations before the interruption); ``on_checkpoint(step, path)`` after each checkpoint
    written. ``env``: this process's place in a distributed run (``training.distributed``; the
    sampler must shard its batches for the same ranks): every rank takes the same steps, rank 0
    alone writes checkpoints, evaluates and shows progress. Returns a :class:`TrainResult`."""
    cfg = config or TrainConfig()
    device = pick_device(cfg.device, env)
    spe = len(sampler)
    if spe < 1:
        raise ValueError("the sampler yields no batch per epoch (too few clips for one batch?)")
    total = max(1, int(round(cfg.epochs * spe)))
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
        return _train(model, sampler, cfg, device, spe, total, stop_at, ckpt_path, on_checkpoint, evaluate, env)
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_det_warn)


def _train(model, sampler, cfg, device, spe, total, stop_at, ckpt_path, on_checkpoint, evaluate,
           env: DistEnv = SINGLE) -> TrainResult:
    if env.distributed:
        convert_batchnorm(model)  # statistics over the global batch (same parameters and buffers)
    model.to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    reg = None
    if cfg.null_space:
        fdim = _feature_dim(model, sampler, device)
        if fdim is None:
            logger.warning("the model gives no features: null-space regularisation is off")
        else:
            reg = NullSpaceRegulariser(
                fdim, k=cfg.null_k, momentum=cfg.null_momentum, energy_threshold=cfg.null_energy_threshold,
                fs_hz=cfg.fs_hz, lo_hz=cfg.lo_hz, hi_hz=cfg.hi_hz,
            )
    result = TrainResult(steps_per_epoch=spe, device=str(device), config=cfg.to_dict())
    start = 0
    elapsed_prev = 0.0
    epoch_time_acc: dict[int, float] = {}
    st = _resumable_state(ckpt_path, cfg, model, spe, env) if cfg.resume else None
    if st is not None:
        meta = st["meta"]
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        if reg is not None and st["null_space"]:
            reg.load_state_dict(st["null_space"])
        start = int(st["step"])
        result.history = list(meta.get("history", []))
        result.evaluations = list(meta.get("evaluations", []))
        result.undone_steps = int(meta.get("undone_steps", 0))
        elapsed_prev = float(meta.get("train_time_s", 0.0))
        epoch_time_acc = {int(k): float(v) for k, v in meta.get("epoch_time_acc", {}).items()}
        result.resumed_from_step = start
        logger.info("resumed from %s at step %d of %d", ckpt_path, start, total)

    forward = wrap_ddp(model, env, device) if env.distributed else None
    stepper = _Stepper(model, cfg, device, optimizer, reg, forward)
    stepper.views_fn = resolve_two_views(sampler) if cfg.two_views else None
    stepper.warmup_steps = int(round(cfg.mask_warmup_epochs * spe))
    if cfg.two_views and stepper.views_fn is None:
        logger.warning("the sampler offers no two_views: training without the cross-view loss")
    evals_at = _eval_steps(cfg, spe, total)
    done_evals = {int(e["step"]) for e in result.evaluations}

    def meta() -> dict:
        return {
            "config": cfg.to_dict(), "net_config": _net_config(model), "steps_per_epoch": spe,
            "history": result.history,
            "evaluations": _jsonable(result.evaluations),  # results that are not JSON: as dataclass dicts or text
            "undone_steps": result.undone_steps,
            "train_time_s": elapsed_prev + (time.perf_counter() - t0),
            "epoch_time_acc": epoch_time_acc,
        }

    def checkpoint(step: int) -> None:
        if ckpt_path is None or not env.is_main:
            return
        save_train_state(ckpt_path, model, optimizer, reg, step, meta())
        if on_checkpoint is not None:
            on_checkpoint(step, ckpt_path)

    def run_eval(step: int) -> None:
        if evaluate is None or not env.is_main or step not in evals_at or step in done_evals:
            return
        was = model.training
        model.eval()
        t = time.perf_counter()
        with torch.no_grad():
            res = evaluate(model)
        model.train(was)
        result.evaluations.append({
            "epoch": evals_at[step], "step": step, "result": res,
            "elapsed_s": elapsed_prev + (time.perf_counter() - t0), "eval_time_s": time.perf_counter() - t,
        })
        done_evals.add(step)

    t0 = time.perf_counter()
    bar = None
    if cfg.progress and env.is_main:
        try:
            from tqdm import tqdm

            bar = tqdm(total=stop_at, initial=start, desc="train", unit="step", leave=False)
        except ImportError:  # pragma: no cover
            bar = None
    step = start
    n_epochs = math.ceil(total / spe)
    try:
        for epoch in range(start // spe, n_epochs):
            if step >= stop_at:
                break
            n_this = min(spe, total - epoch * spe)
            skip = step - epoch * spe
            te = time.perf_counter()
            for k, batch in enumerate(sampler.iter_epoch(epoch, fraction=n_this / spe)):
                if k >= n_this or step >= stop_at:
                    break
                if k < skip:
                    continue
                rec = stepper.step(batch, sampler, step)
                step += 1
                rec["epoch"] = step / spe
                result.history.append(rec)
                result.undone_steps += int(rec["undone"])
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{rec['loss']:.3f}", masked=f"{rec['masked_share']:.2f}")
                if not math.isfinite(rec["loss"]):
                    raise FloatingPointError(f"the loss is not finite at step {step}")
                run_eval(step)
                if cfg.checkpoint_every and step % int(cfg.checkpoint_every) == 0 and step < stop_at:
                    epoch_time_acc[epoch] = epoch_time_acc.get(epoch, 0.0) + time.perf_counter() - te
                    te = time.perf_counter()
                    checkpoint(step)
            epoch_time_acc[epoch] = epoch_time_acc.get(epoch, 0.0) + time.perf_counter() - te
    finally:
        if bar is not None:
            bar.close()
    result.steps = step
    result.epochs = step / spe
    result.train_time_s = elapsed_prev + (time.perf_counter() - t0)
    result.epoch_times_s = [epoch_time_acc[e] for e in sorted(epoch_time_acc)]
    hist = result.history
    result.masked_share = float(np.mean([h["masked_share"] for h in hist])) if hist else 0.0
    if step >= total and cfg.orient and env.is_main:  # the other ranks write nothing
        try:
            result.orientation = orient_like_pos(model, sampler, fs_hz=cfg.fs_hz)
        except Exception as e:  # the sign is a convenience; never lose a finished run over it
            logger.warning("could not orient the model like POS: %s", e)
            result.orientation = {"error": str(e)}
    checkpoint(step)
    model.train()
    return result


# ------------------------------------------------------------------------------------------
# orientation
# ------------------------------------------------------------------------------------------


def _flip_last_layer(model: nn.Module) -> None:
    if hasattr(model, "flip_sign"):
        model.flip_sign()
        return
    last = None
    for m in model.modules():
        if isinstance(getattr(m, "weight", None), torch.Tensor) and not isinstance(
            m, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
        ):
            last = m
    if last is None:
        raise ValueError("the model has no layer with weights to flip")
    with torch.no_grad():
        last.weight.neg_()
        if getattr(last, "bias", None) is not None:
            last.bias.neg_()


def lagged_r(est: np.ndarray, ref: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Pearson r of ``est`` against ``ref`` at the lag (``|lag| <= max_lag`` samples, positive:
    ``est`` late) where ``|r|`` is largest. The losses are blind to the phase, so a trained model
    may lag POS a little; the sign is read where the two line up best."""
    best, best_lag = 0.0, 0
    n = len(est)
    for lag in range(-max_lag, max_lag + 1):
        a = est[lag:] if lag >= 0 else est[: n + lag]
        b = ref[: n - lag] if lag >= 0 else ref[-lag:]
        if len(a) < 8 or np.std(a) == 0 or np.std(b) == 0:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        if abs(r) > abs(best):
            best, best_lag = r, lag
    return best, best_lag


@torch.no_grad()
def orient_like_pos(model: nn.Module, sampler: Any, *, fs_hz: float = 30.0, max_batches: int = 8,
                    max_lag_s: float = 0.15, device: str | torch.device | None = None) -> dict:
    """Make the model's BVP correlate positively with POS on the same clips.

    POS (``model.methods.pos``) runs on the mean RGB of each clip's skin pixels (the nonzero
    pixels of its face crops); the model runs in eval mode. Both are band-passed and compared at
    the lag within ``max_lag_s`` that aligns them best (``lagged_r``). When the mean r over the
    clips is negative, the last layer is negated (``model.flip_sign()`` when the model has it).
    Returns ``{"flipped", "r_before", "r_after", "clips", "median_lag_s"}``."""
    from model.methods.pos import pos
    from model.signal.filters import bandpass

    dev = torch.device(device) if device is not None else next(model.parameters()).device
    spe = max(1, len(sampler))
    max_lag = int(round(max_lag_s * fs_hz))
    was = model.training
    model.eval()

    def mean_r() -> tuple[float, int, float]:
        rs, lags = [], []
        for k, batch in enumerate(sampler.iter_epoch(0, fraction=min(1.0, max_batches / spe))):
            if k >= max_batches:
                break
            face = _as_tensor(batch.face, dev)
            bvp = model(face).double().cpu().numpy()
            rgb = skin_mean_rgb(face.double()).cpu().numpy()  # (B, 3, T)
            for i in range(face.shape[0]):
                if not np.all(rgb[i] > 0):
                    continue
                ref = np.ascontiguousarray(pos(rgb[i].T, fs_hz))
                est = np.ascontiguousarray(bandpass(bvp[i] - bvp[i].mean(), fs_hz))
                if np.std(ref) > 0 and np.std(est) > 0:
                    r, lag = lagged_r(est, ref, max_lag)
                    rs.append(r)
                    lags.append(lag)
        if not rs:
            return float("nan"), 0, 0.0
        return float(np.mean(rs)), len(rs), float(np.median(lags)) / fs_hz

    try:
        r, n, lag_s = mean_r()
        flipped = False
        r_after = r
        if n and r < 0:
            _flip_last_layer(model)
            flipped = True
            r_after, _, lag_s = mean_r()
            if not r_after > 0:
                logger.warning("flipping the last layer did not make the BVP agree with POS (r %.3f -> %.3f)", r, r_after)
    finally:
        model.train(was)
    return {"flipped": flipped, "r_before": r, "r_after": r_after, "clips": n, "median_lag_s": lag_s}


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------


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
    p.add_argument("--no-masking", action="store_true", help="switch off post-verification masking")
    p.add_argument("--no-smoothing", action="store_true", help="switch off perturbation-based smoothing")
    p.add_argument("--no-null-space", action="store_true", help="switch off null-space regularisation")
    p.add_argument("--exclude", default="", help="comma-separated recording names to leave out (e.g. subject3,subject8)")
    p.add_argument("--cache", default=None, metavar="DIR", help="crop cache folder (default: the user cache)")
    p.add_argument("--synthetic", type=int, default=0, metavar="N", help="add N synthetic clips (fcus-rppg synth)")
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
    """Write ``n`` synthetic clips (varied HR, still and swaying) under ``out/synthetic``."""
    from training.datasets import read_dataset
    from training.synth import SUITE_HR_BPM, SynthConfig, write_clip

    root = out / "synthetic"
    for i in range(n):
        hr = SUITE_HR_BPM[i % len(SUITE_HR_BPM)]
        motion = "none" if (i // len(SUITE_HR_BPM)) % 2 == 0 else "sway"
        sc = SynthConfig(hr_bpm=hr, motion=motion, seed=seed + i, illumination_drift=0.02)
        folder = root / f"synth{i:02d}_{sc.slug}"
        if not (folder / "ground_truth.txt").is_file():
            write_clip(sc, folder, progress=False)
    return list(read_dataset(root))


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
        return FcusNet(cfg), cfg
    fx = _fcus_export()
    if fx is None:
        raise _Refused("--init needs model.fcus_export")
    try:
        model, _ = fx.model_from_checkpoint(args.init)
    except Exception as e:  # noqa: BLE001 - a damaged file raises many kinds
        raise _Refused(f"cannot load --init {args.init}: {e}") from None
    return model, model.config


def _recordings(args: argparse.Namespace, out: Path, env: DistEnv) -> tuple[list, set[str]]:
    from training.datasets import read_dataset

    recordings = []
    for d in args.data:
        try:
            recordings.extend(read_dataset(Path(d)))
        except ValueError as e:
            raise _Refused(str(e)) from None
    excluded = {s.strip() for s in args.exclude.split(",") if s.strip()}
    recordings = [r for r in recordings if r.name not in excluded]
    if args.synthetic:
        if env.local_rank == 0:  # one writer per machine; the others wait for the clips
            _synthetic_recordings(args.synthetic, out, args.seed)
        barrier(env)
        recordings.extend(_synthetic_recordings(args.synthetic, out, args.seed))
    if not recordings:
        raise _Refused("no recordings to train on")
    return recordings, excluded


def _cached_recordings(recordings: list, args: argparse.Namespace, contract, env: DistEnv) -> tuple[list, list]:
    """The crop cache of every readable recording, built in parallel by the processes of each
    machine (complete entries only); ``(cached, skipped)`` with ``(name, reason)`` per skip."""
    from training import crop_cache

    mine = crop_cache.build_missing(recordings, args.cache, contract, face_model=args.face_model,
                                    part=(env.local_rank, env.local_world_size), progress=env.is_main)
    barrier(env)
    skipped = sorted({s for part in all_gather_objects(mine, env) for s in part})
    cached = crop_cache.load_cached(recordings, args.cache, contract, face_model=args.face_model)
    if env.is_main:
        for name, why in skipped:
            print(f"fcus-rppg train: skipping {name}: {why}", file=sys.stderr)
        if skipped:
            print(f"fcus-rppg train: skipped {len(skipped)} of {len(recordings)} recordings", file=sys.stderr)
    if not cached:
        raise _Refused("none of the recordings could be read")
    cached = [c for c in cached if int(np.sum(c.valid)) >= contract.window_frames]
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

        env = init_distributed(args.device, args.dist_timeout_s)
        return _train_command(args, argv, model, net_cfg, env)
    except _Refused as e:
        print(f"fcus-rppg train: {e}", file=sys.stderr)
        return 2
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
    recordings, excluded = _recordings(args, out, env)
    contract = DEFAULT_CONTRACT
    cached, skipped = _cached_recordings(recordings, args, contract, env)
    cfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, fs_hz=contract.fs_hz,
        window_frames=contract.window_frames, masking=not args.no_masking, smoothing=not args.no_smoothing,
        null_space=not args.no_null_space, device=args.device, checkpoint_dir=str(out / "checkpoint"),
        resume=not args.no_resume, checkpoint_every=args.checkpoint_every, num_threads=args.threads,
        init_weights=str(Path(args.init).resolve()) if args.init else None,
    )
    sampler = ClipSampler(cached, window_frames=cfg.window_frames, batch_size=cfg.batch_size, seed=cfg.seed,
                          world_size=env.world_size, rank=env.rank)
    if len(sampler) < 1:
        raise _Refused("the recordings give no training window")
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
        "recordings": [r.name for r in recordings],
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
        "config": cfg.to_dict(),
        "model_config": net_cfg.to_dict(),
    }
    _write_outputs(out, model, summary)
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
        "orientation": result.orientation,
    }


def _write_outputs(out: Path, model: nn.Module, summary: dict) -> None:
    weights = out / WEIGHTS_FILE
    summary["weights"] = str(weights)
    tmp = out / "training_summary.json.tmp"
    tmp.write_text(json.dumps(_jsonable(summary), indent=2))
    os.replace(tmp, out / "training_summary.json")
    model.cpu()
    fx = _fcus_export()
    if fx is not None:
        fx.save_checkpoint(weights, model, extra={"training_summary": _jsonable(summary)})
    else:
        _atomic_torch_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, weights)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(train_main())
