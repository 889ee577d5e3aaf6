"""The FCUS model contract: every field is type- and range-checked, and the runtime refuses a
model whose metadata holds a bad value with a message naming the field, the value and the range."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from model.fcus_contract import (
    CONTRACT_RANGES,
    DEFAULT_CONTRACT,
    ContractValueError,
    FcusContract,
    contract_problems,
)

SHIPPED_ONNX = Path(__file__).resolve().parents[1] / "assets" / "fcus_rppg.onnx"

# field -> the accepted range its message must state, and bad values for it
RANGE_CASES = [
    ("window_frames", "an integer in 16..1800", ["abc", 0, 160.5, True]),
    ("min_frames", "an integer in 1..1800", [100000, 0, "64"]),
    ("min_frames", "an integer in 1..160, at most window_frames", [161]),
    ("crop_size", "an integer in 8..256", [0, 4096, None]),
    ("crop_scale", "a number in 1..3", [0.0, 50, "big"]),
    ("fs_hz", "a number in 8..240", [0.001, 1e6, float("nan"), [30]]),
    ("channels", "'RGB'", ["BGR", 3]),
    ("input_range", "a non-empty string", [""]),
    ("normalisation", "a non-empty string", [7]),
    ("output", "a non-empty string", [None]),
    ("version", "a non-empty string", [1]),
]
# (field, bad value, the accepted range the message must state)
BAD_VALUES = [(field, value, text) for field, text, values in RANGE_CASES for value in values]


def _meta_with(field: str, value) -> dict[str, str]:
    meta = DEFAULT_CONTRACT.to_metadata()
    meta[f"fcus.{field}"] = json.dumps(value)
    return meta


def test_every_field_has_a_range_and_the_default_passes():
    assert set(CONTRACT_RANGES) == {f for f in DEFAULT_CONTRACT.__dataclass_fields__}
    assert contract_problems(DEFAULT_CONTRACT.__dict__) == []
    assert {field for field, _, _ in BAD_VALUES} == set(CONTRACT_RANGES)  # each field tested


@pytest.mark.parametrize("field,value,accepted", BAD_VALUES)
def test_a_bad_value_is_refused_naming_field_value_and_range(field, value, accepted):
    with pytest.raises(ContractValueError) as e:
        FcusContract.from_metadata(_meta_with(field, value))
    assert f"{field} = {value!r} is not accepted (accepted: {accepted})" in str(e.value)
    with pytest.raises(ContractValueError):
        replace(DEFAULT_CONTRACT, **{field: value})  # nor can one be built (or exported)


def test_min_frames_must_fit_the_apps_hr_window():
    # 400 frames fit a 1000-frame window, but at 30 Hz they are 13 s: the app's 10 s window
    # would never fill, so no reading would ever appear
    meta = DEFAULT_CONTRACT.to_metadata()
    meta.update({"fcus.window_frames": "1000", "fcus.min_frames": "400"})
    with pytest.raises(ContractValueError, match=r"min_frames = 400 is not accepted \(accepted: at most 300, "
                                                 r"i.e. 10 s at fs_hz = 30\)"):
        FcusContract.from_metadata(meta)


def test_several_bad_fields_are_all_named():
    meta = _meta_with("fs_hz", 0.001)
    meta["fcus.crop_size"] = "0"
    msg = str(pytest.raises(ContractValueError, FcusContract.from_metadata, meta).value)
    assert "crop_size = 0" in msg and "fs_hz = 0.001" in msg


# ---- the runtime refuses such a model (an edited copy of the shipped ONNX, no torch) ---------
onnx = pytest.importorskip("onnx")


def _edited_shipped(dst: Path, field: str, value) -> Path:
    proto = onnx.load(str(SHIPPED_ONNX))
    for p in proto.metadata_props:
        if p.key == f"fcus.{field}":
            p.value = json.dumps(value)
    onnx.save(proto, str(dst))
    return dst


@pytest.mark.skipif(not SHIPPED_ONNX.is_file(), reason="no shipped FCUS model in assets/")
@pytest.mark.parametrize("field,value,accepted", [
    ("window_frames", "abc", "an integer in 16..1800"),
    ("window_frames", 0, "an integer in 16..1800"),
    ("fs_hz", 0.001, "a number in 8..240"),
    ("min_frames", 100000, "an integer in 1..1800"),
    ("crop_scale", 0.0, "a number in 1..3"),
    ("channels", "BGR", "'RGB'"),
])
def test_the_runtime_refuses_a_model_with_a_bad_value(tmp_path, field, value, accepted):
    from model.fcus_runtime import FcusRuntime, ModelContractError

    bad = _edited_shipped(tmp_path / "bad.onnx", field, value)
    with pytest.raises(ModelContractError) as e:
        FcusRuntime(bad, providers="cpu")
    assert str(e.value) == (f"model bad.onnx: invalid FCUS contract: {field} = {value!r} is not accepted "
                            f"(accepted: {accepted})")
