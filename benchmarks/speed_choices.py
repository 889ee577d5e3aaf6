"""What the speed shortcuts of ``analyze`` do to the accuracy: face tracking on key frames
(``model.keyframe_tracking``: how often the detector runs, interpolated or held between) and FCUS
computed once per sample (``model.fcus_stream``) instead of once per window, on the UBFC dev
subjects, beside POS and CHROM on the same tracking.

Each tracking variant gets its own crop cache (one tracking pass per subject, under
``--cache-root``). By default FCUS is the shipped model (trained on all 8 subjects: in-sample, a
quick look); ``--folds`` trains a model per leave-subjects-out fold (1 epoch, no labels) on each
variant's crops and scores only the fold's 2 held-out subjects, as the readings issue asks, once
per seed of ``--seeds`` (pooled), and adds a table of FCUS's raw window readings within 5 bpm.

    python benchmarks/speed_choices.py --cache-root /tmp/speed-caches [--folds [--seeds 0 1 2]] [--variants a,b]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.keyframe_tracking import KeyframeConfig  # noqa: E402

TRACKING = {
    # the old default: the live tracker's detection on every 2nd frame, held in between
    "every2-held": KeyframeConfig(every=2, change_threshold=20.0, interpolate=False, min_cutoff_hz=None),
    "every4-interp": KeyframeConfig(every=4, min_cutoff_hz=None),
    "every8-interp": KeyframeConfig(every=8, min_cutoff_hz=None),
    "every8-held": KeyframeConfig(every=8, interpolate=False, min_cutoff_hz=None),
    "every8-smooth": KeyframeConfig(every=8, min_cutoff_hz=0.3),
    "every12-smooth": KeyframeConfig(every=12, min_cutoff_hz=0.3),  # the default now
    "every16-smooth": KeyframeConfig(every=16, min_cutoff_hz=0.3),
    "every24-smooth": KeyframeConfig(every=24, min_cutoff_hz=0.3),
}


def fcus_methods(fold_model=None) -> dict:
    """FCUS per window and streamed: the shipped ONNX model, or a fold's torch net."""
    from model.fcus_method import DEFAULT_STREAM, FcusPulseMethod

    if fold_model is None:
        return {"fcus window": FcusPulseMethod(stream=None), "fcus streamed": FcusPulseMethod(stream=DEFAULT_STREAM)}
    from training.fcus_eval import TorchPulseMethod

    return {"fcus window": TorchPulseMethod(fold_model, stream=None),
            "fcus streamed": TorchPulseMethod(fold_model, stream=DEFAULT_STREAM)}


def classic_scores(cached) -> dict:
    from model.estimator import EstimatorConfig
    from model.pulse_methods import estimator_config, make_pulse_method
    from training.replay import score_method

    out = {}
    for name in ("pos", "chrom"):
        method = make_pulse_method(name)
        out[name] = score_method(method, cached, label=name, cfg=estimator_config(name, EstimatorConfig()))
    return out


def in_sample_scores(cached) -> dict:
    from model.estimator import EstimatorConfig
    from model.pulse_methods import estimator_config
    from training.replay import score_method

    cfg = estimator_config("fcus", EstimatorConfig())
    out = {name: score_method(m, cached, label=name, cfg=cfg) for name, m in fcus_methods().items()}
    return {**out, **classic_scores(cached)}


def in_sample_snrs(cached) -> dict[str, float]:
    """SNR at the reference HR of FCUS streamed (the shipped model), POS and CHROM."""
    from model.estimator import EstimatorConfig
    from model.pulse_methods import estimator_config, make_pulse_method

    out = {"fcus streamed": snr_at_reference_db(cached, lambda: fcus_methods()["fcus streamed"],
                                                lambda: estimator_config("fcus", EstimatorConfig()))}
    for name in ("pos", "chrom"):
        out[name] = snr_at_reference_db(cached, lambda name=name: make_pulse_method(name),
                                        lambda name=name: estimator_config(name, EstimatorConfig()))
    return out


def held_out_scores(cached, seeds=(0,), raw: dict | None = None) -> dict:
    """Fold models trained on each fold's 6 subjects, once per seed; each FCUS form scored on the
    2 held out, the seeds pooled. With ``raw`` (a dict), the streamed form's raw window readings'
    errors (``training.replay.raw_reading_errors``: before any gate, from 10 s on) go into it by subject."""
    from model.estimator import EstimatorConfig
    from model.pulse_methods import estimator_config
    from training.fcus_eval import TorchPulseMethod, loso_folds, train_fold
    from training.replay import MethodScore, raw_reading_errors, replay, score_method
    from training.train_config import TrainConfig

    fcus_cfg = estimator_config("fcus", EstimatorConfig())
    held: dict[str, list] = {}
    for seed in seeds:
        for test in loso_folds([c.name for c in cached], 4):
            held_recs = [c for c in cached if c.name in test]

            def evaluate(m, held_recs=held_recs):
                out = {name: score_method(method, held_recs, label=name, cfg=fcus_cfg)
                       for name, method in fcus_methods(m).items()}
                if raw is not None:  # a second replay of the streamed form, for its readings
                    for c in held_recs:
                        readings = replay(c, TorchPulseMethod(m), cfg=fcus_cfg).estimator.readings
                        raw.setdefault(c.name, []).extend(raw_reading_errors(c, readings))
                return out

            result = train_fold(cached, test, TrainConfig(progress=False, seed=seed), evaluate)
            for name, sc in result.items():
                held.setdefault(name, []).extend(sc.clips)
    out = {name: MethodScore(name, clips=clips) for name, clips in held.items()}
    return {**out, **classic_scores(cached)}


