"""FCUS evaluation helpers: the torch network as a pulse method (for scoring during training,
through ``training.replay``), leave-subjects-out folds and the study's plots (Bland-Altman,
convergence)."""

from __future__ import annotations

import numpy as np

from model.fcus_contract import DEFAULT_CONTRACT, FcusContract
from model.fcus_method import DEFAULT_STREAM, FCUS_SPEC
from model.fcus_stream import StreamConfig, StreamedBvp
from model.pulse_methods import RoiWindow
from training.metrics import WindowHr


class TorchPulseMethod:
    """The FCUS network (torch) as a PulseMethod, for evaluation during training; the app and
    ``analyze`` use the exported ONNX model through ``model.fcus_method`` instead. Returns the
    net's raw output: the streaming estimator band-passes every method's BVP once."""

    name = FCUS_SPEC.name
    needs_crops = FCUS_SPEC.needs_crops

    def __init__(self, model, contract: FcusContract = DEFAULT_CONTRACT, device: str = "cpu", *,
                 stream: StreamConfig | None = DEFAULT_STREAM):
        self.model = model
        self.contract = contract
        self.crop_size = contract.crop_size
        self.min_window_s = contract.min_frames / contract.fs_hz
        self.device = device
        # as the ONNX method runs it (model.fcus_stream): each grid sample through the net once
        self.stream = StreamedBvp(self.run_crops, contract.min_frames, stream) if stream is not None else None

    def window_bvp(self, window: RoiWindow) -> np.ndarray:
        crops = np.asarray(window.crops, dtype=np.float32)  # (N, S, S, 3)
        if self.stream is not None and window.grid_k0 is not None and abs(window.fs_hz - self.contract.fs_hz) < 1e-6:
            return self.stream.window(int(window.grid_k0), crops)
        return self.run_crops(crops)

    def run_crops(self, crops: np.ndarray) -> np.ndarray:
        """The net's BVP (N,) for crops (N, S, S, 3) float32 RGB."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(crops.transpose(3, 0, 1, 2)[None])).to(self.device)
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            bvp = self.model(x)[0].detach().cpu().numpy().astype(np.float64)
        if was_training:
            self.model.train()
        return bvp


def train_fold(cached, test_names, base_cfg, evaluate):
    """Train an FCUS net for 1 epoch (no labels) on the recordings of ``cached`` outside
    ``test_names``; what ``evaluate(net)`` returns at the end of the epoch."""
    from dataclasses import replace

    from model.fcus_net import FcusNet, FcusNetConfig
    from training.clips import ClipSampler
    from training.train_loop import train

    train_recs = [c for c in cached if c.name not in test_names]
    cfg = replace(base_cfg, epochs=1.0, eval_epochs=(1.0,), checkpoint_dir=None, progress=False)
    sampler = ClipSampler(train_recs, window_frames=cfg.window_frames, batch_size=cfg.batch_size, seed=cfg.seed)
    result = train(FcusNet(FcusNetConfig(seed=cfg.seed)), sampler, cfg, evaluate=evaluate)
    return result.evaluations[-1]["result"]


def loso_folds(names: list[str], n_folds: int = 4) -> list[list[str]]:
    """Leave-subjects-out folds: subjects in their listed order, dealt round-robin into folds."""
    folds = [[] for _ in range(min(n_folds, len(names)))]
    for i, n in enumerate(names):
        folds[i % len(folds)].append(n)
    return folds


def bland_altman_png(pairs: list[WindowHr], path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    have = [p for p in pairs if p.hr_est_bpm is not None]
    est = np.array([p.hr_est_bpm for p in have])
    ref = np.array([p.hr_ref_bpm for p in have])
    mean, diff = (est + ref) / 2, est - ref
    bias, sd = float(np.mean(diff)), float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.scatter(mean, diff, s=14, alpha=0.7)
    for y, ls in ((bias, "-"), (bias + 1.96 * sd, "--"), (bias - 1.96 * sd, "--")):
        ax.axhline(y, color="k", ls=ls, lw=1)
    ax.set_xlabel("mean of estimate and reference (bpm)")
    ax.set_ylabel("estimate - reference (bpm)")
    ax.set_title(f"{title}\nbias {bias:.1f} bpm, limits of agreement ±{1.96 * sd:.1f} bpm")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def convergence_png(curves: dict[str, list[tuple[float, float]]], path,
                    baselines: dict[str, float] | None = None) -> None:
    """MAE against epochs (log x) for each variant; classic baselines as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for name, pts in curves.items():
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xscale("log")
    x_left = min((x for pts in curves.values() for x, _ in pts), default=1.0)
    for i, (name, mae) in enumerate((baselines or {}).items()):
        ax.axhline(mae, ls=":", lw=1, color="gray")
        # one label per line, stacked when the baselines nearly coincide (POS and CHROM here)
        ax.annotate(f"{name} {mae:.2f}", (x_left, mae), xytext=(2, 2 + 10 * i), textcoords="offset points",
                    fontsize=8, color="gray")
    ax.set_xlabel("epochs")
    ax.set_ylabel("MAE @20 s (bpm), held-out subjects")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
