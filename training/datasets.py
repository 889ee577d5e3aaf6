"""Dataset readers: the UBFC-rPPG layout (also written by ``fcus-rppg synth``) and a generic folder
of videos with optional ground-truth CSV files. Ground truth is for evaluation only."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
DATA_ENV = "FCUS_DATA"


@dataclass(frozen=True)
class GroundTruth:
    """Contact reference: PPG waveform at ``t_s`` (s from the first frame), optional HR."""

    t_s: np.ndarray
    ppg: np.ndarray | None
    hr_bpm: np.ndarray | None = None


@dataclass(frozen=True)
class Recording:
    name: str
    video: Path
    ground_truth_path: Path | None
    dataset: str

    def ground_truth(self) -> GroundTruth | None:
        if self.ground_truth_path is None:
            return None
        if self.ground_truth_path.name == "ground_truth.txt":
            return read_ubfc_ground_truth(self.ground_truth_path)
        return read_csv_ground_truth(self.ground_truth_path)


def read_ubfc_ground_truth(path: Path) -> GroundTruth:
    """UBFC-rPPG DATASET_2 ``ground_truth.txt``: rows PPG, HR (7-bit, wraps above 127: do not
    trust), timestamps (s). Times are returned relative to the first sample."""
    g = np.loadtxt(path)
    if g.ndim != 2 or g.shape[0] < 3:
        raise ValueError(f"{path}: expected 3 rows (PPG, HR, timestamps), got shape {g.shape}")
    t = g[2] - g[2, 0]
    return GroundTruth(t_s=t, ppg=g[0].astype(np.float64), hr_bpm=g[1].astype(np.float64))


def read_csv_ground_truth(path: Path) -> GroundTruth:
    """CSV with a header: ``t_s`` and ``ppg`` and/or ``hr_bpm`` columns."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "t_s" not in rows[0]:
        raise ValueError(f"{path}: expected a CSV with a t_s column and ppg and/or hr_bpm")
    t = np.array([float(r["t_s"]) for r in rows])
    ppg = np.array([float(r["ppg"]) for r in rows]) if "ppg" in rows[0] else None
    hr = np.array([float(r["hr_bpm"]) for r in rows]) if "hr_bpm" in rows[0] else None
    if ppg is None and hr is None:
        raise ValueError(f"{path}: no ppg or hr_bpm column")
    return GroundTruth(t_s=t - t[0], ppg=ppg, hr_bpm=hr)


def read_ubfc(root: Path) -> list[Recording]:
    """Subjects of a UBFC-rPPG DATASET_2 style folder: ``root/<subject>/vid.(avi|mp4)`` +
    ``ground_truth.txt``. Sorted by subject number."""
    root = Path(root)
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        vids = [d / f"vid{s}" for s in VIDEO_SUFFIXES if (d / f"vid{s}").exists()]
        if not vids:
            continue
        gt = d / "ground_truth.txt"
        out.append(Recording(name=d.name, video=vids[0], ground_truth_path=gt if gt.exists() else None,
                             dataset="ubfc"))
    return sorted(out, key=lambda r: (_num(r.name), r.name))


def read_video_folder(root: Path) -> list[Recording]:
    """Every video in a folder (recursively); ground truth from ``<stem>.csv`` beside it."""
    root = Path(root)
    out = []
    for v in sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES):
        gt = v.with_suffix(".csv")
        out.append(Recording(name=str(v.relative_to(root)), video=v,
                             ground_truth_path=gt if gt.exists() else None, dataset="folder"))
    return out


def read_dataset(root: Path) -> list[Recording]:
    """UBFC layout when it looks like one, else a generic video folder."""
    recs = read_ubfc(root)
    return recs if recs else read_video_folder(root)


def _num(name: str) -> int:
    digits = "".join(c for c in name if c.isdigit())
    return int(digits) if digits else 1 << 30


def default_ubfc_root() -> Path | None:
    """``$FCUS_DATA/ubfc-dev`` or ``../shared/data/ubfc-dev`` beside the repository, if present."""
    candidates = []
    if os.environ.get(DATA_ENV):
        candidates.append(Path(os.environ[DATA_ENV]) / "ubfc-dev")
        candidates.append(Path(os.environ[DATA_ENV]))
    repo = Path(__file__).resolve().parents[1]
    candidates.append(repo.parent / "shared" / "data" / "ubfc-dev")
    for c in candidates:
        if c.is_dir() and read_ubfc(c):
            return c
    return None
