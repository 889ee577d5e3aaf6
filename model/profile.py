"""Where ``analyze`` spends its time: wall time per stage (decode, face tracking, ROI, pulse
method, the rest of the estimator, writing), per frame, beside the decode floor (a plain OpenCV
decode of the same file in the same process) and the whole process's CPU time and peak memory.
Decode and face tracking run in threads of their own (``model.prefetch``), so the stages' times
overlap and add up to more than the wall time.

Stages are timed by wrapping the stage objects' methods on the instance (the tracker's
``process``, the ROI extractor's ``extract``, the method's ``window_bvp``) and the frame source's
iterator, so the pipeline's code is the same with and without the profile.
"""

from __future__ import annotations

import functools
import os
import resource
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

STAGES = ("decode", "face tracking", "ROI (skin mask, crop)", "pulse method", "estimator (resample, HR, stream)",
          "writing")


@dataclass
class DecodeFloor:
    frames: int
    wall_s: float
    cpu_s: float


@dataclass
class Profiler:
    wall_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    push_s: float = 0.0  # the estimator's push, ROI and method included
    frames: int = 0
    device: str = ""  # where the pulse method ran (ONNX Runtime provider), a line under the table

    def wrap(self, obj, attr: str, stage: str) -> None:
        """Time every call of ``obj.attr`` into ``stage`` (wraps it on the instance)."""
        inner = getattr(obj, attr)

        @functools.wraps(inner)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.wall_s[stage] += time.perf_counter() - t0

        setattr(obj, attr, timed)

    def frames_of(self, source: Iterable) -> Iterator:
        """The source's frames, the time spent getting each one counted as decode."""
        it = iter(source)
        while True:
            t0 = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                self.wall_s["decode"] += time.perf_counter() - t0
                return
            self.wall_s["decode"] += time.perf_counter() - t0
            self.frames += 1
            yield frame

    def timed_push(self, push):
        """``push`` (the estimator's, called with a tracked frame) with its time counted."""

        def timed(*args):
            t0 = time.perf_counter()
            try:
                return push(*args)
            finally:
                self.push_s += time.perf_counter() - t0

        return timed

    def settle(self) -> None:
        """The estimator's own share: its push time less the method it called (decode and
        tracking run in threads of their own; the ROI is timed on its own, outside the push)."""
        inner = self.wall_s["pulse method"]
        self.wall_s["estimator (resample, HR, stream)"] = max(self.push_s - inner, 0.0)

    def as_dict(self) -> dict:
        n = max(self.frames, 1)
        return {s: {"s": round(v, 4), "ms_per_frame": round(1000.0 * v / n, 3)} for s, v in self.wall_s.items()}


def decode_floor(video: str | Path) -> DecodeFloor:
    """A plain OpenCV decode of every frame of ``video`` (``read``: decoded to BGR, as analyze
    needs them), timed in this process."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    try:
        while True:
            ok, _ = cap.read()
            if not ok:
                break
            n += 1
    finally:
        cap.release()
    return DecodeFloor(n, time.perf_counter() - t0, time.process_time() - c0)


def process_age_s(fallback_s: float) -> float:
    """Seconds since this process started (Linux: /proc, so the interpreter's start-up and every
    import count); ``fallback_s`` where that cannot be read."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime_s = float(fh.read().split()[0])
        return max(uptime_s - start_ticks / os.sysconf("SC_CLK_TCK"), fallback_s)
    except (OSError, ValueError, IndexError, AttributeError):
        return fallback_s


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / (1024.0 * 1024.0)


def profile_table(prof: Profiler, floor: DecodeFloor | None, process_wall_s: float, process_cpu_s: float,
                  media_s: float) -> str:
    """The stage table (wall ms per frame and share), then the whole process beside the floor."""
    n = max(prof.frames, 1)
    total = sum(prof.wall_s.values())
    lines = [f"{'stage':34s} {'ms/frame':>9s} {'share':>6s}"]
    for stage, v in prof.wall_s.items():
        lines.append(f"{stage:34s} {1000.0 * v / n:9.2f} {v / total if total else 0.0:6.1%}")
    lines.append(f"{'all stages':34s} {1000.0 * total / n:9.2f}")
    if prof.device:
        lines.append(f"pulse method ran on: {prof.device}")
    lines.append(f"whole process: {process_wall_s:.1f} s wall, {process_cpu_s:.1f} s CPU, "
                 f"{media_s / process_wall_s if process_wall_s else 0.0:.1f}x real time, "
                 f"peak {peak_rss_mib():.0f} MiB, {prof.frames} frames")
    if floor is not None and floor.frames:
        lines.append(f"decode floor (plain OpenCV decode, same file): {floor.wall_s:.1f} s wall, "
                     f"{floor.cpu_s:.1f} s CPU, {1000.0 * floor.wall_s / floor.frames:.2f} ms/frame; "
                     f"analyze used {process_cpu_s / floor.cpu_s if floor.cpu_s else float('nan'):.1f}x its CPU")
    return "\n".join(lines)
