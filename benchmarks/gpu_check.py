"""The CUDA path on a lent GPU machine, in one short run (a few minutes of its 15):

    python benchmarks/gpu_check.py [--clip VIDEO] [--seconds 20]

1. which onnxruntime is there and which providers it lists, and which one a session really gets
   (``FcusRuntime(providers="cuda")``; ``get_available_providers()`` lists CUDA even where it
   cannot run);
2. the shipped FCUS model per 300-frame window (the app's window) and per 90-frame chunk (what
   ``model.fcus_stream`` runs once a second): median ms on CPU and on CUDA, in the same process;
3. ``analyze --profile`` on ``--clip`` (default: a synthetic 640x480 30 fps clip written here),
   once with the default providers ("auto": CUDA first) and once forced to CPU: the stage table,
   and ``summary.json``'s ``inference`` (the provider that ran).

Nothing here is needed on a CPU machine; the CPU path never depends on it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def window_ms(providers: str, frames: int, repeats: int = 30) -> tuple[str, float]:
    """(device the session got, median ms per call) for the shipped model on random crops."""
    import numpy as np

    from model.fcus_method import shipped_model_path
    from model.fcus_runtime import FcusRuntime

    rt = FcusRuntime(shipped_model_path(), providers=providers)
    x = (np.random.default_rng(0).random((frames, rt.crop_size, rt.crop_size, 3)) * 200).astype(np.float32)
    rt.run_window(x)  # first call: graph set-up, CUDA kernels
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        rt.run_window(x)
        times.append(1000.0 * (time.perf_counter() - t0))
    return rt.device, statistics.median(times)


def synthetic_clip(folder: Path, seconds: float) -> Path:
    import cv2

    from model.synthetic.config import SynthConfig
    from model.synthetic.frames import generate_frames

    path = folder / "synth.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    for _, bgr in generate_frames(SynthConfig(duration_s=seconds, hr_bpm=72.0)):
        writer.write(bgr)
    writer.release()
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=None)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the synthetic clip")
    args = ap.parse_args(argv)
    import onnxruntime as ort

    print(f"onnxruntime {ort.__version__}; available providers: {ort.get_available_providers()}")
    for frames in (300, 90):
        for providers in ("cpu", "cuda"):
            try:
                device, ms = window_ms(providers, frames)
                print(f"FCUS {frames}-frame window, asked {providers}: ran on {device}, {ms:.2f} ms (median of 30)")
            except Exception as e:  # noqa: BLE001 - report and go on
                print(f"FCUS {frames}-frame window, asked {providers}: failed ({e})")
    with tempfile.TemporaryDirectory(prefix="fcus-gpu-") as tmp:
        clip = args.clip or synthetic_clip(Path(tmp), args.seconds)
        for label, env in (("auto (CUDA first)", {}), ("CPU only", {"CUDA_VISIBLE_DEVICES": ""})):
            out = Path(tmp) / label.split()[0]
            cmd = [sys.executable, "-m", "app.cli", "analyze", str(clip), "--out", str(out), "--profile", "--quiet"]
            done = subprocess.run(cmd, cwd=str(ROOT), env={**os.environ, **env}, capture_output=True, text=True)
            print(f"\n== analyze --profile, providers {label}: exit {done.returncode}")
            print(done.stdout.strip())
            if (out / "summary.json").is_file():
                s = json.loads((out / "summary.json").read_text())
                print(f"summary.json inference: {s.get('inference')}; {s.get('x_real_time', 0):.1f}x real time")
            else:
                print(done.stderr.strip()[-2000:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
