"""The FCUS stream choice of ``benchmarks/hr_choices.py`` made the way the product makes it, per
outer fold: a model trained (1 epoch, no labels) on the fold's 6 training subjects, the stream
setting chosen on those same 6 subjects' outputs (in-sample for the net, as the shipped model is
for the dev subjects), then the fold's model with the chosen setting scored once on the 2 held-out
subjects, which took part in neither the training nor the choice.

``--gate-curve``: the quality gate's coverage/error curve instead, held out: for each opening
point, the share of the held-out subjects' HR updates shown, the share of those within 5 bpm of
the contact PPG (trailing 10 s) and their mean error, plus the share shown on faces without a
pulse by the same fold models: a synthetic still photo and, when found, OpenCV's animated
``Megamind.avi`` (Debian's opencv-doc, or ``--megamind``). The last row, "no gate", shows every
update: the share of all readings within 5 bpm, the ceiling of any gate on these models; "own"
reads each window's own HR (no median over the last 3 readings), "15 s"/"20 s" a longer window.

    python benchmarks/fold_choices.py [--cache DIR] [--data DIR] [--seed N] [--gate-curve [--megamind FILE]]
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.estimator import EstimatorConfig, snr_gated  # noqa: E402
from model.pulse_methods import estimator_config  # noqa: E402

# Each candidate sets all three stream switches, since the base (FCUS's shipped settings) has one on.
STREAMS = {
    "window": {"hr_tracking": False, "track_half_width_hz": None, "context_s": None},
    "tracked": {"hr_tracking": True, "track_half_width_hz": None, "context_s": None},
    "tracked,narrow0.15": {"hr_tracking": True, "track_half_width_hz": 0.15, "context_s": None},
    "tracked,narrow0.25": {"hr_tracking": True, "track_half_width_hz": 0.25, "context_s": None},
    "tracked,narrow0.6": {"hr_tracking": True, "track_half_width_hz": 0.6, "context_s": None},
    "context20,0.4": {"hr_tracking": False, "track_half_width_hz": None, "context_s": 20.0,
                      "context_half_width_hz": 0.4},
    "context20,0.6": {"hr_tracking": False, "track_half_width_hz": None, "context_s": 20.0,
                      "context_half_width_hz": 0.6},
    "context30,0.4": {"hr_tracking": False, "track_half_width_hz": None, "context_s": 30.0,
                      "context_half_width_hz": 0.4},
    "context30,0.6": {"hr_tracking": False, "track_half_width_hz": None, "context_s": 30.0,
                      "context_half_width_hz": 0.6},
}


GATE_OPEN_DB = (2.6, 2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.5)  # closes 1.2 dB lower


def gate_settings() -> dict[str, dict]:
    from model.signal.quality import quality_from_snr

    gates = {f"gate {db:+.1f} dB": {"gate_open": quality_from_snr(db), "gate_close": quality_from_snr(db - 1.2)}
             for db in GATE_OPEN_DB}
    ungated = {"gate_open": 0.0, "gate_close": 0.0}
    return {**gates, "no gate": ungated,
            # the ceiling with other readings: each window's own HR (no median of the last 3) and
            # a 15 s or 20 s window (it grows from the first 6 s as the 10 s one does)
            "no gate, own": {**ungated, "hr_median_n": 1},
            "no gate, 15 s": {**ungated, "window_s": 15.0},
            "no gate, 20 s": {**ungated, "window_s": 20.0}}


def fold_scores(cached, test_names, base_cfg, settings: dict | None = None, extra=()) -> dict:
    """Train on the fold's other subjects; every setting's score on every subject (with
    ``settings``: on the held-out subjects and the ``extra`` recordings, never trained on)."""
    from training.fcus_eval import TorchPulseMethod, train_fold
    from training.replay import score_method

    fcus_cfg = snr_gated(estimator_config("fcus", EstimatorConfig()))  # these streams were chosen before the posterior
    scored = cached if settings is None else [c for c in cached if c.name in test_names] + list(extra)
    settings = settings or STREAMS

    def evaluate(m):
        method = TorchPulseMethod(m)
        return {name: score_method(method, scored, label=name, cfg=replace(fcus_cfg, **v))
                for name, v in settings.items()}

    return train_fold(cached, test_names, base_cfg, evaluate)


def gate_curve(cached, folds, base_cfg, megamind: Path | None = None) -> str:
    """Held-out coverage and shown-reading accuracy per gate opening point (fold models)."""
    import tempfile

    from training.benchmark import cached_no_pulse
    from training.replay import MethodScore

    tmp = Path(tempfile.mkdtemp(prefix="fcus-gate-"))
    still = cached_no_pulse(tmp, megamind)
    held: dict[str, list] = {}
    photo: dict[str, dict[str, list[float]]] = {}
    for test in folds:
        scores = fold_scores(cached, test, base_cfg, gate_settings(), extra=still)
        for name, sc in scores.items():
            held.setdefault(name, []).extend(c for c in sc.clips if c.name in test)
            for c in sc.clips:
                if c.name not in {x.name for x in cached}:
                    photo.setdefault(name, {}).setdefault(c.name, []).append(c.n_shown / max(c.n_updates, 1))
    no_pulse = [c.name for c in still]
    heads = [f"{n} shown" for n in no_pulse]
    lines = ["gate opening    coverage  shown within 5 bpm  shown MAE (bpm)  " + "  ".join(heads),
             "--------------  --------  ------------------  ---------------  " + "  ".join("-" * len(h) for h in heads)]
    for name, clips in held.items():
        sc = MethodScore(name, clips=clips)
        lines.append(f"{name:14s}  {sc.coverage:8.2f}  {sc.shown_within5:18.2f}  {sc.shown_mae_bpm:15.2f}  "
                     + "  ".join(f"{max(photo[name][n]):{len(n) + 6}.2f}" for n in no_pulse))
    return "\n".join(lines)


def main(argv=None) -> int:
    from training.crop_cache import NO_DATA_HINT, add_reference_args, cached_reference_recordings
    from training.fcus_eval import loso_folds
    from training.nested import choose, mae_10_20
    from training.replay import MethodScore
    from training.tables import per_subject_table, pooled_table
    from training.train_config import TrainConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    ap.add_argument("--gate-curve", action="store_true", help="the gate's held-out coverage/error curve")
    ap.add_argument("--seed", type=int, default=0, help="the fold models' training seed")
    ap.add_argument("--megamind", type=Path, default=None,
                    help="OpenCV's Megamind.avi, a face without a pulse (default: Debian opencv-doc's path)")
    args = ap.parse_args(argv)
    cached = cached_reference_recordings(args.data, args.cache)
    if cached is None:
        print(f"fold_choices: {NO_DATA_HINT}", file=sys.stderr)
        return 2
    folds = loso_folds([c.name for c in cached], 4)
    if args.gate_curve:
        print(gate_curve(cached, folds, TrainConfig(progress=False, seed=args.seed), args.megamind))
        return 0
    held: dict[str, list] = {"nested choice": [], **{k: [] for k in STREAMS}}
    for test in folds:
        scores = fold_scores(cached, test, TrainConfig(progress=False, seed=args.seed))
        inner = {c.name for c in cached} - set(test)
        chosen, _ = choose(scores, inner, mae_10_20)
        print(f"held out {','.join(test)}: chosen on the other 6 -> {chosen}")
        for name, sc in scores.items():
            held[name] += [c for c in sc.clips if c.name in test]
        held["nested choice"] += [c for c in scores[chosen].clips if c.name in test]
    rows = [MethodScore(f"fcus fold models: {k}", clips=v) for k, v in held.items()]
    print(pooled_table(rows, "held-out subjects, fold-trained models (each setting, and the nested choice)"))
    print()
    print(per_subject_table(rows, "mae10"))
    print()
    print(per_subject_table(rows, "mae20"))
    if args.out is not None:
        import pickle

        args.out.write_bytes(pickle.dumps(held))
    return 0


if __name__ == "__main__":
    sys.exit(main())
