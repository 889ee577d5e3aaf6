"""``fcus-rppg adapt`` (``training.adapt``) run in a child process, so that torch stays out of the
process that asks for it: ``analyze --adapt`` (``model.analyze``) and the app's Calibrate
(``app.calibration``) build the command and read its failure the same way."""

from __future__ import annotations

import sys
from pathlib import Path

#: What a child without torch prints.
NO_TORCH = "No module named 'torch'"
#: With ``--progress`` the child prints a line "adapt step K of N" after each fine-tuning step.
PROGRESS_PREFIX = "adapt step"


def adapt_command(out_onnx: Path, *, source: str | Path | None = None, crops: Path | None = None,
                  cache: str | Path | None = None, weights: Path | None = None,
                  face_model: str | Path | None = None, steps: int | None = None,
                  progress: bool = False) -> list[str]:
    """The command line of ``fcus-rppg adapt`` on a clip (``source``) or saved crops (``crops``);
    ``progress``: the child says each step it took (:func:`adapt_progress` reads the lines)."""
    cmd = [sys.executable, "-m", "app.cli", "adapt"]
    cmd += [str(source)] if source is not None else []
    cmd += ["--crops", str(crops)] if crops is not None else []
    cmd += ["--out", str(out_onnx)]
    for flag, value in (("--cache", cache), ("--weights", weights), ("--face-model", face_model)):
        if value is not None:
            cmd += [flag, str(value)]
    if steps is not None:
        cmd += ["--steps", str(int(steps))]
    if progress:
        cmd += ["--progress"]
    return cmd


def adapt_progress(line: str) -> tuple[int, int] | None:
    """(step, steps) from a child's progress line, None from any other line."""
    words = line.strip().split()
    head = PROGRESS_PREFIX.split()
    if len(words) != len(head) + 3 or words[:len(head)] != head or words[len(head) + 1] != "of":
        return None
    try:
        return int(words[len(head)]), int(words[len(head) + 2])
    except ValueError:
        return None


def adapt_failure(stderr: str, no_torch: str) -> str:
    """Why the child failed: ``no_torch`` when torch is missing, else its own ``fcus-rppg adapt:``
    message (or its last line)."""
    if NO_TORCH in stderr:
        return no_torch
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    return next((ln for ln in reversed(lines) if ln.startswith("fcus-rppg adapt:")), lines[-1] if lines else "")
