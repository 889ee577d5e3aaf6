"""Accuracy and speed of the pulse methods side by side, in one run.

Datasets: the synthetic suite (known HR 45-180 bpm, still and with motion + flicker) and the UBFC
subjects in ``../shared/data/ubfc-dev`` (or ``--ubfc DIR``). Every clip is tracked once; each
method then runs through the same streaming estimator the app uses. For UBFC both ROI variants
run: the landmark skin region (ours) and a fixed face box (the classic baseline).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.estimator import EstimatorConfig, StreamingEstimator
from model.pulse_methods import CLASSIC_METHOD_NAMES, make_pulse_method
from training.datasets import Recording, default_face_model, default_ubfc_root, read_ubfc
from training.metrics import WindowHr, hr_metrics, window_pairs
from training.traces import Traces, cached_traces

log = logging.getLogger(__name__)

MEGAMIND_PATHS = (Path("/usr/share/doc/opencv-doc/examples/data/Megamind.avi"),)
WINDOWS_S = (10.0, 20.0)


@dataclass
class MethodRun:
    dataset: str
    roi: str
    method: str
    pairs: dict[float, list[WindowHr]] = field(default_factory=dict)
    media_s: float = 0.0
    compute_s: float = 0.0
    per_clip: list[dict] = field(default_factory=list)
    shown_shares: list[float] = field(default_factory=list)


def replay(traces: Traces, method_name: str, variant: str, cfg: EstimatorConfig | None = None):
    """Run the streaming estimator over cached ROI traces; returns (estimator, per-frame bvp, s)."""
    method = make_pulse_method(method_name)
    est = StreamingEstimator(method, cfg or EstimatorConfig())
    t0 = time.perf_counter()
    for s in traces.roi_samples(variant):
        est.push_roi(s)
    est.finish()
    bvp = est.bvp_at(traces.t_s)
    return est, bvp, time.perf_counter() - t0


def evaluate_recording(rec: Recording, traces: Traces, run: MethodRun) -> None:
    gt = rec.ground_truth()
    est, bvp, dt = replay(traces, run.method, run.roi)
    run.compute_s += dt + traces.runtime_s
    run.media_s += float(traces.t_s[-1] - traces.t_s[0])
    shown = [r for r in est.readings if r.hr_raw_bpm is not None]
    run.shown_shares.append(sum(r.hr_bpm is not None for r in shown) / max(len(est.readings), 1))
    if gt is None or gt.ppg is None:
        run.per_clip.append({"clip": rec.name, "shown": run.shown_shares[-1]})
        return
    n = min(len(bvp), len(gt.t_s))
    # UBFC: the ground-truth timestamps are the frames' capture times.
    est_t = gt.t_s[:n]
    for w in WINDOWS_S:
        run.pairs.setdefault(w, []).extend(window_pairs(est_t, bvp[:n], gt.t_s, gt.ppg, w))
    from model.analyze import whole_clip_hr
    from training.metrics import window_hr

    tg, vg = est.bvp_stream()
    run.per_clip.append({
        "clip": rec.name,
        "hr_est": whole_clip_hr(tg, vg, 30.0, 42.0, 200.0),
        "hr_ref": window_hr(gt.t_s, gt.ppg, 0.0, float(gt.t_s[-1])),
    })


def synthetic_recordings(out_dir: Path, kind: str) -> list[Recording]:
    from training.synth import suite_configs, write_clip

    recs = []
    for cfg in suite_configs(kind):
        d = out_dir / f"{kind}-{int(round(cfg.hr_bpm))}bpm"
        files = write_clip(cfg, d, progress=False)
        recs.append(Recording(name=d.name, video=files.video_path, ground_truth_path=files.ground_truth_txt,
                              dataset=f"synth-{kind}"))
    return recs


def no_pulse_recordings(out_dir: Path, megamind: Path | None) -> list[Recording]:
    """Faces without a pulse: a still photo (the synthetic face with zero pulse amplitude, sensor
    noise only) and, when present, OpenCV's animated ``Megamind.avi`` (Debian's opencv-doc)."""
    from training.synth import SynthConfig, write_clip

    files = write_clip(SynthConfig(duration_s=30.0, pulse_amplitude=0.0, seed=99), out_dir / "still-photo",
                       progress=False)
    recs = [Recording(name="still-photo", video=files.video_path, ground_truth_path=None, dataset="no-pulse")]
    for p in ([megamind] if megamind else list(MEGAMIND_PATHS)):
        if p is not None and Path(p).is_file():
            recs.append(Recording(name="Megamind.avi", video=Path(p), ground_truth_path=None, dataset="no-pulse"))
            break
    return recs


def format_no_pulse(runs: list[MethodRun]) -> str:
    sel = [r for r in runs if r.dataset == "no-pulse"]
    if not sel:
        return ""
    lines = ["faces without a pulse: share of HR updates shown (the gate should withhold them)"]
    for r in sel:
        per = ", ".join(f"{c['clip']} {c['shown']:.2f}" for c in r.per_clip)
        lines.append(f"  {r.method:6s} {per}")
    return "\n".join(lines)


def _fmt(x: float, nd: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def format_table(runs: list[MethodRun]) -> str:
    head = ["dataset", "roi", "method"]
    for w in WINDOWS_S:
        head += [f"MAE@{w:.0f}s", f"RMSE@{w:.0f}s", f"MAPE@{w:.0f}s", f"r@{w:.0f}s", f"<5bpm@{w:.0f}s"]
    head += ["n@20s", "shown", "x_realtime"]
    rows = []
    for r in runs:
        row = [r.dataset, r.roi, r.method]
        for w in WINDOWS_S:
            m = hr_metrics(r.pairs.get(w, []))
            row += [_fmt(m.mae_bpm), _fmt(m.rmse_bpm), _fmt(m.mape_pct, 1), _fmt(m.pearson_r), _fmt(m.within5_share)]
        m20 = hr_metrics(r.pairs.get(20.0, []))
        row += [f"{m20.n}+{m20.n_missing}miss", _fmt(float(np.mean(r.shown_shares)) if r.shown_shares else float("nan")),
                _fmt(r.media_s / r.compute_s if r.compute_s > 0 else float("nan"), 1)]
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def format_per_clip(runs: list[MethodRun], dataset: str) -> str:
    sel = [r for r in runs if r.dataset == dataset]
    if not sel or not sel[0].per_clip:
        return ""
    clips = [c["clip"] for c in sel[0].per_clip]
    head = ["clip", "ref"] + [f"{r.method}/{r.roi}" for r in sel]
    rows = []
    for i, c in enumerate(clips):
        rows.append([c, _fmt(sel[0].per_clip[i]["hr_ref"], 1)] + [_fmt(r.per_clip[i]["hr_est"], 1) for r in sel])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    out = ["whole-clip HR (bpm), " + dataset, "  ".join(h.ljust(w) for h, w in zip(head, widths))]
    out += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


def benchmark_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fcus-rppg benchmark", description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default=",".join(CLASSIC_METHOD_NAMES), help="comma-separated methods")
    p.add_argument("--ubfc", type=Path, default=None, help="UBFC-style folder (default ../shared/data/ubfc-dev)")
    p.add_argument("--no-ubfc", action="store_true", help="skip the UBFC-rPPG subjects")
    p.add_argument("--no-synth", action="store_true", help="skip the synthetic suite")
    p.add_argument("--subjects", default=None, help="comma-separated subject names (default: all)")
    p.add_argument("--face-model", default=None,
                   help="MediaPipe face_landmarker.task (default: ../shared/models, else as the app finds it)")
    p.add_argument("--no-download", action="store_true", help="never download the face model")
    p.add_argument("--cache", type=Path, default=None, help="cache folder for tracking passes")
    p.add_argument("--megamind", type=Path, default=None, help="Megamind.avi (default: Debian opencv-doc path)")
    p.add_argument("--no-nopulse", action="store_true", help="skip the faces without a pulse")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from model.face_tracking import create_face_tracker
    from model.roi import RoiExtractor

    roi = RoiExtractor(crop_size=None)
    tracker_msgs = []
    if args.face_model is None:
        args.face_model = default_face_model()

    def make_tracker():
        tr, msg = create_face_tracker(args.face_model, allow_download=not args.no_download)
        tracker_msgs.append(msg)
        return tr

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    runs: list[MethodRun] = []
    datasets: list[tuple[str, list[Recording], tuple[str, ...]]] = []
    tmp = tempfile.TemporaryDirectory(prefix="fcus-bench-")
    if not args.no_synth:
        for kind in ("still", "motion"):
            datasets.append((f"synth-{kind}", synthetic_recordings(Path(tmp.name), kind), ("skin",)))
    if not args.no_nopulse:
        datasets.append(("no-pulse", no_pulse_recordings(Path(tmp.name), args.megamind), ("skin",)))
    ubfc_root = args.ubfc or default_ubfc_root()
    if not args.no_ubfc:
        if ubfc_root is None:
            print("UBFC data not found (../shared/data/ubfc-dev or --ubfc): skipped", file=sys.stderr)
        else:
            recs = read_ubfc(ubfc_root)
            if args.subjects:
                keep = set(args.subjects.split(","))
                recs = [r for r in recs if r.name in keep]
            datasets.append(("ubfc", recs, ("skin", "box")))
    for name, recs, variants in datasets:
        for variant in variants:
            for m in methods:
                runs.append(MethodRun(dataset=name, roi=variant, method=m))
        for rec in recs:
            traces = cached_traces(rec.video, args.cache, make_tracker, roi, progress=sys.stderr.isatty(),
                                   tracker_tag=str(args.face_model))
            for run in runs:
                if run.dataset == name:
                    evaluate_recording(rec, traces, run)
    tmp.cleanup()
    print(f"tracker: {tracker_msgs[0] if tracker_msgs else '-'}")
    table_runs = [r for r in runs if r.dataset != "no-pulse"]
    if table_runs:
        print(format_table(table_runs))
    block = format_no_pulse(runs)
    if block:
        print()
        print(block)
    for name, _, _ in datasets:
        if name == "no-pulse":
            continue
        block = format_per_clip(runs, name)
        if block:
            print()
            print(block)
    if args.json:
        args.json.write_text(json.dumps([
            {"dataset": r.dataset, "roi": r.roi, "method": r.method,
             "metrics": {f"{w:.0f}s": hr_metrics(r.pairs.get(w, [])).row() for w in WINDOWS_S},
             "x_real_time": r.media_s / r.compute_s if r.compute_s else None, "per_clip": r.per_clip}
            for r in runs], indent=2))
    return 0
