"""The shipped FCUS model (assets/): its contract, its provenance, and the fine-tuning weights
beside it being the very weights the ONNX file was exported from."""

import json

import numpy as np
import pytest

from model.fcus_contract import DEFAULT_CONTRACT
from model.fcus_method import shipped_model_path
from model.fcus_runtime import FcusRuntime

ONNX = shipped_model_path()
WEIGHTS = ONNX.with_name(ONNX.stem + "_weights.pt")

pytestmark = pytest.mark.skipif(not ONNX.is_file(), reason="no shipped FCUS model in assets/")


def test_shipped_model_has_the_contract_and_its_training_summary():
    rt = FcusRuntime(ONNX, providers="cpu")
    assert rt.contract == DEFAULT_CONTRACT
    s = rt.training_summary
    assert s["command"].startswith("fcus-rppg train")
    assert s["epochs"] == 1.0 and s["components"] == {"masking": True, "smoothing": True, "null_space": True}
    assert sorted(s["recordings"]) == sorted(f"subject{i}" for i in (3, 4, 5, 9, 10, 11, 12, 14))
    assert s["orientation"]["r_after"] > 0.5  # oriented like POS: the BVP rises with blood volume


def test_fine_tuning_weights_are_the_exported_ones():
    torch = pytest.importorskip("torch")
    from model.fcus_export import model_from_checkpoint, synthetic_clip

    net, extra = model_from_checkpoint(WEIGHTS)
    net.eval()
    assert extra["training_summary"]["command"] == FcusRuntime(ONNX, providers="cpu").training_summary["command"]
    x = synthetic_clip(2, DEFAULT_CONTRACT.window_frames, DEFAULT_CONTRACT.crop_size, seed=11)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    got = FcusRuntime(ONNX, providers="cpu").run(x)
    assert np.max(np.abs(ref - got)) < 1e-4
    meta = json.loads(WEIGHTS.with_name(WEIGHTS.name + ".json").read_text())
    from model.fcus_net import FcusNetConfig

    assert meta["net_config"]["colour_prior"] and meta["net_config"]["prior_planes"] == ["pos", "chrom"]
    assert meta["net_config"]["envelope_frames"] == 61  # the shipped recipe's envelope step
    # the trained colour prior with its spatial weighting, without the Conv3d learned path (held out it
    # added nothing; docs/training.md, "The Conv3d learned path"), so the null-space term had nothing to act on
    assert meta["net_config"]["prior_spatial"] and meta["net_config"]["learned_path"] is False
    assert meta["extra"]["training_summary"]["components_active"]["null_space"] is False
    assert FcusNetConfig.from_dict(meta["net_config"]) == net.config
