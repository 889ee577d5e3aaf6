"""The speed issue's bar, measured as it is stated: ``fcus-rppg analyze CLIP --out DIR`` with the
defaults, whole process (start-up and imports included), against a plain OpenCV decode of the
same file, paired run by run on this machine.

Each round runs, one after the other, each in a fresh child process:

* the decode floor: ``cv2.VideoCapture(CLIP).read()`` until the end; the child reports the CPU and
  wall of the decode loop alone (its own imports not counted, the stricter floor) and the
  whole child's CPU; once with OpenCV's defaults (a plain decode: FFmpeg's threads, one per core)
  and once on one decoder thread, as analyze decodes (``model.video_source.DECODE_THREADS``; the
  stricter floor: it spends less CPU on the same frames);
* ``fcus-rppg analyze CLIP --out TMP`` (plus ``--analyze-args``), CPU from ``getrusage`` of the
  child (user + system, all its threads) and wall from its start to its exit.

The order alternates round by round (decode first, then analyze first) so that a machine that
speeds up or slows down during the run does not favour one side.

    python benchmarks/speed_pair.py CLIP [--rounds 3] [--analyze-args "--method pos"]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DECODE_CHILD = r"""
import json, sys, time
import cv2
threads = int(sys.argv[2])
params = (cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, threads]) if threads else ()
cap = cv2.VideoCapture(sys.argv[1], *params)
t0, c0, n = time.perf_counter(), time.process_time(), 0
while cap.read()[0]:
    n += 1
print(json.dumps({"frames": n, "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "fps": cap.get(cv2.CAP_PROP_FPS)}))
"""


@dataclass
class ChildRun:
    wall_s: float
    cpu_s: float
    stdout: str


def run_child(cmd: list[str]) -> ChildRun:
    """Run ``cmd`` to its end; its wall time and the CPU (user + system) of it and its threads."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ChildRun(wall, cpu, proc.stdout)


def analyze_cmd(clip: Path, out: Path, extra: list[str]) -> list[str]:
    exe = Path(sys.executable).with_name("fcus-rppg")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli"]
    return [*base, "analyze", str(clip), "--out", str(out), "--quiet", *extra]


def one_round(clip: Path, extra: list[str], analyze_first: bool, tmp: Path, k: int) -> dict:
    def decode(threads: int = 0) -> dict:
        run = run_child([sys.executable, "-c", DECODE_CHILD, str(clip), str(threads)])
        return {**json.loads(run.stdout.strip().splitlines()[-1]), "process_cpu_s": run.cpu_s,
                "process_wall_s": run.wall_s}

    def analyze() -> ChildRun:
        return run_child(analyze_cmd(clip, tmp / f"round{k}", extra))

    if analyze_first:
        a = analyze()
        d, d1 = decode(), decode(1)
    else:
        d, d1 = decode(), decode(1)
        a = analyze()
    duration_s = d["frames"] / d["fps"] if d["fps"] > 0 else float("nan")
    return {"duration_s": duration_s, "decode_cpu_s": d["cpu_s"], "decode_wall_s": d["wall_s"],
            "decode_process_cpu_s": d["process_cpu_s"], "analyze_wall_s": a.wall_s,
            "analyze_cpu_s": a.cpu_s, "realtime_x": duration_s / a.wall_s,
            "cpu_ratio": a.cpu_s / d["cpu_s"], "decode1_cpu_s": d1["cpu_s"], "cpu_ratio_1thread": a.cpu_s / d1["cpu_s"],
            "first": "analyze" if analyze_first else "decode"}


def table(rows: list[dict]) -> str:
    head = ("| round | first | analyze wall (s) | real time | analyze CPU (s) | decode CPU (s) | "
            "analyze CPU / decode CPU | decode CPU, 1 thread (s) | analyze CPU / that |")
    lines = [head, "|" + "---|" * 9]
    for k, r in enumerate(rows):
        lines.append(f"| {k} | {r['first']} | {r['analyze_wall_s']:.2f} | {r['realtime_x']:.1f}x | "
                     f"{r['analyze_cpu_s']:.2f} | {r['decode_cpu_s']:.2f} | {r['cpu_ratio']:.2f}x | "
                     f"{r['decode1_cpu_s']:.2f} | {r['cpu_ratio_1thread']:.2f}x |")
    rt = sorted(r["realtime_x"] for r in rows)
    cr = sorted(r["cpu_ratio"] for r in rows)
    c1 = sorted(r["cpu_ratio_1thread"] for r in rows)
    lines.append(f"\nclip {rows[0]['duration_s']:.1f} s; real time {rt[0]:.1f}-{rt[-1]:.1f}x (bar >= 10x), "
                 f"CPU ratio {cr[0]:.2f}-{cr[-1]:.2f}x (bar <= 5x) against a plain decode, "
                 f"{c1[0]:.2f}-{c1[-1]:.2f}x against a one-thread decode")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip", type=Path)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--analyze-args", default="", help="extra arguments for fcus-rppg analyze")
    p.add_argument("--json", type=Path, help="also write the rounds here")
    args = p.parse_args(argv)
    if not args.clip.is_file():
        p.error(f"no such clip: {args.clip}")
    extra = shlex.split(args.analyze_args)
    rows = []
    with tempfile.TemporaryDirectory(prefix="speed_pair_") as tmp:
        for k in range(args.rounds):
            rows.append(one_round(args.clip, extra, analyze_first=bool(k % 2), tmp=Path(tmp), k=k))
            shown = {key: round(v, 3) if isinstance(v, float) else v for key, v in rows[-1].items()}
            print(f"round {k}: {json.dumps(shown)}", flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"clip": str(args.clip), "cpus": os.cpu_count(), "rounds": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
