"""The export command and the evaluation helpers of the FCUS study."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model.fcus_contract import DEFAULT_CONTRACT  # noqa: E402
from model.fcus_export import export_main, save_checkpoint  # noqa: E402
from model.fcus_net import FcusNet, FcusNetConfig  # noqa: E402
from model.fcus_runtime import FcusRuntime  # noqa: E402
from model.pulse_methods import RoiWindow  # noqa: E402
from training.fcus_eval import (  # noqa: E402
    TorchPulseMethod,
    bland_altman_png,
    convergence_png,
    loso_folds,
)
from training.metrics import WindowHr  # noqa: E402


def test_export_command_writes_a_checked_model(tmp_path, capsys):
    net = FcusNet(FcusNetConfig(seed=1))
    w = tmp_path / "fcus_weights.pt"
    save_checkpoint(w, net, extra={"training_summary": {"epochs": 1.0, "note": "test"}})
    out = tmp_path / "m.onnx"
    assert export_main(["--weights", str(w), "--out", str(out)]) == 0
    assert "max abs diff" in capsys.readouterr().out
    rt = FcusRuntime(out, providers="cpu")
    assert rt.device == "CPU"
    assert rt.contract == DEFAULT_CONTRACT
    assert rt.training_summary.get("note") == "test"
    # the fine-tuning weights travel beside the model and rebuild the same net
    from model.fcus_export import model_from_checkpoint

    again, extra = model_from_checkpoint(tmp_path / "m_weights.pt")
    assert extra["training_summary"]["note"] == "test"
    for k, v in net.state_dict().items():
        assert torch.equal(again.state_dict()[k], v)


def test_export_command_refuses_a_bad_weights_file(tmp_path, capsys):
    bad = tmp_path / "w.pt"
    bad.write_bytes(b"not a checkpoint")
    assert export_main(["--weights", str(bad), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "cannot load" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_export_and_init_name_the_usual_mix_ups(tmp_path, capsys, monkeypatch):
    """The ONNX model given where its weights are wanted, the weights' .json for the weights, a
    folder as --out, and the shipped model's path as --out: each said plainly (a folder before any
    work)."""
    from model import fcus_method
    from training.fcus_train import train_main

    net = FcusNet(FcusNetConfig(seed=1))
    w = tmp_path / "fcus_weights.pt"
    save_checkpoint(w, net)
    model = tmp_path / "m.onnx"
    assert export_main(["--weights", str(w), "--out", str(model)]) == 0
    capsys.readouterr()
    assert export_main(["--weights", str(model), "--out", str(tmp_path / "again.onnx")]) == 2
    err = capsys.readouterr().err
    assert "is an ONNX model, not a weights file" in err and str(tmp_path / "m_weights.pt") in err
    assert export_main(["--weights", str(w) + ".json", "--out", str(tmp_path / "again.onnx")]) == 2
    assert f"give the weights file {w}" in capsys.readouterr().err
    assert train_main(["--data", str(tmp_path), "--out", str(tmp_path / "ft"), "--init", str(model)]) == 2
    assert "is an ONNX model, not a weights file" in capsys.readouterr().err
    folder = tmp_path / "models"
    folder.mkdir()
    assert export_main(["--weights", str(w), "--out", str(folder)]) == 2
    assert "is a folder: give the ONNX file to write" in capsys.readouterr().err
    shipped = tmp_path / "assets" / "fcus_rppg.onnx"
    monkeypatch.setattr(fcus_method, "shipped_model_path", lambda: shipped)
    assert export_main(["--weights", str(w), "--out", str(shipped)]) == 0
    assert "replaced the shipped model" in capsys.readouterr().err


def test_torch_pulse_method_matches_the_window():
    net = FcusNet(FcusNetConfig(seed=0))
    m = TorchPulseMethod(net)
    rng = np.random.default_rng(0)
    crops = (120 + rng.normal(0, 2, (200, 36, 36, 3))).astype(np.float32)
    bvp = m.window_bvp(RoiWindow(t_s=np.arange(200) / 30.0, rgb=np.zeros((200, 3)), fs_hz=30.0, crops=crops))
    assert bvp.shape == (200,) and np.isfinite(bvp).all()
    assert net.training  # restored after evaluation
    # the net's raw output: the streaming estimator band-passes every method once
    net.eval()
    with torch.no_grad():
        raw = net(torch.from_numpy(np.ascontiguousarray(crops.transpose(3, 0, 1, 2)[None])))[0].numpy()
    assert np.allclose(bvp, raw, atol=1e-5)


def test_loso_folds_cover_every_subject_once():
    names = [f"s{i}" for i in range(8)]
    folds = loso_folds(names, 4)
    assert len(folds) == 4 and sorted(sum(folds, [])) == names
    assert all(len(f) == 2 for f in folds)


def test_plots_are_written(tmp_path):
    pairs = [WindowHr(i * 20.0, 70 + i, 71 + 0.5 * i) for i in range(6)]
    bland_altman_png(pairs, tmp_path / "ba.png", "test")
    convergence_png({"fcus": [(0.25, 9.0), (1.0, 5.0)], "plain": [(0.25, 12.0), (1.0, 10.0)]},
                    tmp_path / "conv.png", {"pos": 7.0})
    for p in ("ba.png", "conv.png"):
        assert (tmp_path / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_seeds_pool_into_the_mean_and_print_per_seed():
    """``evaluate --seeds``: a variant's pooled row has the mean of the seeds' MAEs (same windows),
    and the seed table lists each seed and the mean."""
    from training.fcus_study import pool_seed_scores, seed_table
    from training.replay import ClipScore, MethodScore

    refs = [70.0, 80.0, 90.0, 100.0]
    per_seed = {}
    for sd, err in ((0, 4.0), (1, 1.0), (2, 1.0)):
        clips = [ClipScore(f"s{i % 2}", {20.0: (WindowHr(20.0 * i, r + (err if i == 0 else 0.0), r),)}, 10, 5, (),
                           None, None, 60.0, 1.0) for i, r in enumerate(refs)]
        per_seed[sd] = {1.0: MethodScore("fcus@1", clips=clips)}
    pooled = pool_seed_scores(per_seed, "fcus")[1.0]
    maes = [per_seed[sd][1.0].metrics(20.0).mae_bpm for sd in per_seed]
    assert maes == [1.0, 0.25, 0.25]
    assert pooled.metrics(20.0).mae_bpm == pytest.approx(np.mean(maes)) and pooled.metrics(20.0).n == 12
    assert pooled.subjects() == ["s0", "s1"]
    table = seed_table({"fcus": {"per_seed": per_seed}}, 1.0)
    assert "seed 0" in table and "seed 2" in table
    assert table.splitlines()[-1].split() == ["fcus", "1.00", "0.25", "0.25", "0.50"]


def test_run_study_prints_and_writes_its_files(tmp_path, monkeypatch, capsys):
    """The study's table, per-subject table, JSON and Bland-Altman plot from its scores (training
    and replays stubbed with fixed scores: this checks the reporting, not the training)."""
    import json
    from types import SimpleNamespace

    import training.fcus_study as study
    from training.replay import ClipScore, MethodScore

    def score(name, err):
        clips = [ClipScore(f"s{i}", {w: (WindowHr(0.0, 70.0 + err, 70.0),) for w in (10.0, 20.0)}, 10, 5, (),
                           70.0, 70.0, 60.0, 1.0) for i in range(4)]
        return MethodScore(name, clips=clips)

    monkeypatch.setattr(study, "score_method", lambda method, cached, **k: score(method.name, 5.0))
    monkeypatch.setattr(study, "run_variant", lambda v, *a, **k: {
        "by_epoch": {1.0: score(f"{v}@1", 2.0)}, "times": [{"train_time_s": 1.0, "device": "cpu"}]})
    cached = [SimpleNamespace(name=f"s{i}") for i in range(4)]
    from training.train_config import TrainConfig

    base = TrainConfig(progress=False)
    assert study.run_study(cached, ["fcus"], 2, 1.0, (1.0,), "cpu", tmp_path, base) == 0
    out = capsys.readouterr().out
    assert "fcus@1ep" in out and "pos" in out
    dump = json.loads((tmp_path / "evaluation.json").read_text())
    assert dump["table"]["fcus@1ep"]["metrics"]["20s"]["MAE"] == 2.0
    assert (tmp_path / "bland_altman.png").stat().st_size > 0


def test_every_net_variant_builds_its_net_and_changes_what_it_names():
    """A net variant trains like FCUS (its components on) and changes only its net; the envelope
    variants change the net's output on the same clip."""
    import torch

    from training.fcus_study import NET_VARIANTS, VARIANTS

    default = FcusNetConfig()
    for name, fields in NET_VARIANTS.items():
        assert VARIANTS[name] == VARIANTS["fcus"], name
        net = FcusNet(FcusNetConfig(**fields))
        for key, value in fields.items():
            assert getattr(net.config, key) == value != getattr(default, key), (name, key)
    torch.manual_seed(0)
    clip = 100.0 + torch.rand(1, 3, 160, 36, 36) * 20.0
    out = {name: FcusNet(FcusNetConfig(seed=0, **NET_VARIANTS.get(name, {}))).eval()(clip).detach()
           for name in ("fcus", "no-envelope", "envelope-1s")}
    assert not torch.allclose(out["fcus"], out["no-envelope"]) and not torch.allclose(out["fcus"], out["envelope-1s"])


