"""FCUS's raw window readings on held-out subjects, before any gate: every HR update's own reading
(``HrReading.hr_raw_bpm``: the 10 s window's, or with ``--reading-windows`` the median of the
trailing windows' HRs, ``EstimatorConfig.reading_windows_s``) from the signal's 10th second on, against the contact
PPG over the same trailing 10 s. The share within 5 bpm is the most a gate could show while
keeping 90 % of the shown readings right, if it knew which are right; ``benchmarks/peer_ubfc.py``
prints the same for the peer. Fold models (1 epoch, no labels) for each seed, the shipped
estimator, every subject held out once per seed.

    python benchmarks/raw_readings.py [--cache DIR] [--data DIR] [--seeds 0 1 2] [--reading-windows 8 10 12 15 20]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def table(errors: dict[str, list]) -> str:
    """Markdown: per subject and pooled, the readings, the share within 5 bpm and the MAE."""
    from training.metrics import reading_accuracy

    def row(name, errs):
        within, mae = reading_accuracy(errs)  # a missing reading is a miss
        return f"| {name} | {len(errs)} | {within:.2f} | {mae:.2f} |"

    lines = ["| subject | updates | raw reading within 5 bpm | MAE (bpm) |", "|---|---|---|---|"]
    lines += [row(n, e) for n, e in errors.items()]
    lines.append(row("pooled", [x for e in errors.values() for x in e]))
    return "\n".join(lines)


def main(argv=None) -> int:
    from dataclasses import replace

    from model.estimator import EstimatorConfig, snr_gated
    from model.pulse_methods import estimator_config
    from training.crop_cache import NO_DATA_HINT, add_reference_args, cached_reference_recordings
    from training.fcus_eval import TorchPulseMethod, loso_folds, train_fold
    from training.replay import RAW_FROM_S, raw_reading_errors, replay, subject_key
    from training.train_config import TrainConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--reading-windows", type=float, nargs="+", default=None, metavar="S",
                    help="read each update as the median of the HRs of the trailing S seconds "
                         "(EstimatorConfig.reading_windows_s, each S <= 20) instead of the window's own")
    args = ap.parse_args(argv)
    windows_s = tuple(args.reading_windows or ())
    try:
        replace(snr_gated(estimator_config("fcus", EstimatorConfig())), reading_windows_s=windows_s)
    except ValueError as e:
        ap.error(f"--reading-windows: {e}")
    cached = cached_reference_recordings(args.data, args.cache)
    if cached is None:
        print(f"raw_readings: {NO_DATA_HINT}", file=sys.stderr)
        return 2

    def cfg_for(c):
        cfg = estimator_config("fcus", EstimatorConfig(fs_hz=c.fs_hz))
        # the reading windows' median replaces the window's own reading (a study of the SNR gate's readings)
        return replace(snr_gated(cfg), reading_windows_s=windows_s) if windows_s else cfg

    errors: dict[str, list] = {}
    for seed in args.seeds:
        for test in loso_folds([c.name for c in cached], 4):
            def evaluate(net, test=test):
                def readings(c):
                    return replay(c, TorchPulseMethod(net), cfg=cfg_for(c)).estimator.readings

                return {c.name: raw_reading_errors(c, readings(c)) for c in cached if c.name in test}

            for name, errs in train_fold(cached, test, TrainConfig(progress=False, seed=seed), evaluate).items():
                errors.setdefault(name, []).extend(errs)
            print(f"seed {seed}, held out {','.join(test)}: done", flush=True)
    reading = (f", each the median of the trailing {', '.join(f'{x:g}' for x in windows_s)} s's HRs" if windows_s
               else ", each the window's own")
    print(f"\nFCUS fold models (seeds {args.seeds} pooled), raw readings from {RAW_FROM_S:g} s on, no gate{reading}:")
    print(table(dict(sorted(errors.items(), key=lambda kv: subject_key(kv[0])))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
