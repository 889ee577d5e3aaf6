"""What the speed shortcuts of ``analyze`` do to the accuracy: face tracking on key frames
(``model.keyframe_tracking``: how often the detector runs, interpolated or held between) and FCUS
computed once per sample (``model.fcus_stream``) instead of once per window, on the UBFC dev
subjects, beside POS and CHROM on the same tracking.

Each tracking variant gets its own crop cache (one tracking pass per subject, under
``--cache-root``). By default FCUS is the shipped model (trained on all 8 subjects: in-sample, a
quick look); ``--folds`` trains a model per leave-subjects-out fold (1 epoch, no labels) on each
variant's crops and scores only the fold's 2 held-out subjects, as the readings issue asks.

    python benchmarks/speed_choices.py --cache-root /tmp/speed-caches [--folds] [--variants a,b]
"""

import argparse
import sys
from dataclasses import replace
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


def held_out_scores(cached) -> dict:
    """Fold models trained on each fold's 6 subjects; each FCUS form scored on the 2 held out."""
    from model.estimator import EstimatorConfig
    from model.fcus_net import FcusNet, FcusNetConfig
    from model.pulse_methods import estimator_config
    from training.clips import ClipSampler
    from training.fcus_eval import loso_folds
    from training.replay import MethodScore, score_method
    from training.train_config import TrainConfig
    from training.train_loop import train

    base = replace(TrainConfig(progress=False), epochs=1.0, eval_epochs=(1.0,), checkpoint_dir=None)
    fcus_cfg = estimator_config("fcus", EstimatorConfig())
    held: dict[str, list] = {}
    for test in loso_folds([c.name for c in cached], 4):
        train_recs = [c for c in cached if c.name not in test]
        held_recs = [c for c in cached if c.name in test]
        sampler = ClipSampler(train_recs, window_frames=base.window_frames, batch_size=base.batch_size, seed=base.seed)

        def evaluate(m, held_recs=held_recs):
            return {name: score_method(method, held_recs, label=name, cfg=fcus_cfg)
                    for name, method in fcus_methods(m).items()}

        result = train(FcusNet(FcusNetConfig(seed=base.seed)), sampler, base, evaluate=evaluate)
        for name, sc in result.evaluations[-1]["result"].items():
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


def main(argv=None) -> int:
    from training.crop_cache import NO_DATA_HINT, cached_reference_recordings
    from training.replay import MethodScore
    from training.tables import per_subject_table, pooled_table

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-root", type=Path, required=True, help="one crop cache per tracking variant below it")
    ap.add_argument("--data", type=Path, default=None, help="UBFC-style folder (default ../shared/data/ubfc-dev)")
    ap.add_argument("--folds", action="store_true", help="fold-trained models, held-out subjects (slow)")
    ap.add_argument("--variants", default=",".join(TRACKING),
                    help=f"comma-separated tracking variants (default all: {', '.join(TRACKING)})")
    args = ap.parse_args(argv)
    rows, snr_lines = [], []
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        keyframes = TRACKING[variant]
        cached = cached_reference_recordings(args.data, args.cache_root / variant, keyframes=keyframes)
        if cached is None:
            print(f"speed_choices: {NO_DATA_HINT}", file=sys.stderr)
            return 2
        scores = held_out_scores(cached) if args.folds else in_sample_scores(cached)
        for name, sc in scores.items():
            rows.append(MethodScore(f"{variant}: {name}", clips=sc.clips))
        if not args.folds:
            snr = in_sample_snrs(cached)
            snr_lines.append(f"{variant:16s} " + "  ".join(f"{k} {v:6.2f}" for k, v in snr.items()))
        print(f"tracked: {variant} ({sum(c.track_s for c in cached):.0f} s for "
              f"{sum(c.media_s for c in cached):.0f} s of video)", flush=True)
    what = "held-out subjects, fold-trained FCUS models" if args.folds else "the shipped FCUS model (in-sample)"
    print(pooled_table(rows, f"UBFC dev subjects, {what}"))
    print()
    print(per_subject_table(rows, "mae20"))
    if snr_lines:
        print("\nmean SNR (dB) at the contact PPG's HR, 10 s windows every 5 s (higher: more pulse)")
        print("\n".join(snr_lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
