"""Training on several processes: PyTorch's own engine (``torchrun`` + DistributedDataParallel).

``fcus-rppg train`` reads the variables ``torchrun`` sets (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``); without them it is one process and nothing here does
anything. With them it joins the process group (NCCL on CUDA, gloo on CPU, with a timeout on
every collective, so a dead rank ends the run instead of hanging it).

The global batch stays the batch of a one-process run: every rank draws the same random numbers
for the whole batch (one global sample order, one set of augmentation draws) and reads only its
own contiguous share of the clips (``training.sharding.shard_rows``). The losses are batch-level (peak variety,
cross-clip disagreement, post-verification masking and its top-up, the step verifier, the
null-space estimate), so each rank gathers the whole batch's predictions (:func:`gather_samples`,
differentiable) and computes the one-process objective on them; the gradient that flows back to a
rank's own samples is then ``world_size`` times its share, and DDP's mean over ranks gives the
gradient of the one-process run. BatchNorm statistics are taken over the global batch
(:class:`GlobalBatchNorm`; torch's ``SyncBatchNorm`` refuses CPU tensors, so gloo runs could not
use it). A batch smaller than the number of ranks is computed whole on every rank ("replicated":
same gradient everywhere, nothing to gather).
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from training.sharding import Shard

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 1800.0  # the crop cache is built before the first collective of training


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands in the run."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    local_world_size: int = 1
    backend: str | None = None  # "gloo" | "nccl"; None for one process

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistEnv()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as e:
        raise ValueError(f"{name}={value!r} is not a whole number") from e


def env_from_torchrun() -> tuple[int, int, int, int]:
    """``(world_size, rank, local_rank, local_world_size)`` from torchrun's variables (1, 0, 0, 1
    when absent)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    local_world = _env_int("LOCAL_WORLD_SIZE", world)
    if world < 1 or not 0 <= rank < world or not 0 <= local_rank < max(1, local_world):
        raise ValueError(f"inconsistent torchrun variables: WORLD_SIZE={world} RANK={rank} "
                         f"LOCAL_RANK={local_rank} LOCAL_WORLD_SIZE={local_world}")
    return world, rank, local_rank, local_world


def pick_device(device: str, env: DistEnv | None = None) -> torch.device:
    """``auto``: CUDA when present, else CPU; a CUDA device of a distributed run is the one of
    its ``LOCAL_RANK`` (``cuda`` or ``auto``; an explicit ``cuda:N`` is kept)."""
    local_rank = env.local_rank if env is not None else env_from_torchrun()[2]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local_rank} has no GPU of its own ({torch.cuda.device_count()} "
                             "visible): start at most that many processes per machine")
        dev = torch.device("cuda", local_rank)
    return dev


def init(device: str = "auto", timeout_s: float = DEFAULT_TIMEOUT_S) -> DistEnv:
    """Join the process group when torchrun started this process; else the one-process env."""
    world, rank, local_rank, local_world = env_from_torchrun()
    if world == 1:
        return SINGLE
    env0 = DistEnv(world, rank, local_rank, local_world)
    dev = pick_device(device, env0)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=float(timeout_s)))
    log.info("rank %d of %d (local %d of %d), backend %s, device %s", rank, world, local_rank,
             local_world, backend, dev)
    return DistEnv(world, rank, local_rank, local_world, backend)


