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
from dataclasses import asdict, dataclass, fields

CONTRACT_VERSION = "1"
INPUT_NAME = "frames"
OUTPUT_NAME = "bvp"


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

    def to_metadata(self) -> dict[str, str]:
        """String key/values for ONNX ``metadata_props`` (prefix ``fcus.``)."""
        return {f"fcus.{k}": json.dumps(v) for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> "FcusContract":
        """Parse ONNX metadata; raises ValueError naming what is missing or malformed."""
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
