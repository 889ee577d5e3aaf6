"""Ways to read a window's HR from the FCUS net's BVP, beside the estimator's own, on held-out
subjects: the share of the readings within 5 bpm of the contact PPG over the same trailing 10 s
(what a gate can show at most while keeping 90 % of what it shows right, ``raw_readings.py``).

Fold models (1 epoch, no labels; each subject held out once per seed, 4 folds). Each held-out
clip goes through its fold's net once, whole (``TorchPulseMethod.run_crops``, not the estimator's
stream), and every second from the 10th on, its trailing 10 s window is read by each variant:

* ``estimator``: ``model.signal.estimate_hr`` on the band-passed window (the estimator's peak
  picking with its octave rules, without the prior of the last reading it passes live; the
  baseline);
* ``peak``: the plain strongest peak of the same spectrum;
* ``motion``: the window with the face box's motion (centre x, y and width, band-passed like the
  BVP) regressed out first (least squares), then ``estimator``;
* ``background``: the same with the background crop's mean colour (light changes);
* ``regions``: the net run on three parts of the crop (forehead, the two cheeks; the rest zeroed
  like masked skin), their in-band spectra normalised and summed, the strongest peak;
* ``harmonic``: the strongest peak of P(f) + 0.5 P(2f), P(2f) from the BVP band-passed to 8 Hz.

A window without an estimate counts as a miss (not within 5 bpm) and stays out of the MAE.

    python benchmarks/reading_variants.py [--cache DIR] [--data DIR] [--seeds 0 1]
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.signal.band import HR_RANGE_BPM as HR_BPM  # noqa: E402 - after the path insert
from model.signal.band import PULSE_BAND_HZ as BAND_HZ  # noqa: E402

FS_HZ = 30.0
WINDOW_S = 10.0
HARMONIC_BAND_HZ = (0.6, 8.0)
HARMONIC_WEIGHT = 0.5
REGION_SPLIT = 0.40  # the forehead is the crop's top 40 %; below it, the cheeks left and right
VARIANTS = ("estimator", "peak", "motion", "background", "regions", "harmonic")


def band(x: np.ndarray, lo_hi: tuple[float, float] = BAND_HZ) -> np.ndarray:
    from model.signal import bandpass

    x = np.asarray(x, dtype=np.float64)
    return bandpass(x - x.mean(), FS_HZ, *lo_hi)


def in_hr_range(freqs_hz: np.ndarray) -> np.ndarray:
    return (freqs_hz * 60.0 >= HR_BPM[0]) & (freqs_hz * 60.0 <= HR_BPM[1])


def in_band_spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(freqs_hz, power) of ``x`` (band-passed) inside the HR range."""
    from model.signal.heart_rate import power_spectrum

    s = power_spectrum(x, FS_HZ)
    keep = in_hr_range(s.freqs_hz)
    return s.freqs_hz[keep], s.power[keep]


def estimator_hr(x: np.ndarray) -> float:
    from model.signal import estimate_hr

    est = estimate_hr(x, FS_HZ, lo_bpm=HR_BPM[0], hi_bpm=HR_BPM[1], snr_band_hz=BAND_HZ)
    return float(est.hr_bpm)


def peak_hr(x: np.ndarray) -> float:
    f, p = in_band_spectrum(x)
    return 60.0 * float(f[np.argmax(p)])