def shutdown(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def broadcast_object(obj: Any, env: DistEnv, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (tensors travel on CPU)."""
    if not env.distributed:
        return obj
    box = [obj if env.rank == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_objects(obj: Any, env: DistEnv) -> list[Any]:
    if not env.distributed:
        return [obj]
    out: list[Any] = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def gather_samples(t: torch.Tensor, shard: Shard, dim: int = 0) -> torch.Tensor:
    """The global batch of ``t`` (this rank's samples along ``dim``), in global order; the
    gradient flows back to each rank's own samples (torch.distributed.nn's all_gather). Uneven
    shares are padded for the collective and cut after."""
    if not shard.gathers:
        return t
    top = max(shard.sizes)
    n = t.shape[dim]
    if n < top:
        pad_shape = list(t.shape)
        pad_shape[dim] = top - n
        t = torch.cat([t, t.new_zeros(pad_shape)], dim=dim)
    parts = _autograd_collective("all_gather", t.contiguous()) if t.requires_grad else _gather_nograd(t)
    return torch.cat([p.narrow(dim, 0, k) for p, k in zip(parts, shard.sizes)], dim=dim)


def _autograd_collective(name: str, t: torch.Tensor):
    """``torch.distributed.nn.functional.<name>(t)``: the public collectives with a gradient
    (all_gather's backward sums each rank's gradient back to its owner; all_reduce's sums).
    torch 2.13 marks them deprecated for its private functional collectives, whose all_gather
    backward needs reduce_scatter, which gloo lacks; so these stay, their warning muted."""
    import torch.distributed.nn.functional as fn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return getattr(fn, name)(t)


def _gather_nograd(t: torch.Tensor) -> list[torch.Tensor]:
    out = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(out, t.contiguous())
    return out


def gather_views(t: torch.Tensor, views: int, shard: Shard) -> torch.Tensor:
    """``t`` holds ``views`` blocks of this rank's samples, ``(views * n_local, ...)`` ->
    ``(views * n_global, ...)`` with each view's block in global order (the one-process layout)."""
    if not shard.gathers:
        return t
    n_local = t.shape[0] // views
    blocks = t.reshape(views, n_local, *t.shape[1:])
    g = gather_samples(blocks, shard, dim=1)
    return g.reshape(views * g.shape[1], *t.shape[1:])


# ---- BatchNorm over the global batch ----------------------------------------------------------------
_ACTIVE: list[Shard] = []


@contextmanager
def global_batch(shard: Shard) -> Iterator[None]:
    """While active, :class:`GlobalBatchNorm` layers take their statistics over the whole batch."""
    _ACTIVE.append(shard)
    try:
        yield
    finally:
        _ACTIVE.pop()


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the global batch (sums all-reduced with
    gradient, like SyncBatchNorm, on any device); plain BatchNorm outside :func:`global_batch`,
    in eval mode and in one process."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        shard = _ACTIVE[-1] if _ACTIVE else None
        if shard is None or not shard.gathers or not self.training:
            return super().forward(input)
        self._check_input_dim(input)
        dims = [0] + list(range(2, input.dim()))
        count_local = float(input.numel() // input.shape[1])
        x = input.double()
        stats = torch.cat([x.sum(dim=dims), x.square().sum(dim=dims),
                           x.new_tensor([count_local])])
        stats = _autograd_collective("all_reduce", stats)
        c = input.shape[1]
        count = stats[-1]
        mean = stats[:c] / count
        var = (stats[c:2 * c] / count - mean.square()).clamp(min=0.0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
                    if self.momentum is None:
                        m = 1.0 / float(self.num_batches_tracked)
                unbiased = var * count / (count - 1).clamp(min=1.0)
                self.running_mean.mul_(1 - m).add_(mean.to(self.running_mean.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        shape = [1, c] + [1] * (input.dim() - 2)
        y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)
        y = y.to(input.dtype)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer of ``module`` by a :class:`GlobalBatchNorm` sharing its
    parameters and buffers (the state dict keys stay the same)."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            g = GlobalBatchNorm(child.num_features, eps=child.eps, momentum=child.momentum,
                                affine=child.affine, track_running_stats=child.track_running_stats)
            if child.affine:
                g.weight, g.bias = child.weight, child.bias
            if child.track_running_stats:
                g.running_mean, g.running_var = child.running_mean, child.running_var
                g.num_batches_tracked = child.num_batches_tracked
            g.train(child.training)
            setattr(module, name, g)
        else:
            convert_batchnorm(child)
    return module


class FeatureForward(nn.Module):
    """``forward(x) -> (bvp, features)`` of a net with ``forward_with_features``: the module DDP
    wraps, so its gradient hooks see the pass the losses use."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if hasattr(self.net, "forward_with_features"):
            return self.net.forward_with_features(x)
        return self.net(x), None


def wrap_ddp(model: nn.Module, env: DistEnv, device: torch.device) -> nn.Module:
    """DistributedDataParallel over :class:`FeatureForward`. Buffers are broadcast from rank 0
    once, when DDP is built, not before every forward: the global BatchNorm keeps them equal."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    params = inspect.signature(DistributedDataParallel).parameters
    no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
    return DistributedDataParallel(FeatureForward(model), device_ids=ids, **no_sync)
