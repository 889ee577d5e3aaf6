"""Evaluation of FCUS models against the classic methods on the same recordings, in one run.

Every method runs through the same streaming estimator the app uses, replayed from the crop cache
(``training.crop_cache``): the FCUS model reads the skin-masked face crops, the classic methods the
skin-mean RGB of the same tracking pass. Metrics on 10 s and 20 s windows against the contact PPG
of the same window (``training.metrics``). Leave-subjects-out folds keep each test subject out of
the training of the model that measures it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from model.estimator import EstimatorConfig, StreamingEstimator
from model.fcus_contract import DEFAULT_CONTRACT, FcusContract
from model.pulse_methods import RoiWindow, make_pulse_method
from model.signal import PULSE_HI_HZ, PULSE_LO_HZ, bandpass
from model.types import RoiSample
from training.metrics import HrMetrics, WindowHr, hr_metrics, window_pairs

log = logging.getLogger(__name__)

WINDOWS_S = (10.0, 20.0)


class TorchPulseMethod:
    """The FCUS network (torch) as a PulseMethod, for evaluation during training; the app and
    ``analyze`` use the exported ONNX model through ``model.fcus_method`` instead."""

    name = "fcus"
    needs_crops = True

    def __init__(self, model, contract: FcusContract = DEFAULT_CONTRACT, device: str = "cpu"):
        self.model = model
        self.contract = contract
        self.crop_size = contract.crop_size
        self.min_window_s = contract.min_frames / contract.fs_hz
        self.device = device

    def window_bvp(self, window: RoiWindow) -> np.ndarray:
        import torch

        crops = np.asarray(window.crops, dtype=np.float32)  # (N, S, S, 3)
        x = torch.from_numpy(np.ascontiguousarray(crops.transpose(3, 0, 1, 2)[None])).to(self.device)
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            bvp = self.model(x)[0].detach().cpu().numpy().astype(np.float64)
        if was_training:
            self.model.train()
        return bandpass(bvp, window.fs_hz, PULSE_LO_HZ, PULSE_HI_HZ)


def roi_samples(rec, with_crops: bool) -> list[RoiSample]:
    """ROI samples of a cached recording (uniform grid): crops for FCUS, skin means for classic."""
    out = []
    face = rec.face
    for i in range(rec.n_frames):
        ok = bool(rec.valid[i])
        out.append(RoiSample(
            t_s=float(rec.t_s[i]), face_ok=ok,
            rgb_mean=np.asarray(rec.rgb_mean[i], dtype=np.float64) if ok else np.full(3, np.nan),
            crop=np.asarray(face[i], dtype=np.float32) if (ok and with_crops) else None,
        ))
    return out


def replay_bvp(rec, method, cfg: EstimatorConfig | None = None) -> tuple[np.ndarray, StreamingEstimator]:
    """Per-sample BVP of a cached recording through the streaming estimator."""
    est = StreamingEstimator(method, cfg or EstimatorConfig(fs_hz=rec.fs_hz))
    for s in roi_samples(rec, with_crops=method.needs_crops):
        est.push_roi(s)
    est.finish()
    return est.bvp_at(np.asarray(rec.t_s, dtype=np.float64)), est


@dataclass
class MethodScore:
    method: str
    pairs: dict[float, list[WindowHr]] = field(default_factory=dict)
    per_subject: dict[str, dict[float, list[WindowHr]]] = field(default_factory=dict)

    def add(self, subject: str, window_s: float, pairs: list[WindowHr]) -> None:
        self.pairs.setdefault(window_s, []).extend(pairs)
        self.per_subject.setdefault(subject, {}).setdefault(window_s, []).extend(pairs)

    def metrics(self, window_s: float) -> HrMetrics:
        return hr_metrics(self.pairs.get(window_s, []))


def reference(rec):
    """(t_s, ppg) of the contact reference on the cache's time axis (frame times from the
    recording's ground truth; the cache grid starts at the first frame)."""
    gt = rec.ground_truth()
    if gt is None or gt.ppg is None:
        return None
    return gt.t_s, gt.ppg


def score_recording(rec, method, score: MethodScore, cfg: EstimatorConfig | None = None) -> None:
    ref = reference(rec)
    if ref is None:
        return
    bvp, _ = replay_bvp(rec, method, cfg)
    t = np.asarray(rec.t_s, dtype=np.float64)
    for w in WINDOWS_S:
        score.add(rec.name, w, window_pairs(t, bvp, ref[0], ref[1], w))


def evaluate_model(model, recordings, *, classic=("pos", "chrom"), device: str = "cpu",
                   contract: FcusContract = DEFAULT_CONTRACT) -> dict[str, MethodScore]:
    """Scores of the model and of the classic methods on ``recordings`` (cached)."""
    scores: dict[str, MethodScore] = {}
    methods = []
    if model is not None:
        methods.append(("fcus", TorchPulseMethod(model, contract, device)))
    methods += [(m, make_pulse_method(m)) for m in classic]
    for name, method in methods:
        sc = scores.setdefault(name, MethodScore(name))
        for rec in recordings:
            score_recording(rec, method, sc)
    return scores


def summary_row(score: MethodScore) -> dict:
    row = {"method": score.method}
    for w in WINDOWS_S:
        m = score.metrics(w)
        row[f"{w:.0f}s"] = m.row()
    return row


def format_scores(scores: dict[str, MethodScore], title: str = "") -> str:
    head = ["method"]
    for w in WINDOWS_S:
        head += [f"MAE@{w:.0f}s", f"RMSE@{w:.0f}s", f"MAPE@{w:.0f}s", f"r@{w:.0f}s", f"<5bpm@{w:.0f}s", f"n@{w:.0f}s"]
    rows = []
    for sc in scores.values():
        row = [sc.method]
        for w in WINDOWS_S:
            m = sc.metrics(w)
            row += [_f(m.mae_bpm), _f(m.rmse_bpm), _f(m.mape_pct, 1), _f(m.pearson_r), _f(m.within5_share), str(m.n)]
        rows.append(row)
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = [title] if title else []
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(x.ljust(w) for x, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def format_per_subject(scores: dict[str, MethodScore], window_s: float = 20.0) -> str:
    subjects = sorted({s for sc in scores.values() for s in sc.per_subject},
                      key=lambda n: (int("".join(c for c in n if c.isdigit()) or 0), n))
    head = ["subject"] + [f"{m} MAE@{window_s:.0f}s" for m in scores]
    rows = [[s] + [_f(hr_metrics(sc.per_subject.get(s, {}).get(window_s, [])).mae_bpm) for sc in scores.values()]
            for s in subjects]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    return "\n".join(["  ".join(h.ljust(w) for h, w in zip(head, widths))] +
                     ["  ".join(x.ljust(w) for x, w in zip(r, widths)) for r in rows])


def _f(x: float, nd: int = 2) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{nd}f}"


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


def convergence_png(curves: dict[str, list[tuple[float, float]]], path, baselines: dict[str, float] | None = None) -> None:
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
