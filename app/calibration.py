"""The app's "Calibrate" action: adapt the FCUS model to the person in front of the camera, without
labels, on the face crops of the last minute (``model.frame_crops.CropBuffer``), while the display
and the readings go on.

A :class:`CalibrationJob` saves the crops and runs ``fcus-rppg adapt --crops`` (``training.adapt``:
the fine-tuning that ``analyze --adapt`` runs, 12 steps by default) in a child process, so torch
stays out of the app and a failure cannot take it down; a thread of its own reads the child's
steps as it takes them (``on_progress``: the Calibrate button counts them), waits for it and hands
the outcome to ``on_done``. The worker then swaps the adapted model into its estimator between two
frames (``app.worker``).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from model.adapt_child import adapt_command, adapt_failure, adapt_progress
from model.frame_crops import FrameCrops

#: Seconds of face the buffer must hold before Calibrate runs (the model reads 160-frame windows;
#: the held-out study adapted on whole 1-minute clips, ``benchmarks/adapt_study.py``).
MIN_FACE_S = 20.0
#: The child's time limit (27 s on 60 s of face beside the live app on this 2-core CPU; a stuck child is stopped).
TIMEOUT_S = 300.0
INSTALL_HINT = "Calibrate fine-tunes the model with torch: pip install 'fcus-rppg[train]' (or python3 dev.py setup)"


def torch_available() -> bool:
    """Whether the child can import torch (it runs this interpreter)."""
    return importlib.util.find_spec("torch") is not None


# The child runs below the app's priority: on 2 cores its torch threads otherwise starve the capture
# and the worker, and frames are dropped while it trains (niceness 10 on POSIX; Windows' class).
CHILD_NICENESS = 10
_BELOW_NORMAL = {"creationflags": subprocess.BELOW_NORMAL_PRIORITY_CLASS} if sys.platform == "win32" else {}


def _lower_priority(pid: int) -> None:
    """Give the just-started child (one thread so far; the threads it starts inherit it) a lower
    priority on POSIX; a system that refuses leaves it as it is."""
    if hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, pid, CHILD_NICENESS)
        except OSError:
            pass


@dataclass(frozen=True)
class CalibrationOutcome:
    ok: bool
    model_path: Path | None
    seconds: float  # from the start of the job to its end
    face_s: float  # seconds of face it adapted on
    message: str


class CalibrationJob:
    """One calibration: ``crops`` adapted on in a child process, the model written to
    ``work_dir/calibrated-N.onnx``; ``on_done(job, CalibrationOutcome)`` is called on the job's
    thread (the job tells its caller which calibration the outcome belongs to)."""

    _count = 0

    def __init__(self, crops: FrameCrops, work_dir: Path,
                 on_done: Callable[[CalibrationJob, CalibrationOutcome], None], *,
                 weights: Path | None = None, steps: int | None = None,
                 on_progress: Callable[[CalibrationJob, int, int], None] | None = None) -> None:
        CalibrationJob._count += 1
        self.crops, self.work_dir, self.on_done = crops, Path(work_dir), on_done
        self.on_progress = on_progress  # (job, step, steps) after each fine-tuning step, on the job's thread
        self.weights, self.steps = weights, steps
        self.model_path = self.work_dir / f"calibrated-{CalibrationJob._count}.onnx"
        self._proc: subprocess.Popen | None = None
        self._cancelled = False
        self._lock = threading.Lock()  # the child starts only if not cancelled, and is killed if it did
        self._thread = threading.Thread(target=self._run, name="calibration", daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def cancel(self, timeout_s: float = 5.0) -> None:
        """Stop the child (the app is closing); ``on_done`` is not called."""
        with self._lock:
            self._cancelled = True
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _read_child(self, t0: float) -> str:
        """The child's output line by line until it ends (progress lines passed to ``on_progress``);
        returns the rest of it, which says why it failed when it did. Stops a child past TIMEOUT_S."""
        proc = self._proc
        timer = threading.Timer(max(TIMEOUT_S - (time.perf_counter() - t0), 0.0), proc.kill)
        timer.start()
        other: list[str] = []
        try:
            for line in proc.stdout:
                step = adapt_progress(line)
                if step is None:
                    other.append(line)
                elif self.on_progress is not None and not self._cancelled:
                    self.on_progress(self, *step)
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:  # reading failed: the child must not run on unwatched
                proc.kill()
                proc.wait()
        if proc.returncode != 0 and time.perf_counter() - t0 >= TIMEOUT_S:
            return f"fcus-rppg adapt: stopped after {TIMEOUT_S:.0f} s"
        return "".join(other)

    def _run(self) -> None:
        t0 = time.perf_counter()
        face_s = self.crops.face_s
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            crops_file = self.model_path.with_suffix(".npz")
            self.crops.save(crops_file)
            with self._lock:
                if self._cancelled:
                    crops_file.unlink(missing_ok=True)
                    return
                cmd = adapt_command(self.model_path, crops=crops_file, weights=self.weights, steps=self.steps,
                                    progress=True)
                self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                              encoding="utf-8", errors="replace", **_BELOW_NORMAL)
                _lower_priority(self._proc.pid)
            err = self._read_child(t0)
            crops_file.unlink(missing_ok=True)
            ok = self._proc.returncode == 0 and self.model_path.is_file()
            message = "" if ok else (adapt_failure(err or "", INSTALL_HINT)
                                     or f"the adaptation exited {self._proc.returncode}")
        except Exception as exc:  # noqa: BLE001 - any failure must reach on_done, or the UI waits forever
            ok, message = False, str(exc) or type(exc).__name__
        if self._cancelled:
            return
        self.on_done(self, CalibrationOutcome(ok, self.model_path if ok else None, time.perf_counter() - t0, face_s,
                                        message))
