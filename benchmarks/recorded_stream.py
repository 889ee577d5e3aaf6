"""What a live recording's ``bvp.csv`` holds, by when its rows are written: each UBFC subject of the
crop cache is replayed through the streaming estimator (the shipped FCUS model and settings, or
``--method``), and at every HR update the frames ``settle_s`` old or older that have no row yet get
the stream's value known then (the app's recorder, ``app.recording.SessionRecorder.bvp_update``;
0 s: a frame's first value, the edge of the newest window). Rows still missing at the end get the
finished stream's values, as stopping a recording writes them. Each recorded stream is scored like
``bvp.csv`` (back-to-back 10 s and 20 s windows, a plain FFT peak, against the contact PPG).

    python benchmarks/recorded_stream.py [--cache DIR] [--data DIR] [--settle 0,2,5,10] [--method fcus]
                                         [--plain-stream]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.metrics import window_pairs  # noqa: E402
from training.replay import WINDOWS_S  # noqa: E402


def recorded_streams(cached, method_name: str, settles_s: list[float],
                     plain_stream: bool = False) -> dict[float, np.ndarray]:
    """The BVP per grid point of ``cached`` as a recorder with each settle delay writes it
    (``plain_stream``: without the stream's narrowing around the trailing HR)."""
    from dataclasses import replace

    from app.recording import bvp_rows_ready, values_at
    from model.estimator import EstimatorConfig, StreamingEstimator
    from model.pulse_methods import estimator_config, make_pulse_method
    from training.replay import roi_samples

    method = make_pulse_method(method_name)
    cfg = estimator_config(method_name, EstimatorConfig(fs_hz=cached.fs_hz))
    est = StreamingEstimator(method, replace(cfg, context_s=None) if plain_stream else cfg)
    t = np.asarray(cached.t_s, dtype=np.float64)
    rec = {s: np.full(len(t), np.nan) for s in settles_s}
    done = {s: 0 for s in settles_s}  # frames before this index have their row
    span_s = est.cfg.window_s + max(settles_s) + 2.0
    for sample in roi_samples(cached, with_crops=bool(method.needs_crops)):
        if est.push_roi(sample).reading is None:
            continue
        tg, vg = est.recent_bvp(span_s)
        if len(tg) < 2:
            continue
        now = int(np.searchsorted(t, sample.t_s, side="right"))
        known = values_at(tg, vg, t[:now])
        for s in settles_s:  # the recorder's own rule and values, on the frames without a row yet
            lo = done[s]
            upto = lo + bvp_rows_ready(t[lo:now], known[lo:], sample.t_s, est.cfg.window_s, s)
            rec[s][lo:upto] = known[lo:upto]
            done[s] = upto
    est.finish()
    final = est.bvp_at(t)
    for s in settles_s:
        rec[s][done[s]:] = final[done[s]:]
    return rec


def main(argv: list[str] | None = None) -> int:
    from training.crop_cache import NO_DATA_HINT, add_reference_args, cached_reference_recordings
    from training.replay import reference

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    ap.add_argument("--settle", default="0,2,5,10", help="comma-separated settle delays (s)")
    ap.add_argument("--method", default="fcus")
    ap.add_argument("--plain-stream", action="store_true", help="without the narrowing around the trailing HR")
    args = ap.parse_args(argv)
    settles = [float(x) for x in args.settle.split(",") if x.strip()]
    cached = cached_reference_recordings(args.data, args.cache)
    if cached is None:
        print(f"recorded_stream: {NO_DATA_HINT}", file=sys.stderr)
        return 2
    errors = {s: {w: [] for w in WINDOWS_S} for s in settles}
    for c in cached:
        ref = reference(c)
        if ref is None:
            continue
        t = np.asarray(c.t_s, dtype=np.float64)
        for s, v in recorded_streams(c, args.method, settles, args.plain_stream).items():
            for w in WINDOWS_S:
                errors[s][w] += [abs(p.hr_est_bpm - p.hr_ref_bpm) for p in window_pairs(t, v, *ref, w)
                                 if p.hr_est_bpm is not None]
    label = args.method + (", plain stream" if args.plain_stream else "")
    print(f"| {label}: rows written after | MAE@10s | MAE@20s | windows |")
    print("|---|---|---|---|")
    for s in settles:
        e10, e20 = errors[s][10.0], errors[s][20.0]
        print(f"| {s:g} s | {np.mean(e10):.2f} | {np.mean(e20):.2f} | {len(e10)}, {len(e20)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