def snr_at_reference_db(cached, method_for, cfg_for) -> float:
    """Mean SNR (de Haan & Jeanne, dB) of the BVP stream at the contact PPG's HR, over 10 s
    windows every 5 s of every recording: a continuous measure of how much pulse the tracking
    leaves in the signal, steadier than the window MAE, which moves in whole harmonic flips."""
    from model.signal import bandpass, power_spectrum, spectral_snr_db
    from model.signal.band import PULSE_BAND_HZ
    from training.metrics import window_hr
    from training.replay import reference, replay

    snrs = []
    for c in cached:
        ref = reference(c)
        if ref is None:
            continue
        est = replay(c, method_for(), cfg=cfg_for()).estimator
        tg, vg = est.bvp_stream()
        for t0 in np.arange(float(tg[0]), float(tg[-1]) - 10.0, 5.0):
            hr = window_hr(ref[0], ref[1], t0, t0 + 10.0)
            seg = vg[(tg >= t0) & (tg < t0 + 10.0)]
            if hr is None or len(seg) < 250 or not np.all(np.isfinite(seg)):
                continue
            x = bandpass(seg - seg.mean(), c.fs_hz, *PULSE_BAND_HZ)
            snrs.append(spectral_snr_db(power_spectrum(x, c.fs_hz), hr / 60.0))
    return float(np.mean(snrs)) if snrs else float("nan")


def raw_share_table(raw_rows: dict[str, dict[str, list]]) -> str:
    """Markdown: one row per tracking variant, the share within 5 bpm per subject and pooled."""
    from training.metrics import reading_accuracy
    from training.replay import subject_key

    subjects = sorted({s for errs in raw_rows.values() for s in errs}, key=subject_key)
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    lines = [row(["tracking", *subjects, "pooled"]), row(["---"] * (len(subjects) + 2))]
    for variant, errs in raw_rows.items():
        cells = [f"{reading_accuracy(errs[s])[0]:.2f}" if errs.get(s) else "" for s in subjects]
        pooled = reading_accuracy([x for e in errs.values() for x in e])[0]
        lines.append(row([variant, *cells, f"{pooled:.3f}"]))
    return "\n".join(lines)


def main(argv=None) -> int:
    from training.crop_cache import NO_DATA_HINT, cached_reference_recordings
    from training.replay import MethodScore
    from training.tables import per_subject_table, pooled_table

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-root", type=Path, required=True, help="one crop cache per tracking variant below it")
    ap.add_argument("--data", type=Path, default=None, help="UBFC-style folder (default ../shared/data/ubfc-dev)")
    ap.add_argument("--folds", action="store_true", help="fold-trained models, held-out subjects (slow)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0],
                    help="with --folds: train the fold models once per seed and pool them (default: seed 0)")
    ap.add_argument("--variants", default=",".join(TRACKING),
                    help=f"comma-separated tracking variants (default all: {', '.join(TRACKING)})")
    args = ap.parse_args(argv)
    if args.seeds != [0] and not args.folds:
        ap.error("--seeds needs --folds (the shipped model is not trained here)")
    rows, snr_lines, raw_rows = [], [], {}
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        keyframes = TRACKING[variant]
        cached = cached_reference_recordings(args.data, args.cache_root / variant, keyframes=keyframes)
        if cached is None:
            print(f"speed_choices: {NO_DATA_HINT}", file=sys.stderr)
            return 2
        if args.folds:
            raw_rows[variant] = {}
            scores = held_out_scores(cached, args.seeds, raw_rows[variant])
        else:
            scores = in_sample_scores(cached)
        for name, sc in scores.items():
            rows.append(MethodScore(f"{variant}: {name}", clips=sc.clips))
        if not args.folds:
            snr = in_sample_snrs(cached)
            snr_lines.append(f"{variant:16s} " + "  ".join(f"{k} {v:6.2f}" for k, v in snr.items()))
        print(f"tracked: {variant} ({sum(c.track_s for c in cached):.0f} s for "
              f"{sum(c.media_s for c in cached):.0f} s of video)", flush=True)
    what = (f"held-out subjects, fold-trained FCUS models (seeds {' '.join(map(str, args.seeds))} pooled)"
            if args.folds else "the shipped FCUS model (in-sample)")
    print(pooled_table(rows, f"UBFC dev subjects, {what}"))
    print()
    print(per_subject_table(rows, "mae20"))
    if raw_rows:
        print("\nFCUS streamed, raw window readings within 5 bpm of the contact PPG (before any gate, from 10 s on; "
              "a missing reading is a miss)")
        print(raw_share_table(raw_rows))
    if snr_lines:
        print("\nmean SNR (dB) at the contact PPG's HR, 10 s windows every 5 s (higher: more pulse)")
        print("\n".join(snr_lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
