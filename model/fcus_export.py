"""FCUS-rPPG export and checkpoints (torch; training side only).

* :func:`export_onnx`: one-file ONNX (opset 18, dynamo exporter) with dynamic batch and T, the
  contract (plus ``fcus.training_summary``, ``fcus.net_config`` and ``fcus.created_utc``) in
  ``metadata_props``, written atomically.
* :func:`parity_check`: max abs difference torch vs ONNX Runtime (CPU) on a synthetic face clip.
* :func:`save_checkpoint` / :func:`load_checkpoint`: weights as a pure tensor dict (safetensors
  when installed, else ``torch.save`` read back with ``torch.load(weights_only=True)``), the
  optimizer state likewise with ``weights_only=True``, ``extra`` as JSON beside them. No
  arbitrary pickle is ever loaded.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from model.fcus_contract import INPUT_NAME, OUTPUT_NAME, FcusContract, weights_beside

OPSET = 18
CHECKPOINT_FORMAT = "fcus-checkpoint/1"


# ---- small helpers -----------------------------------------------------------------------
_UMASK = os.umask(0o022)  # read once, at import (setting it later would race other threads)
os.umask(_UMASK)

@contextlib.contextmanager
def _atomic_path(path: Path):
    """Yield a temp path beside ``path``; on success rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600: give the file the usual mode
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, (Path, _dt.datetime)):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def synthetic_clip(batch: int, n_frames: int, crop_size: int, fs_hz: float = 30.0, seed: int = 0) -> np.ndarray:
    """A plausible skin-masked face clip (B, 3, T, S, S) float32 0..255: per-pixel skin tone, an
    elliptic skin mask, a weak pulse, slow illumination drift and sensor noise. Used for the
    parity check (pure uniform noise averages away to a near-constant output, which tests
    nothing) and by the tests."""
    rng = np.random.default_rng(seed)
    s, t = crop_size, np.arange(n_frames) / fs_hz
    yy, xx = np.mgrid[0:s, 0:s]
    out = np.empty((batch, 3, n_frames, s, s), np.float32)
    for b in range(batch):
        cy, cx = s / 2 + rng.uniform(-2, 2), s / 2 + rng.uniform(-2, 2)
        mask = ((yy - cy) / (0.42 * s)) ** 2 + ((xx - cx) / (0.34 * s)) ** 2 <= 1.0
        tone = np.array([170.0, 120.0, 95.0])[:, None, None] * rng.uniform(0.8, 1.2, (3, s, s))
        hr = rng.uniform(0.9, 2.2)
        pulse = np.sin(2 * np.pi * hr * t + rng.uniform(0, 6.3))
        drift = 0.03 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t) + 0.005 * rng.standard_normal(n_frames)
        amp = np.array([0.003, 0.008, 0.004])[:, None]  # pulse strongest in green
        gain = 1.0 + amp * pulse[None, :] + drift[None, :]  # (3, T)
        clip = tone[:, None] * gain[:, :, None, None] + rng.normal(0, 2.0, (3, n_frames, s, s))
        out[b] = np.clip(clip, 1.0, 255.0) * mask[None, None]
    return out


# ---- ONNX export ---------------------------------------------------------------------------
def export_onnx(model: torch.nn.Module, path: str | os.PathLike, contract: FcusContract,
                training_summary: dict | None = None) -> Path:
    """Export ``model`` (in eval mode) to one ONNX file at ``path``; returns the path.

    Input ``frames`` (batch, 3, T, S, S) with batch and T dynamic (T >= contract.min_frames),
    output ``bvp`` (batch, T). The metadata holds ``contract.to_metadata()`` plus
    ``fcus.training_summary`` (JSON), ``fcus.net_config`` (JSON, when the model has a config)
    and ``fcus.created_utc``. The file appears atomically (temp file + rename).
    """
    import onnx

    path = Path(path)
    s = int(contract.crop_size)
    example = torch.from_numpy(synthetic_clip(2, int(contract.window_frames), s, contract.fs_hz))
    batch = torch.export.Dim("batch", min=1, max=4096)
    frames_dim = torch.export.Dim("T", min=int(contract.min_frames), max=1_000_000)
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), _quiet_exporter_logs():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model, (example,), None, dynamo=True, opset_version=OPSET, external_data=False,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch, 2: frames_dim},), verbose=False,
            )
    finally:
        model.train(was_training)
    proto = program.model_proto
    meta = dict(contract.to_metadata())
    meta["fcus.training_summary"] = json.dumps(training_summary or {}, default=_json_default, sort_keys=True)
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "to_dict"):
        meta["fcus.net_config"] = json.dumps(cfg.to_dict())
    meta["fcus.created_utc"] = json.dumps(_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.producer_name = "fcus-rppg"
    proto.doc_string = ("FCUS-rPPG pulse model. Input 'frames' (B,3,T,S,S) float32 RGB 0..255 skin-masked "
                        "face crops; output 'bvp' (B,T). Contract in metadata_props (fcus.*).")
    onnx.checker.check_model(proto)
    with _atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)
    return path


