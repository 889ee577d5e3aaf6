"""How right ``analyze``'s HRV is, against the pulse's strength: the rule behind
``EstimatorConfig.hrv_min_snr_db``.

Each clip runs through ``model.analyze.run_analysis`` (FCUS, the shipped model) with the SNR rule off,
so its HRV over the last 60 s is always computed; the table puts it beside the truth over the same
span and the median SNR of the readings there (what the rule looks at). The estimator's HRV covers
the stretch after the signal's last gap: on a clip whose face leaves within its last 60 s the two
spans differ (no clip here does).

* synthetic 60 s clips (``training.synth``) with known beat times, the pulse's strength and the
  sensor noise varied (the truth: the HRV of the generated beats);
* the UBFC dev clips, when ``--data`` (default ../shared/data/ubfc-dev) holds them (the truth: the
  HRV of the contact PPG's beats, ``detect_beats`` on its signal over the same span). The shipped
  model was trained on these clips, so their rows are in-sample.

    python benchmarks/hrv_check.py [--data DIR] [--no-synth] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPAN_S = 60.0
HR_BPM = 75.0
# (pulse strength: the green channel's trough-to-peak change, sensor noise in 8-bit levels)
SYNTH = ((0.008, 2.0), (0.006, 2.0), (0.004, 2.0), (0.003, 2.0), (0.004, 6.0), (0.002, 2.0), (0.001, 2.0),
         (0.0007, 4.0))


def median_snr_db(readings, t_from: float) -> float:
    snrs = [r.snr_db for r in readings if r.t_s >= t_from and np.isfinite(r.snr_db)]
    return float(np.median(snrs)) if snrs else float("nan")


def measured(video: Path) -> tuple[float, object, float, float]:
    """(median reading SNR over the last SPAN_S, the HRV with the SNR rule off, the span's start and
    end on the clip's clock)."""
    from model.analyze import run_analysis
    from model.estimator import EstimatorConfig

    res = run_analysis(video, "fcus", progress=False, config=replace(EstimatorConfig(), hrv_min_snr_db=None))
    est = res.estimator
    t_end = float(est.readings[-1].t_s)
    return median_snr_db(est.readings, t_end - SPAN_S), est.last_hrv, t_end - SPAN_S - est.t0_s, t_end - est.t0_s


def synthetic_rows(work: Path) -> list[tuple]:
    from model.signal.beats import hrv_from_beats
    from training.synth import SynthConfig, write_clip

    rows = []
    for amplitude, noise in SYNTH:
        cfg = SynthConfig(duration_s=SPAN_S, hr_bpm=HR_BPM, hrv_std_bpm=3.0, pulse_amplitude=amplitude,
                          sensor_noise_std=noise, seed=3)
        files = write_clip(cfg, work / f"a{amplitude:g}-n{noise:g}", progress=False)
        snr, hrv, t0, t1 = measured(files.video_path)
        beats = np.asarray(json.loads(files.ground_truth_json.read_text())["beat_t_s"], dtype=np.float64)
        true = hrv_from_beats(beats[(beats >= t0) & (beats <= t1)])
        rows.append((f"synthetic, pulse {amplitude:g}, noise {noise:g}", snr, true, hrv))
    return rows


def ubfc_rows(data: Path) -> list[tuple]:
    from model.signal.band import PULSE_BAND_HZ
    from model.signal.beats import detect_beats, hrv_from_beats
    from model.signal.filters import bandpass
    from training.datasets import read_dataset

    rows = []
    for rec in read_dataset(data):
        gt = rec.ground_truth()
        if gt is None or gt.ppg is None:
            continue
        snr, hrv, t0, t1 = measured(Path(rec.video))
        grid = np.arange(t0, t1, 1 / 30.0)
        ppg = bandpass(np.interp(grid, np.asarray(gt.t_s), np.asarray(gt.ppg, dtype=np.float64)), 30.0,
                       *PULSE_BAND_HZ)
        true = hrv_from_beats(detect_beats(ppg, 30.0))
        rows.append((f"UBFC {rec.name} (in-sample)", snr, true, hrv))
    return rows


def table(rows: list[tuple], min_snr_db: float) -> str:
    def ms(h, key):
        return f"{getattr(h, key):.1f}" if h is not None else "-"

    lines = [f"| clip | median reading SNR (dB) | true RMSSD / SDNN (ms) | analyze RMSSD / SDNN, rule off (ms) | "
             f"shown with the rule ({min_snr_db:g} dB) |", "|---|---|---|---|---|"]
    for name, snr, true, hrv in sorted(rows, key=lambda r: -r[1] if np.isfinite(r[1]) else 1e9):
        shown = "yes" if hrv is not None and snr >= min_snr_db else "no"
        lines.append(f"| {name} | {snr:.1f} | {ms(true, 'rmssd_ms')} / {ms(true, 'sdnn_ms')} | "
                     f"{ms(hrv, 'rmssd_ms')} / {ms(hrv, 'sdnn_ms')} | {shown} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from model.estimator import EstimatorConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/ubfc-dev")
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--work", type=Path, default=None,
                    help="where the synthetic clips go (default: a temporary folder)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hrv_check_") as tmp:
        work = args.work or Path(tmp)
        rows = [] if args.no_synth else synthetic_rows(work)
        if args.data.is_dir():
            rows += ubfc_rows(args.data)
        else:
            print(f"hrv_check: no UBFC clips in {args.data}; synthetic rows only", file=sys.stderr)
    print(table(rows, EstimatorConfig().hrv_min_snr_db))
    return 0


if __name__ == "__main__":
    sys.exit(main())
