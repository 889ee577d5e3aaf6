"""Resumable training state: written atomically, tensors and JSON only, read with
``torch.load(weights_only=True)`` (never an arbitrary pickle)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.distributed import DistEnv, broadcast_object
from training.fcus_components import NullSpaceRegulariser
from training.train_config import RESUME_FREE, TrainConfig

STATE_FILE = "train_state.pt"
FORMAT = "fcus-rppg-train-state/1"


def atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
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
            return jsonable(asdict(v))
        except Exception:  # noqa: BLE001 - fall back to the text form
            pass
    return repr(v)


def fcus_export_module():
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
    trainer = {"format": FORMAT, "step": int(step), "null_space": null, "meta": jsonable(meta)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fx = fcus_export_module()
    if fx is not None:
        fx.save_checkpoint(path, model, optimizer_state=optimizer.state_dict(), extra={"trainer": trainer})
        return
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "trainer_json": json.dumps(trainer),
    }
    atomic_torch_save(state, path)


def load_train_state(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a state written by ``save_train_state`` safely: ``{"step", "model", "optimizer",
    "null_space", "meta"}``."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".json")
    fx = fcus_export_module()
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


def net_config_of(model: nn.Module) -> dict | None:
    """The network's settings that a resumed run must share (its ``config`` without the init seed,
    which the checkpoint's weights replace); None for a model without a config."""
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(cfg, "to_dict") or not hasattr(type(cfg), "from_dict"):
        return None
    return _settings_without_seed(cfg)


def _settings_without_seed(cfg) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k != "seed"}


def check_settings_early(ckpt_path: Path, cfg: TrainConfig, model: nn.Module) -> None:
    """Before any clip is tracked: refuse (ValueError) a checkpoint at ``ckpt_path`` written with
    other settings or for another network, as :func:`resumable_state` would once the data is ready;
    nothing without a readable checkpoint (the full check comes later)."""
    if not cfg.resume or not Path(ckpt_path).is_file():
        return
    try:
        st = load_train_state(Path(ckpt_path))
    except Exception:  # noqa: BLE001 - a damaged file: resumable_state says so with its own words
        return
    _check_resumable(st, cfg, model, None, Path(ckpt_path))


def _check_resumable(st: dict, cfg: TrainConfig, model: nn.Module, spe: int | None, ckpt_path: Path,
                     data: list[str] | None = None) -> None:
    """Refuse a state written by a run with other settings, another network or other data (``data``:
    the sampler's :meth:`~training.clips.ClipSampler.data_id`; states written before it was
    recorded are checked by their steps per epoch only; ``spe`` None: the data is not checked)."""
    meta = st["meta"]
    saved = meta.get("data")
    if data is not None and saved is not None and list(saved) != list(data):
        gone, new = sorted(set(saved) - set(data)), sorted(set(data) - set(saved))
        raise ValueError(f"{ckpt_path} was written by a run on other clips ({len(gone)} of its clips are not in "
                         f"this run, {len(new)} of this run's were not in it): train into another --out, or "
                         "start afresh with --no-resume")
    old = TrainConfig.from_dict(meta.get("config", {}))
    diff = [f.name for f in fields(TrainConfig) if f.name not in RESUME_FREE
            and getattr(old, f.name) != getattr(cfg, f.name)]
    if diff:
        raise ValueError(
            f"{ckpt_path} was written by a run with other settings ({', '.join(diff)}): "
            "resume it with the same settings, or train into another --out, or start afresh with --no-resume "
            "(TrainConfig.resume=False)"
        )
    want = net_config_of(model)
    if want is not None:
        saved = st["net_config"]
        have = None if saved is None else _settings_without_seed(type(model.config).from_dict(saved))
        if have != want:
            what = "no network settings" if have is None else ", ".join(
                sorted(k for k in want if have.get(k) != want[k]))
            raise ValueError(f"{ckpt_path} was written for another network ({what}): resume it with the same "
                             "network, or train into another --out, or start afresh with --no-resume "
                             "(TrainConfig.resume=False)")
    if spe is not None and meta.get("steps_per_epoch") != spe:
        raise ValueError(f"{ckpt_path}: the sampler has {spe} batches per epoch, the checkpoint "
                         f"{meta.get('steps_per_epoch')}: not the same data")


def resumable_state(ckpt_path: Path | None, cfg: TrainConfig, model: nn.Module, spe: int,
                     env: DistEnv, data: list[str] | None = None) -> dict | None:
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
                _check_resumable(st, cfg, model, spe, ckpt_path, data)
            except ValueError as e:
                st, error = None, str(e)
            except Exception as e:  # noqa: BLE001 - a malformed state: every rank must hear of it
                st, error = None, f"{ckpt_path} holds a malformed training state ({type(e).__name__}: {e}); " \
                                  "start afresh with --no-resume"
    st, error = broadcast_object((st, error), env)
    if error is not None:
        raise ValueError(error)
    return st
