"""FCUS-rPPG inference with ONNX Runtime (no torch): load, check the contract, run.

The ONNX file carries the contract (:mod:`model.fcus_contract`) in its metadata; a model whose
metadata is missing or does not match what this runtime expects is refused with
:class:`ModelContractError`, whose message says what is wrong.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from model.fcus_contract import CONTRACT_VERSION, INPUT_NAME, OUTPUT_NAME, FcusContract

log = logging.getLogger(__name__)

CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"


class ModelContractError(ValueError):
    """The file is not an FCUS model this runtime can use (message says why)."""


def default_threads() -> int:
    """Intra-op threads: the physical cores of a laptop, at most 4 (the camera, tracker and UI
    need CPU too; one window per second does not need more)."""
    n = os.cpu_count() or 1
    return max(1, min(4, n))


def _resolve_providers(providers) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if providers is None or (isinstance(providers, str) and providers.lower() == "auto"):
        return [p for p in (CUDA_EP, CPU_EP) if p in available] or [CPU_EP]
    if isinstance(providers, str):
        key = providers.lower()
        if key in ("cpu", CPU_EP.lower()):
            return [CPU_EP]
        if key in ("cuda", "gpu", CUDA_EP.lower()):
            if CUDA_EP not in available:
                raise RuntimeError(f"CUDA was requested but this onnxruntime has no {CUDA_EP} "
                                   f"(available: {', '.join(available)})")
            return [CUDA_EP, CPU_EP]
        raise ValueError(f"unknown providers {providers!r}: use 'auto', 'cpu', 'cuda' or a list")
    return list(providers)


def _device_of(providers: list[str]) -> str:
    if providers and providers[0] == CUDA_EP:
        return "CUDA"
    if providers and providers[0] == CPU_EP:
        return "CPU"
    return providers[0].replace("ExecutionProvider", "") if providers else "CPU"


def _dims(value_info) -> list:
    return [d if isinstance(d, int) else None for d in value_info.shape]


class FcusRuntime:
    """An FCUS ONNX model ready to run.

    ``providers``: "auto" (CUDA when this onnxruntime can use it, else CPU), "cpu", "cuda", or an
    explicit list of execution providers. ``device`` is what the session really got ("CUDA" or
    "CPU"), read from ``session.get_providers()``; ``providers`` is that list.
    """

    def __init__(self, path: str | os.PathLike, providers="auto", *, intra_op_threads: int | None = None) -> None:
        import onnxruntime as ort

        ort.disable_telemetry_events()  # no usage events (model.privacy sets the import-time opt-out)
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise FileNotFoundError(f"no FCUS model at {self.path}")
        requested = _resolve_providers(providers)
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(intra_op_threads or default_threads())
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One call a second: idle worker threads should sleep, not spin on a shared laptop CPU.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3  # a missing CUDA library is reported through self.device
        quiet = CUDA_EP in requested  # a CUDA build without CUDA libraries logs errors while falling back
        if quiet:
            ort.set_default_logger_severity(4)
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=so, providers=requested)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises several types for bad files
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelContractError(f"not an ONNX model: {self.path} ({msg})") from None
        finally:
            if quiet:
                ort.set_default_logger_severity(2)  # onnxruntime's default (warnings)
        self.providers: list[str] = list(self.session.get_providers())
        self.device = _device_of(self.providers)
        if CUDA_EP in requested and self.device != "CUDA":
            log.info("FCUS model: CUDA not usable here, running on %s", self.device)
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.contract = self._check_contract(meta)
        self.metadata = meta
        self.input_name = INPUT_NAME
        self.output_name = OUTPUT_NAME

    # ---- contract --------------------------------------------------------------------------
    def _check_contract(self, meta: dict[str, str]) -> FcusContract:
        where = f"model {self.path.name}"
        if not any(k.startswith("fcus.") for k in meta):
            raise ModelContractError(f"{where} has no FCUS contract metadata (fcus.* keys missing); "
                                     "export it with `fcus-rppg export`")
        # Check the version first: a model from another contract version may lack newer fields.
        if "fcus.version" in meta:
            try:
                version = json.loads(meta["fcus.version"])
            except json.JSONDecodeError:
                version = meta["fcus.version"]
            if str(version) != CONTRACT_VERSION:
                raise ModelContractError(f"{where} has contract version {version!r}; this runtime needs "
                                         f"version {CONTRACT_VERSION!r} (re-export the model)")
        try:
            contract = FcusContract.from_metadata(meta)
        except (ValueError, TypeError) as e:
            raise ModelContractError(f"{where}: {e}") from None
        # from_metadata range-checks every field (model.fcus_contract.CONTRACT_RANGES); its
        # ContractValueError names the field, the value and the accepted range.

        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
            raise ModelContractError(f"{where} has inputs {[i.name for i in inputs]}; "
                                     f"expected one input named {INPUT_NAME!r}")
        inp = inputs[0]
        if inp.type != "tensor(float)":
            raise ModelContractError(f"{where}: input {INPUT_NAME!r} is {inp.type}, expected tensor(float)")
        dims = _dims(inp)
        s = contract.crop_size
        expected = f"(batch, 3, T, {s}, {s})"
        if len(dims) != 5:
            raise ModelContractError(f"{where}: input {INPUT_NAME!r} has rank {len(dims)} (shape {inp.shape}); "
                                     f"expected rank 5 {expected}")
        if dims[1] is not None and dims[1] != 3:
            raise ModelContractError(f"{where}: input {INPUT_NAME!r} has {dims[1]} channels (shape {inp.shape}); "
                                     f"expected 3 (RGB), {expected}")
        if (dims[3] is not None and dims[3] != s) or (dims[4] is not None and dims[4] != s):
            raise ModelContractError(f"{where}: input {INPUT_NAME!r} is {dims[3]}x{dims[4]} pixels but its "
                                     f"metadata says crop_size {s}; expected {expected}")
        if dims[2] is not None:
            raise ModelContractError(f"{where}: input {INPUT_NAME!r} has a fixed length T={dims[2]}; "
                                     "expected a dynamic time axis")
        names = [o.name for o in outputs]
        if OUTPUT_NAME not in names:
            raise ModelContractError(f"{where} has outputs {names}; expected one named {OUTPUT_NAME!r}")
        out = outputs[names.index(OUTPUT_NAME)]
        if len(_dims(out)) != 2:
            raise ModelContractError(f"{where}: output {OUTPUT_NAME!r} has shape {out.shape}; expected (batch, T)")
        return contract

    @property
    def training_summary(self) -> dict:
        """The training summary stored at export ({} when absent or unreadable)."""
        raw = self.metadata.get("fcus.training_summary")
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {"value": value}

    @property
    def crop_size(self) -> int:
        return int(self.contract.crop_size)

    @property
    def min_frames(self) -> int:
        return int(self.contract.min_frames)

    @property
    def fs_hz(self) -> float:
        return float(self.contract.fs_hz)

    # ---- inference -------------------------------------------------------------------------
    def run(self, frames: np.ndarray) -> np.ndarray:
        """BVP (B, T) float32 for ``frames`` (B, 3, T, S, S) float32 RGB 0..255."""
        x = np.ascontiguousarray(frames, dtype=np.float32)
        s = self.crop_size
        if x.ndim != 5 or x.shape[1] != 3 or x.shape[3] != s or x.shape[4] != s:
            raise ValueError(f"FCUS input must be (B, 3, T, {s}, {s}); got {x.shape}")
        if x.shape[2] < self.min_frames:
            raise ValueError(f"FCUS needs at least {self.min_frames} frames "
                             f"({self.min_frames / self.fs_hz:.1f} s); got {x.shape[2]}")
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]

    def run_window(self, crops: np.ndarray) -> np.ndarray:
        """BVP (T,) for one window of crops (T, S, S, 3) float32 RGB."""
        c = np.asarray(crops)
        if c.ndim != 4 or c.shape[-1] != 3:
            raise ValueError(f"crops must be (T, S, S, 3) RGB; got {c.shape}")
        x = np.ascontiguousarray(c.transpose(3, 0, 1, 2)[None], dtype=np.float32)
        return self.run(x)[0]
