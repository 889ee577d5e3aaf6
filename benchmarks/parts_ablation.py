"""Which parts of a trained FCUS net carry its accuracy: each part switched off in a copy of the
net (the spatial weighting's last layer zeroed: the plain skin mean; one colour plane's gain
zeroed; the learned path's output layer zeroed, when the net has one), every copy replayed through
the shipped estimator on the dev subjects' crop cache and scored like ``fcus-rppg benchmark``.
With the shipped weights (trained on these subjects) the rows are in-sample: they say what the
trained net leans on, not how it does on new faces.

    python benchmarks/parts_ablation.py [--cache DIR] [--data DIR] [--weights FILE]
"""

import argparse
import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def ablated(net) -> dict:
    """{label: a copy of ``net`` with one part off}, the net itself first ("as trained")."""
    import torch

    out = {"as trained": net}
    with torch.no_grad():
        if net.config.prior_spatial:
            m = copy.deepcopy(net)
            m.prior_spatial_net[-1].weight.zero_()
            m.prior_spatial_net[-1].bias.zero_()
            out["spatial weighting off (plain skin mean)"] = m
        for i, plane in enumerate(net.config.prior_planes if net.config.colour_prior else ()):
            m = copy.deepcopy(net)
            m.prior_gain[i] = 0.0
            out[f"{plane.upper()} plane off"] = m
        if net.config.learned_path:
            m = copy.deepcopy(net)
            m.out.weight.zero_()
            out["Conv3d learned path off"] = m
    return out


def main(argv=None) -> int:
    from model.fcus_export import model_from_checkpoint
    from training.adapt import shipped_weights_path
    from training.crop_cache import NO_DATA_HINT, add_reference_args, cached_reference_recordings
    from training.fcus_eval import TorchPulseMethod
    from training.replay import score_method

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    ap.add_argument("--weights", type=Path, default=None, help="fine-tuning weights (default: the shipped ones)")
    args = ap.parse_args(argv)
    cached = cached_reference_recordings(args.data, args.cache)
    if cached is None:
        print(f"parts_ablation: {NO_DATA_HINT}", file=sys.stderr)
        return 2
    net, _ = model_from_checkpoint(args.weights or shipped_weights_path())
    print("| part switched off | MAE@10s | MAE@20s | coverage | shown error (bpm) |\n|---|---|---|---|---|")
    for label, m in ablated(net.eval()).items():
        sc = score_method(TorchPulseMethod(m), cached, label=label)
        print(f"| {label} | {sc.metrics(10.0).mae_bpm:.2f} | {sc.metrics(20.0).mae_bpm:.2f} | {sc.coverage:.2f} | "
              f"{sc.shown_mae_bpm:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
