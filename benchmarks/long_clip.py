"""Memory of ``analyze`` on a long clip: a generated 640x480 30 fps clip of ``--minutes`` (a
source clip looped, re-encoded with OpenCV), analysed by ``fcus-rppg analyze`` in a child
process whose resident memory is sampled every ``--every-s`` seconds; prints the samples, the
peak, the wall time and the real-time factor.

    python benchmarks/long_clip.py --minutes 60 [--source CLIP] [--keep /tmp/long.avi]

Without ``--source`` the looped clip is a synthetic face with a pulse (``model.synthetic``, 10 s,
played back and forth).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_long_clip(out: Path, minutes: float, source: Path | None) -> Path:
    """``minutes`` of video at 30 fps: ``source`` (or a synthetic 20 s clip) looped."""
    import cv2

    frames = []
    if source is None:
        from model.synthetic.config import SynthConfig
        from model.synthetic.frames import generate_frames

        frames = [bgr for _, bgr in generate_frames(SynthConfig(duration_s=10.0, hr_bpm=72.0))]
    else:
        cap = cv2.VideoCapture(str(source))
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(cv2.resize(f, (640, 480)))
        cap.release()
    if not frames:
        raise SystemExit(f"long_clip: no frames in {source}")
    n = int(round(minutes * 60 * 30))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    for i in range(n):
        k = i % (2 * len(frames) - 2) if len(frames) > 1 else 0  # back and forth: no jump at the loop
        writer.write(frames[k if k < len(frames) else 2 * len(frames) - 2 - k])
    writer.release()
    return out


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--source", type=Path, default=None, help="clip to loop (default: a synthetic face)")
    ap.add_argument("--keep", type=Path, default=None, help="write the long clip here and keep it")
    ap.add_argument("--every-s", type=float, default=10.0, help="RSS sampling period")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fcus-long-") as tmp:
        clip = args.keep or Path(tmp) / "long.avi"
        if not clip.is_file():
            t0 = time.perf_counter()
            write_long_clip(clip, args.minutes, args.source)
            size_mib = clip.stat().st_size / 2**20
            print(f"wrote {clip} ({size_mib:.0f} MiB) in {time.perf_counter() - t0:.0f} s", flush=True)
        cmd = [sys.executable, "-m", "app.cli", "analyze", str(clip), "--out", str(Path(tmp) / "out"), "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=str(Path(__file__).resolve().parents[1]))
        samples = []
        while proc.poll() is None:
            time.sleep(args.every_s)
            r = rss_mib(proc.pid)
            if r is not None:
                samples.append((time.perf_counter() - t0, r))
                print(f"{samples[-1][0]:7.0f} s  RSS {r:6.0f} MiB", flush=True)
        wall_s = time.perf_counter() - t0
        import resource

        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        print(f"analyze exit {proc.returncode}: {args.minutes:.0f} min of 640x480 video in {wall_s:.0f} s "
              f"({args.minutes * 60 / wall_s:.1f}x real time); peak RSS {peak:.0f} MiB")
        if samples:
            half = [r for t, r in samples if t >= wall_s / 2]
            print(f"RSS over the second half: {min(half):.0f}-{max(half):.0f} MiB" if half else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