@contextlib.contextmanager
def _quiet_exporter_logs():
    """The dynamo exporter logs warnings about optional torchvision ops; keep them out."""
    names = ["torch.onnx", "torch.onnx._internal.exporter._registration", "onnxscript"]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def parity_check(model: torch.nn.Module, onnx_path: str | os.PathLike, contract: FcusContract,
                 n_frames: tuple[int, ...] = (160, 300), batch: int = 2, seed: int = 0) -> float:
    """Max abs difference between the torch model (eval mode) and the ONNX file run by ONNX
    Runtime on CPU, over synthetic clips of each length in ``n_frames`` (the BVP has unit
    variance; the export is good when this is < 1e-4)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    was_training = model.training
    model.eval()
    worst = 0.0
    try:
        for i, t in enumerate(n_frames):
            x = synthetic_clip(batch, int(t), int(contract.crop_size), contract.fs_hz, seed=seed + i)
            with torch.no_grad():
                y_t = model(torch.from_numpy(x)).numpy()
            y_o = sess.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
            if y_o.shape != y_t.shape:
                raise AssertionError(f"ONNX output shape {y_o.shape} != torch {y_t.shape} at T={t}")
            worst = max(worst, float(np.max(np.abs(y_o - y_t))))
    finally:
        model.train(was_training)
    return worst


# ---- checkpoints ---------------------------------------------------------------------------
def _sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + ".json"), path.with_name(path.name + ".optim")


def _have_safetensors() -> bool:
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        return False
    return True


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, optimizer_state: dict | None = None,
                    extra: dict | None = None) -> Path:
    """Write ``path`` (weights), ``path.optim`` (optimizer state, when given) and ``path.json``
    (``extra`` plus bookkeeping), each atomically; the JSON goes last, so a checkpoint whose JSON
    exists is complete. ``extra`` must be JSON-serialisable (numpy scalars are fine)."""
    path = Path(path)
    meta_path, optim_path = _sidecars(path)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    fmt = "safetensors" if _have_safetensors() else "torch"
    with _atomic_path(path) as tmp:
        if fmt == "safetensors":
            import safetensors.torch

            safetensors.torch.save_file(tensors, str(tmp))
        else:
            torch.save(tensors, tmp)
    if optimizer_state is not None:
        with _atomic_path(optim_path) as tmp:
            torch.save(optimizer_state, tmp)
    elif optim_path.exists():
        optim_path.unlink()
    cfg = getattr(model, "config", None)
    meta = {
        "format": CHECKPOINT_FORMAT,
        "weights_format": fmt,
        "weights": path.name,
        "optimizer": optim_path.name if optimizer_state is not None else None,
        "net_config": cfg.to_dict() if cfg is not None and hasattr(cfg, "to_dict") else None,
        "saved_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "extra": extra or {},
    }
    text = json.dumps(meta, default=_json_default, indent=1, sort_keys=True)
    with _atomic_path(meta_path) as tmp:
        tmp.write_text(text)
    return path


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":  # torch.save zip archive: restricted unpickler only
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - the unpickler refuses anything but plain data
            raise ValueError(f"{path} is not a plain tensor checkpoint: {e}") from None
    else:
        if not _have_safetensors():
            raise ValueError(f"{path} is not a torch tensor archive (and safetensors is not installed)")
        import safetensors.torch

        try:
            obj = safetensors.torch.load_file(str(path), device="cpu")
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"{path} is neither a torch tensor archive nor a safetensors file: {e}") from None
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise ValueError(f"{path} does not hold a name -> tensor dict")
    return obj


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """``(state_dict, extra)`` of a checkpoint written by :func:`save_checkpoint`."""
    state, meta = _read_checkpoint(path)
    return state, meta.get("extra", {})


def _read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """``(state_dict, meta)``: the weights and the whole checkpoint JSON, each read once."""
    path = Path(path)
    meta_path, _ = _sidecars(path)
    if path.suffix.lower() == ".onnx":  # the likeliest mix-up: the model for the weights beside it
        beside = weights_beside(path)
        hint = f"; its weights are {beside}" if beside.is_file() else " (fcus-rppg export writes them beside the model)"
        raise ValueError(f"{path} is an ONNX model, not a weights file: give the torch weights{hint}")
    if path.name.endswith(".pt.json"):
        raise ValueError(f"{path} is a weights file's description: give the weights file {path.with_suffix('')}")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if not meta_path.is_file():
        raise FileNotFoundError(f"checkpoint {path} lacks its {meta_path.name} (incomplete save?)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{meta_path} is not an {CHECKPOINT_FORMAT} file (format {meta.get('format')!r})")
    return _load_weights(path), meta


def checkpoint_meta(path: str | os.PathLike) -> dict:
    """The checkpoint's JSON: format, weights_format, net_config, saved_utc, extra."""
    return json.loads(_sidecars(Path(path))[0].read_text())