def regressed(y: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """``y`` (band-passed) less its least-squares fit on the columns of ``refs`` (band-passed
    like it); ``y`` itself when a column is constant or not finite."""
    if not np.all(np.isfinite(refs)) or np.any(np.ptp(refs, axis=0) == 0):
        return y
    x = np.stack([band(refs[:, j]) for j in range(refs.shape[1])], axis=1)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    return y - x @ beta


def summed_spectra_hr(parts: list[np.ndarray]) -> float:
    """The strongest peak of the parts' in-band spectra, each normalised to sum 1, summed."""
    f, total = None, 0.0
    for x in parts:
        f, p = in_band_spectrum(x)
        total = total + p / max(float(p.sum()), 1e-300)
    return 60.0 * float(f[np.argmax(total)])


def harmonic_hr(raw: np.ndarray) -> float:
    """The strongest peak of P(f) + HARMONIC_WEIGHT * P(2f) (both from the window band-passed to
    ``HARMONIC_BAND_HZ``, so that the second harmonic of a fast pulse is kept)."""
    from model.signal.heart_rate import power_spectrum

    s = power_spectrum(band(raw, HARMONIC_BAND_HZ), FS_HZ)
    keep = in_hr_range(s.freqs_hz)
    f = s.freqs_hz[keep]
    score = s.power[keep] + HARMONIC_WEIGHT * np.interp(2.0 * f, s.freqs_hz, s.power)
    return 60.0 * float(f[np.argmax(score)])


def region_masks(size: int) -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    low = yy >= REGION_SPLIT * size
    return {"forehead": ~low, "left": low & (xx < size / 2), "right": low & (xx >= size / 2)}


def clip_signals(run: Callable[[np.ndarray], np.ndarray], cached) -> dict:
    """The net's BVP of the whole clip and of each crop region, and the reference signals for the
    regressions: the face box's motion (N, 3) and the background crop's mean colour (N, 3)."""
    if cached.face_box is None:
        raise ValueError(f"{cached.name}: the cache entry has no face boxes (rebuild it)")
    face = np.asarray(cached.face, dtype=np.float32)
    box = np.asarray(cached.face_box, dtype=np.float64)
    background = np.asarray(cached.background, dtype=np.float32)
    return {
        "bvp": np.asarray(run(face), dtype=np.float64),
        "regions": [np.asarray(run(face * m[None, :, :, None]), dtype=np.float64)
                    for m in region_masks(face.shape[1]).values()],
        "motion": np.stack([box[:, 0] + box[:, 2] / 2, box[:, 1] + box[:, 3] / 2, box[:, 2]], axis=1),
        "background": background.reshape(len(background), -1, 3).mean(axis=1).astype(np.float64),
    }


def window_readings(sig: dict, s0: int, s1: int) -> dict[str, float]:
    """Every variant's HR of grid samples ``s0 .. s1 - 1``."""
    raw = sig["bvp"][s0:s1]
    y = band(raw)
    return {
        "estimator": estimator_hr(y),
        "peak": peak_hr(y),
        "motion": estimator_hr(regressed(y, sig["motion"][s0:s1])),
        "background": estimator_hr(regressed(y, sig["background"][s0:s1])),
        "regions": summed_spectra_hr([band(r[s0:s1]) for r in sig["regions"]]),
        "harmonic": harmonic_hr(raw),
    }


def clip_errors(run, cached) -> dict[str, list[float]]:
    """Each variant's reading minus the contact PPG's HR over the same trailing 10 s, every second
    from the 10th on."""
    from training.metrics import window_hr
    from training.replay import reference

    sig = clip_signals(run, cached)
    ref_t, ref_ppg = reference(cached)
    n_win = int(round(WINDOW_S * FS_HZ))
    out: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for s1 in range(n_win, len(sig["bvp"]) + 1, int(FS_HZ)):
        t = float(cached.t_s[s1 - 1])
        truth = window_hr(ref_t, ref_ppg, t - WINDOW_S, t)
        if truth is None or not np.all(cached.valid[s1 - n_win:s1]):
            continue
        for v, hr in window_readings(sig, s1 - n_win, s1).items():
            out[v].append(hr - truth)
    return out


def table(errors: dict[str, dict[str, list[float]]]) -> str:
    """Markdown: per variant, the readings, the share within 5 bpm pooled and per subject, MAE."""
    from training.metrics import reading_accuracy  # a window without an estimate (NaN) is a miss
    from training.replay import subject_key

    names = sorted({n for per in errors.values() for n in per}, key=subject_key)
    head = "| variant | readings | within 5 bpm | MAE (bpm) | " + " | ".join(names) + " |"
    lines = [head, "|" + "---|" * (4 + len(names))]
    for v, per in errors.items():
        allv = [e for n in names for e in per.get(n, [])]
        within, mae = reading_accuracy(allv)
        cells = [f"{reading_accuracy(per[n])[0]:.2f}" if per.get(n) else "" for n in names]
        lines.append(f"| {v} | {len(allv)} | {within:.3f} | {mae:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from training.crop_cache import NO_DATA_HINT, add_reference_args, cached_reference_recordings
    from training.fcus_eval import TorchPulseMethod, loso_folds, train_fold
    from training.train_config import TrainConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_reference_args(ap)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args(argv)
    cached = cached_reference_recordings(args.data, args.cache, progress=False)
    if cached is None:
        print(f"reading_variants: {NO_DATA_HINT}", file=sys.stderr)
        return 2
    errors: dict[str, dict[str, list[float]]] = {v: {} for v in VARIANTS}
    for seed in args.seeds:
        for test in loso_folds([c.name for c in cached], 4):
            def evaluate(net, test=test):
                run = TorchPulseMethod(net, stream=None).run_crops
                return {c.name: clip_errors(run, c) for c in cached if c.name in test}

            for name, per_variant in train_fold(cached, test, TrainConfig(progress=False, seed=seed), evaluate).items():
                for v, errs in per_variant.items():
                    errors[v].setdefault(name, []).extend(errs)
            print(f"seed {seed}, held out {','.join(test)}: done", flush=True)
    print(f"\nFCUS fold models (seeds {args.seeds} pooled), a reading every second from {WINDOW_S:g} s on:")
    print(table(errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
