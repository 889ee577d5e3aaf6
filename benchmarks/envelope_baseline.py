"""How much of FCUS's lead over the classic methods the envelope step alone buys: POS and CHROM as
published, and the same two with the FCUS net's envelope normalisation (each estimator window's
BVP divided by its local RMS over ``--envelope-s``) applied to their output. Same crop cache, same
streaming estimator, same 20 s and 10 s windows as ``fcus-rppg evaluate``; no training, so every
subject is scored.

    python benchmarks/envelope_baseline.py [--cache DIR] [--data DIR] [--envelope-s 2.0]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.pulse_methods import make_pulse_method  # noqa: E402
from training.replay import score_method  # noqa: E402
from training.tables import per_subject_table, pooled_table  # noqa: E402


class EnvelopeNormalised:
    """A classic pulse method whose window BVP is divided by its local RMS (centred, ``span_s``,
    shorter at the ends: the net's ``envelope_normalise``); the estimator band-passes it after."""

    needs_crops = False

    def __init__(self, name: str, span_s: float):
        self.inner = make_pulse_method(name)
        self.name = f"{name}+envelope"
        self.min_window_s = self.inner.min_window_s
        self.span_s = span_s

    def window_bvp(self, window):
        x = np.asarray(self.inner.window_bvp(window), dtype=np.float64)
        n = max(int(round(self.span_s * window.fs_hz)) | 1, 3)
        ones = np.ones(n)
        power = np.convolve(x * x, ones, mode="same") / np.convolve(np.ones_like(x), ones, mode="same")
        return x / np.sqrt(np.maximum(power, 1e-24))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="UBFC-style folder (default ../shared/data/ubfc-dev)")
    p.add_argument("--cache", type=Path, default=None, help="crop cache folder")
    p.add_argument("--face-model", default=None)
    p.add_argument("--envelope-s", type=float, default=61 / 30, help="RMS span (s); the net's 61 frames at 30 Hz")
    args = p.parse_args()

    from training.crop_cache import NO_DATA_HINT, cached_reference_recordings

    cached = cached_reference_recordings(args.data, args.cache, args.face_model)
    if cached is None:
        print(f"envelope_baseline: {NO_DATA_HINT}", file=sys.stderr)
        return 2
    methods = [make_pulse_method("pos"), make_pulse_method("chrom"),
               EnvelopeNormalised("pos", args.envelope_s), EnvelopeNormalised("chrom", args.envelope_s)]
    scores = [score_method(m, cached) for m in methods]
    print(pooled_table(scores, f"all {len(cached)} subjects, envelope span {args.envelope_s:.2f} s"))
    print()
    print(per_subject_table(scores, "mae20"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
