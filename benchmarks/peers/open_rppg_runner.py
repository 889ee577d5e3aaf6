#!/usr/bin/env python3
"""open-rppg on one video, run by the python of ``.venv-peers`` (``python3 dev.py peers``).

    python open_rppg_runner.py VIDEO [VIDEO ...] [--model FacePhys.rlap] --out OUT.npz [OUT.npz ...]
    python open_rppg_runner.py --version      prints open-rppg's version (without loading a model)

Several videos in one call share one model load (its jit compile takes minutes on a busy CPU).

A yardstick for ``fcus-rppg benchmark`` (training/peers.py calls this script): never a teacher,
never a source of labels. It imports only open-rppg and its dependencies (numpy, stdlib), never
the fcus-rppg packages, and works offline (the weights ship in open-rppg's wheel).

OUT.npz holds: ``t_s`` (s from the first frame; the video's own frame times, as open-rppg's
decoder (PyAV) gives them, one per BVP sample), ``bvp`` (open-rppg's band-passed, normalised
BVP), ``hr_bpm`` (its HR over the whole clip; NaN when it gives none), ``sqi`` (its signal
quality), ``load_s`` (model load), ``runtime_s`` (decode + face detection + inference),
``model``, ``version``. A video it cannot read or finds no signal in gets no OUT file and a line
``open_rppg_runner: VIDEO: why`` on stderr; the others are still written; exit status 3.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from importlib.metadata import version

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

PACKAGE = "open-rppg"


def first_of_each_time(t_s: np.ndarray, bvp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """open-rppg repeats a frame (same time) to fill its 30 fps grid; keep one sample per time."""
    t_s, first = np.unique(t_s, return_index=True)
    return t_s, bvp[first]


def run(video: str, model_name: str) -> dict:
    import rppg

    t0 = time.perf_counter()
    model = rppg.Model(model_name)  # a fresh state per video; the loaded net is cached by open-rppg
    t1 = time.perf_counter()
    summary = model.process_video(video) or {}
    bvp, t_s = model.bvp()
    t2 = time.perf_counter()
    if len(bvp) == 0:
        raise RuntimeError("open-rppg gave no BVP (no face, or under 2 s of signal)")
    t_s, bvp = first_of_each_time(np.asarray(t_s, dtype=np.float64), np.asarray(bvp, dtype=np.float64))
    hr = summary.get("hr")
    sqi = summary.get("SQI")
    return {"t_s": t_s, "bvp": bvp, "hr_bpm": np.float64(np.nan if hr is None else hr),
            "sqi": np.float64(np.nan if sqi is None else sqi), "load_s": np.float64(t1 - t0),
            "runtime_s": np.float64(t2 - t1), "model": np.str_(model_name),
            "version": np.str_(version(PACKAGE))}


def write_npz(path: str, arrays: dict) -> None:
    tmp = f"{path}.part"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="open-rppg on one video -> npz (t_s, bvp, hr_bpm, ...)")
    p.add_argument("video", nargs="*")
    p.add_argument("--model", default="FacePhys.rlap")
    p.add_argument("--out", nargs="+", default=[], help="one npz per video, in order")
    p.add_argument("--version", action="store_true", help="print open-rppg's version and exit")
    args = p.parse_args(argv)
    if args.version:
        print(version(PACKAGE))
        return 0
    if not args.video or len(args.out) != len(args.video):
        p.error("give VIDEO... and as many --out files")
    failed = 0
    for video, out in zip(args.video, args.out):
        try:
            write_npz(out, run(video, args.model))
        except Exception as e:  # noqa: BLE001 (one unreadable clip must not lose the others)
            print(f"open_rppg_runner: {video}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            failed += 1
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