@pytest.mark.parametrize("bad", [["--folds", "1"], ["--folds", "x"], ["--seeds", "a"], ["--seeds", ","],
                                 ["--variants", "fcus,bogus"], ["--eval-epochs", "0"], ["--out", "{file}"]])
def test_evaluate_refuses_bad_arguments_before_any_tracking(bad, tmp_path, monkeypatch, capsys):
    """Argument errors (exit 2, a message, no traceback) before the crop cache is built."""
    from training import crop_cache
    from training.fcus_study import evaluate_main

    def no_cache(*a, **k):
        raise AssertionError("the crop cache was built before the arguments were checked")

    monkeypatch.setattr(crop_cache, "build_cache", no_cache)
    f = tmp_path / "a_file"
    f.write_text("x")
    argv = ["--data", str(tmp_path), "--out", str(tmp_path / "o"), *[a.format(file=f) for a in bad]]
    with pytest.raises(SystemExit) as e:
        evaluate_main(argv)
    assert e.value.code == 2 and "fcus-rppg evaluate: error:" in capsys.readouterr().err


def test_evaluate_says_when_there_are_fewer_recordings_than_folds(tmp_path, capsys):
    from training.fcus_study import evaluate_main

    assert evaluate_main(["--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "fewer than the 4 folds" in capsys.readouterr().err