def load_optimizer_state(path: str | os.PathLike) -> dict | None:
    """The optimizer state saved with the checkpoint at ``path`` (None when none was saved)."""
    optim_path = _sidecars(Path(path))[1]
    if not optim_path.is_file():
        return None
    try:
        return torch.load(optim_path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{optim_path} is not a plain optimizer state: {e}") from None


def model_from_checkpoint(path: str | os.PathLike):
    """``(FcusNet, extra)`` rebuilt from the checkpoint's stored net config and weights."""
    from model.fcus_net import FcusNet, FcusNetConfig

    state, meta = _read_checkpoint(path)
    extra, cfg = meta.get("extra", {}), meta.get("net_config")
    net = FcusNet(FcusNetConfig.from_dict(cfg or {}))  # no stored config: an old checkpoint's defaults
    net.load_state_dict(state)
    return net, extra


PARITY_TOLERANCE = 1e-4  # the largest torch/ONNX Runtime difference an export accepts


def export_checked(model: torch.nn.Module, path: str | os.PathLike, contract: FcusContract,
                   training_summary: dict | None = None, tolerance: float = PARITY_TOLERANCE) -> tuple[Path, float]:
    """:func:`export_onnx`, then :func:`parity_check`: ``(path, difference)``; when torch and ONNX
    Runtime differ by ``tolerance`` or more the file is removed and ValueError raised."""
    out = export_onnx(model, path, contract, training_summary)
    diff = parity_check(model, out, contract)
    if not diff < tolerance:
        out.unlink(missing_ok=True)
        raise ValueError(f"torch and ONNX Runtime differ by {diff:.2e} (> {tolerance:g}); nothing written")
    return out, diff


def export_main(argv: list[str] | None = None) -> int:
    """``fcus-rppg export --weights W --out M.onnx``: the trained weights (``fcus-rppg train``)
    to one ONNX file with the contract in its metadata, checked for parity with torch."""
    import argparse
    import sys

    from model.fcus_contract import DEFAULT_CONTRACT

    p = argparse.ArgumentParser(prog="fcus-rppg export",
                                description=" ".join(export_main.__doc__.replace("``", "").split()))
    p.add_argument("--weights", required=True, help="weights file written by fcus-rppg train (fcus_weights.pt)")
    p.add_argument("--out", required=True, help="ONNX file to write (e.g. assets/fcus_rppg.onnx)")
    p.add_argument("--tolerance", type=float, default=PARITY_TOLERANCE, help="largest torch/ONNX difference accepted")
    args = p.parse_args(argv)
    if Path(args.out).is_dir():
        print(f"fcus-rppg export: --out {args.out} is a folder: give the ONNX file to write, e.g. "
              f"{Path(args.out) / 'fcus_rppg.onnx'}", file=sys.stderr)
        return 2
    try:
        model, extra = model_from_checkpoint(args.weights)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        print(f"fcus-rppg export: cannot load {args.weights}: {e}", file=sys.stderr)
        return 2
    model.eval()
    summary = extra.get("training_summary", {}) if isinstance(extra, dict) else {}
    try:
        out, diff = export_checked(model, args.out, DEFAULT_CONTRACT, summary, args.tolerance)
    except ValueError as e:
        print(f"fcus-rppg export: {e}", file=sys.stderr)
        return 1
    # The weights to fine-tune from (fcus-rppg train --init), beside the model they export.
    weights_out = weights_beside(out)
    save_checkpoint(weights_out, model, extra=extra if isinstance(extra, dict) else {})
    print(f"exported {out} ({out.stat().st_size / 1e3:.0f} kB); torch vs ONNX Runtime max abs diff {diff:.1e}; "
          f"fine-tuning weights {weights_out}")
    from model.fcus_method import shipped_model_path

    if out.resolve() == shipped_model_path().resolve():  # a maintainer's release step, or a slip
        print(f"fcus-rppg export: this replaced the shipped model and its weights ({out}); the app and analyze "
              "now use it by default (in a checkout, git checkout assets/ restores the released ones; "
              "an installed package, reinstalling it)", file=sys.stderr)
    return 0
