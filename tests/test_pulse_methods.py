"""The registry of pulse methods (model/pulse_methods.py): one entry per method, asked by every
caller; the model's entry is declared by model/fcus_method.py, which imports nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from model import fcus_method
from model.pulse_methods import (
    CLASSIC_METHOD_NAMES,
    FALLBACK_METHOD,
    METHOD_SPECS,
    PULSE_METHODS,
    available_methods,
    default_method,
    make_pulse_method,
    method_label,
    method_spec,
    method_status,
    model_file_method,
)

ROOT = Path(__file__).resolve().parents[1]


def test_one_entry_per_method_in_listing_order():
    assert PULSE_METHODS == ("fcus", "pos", "chrom", "green") == tuple(METHOD_SPECS)
    assert [method_label(n) for n in PULSE_METHODS] == ["FCUS (model)", "POS", "CHROM", "GREEN"]
    assert method_label("POS") == "POS" and method_label("ica") == "ICA"
    assert model_file_method().name == "fcus" and FALLBACK_METHOD in CLASSIC_METHOD_NAMES
    assert [n for n in PULSE_METHODS if method_spec(n).takes_model] == ["fcus"]
    with pytest.raises(ValueError, match="fcus, pos, chrom, green"):
        method_spec("ica")


@pytest.mark.parametrize("name", CLASSIC_METHOD_NAMES)
def test_a_classic_entry_builds_what_it_describes(name):
    spec = method_spec(name)
    m = make_pulse_method(name.upper(), model_path="ignored.onnx")  # no model file: ignored
    assert (m.name, m.needs_crops, m.device) == (name, spec.needs_crops, "CPU")
    assert method_status(name, "missing.onnx") == (True, "")


def test_the_model_entry_is_declared_by_its_module():
    spec = method_spec("fcus")
    assert spec is fcus_method.FCUS_SPEC
    assert spec.needs_crops is fcus_method.FcusPulseMethod.needs_crops is True


def test_model_status_says_why_and_the_default_falls_back(monkeypatch, tmp_path):
    ok, why = method_status("fcus", str(tmp_path / "none.onnx"))
    assert not ok and "FCUS model file not found" in why and "none.onnx" in why
    monkeypatch.setattr(fcus_method, "shipped_model_path", lambda: tmp_path / "gone.onnx")
    ok, why = method_status("fcus")
    assert not ok and "no shipped FCUS model" in why
    assert available_methods() == list(CLASSIC_METHOD_NAMES) and default_method() == FALLBACK_METHOD
    with pytest.raises(FileNotFoundError):
        make_pulse_method("fcus")
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    assert method_status("fcus", str(model)) == (True, "") and default_method(str(model)) == "fcus"


def test_no_import_cycle_and_onnxruntime_only_when_the_model_is_built():
    code = ("import sys; import model.fcus_method; assert 'model.pulse_methods' not in sys.modules; "
            "import model.pulse_methods as pm; pm.available_methods(); pm.make_pulse_method('pos'); "
            "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported early'; "
            "pm.make_pulse_method('fcus'); assert 'onnxruntime' in sys.modules")
    shipped = fcus_method.shipped_model_path()
    if not shipped.is_file():
        pytest.skip(f"no shipped model at {shipped}")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr


def _string_constants(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == "fcus"]


def test_no_fcus_special_case_outside_its_module():
    # Callers ask the registry; the name "fcus" is spelt once, by the class in model/fcus_method.py.
    files = sorted((ROOT / "model").rglob("*.py")) + sorted((ROOT / "app").rglob("*.py"))
    found = {str(p.relative_to(ROOT)): _string_constants(p) for p in files}
    found = {p: lines for p, lines in found.items() if lines}
    assert found == {"model/fcus_method.py": found.get("model/fcus_method.py", [])}
    assert len(found["model/fcus_method.py"]) == 1


def test_estimator_settings_come_with_the_method():
    from model.estimator import EstimatorConfig
    from model.pulse_methods import estimator_config

    base = EstimatorConfig(window_s=12.0)
    fcus = estimator_config("fcus", base)
    # FCUS's own gate: its HR posterior's mass, beside an SNR gate lower than the default's
    assert fcus.window_s == 12.0 and fcus.hr_posterior is not None and base.hr_posterior is None
    assert fcus.posterior_snr_gate is not None and fcus.posterior_snr_gate[0] < EstimatorConfig().gate_open
    assert estimator_config("chrom", base) == base
    # the BVP stream narrowed around the trailing 20 s's HR, chosen in nested folds for FCUS and POS
    assert (fcus.context_s, fcus.context_half_width_hz) == (20.0, 0.6)
    pos = estimator_config("pos", base)
    assert (pos.context_s, pos.context_half_width_hz, pos.gate_open) == (20.0, 0.4, base.gate_open)
    assert estimator_config("pos+envelope", base) == base  # a study's wrapper: the base as it is
