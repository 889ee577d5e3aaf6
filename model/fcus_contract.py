"""The FCUS-rPPG model's input/output contract, shared by the network, the ONNX export, the
runtime and the training preprocessing. The ONNX file carries it in its metadata; the runtime
refuses a model whose metadata is missing or does not match.

Input ``frames``: float32 (B, 3, T, S, S), RGB in 0..255, the face crop of each frame (the
tracker's stabilised box enlarged by ``crop_scale``, resized to S x S with INTER_AREA) with the
pixels outside the skin region set to 0, sampled uniformly at ``fs_hz``. T may differ from
``window_frames`` (the model is convolutional in time) but must be at least ``min_frames``.
Normalisation happens inside the model: each pixel and channel becomes its relative change
``(x - mean_t x) / (mean_t x + 1)`` over the window, so masked pixels (always 0) carry nothing.
Output ``bvp``: float32 (B, T), the blood volume pulse per frame, zero-mean, unit variance,
rising with the blood volume (like a contact PPG, and like the classic methods here).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

CONTRACT_VERSION = "1"
INPUT_NAME = "frames"
OUTPUT_NAME = "bvp"

# The torch weights beside an exported model: assets/fcus_rppg.onnx -> assets/fcus_rppg_weights.pt
WEIGHTS_SUFFIX = "_weights.pt"


def weights_beside(onnx_path: str | os.PathLike) -> Path:
    """The fine-tuning weights ``fcus-rppg export`` writes beside the ONNX model ``onnx_path``."""
    p = Path(onnx_path)
    return p.with_name(p.stem + WEIGHTS_SUFFIX)


@dataclass(frozen=True)
class FieldRange:
    """What one contract field accepts: its type and either a closed range or exact values."""

    kind: type  # int, float (an int is accepted as a float) or str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None

    def describe(self) -> str:
        if self.choices is not None:
            return " or ".join(repr(c) for c in self.choices)
        if self.kind is str:
            return "a non-empty string"
        noun = "an integer" if self.kind is int else "a number"
        return f"{noun} in {self.lo:g}..{self.hi:g}"

    def accepts(self, value: object) -> bool:
        if self.kind is str:
            if not isinstance(value, str) or not value.strip():
                return False
            return self.choices is None or value in self.choices
        if isinstance(value, bool):  # JSON true/false is no number here
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if self.kind is float and not isinstance(value, (int, float)):
            return False
        return math.isfinite(value) and self.lo <= value <= self.hi


# The accepted value of every contract field. The ranges are what this runtime and the app can
# use: fs_hz at least twice the 3.6 Hz pass-band edge, up to fast cameras; a window of up to 60 s
# at 30 Hz; crops the ROI stage can cut; min_frames within the window (checked below as well) and
# short enough that the app's 10 s HR window can ever be filled (MAX_MIN_WINDOW_S).
CONTRACT_RANGES: dict[str, FieldRange] = {
    "window_frames": FieldRange(int, 16, 1800),
    "min_frames": FieldRange(int, 1, 1800),
    "crop_size": FieldRange(int, 8, 256),
    "crop_scale": FieldRange(float, 1.0, 3.0),
    "fs_hz": FieldRange(float, 8.0, 240.0),
    "channels": FieldRange(str, choices=("RGB",)),
    "input_range": FieldRange(str),
    "normalisation": FieldRange(str),
    "output": FieldRange(str),
    "version": FieldRange(str),
}
MAX_MIN_WINDOW_S = 10.0


class ContractValueError(ValueError):
    """A contract field has the wrong type or is out of range; the text names field, value and
    the accepted range for each bad field."""


def contract_problems(values: dict[str, object]) -> list[str]:
    """One message per bad field of ``values`` (field name -> value); [] when all are fine."""
    problems, bad = [], set()
    for name, rule in CONTRACT_RANGES.items():
        if name in values and not rule.accepts(values[name]):
            problems.append(f"{name} = {values[name]!r} is not accepted (accepted: {rule.describe()})")
            bad.add(name)
    mn, win, fs = values.get("min_frames"), values.get("window_frames"), values.get("fs_hz")
    if "min_frames" in values and not {"min_frames", "window_frames"} & bad and "window_frames" in values \
            and mn > win:
        problems.append(f"min_frames = {mn!r} is not accepted (accepted: an integer in 1..{win}, "
                        "at most window_frames)")
    elif "min_frames" in values and "fs_hz" in values and not {"min_frames", "fs_hz"} & bad \
            and mn / fs > MAX_MIN_WINDOW_S:
        problems.append(f"min_frames = {mn!r} is not accepted (accepted: at most {int(MAX_MIN_WINDOW_S * fs)}, "
                        f"i.e. {MAX_MIN_WINDOW_S:g} s at fs_hz = {fs:g})")
    return problems


@dataclass(frozen=True)
class FcusContract:
    window_frames: int = 160  # T used in training (about 5.3 s at 30 Hz)
    min_frames: int = 64
    crop_size: int = 36  # S
    crop_scale: float = 1.2
    fs_hz: float = 30.0
    channels: str = "RGB"
    input_range: str = "0..255, non-skin pixels 0"
    normalisation: str = "per pixel and channel: (x - mean_t x) / (mean_t x + 1) over the window, inside the model"
    output: str = "bvp per frame, zero-mean, unit variance, rises with blood volume"
    version: str = CONTRACT_VERSION

    def __post_init__(self) -> None:
        problems = contract_problems(asdict(self))
        if problems:
            raise ContractValueError("invalid FCUS contract: " + "; ".join(problems))

    def to_metadata(self) -> dict[str, str]:
        """String key/values for ONNX ``metadata_props`` (prefix ``fcus.``)."""
        return {f"fcus.{k}": json.dumps(v) for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> "FcusContract":
        """Parse ONNX metadata; raises ValueError naming what is missing or malformed, and
        :class:`ContractValueError` naming each field of the wrong type or out of range."""
        missing = [f.name for f in fields(cls) if f"fcus.{f.name}" not in meta]
        if missing:
            raise ValueError(f"the model's metadata lacks the FCUS contract fields: {', '.join(missing)}")
        values = {}
        for f in fields(cls):
            try:
                values[f.name] = json.loads(meta[f"fcus.{f.name}"])
            except json.JSONDecodeError as e:
                raise ValueError(f"the model's metadata field fcus.{f.name} is malformed: {e}") from None
        return cls(**values)


DEFAULT_CONTRACT = FcusContract()
