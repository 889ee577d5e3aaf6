"""open-rppg (FacePhys, a yardstick only) on UBFC subjects, scored by our metrics: the peer's BVP on
the video's frame times against the contact PPG, 10 s and 20 s windows (``training.metrics``),
pooled and per subject, in ``fcus-rppg evaluate``'s table format; its readings every second over
the trailing 10 s, as hr.csv gives them, with no gate (how many are within 5 bpm of the contact
PPG: the most a gate could show on these clips at the issue's 90 % if it knew which are right);
and the peer's time per clip.
Needs ``python3 dev.py peers`` (or ``--peer-python``); results are cached in ``--cache``.

    python benchmarks/peer_ubfc.py [--data DIR] [--cache DIR] [--model FacePhys.rlap] [--peer-python PY]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.datasets import default_ubfc_root, read_ubfc
from training.metrics import reading_accuracy
from training.peers import DEFAULT_MODEL, PeerError, peer_readings, peer_score, run_peers
from training.tables import per_subject_table, pooled_table


def format_times(recordings, results) -> str:
    lines = ["subject    clip_s  runtime_s  load_s  runtime/clip  peer_hr_bpm"]
    for recording, r in zip(recordings, results):
        clip_s = float(r.t_s[-1] - r.t_s[0])
        hr = "-" if r.hr_bpm is None else f"{r.hr_bpm:.1f}"
        lines.append(f"{recording.name:<10} {clip_s:6.1f}  {r.runtime_s:9.1f}  {r.load_s:6.1f}  "
                     f"{r.runtime_s / clip_s:12.2f}  {hr:>11}")
    return "\n".join(lines)


def format_readings(readings) -> str:
    lines = ["| subject | readings | within 5 bpm | MAE (bpm) |", "|---|---|---|---|"]
    for r in readings:
        lines.append(f"| {r.name} | {len(r.errors_bpm)} | {r.within5:.2f} | {r.mae_bpm:.2f} |")
    pooled = [e for r in readings for e in r.errors_bpm]
    if pooled:
        within, mae = reading_accuracy(pooled)
        lines.append(f"| pooled | {len(pooled)} | {within:.2f} | {mae:.2f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="UBFC-style folder (default ../shared/data/ubfc-dev)")
    p.add_argument("--cache", type=Path, default=Path("/tmp/fcus-peer-cache"), help="peer result cache")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--peer-python", default=None, help="python with open-rppg (default .venv-peers)")
    args = p.parse_args()
    root = args.data or default_ubfc_root()
    if root is None:
        print("peer_ubfc: no data (give --data or put UBFC subjects in ../shared/data/ubfc-dev)", file=sys.stderr)
        return 2
    recordings = [r for r in read_ubfc(root) if r.ground_truth_path is not None]
    try:
        results = run_peers([r.video for r in recordings], args.model, args.cache, python=args.peer_python)
    except PeerError as e:
        print(f"peer_ubfc: {e}", file=sys.stderr)
        return 1
    score = peer_score(recordings, results, dataset="ubfc")
    print(pooled_table([score], f"{score.method} {results[0].version if results else ''} on {root} (pooled)"))
    for view in ("mae10", "mae20"):
        print(f"\n{per_subject_table([score], view)}")
    print("\nreadings every second over the trailing 10 s (hr.csv's cadence, no gate), against the contact PPG")
    print(format_readings(peer_readings(recordings, results)))
    print(f"\ntime per clip (runtime: decode + face detection + inference; load: model + jit, once)\n"
          f"{format_times(recordings, results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
