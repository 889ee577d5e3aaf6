"""FCUS export (ONNX, parity, metadata), runtime refusals, the pulse method, checkpoints, speed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

from model.fcus_contract import CONTRACT_VERSION, DEFAULT_CONTRACT, INPUT_NAME, OUTPUT_NAME  # noqa: E402
from model.fcus_export import (  # noqa: E402
    OPSET,
    checkpoint_meta,
    export_checked,
    export_onnx,
    load_checkpoint,
    load_optimizer_state,
    model_from_checkpoint,
    parity_check,
    save_checkpoint,
    synthetic_clip,
)
from model.fcus_method import FcusPulseMethod, shipped_model_path  # noqa: E402
from model.fcus_net import FcusNet, FcusNetConfig  # noqa: E402
from model.fcus_runtime import FcusRuntime, ModelContractError  # noqa: E402
from model.pulse_methods import RoiWindow, make_pulse_method  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
C = DEFAULT_CONTRACT
S = C.crop_size
SUMMARY = {"epochs": 1, "subjects": ["s1", "s2"], "mae_bpm": 1.5}


def _adapted_net() -> FcusNet:
    """A net with BatchNorm statistics of face clips (as after training), eval mode."""
    m = FcusNet().train()
    with torch.no_grad():
        for i in range(3):
            m(torch.from_numpy(synthetic_clip(4, 160, S, seed=100 + i)))
    return m.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    net = _adapted_net()
    path = export_onnx(net, tmp_path_factory.mktemp("onnx") / "fcus.onnx", C, SUMMARY)
    return net, path


def _edited_copy(src: Path, dst: Path, edit) -> Path:
    proto = onnx.load(str(src))
    meta = {p.key: p.value for p in proto.metadata_props}
    edit(meta)
    del proto.metadata_props[:]
    for k, v in meta.items():
        e = proto.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(proto, str(dst))
    return dst


# ---- export ----------------------------------------------------------------------------------
def test_export_is_one_file_with_dynamic_batch_and_time(exported):
    _, path = exported
    assert sorted(p.name for p in path.parent.iterdir()) == ["fcus.onnx"]  # no external data, no temp left
    proto = onnx.load(str(path))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [OPSET] and OPSET >= 17
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == INPUT_NAME and out.name == OUTPUT_NAME
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[2].dim_param  # batch and T symbolic
    assert [d.dim_value for d in dims[1:2] + dims[3:]] == [3, S, S]


def test_parity_torch_vs_onnxruntime(exported):
    net, path = exported
    assert parity_check(net, path, C, n_frames=(160, 300)) < 1e-4


def test_onnx_runs_other_lengths_and_batches(exported):
    _, path = exported
    rt = FcusRuntime(path, providers="cpu")
    for b, t in [(1, C.min_frames), (3, 160), (1, 300), (2, 451)]:
        y = rt.run(synthetic_clip(b, t, S, seed=t))
        assert y.shape == (b, t) and np.all(np.isfinite(y))


def test_a_checked_export_keeps_a_file_only_when_torch_and_onnx_agree(exported, tmp_path, monkeypatch):
    import model.fcus_export as fx

    net, _ = exported
    out, diff = export_checked(net, tmp_path / "ok.onnx", C)
    assert out.is_file() and diff < fx.PARITY_TOLERANCE
    monkeypatch.setattr(fx, "parity_check", lambda *a, **k: 1e-3)  # a broken export
    with pytest.raises(ValueError, match="differ by 1.00e-03"):
        export_checked(net, tmp_path / "bad.onnx", C)
    assert not (tmp_path / "bad.onnx").exists()


def test_metadata_round_trip(exported):
    _, path = exported
    rt = FcusRuntime(path, providers="cpu")
    assert rt.contract == C
    assert rt.training_summary == SUMMARY
    assert "fcus.created_utc" in rt.metadata and "fcus.net_config" in rt.metadata
    assert json.loads(rt.metadata["fcus.version"]) == CONTRACT_VERSION


# ---- runtime refusals --------------------------------------------------------------------------
def test_refuses_model_without_metadata(exported, tmp_path):
    bad = _edited_copy(exported[1], tmp_path / "nometa.onnx",
                       lambda m: [m.pop(k) for k in list(m) if k.startswith("fcus.")])
    with pytest.raises(ModelContractError, match="no FCUS contract metadata"):
        FcusRuntime(bad)


def test_refuses_model_missing_a_field(exported, tmp_path):
    bad = _edited_copy(exported[1], tmp_path / "partial.onnx", lambda m: m.pop("fcus.fs_hz"))
    with pytest.raises(ModelContractError, match="fs_hz"):
        FcusRuntime(bad)


def test_refuses_wrong_version(exported, tmp_path):
    bad = _edited_copy(exported[1], tmp_path / "v99.onnx", lambda m: m.update({"fcus.version": json.dumps("99")}))
    with pytest.raises(ModelContractError, match="version '99'.*needs version '1'"):
        FcusRuntime(bad)


def test_refuses_wrong_crop_size(exported, tmp_path):
    bad = _edited_copy(exported[1], tmp_path / "crop48.onnx", lambda m: m.update({"fcus.crop_size": "48"}))
    with pytest.raises(ModelContractError, match="36x36 pixels but its metadata says crop_size 48"):
        FcusRuntime(bad)


def test_refuses_corrupt_file(exported, tmp_path):
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(exported[1].read_bytes()[:5000])
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a model\x00\xff" * 50)
    for p in (trunc, junk):
        with pytest.raises(ModelContractError, match="not an ONNX model"):
            FcusRuntime(p)
    assert issubclass(ModelContractError, ValueError)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        FcusRuntime(tmp_path / "none.onnx")
    with pytest.raises(FileNotFoundError, match="fcus-rppg train"):
        FcusPulseMethod(model_path=tmp_path / "none.onnx")


def test_device_is_what_the_session_got(exported):
    _, path = exported
    rt = FcusRuntime(path)  # auto: CUDA, then CPU
    got = rt.session.get_providers()
    assert rt.providers == got
    assert rt.device == ("CUDA" if got[0] == "CUDAExecutionProvider" else "CPU")
    assert FcusRuntime(path, providers="cpu").device == "CPU"


def test_runtime_has_no_torch():
    code = ("import sys; import model.fcus_method, model.fcus_runtime; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr or "torch imported by the runtime"


# ---- pulse method --------------------------------------------------------------------------
def _window(n: int, fs: float = 30.0, seed: int = 0) -> RoiWindow:
    crops = synthetic_clip(1, n, S, fs_hz=fs, seed=seed)[0].transpose(1, 2, 3, 0)  # (N, S, S, 3)
    t = np.arange(n) / fs
    return RoiWindow(t_s=t, rgb=crops.mean(axis=(1, 2)), fs_hz=fs, crops=np.ascontiguousarray(crops))


def test_pulse_method_window_bvp(exported):
    _, path = exported
    m = make_pulse_method("fcus", model_path=path)
    assert isinstance(m, FcusPulseMethod)
    assert m.name == "fcus" and m.needs_crops and m.crop_size == S and m.crop_masked
    assert m.min_window_s == pytest.approx(C.min_frames / C.fs_hz)
    assert m.device in ("CPU", "CUDA") and m.providers
    for n in (C.min_frames, 300):
        bvp = m.window_bvp(_window(n, seed=n))
        assert bvp.shape == (n,) and np.all(np.isfinite(bvp))
    bvp = m.window_bvp(_window(250, fs=25.0))  # another grid rate: resampled to the model's
    assert bvp.shape == (250,) and np.all(np.isfinite(bvp))
    with pytest.raises(ValueError, match="at least"):
        m.window_bvp(_window(C.min_frames - 1))
    with pytest.raises(ValueError, match="crops"):
        m.window_bvp(RoiWindow(t_s=np.arange(100) / 30, rgb=np.ones((100, 3)), fs_hz=30.0))


def test_run_window_transposes(exported):
    _, path = exported
    rt = FcusRuntime(path, providers="cpu")
    x = synthetic_clip(1, 120, S, seed=4)
    assert np.allclose(rt.run_window(x[0].transpose(1, 2, 3, 0)), rt.run(x)[0])


def test_shipped_model_path():
    assert shipped_model_path() == (REPO / "assets" / "fcus_rppg.onnx").resolve()


# ---- checkpoints ----------------------------------------------------------------------------
def test_checkpoint_round_trip(tmp_path):
    net = FcusNet().train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.from_numpy(synthetic_clip(2, 96, S, seed=1))
    loss = net(x)[:, 1:].mul(net(x)[:, :-1]).mean()
    loss.backward()
    opt.step()
    net.eval()
    extra = {"epoch": 1, "step": np.int64(7), "loss": loss.item(), "switches": {"pvm": True}}
    path = save_checkpoint(tmp_path / "ckpt" / "last.pt", net, opt.state_dict(), extra)
    state, got_extra = load_checkpoint(path)
    assert got_extra == {"epoch": 1, "step": 7, "loss": loss.item(), "switches": {"pvm": True}}
    net2 = FcusNet()
    net2.load_state_dict(state)
    net2.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net2(x))
    opt2 = torch.optim.Adam(net2.parameters(), lr=1e-3)
    opt2.load_state_dict(load_optimizer_state(path))
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    net3, _ = model_from_checkpoint(path)
    net3.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net3(x))
    assert FcusNetConfig.from_dict(checkpoint_meta(path)["net_config"]) == net.config
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_checkpoint_refuses_pickles(tmp_path):
    net = FcusNet()
    path = save_checkpoint(tmp_path / "c.pt", net, None, {})
    assert load_optimizer_state(path) is None
    torch.save({"w": _Evil()}, path)  # a pickle with code in it where the weights should be
    with pytest.raises(ValueError, match="not a plain tensor checkpoint"):
        load_checkpoint(path)


# ---- speed -------------------------------------------------------------------------------
def test_one_window_is_fast_on_cpu(exported):
    _, path = exported
    rt = FcusRuntime(path, providers="cpu")
    x = synthetic_clip(1, 160, S, seed=2)
    for _ in range(3):
        rt.run(x)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        rt.run(x)
        times.append(time.perf_counter() - t0)
    median_ms = 1000 * float(np.median(times))
    print(f"\nFCUS ONNX CPU, one 160-frame window: median {median_ms:.1f} ms")
    assert median_ms < 100  # target 50 ms; generous bound for a loaded test machine


def test_a_net_without_the_learned_path_exports_and_runs(tmp_path):
    """The colour prior alone (``FcusNetConfig(learned_path=False)``) exports to one ONNX file
    that agrees with torch and runs through the runtime."""
    net = FcusNet(FcusNetConfig(learned_path=False)).eval()
    path, diff = export_checked(net, tmp_path / "prior.onnx", C, SUMMARY)
    assert path.is_file() and diff < 1e-3
    rt = FcusRuntime(path)
    assert json.loads(rt.metadata["fcus.net_config"])["learned_path"] is False
    clip = synthetic_clip(1, 160, S, seed=3)
    assert np.corrcoef(rt.run(clip)[0], net(torch.from_numpy(clip)).detach().numpy()[0])[0, 1] > 0.999


def test_whether_adapting_reads_background_crops_follows_the_net(exported, tmp_path):
    """The app keeps background crops for Calibrate only where the model's fine-tune reads them:
    a net with the Conv3d learned path (its null-space term acts on the path's features), or a
    model whose config predates the switch (they all had the path); whatever its summary says."""
    import onnx

    _, path = exported  # the default net: no learned path
    assert not FcusPulseMethod(path, providers="cpu").adapt_reads_background
    learned = FcusNet(FcusNetConfig(learned_path=True)).eval()
    on = export_onnx(learned, tmp_path / "on.onnx", C, {**SUMMARY, "components_active": {"null_space": False}})
    assert FcusPulseMethod(on, providers="cpu").adapt_reads_background
    old = _edited_copy(path, tmp_path / "old.onnx", lambda m: m.pop("fcus.net_config"))
    assert "fcus.net_config" not in {p.key for p in onnx.load(str(old)).metadata_props}
    assert FcusPulseMethod(old, providers="cpu").adapt_reads_background

    def without_the_field(meta: dict) -> None:
        config = json.loads(meta["fcus.net_config"])
        config.pop("learned_path")
        meta["fcus.net_config"] = json.dumps(config)

    older = _edited_copy(path, tmp_path / "older.onnx", without_the_field)
    assert FcusPulseMethod(older, providers="cpu").adapt_reads_background
    assert not FcusPulseMethod(providers="cpu").adapt_reads_background  # the shipped net has no Conv3d path
