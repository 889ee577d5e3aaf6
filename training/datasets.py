"""Dataset readers. Ground truth is for evaluation only.

Layouts (:func:`read_dataset` tells them apart):

* UBFC-rPPG DATASET_2 (also written by ``fcus-rppg synth``): ``<root>/<subject>/vid.(avi|mp4)`` +
  ``ground_truth.txt``;
* PURE: ``<root>/<NN-MM>/<NN-MM>/Image<ns>.png`` frame images whose names hold the capture time in
  nanoseconds, plus ``<NN-MM>.json`` (beside the image folder or beside the recording folder) with
  ``"/FullPackage"`` entries ``{"Timestamp": ns, "Value": {"waveform": .., "pulseRate": ..}}``;
* the app's session folders (:mod:`app.recording`): ``session.json`` + CSV files, and a
  ``video.*`` when video recording was on; only sessions with a video are recordings. Their
  ``bvp.csv`` is the app's own estimate, not a reference: ground truth only from an optional
  ``ground_truth.csv`` (``t_s`` + ``ppg`` and/or ``hr_bpm``);
* a generic folder of videos (recursively), ground truth from ``<stem>.csv`` beside a video.

:meth:`Recording.frames` yields :class:`~model.types.Frame` objects for any of them (container
timestamps for videos, file-name timestamps for image folders).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.types import Frame
from model.video_source import SourceError, VideoFileSource

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DATA_ENV = "FCUS_DATA"
DATASET_KINDS = ("auto", "ubfc", "pure", "session", "folder")


@dataclass(frozen=True)
class GroundTruth:
    """Contact reference: PPG waveform at ``t_s`` (s from the first frame), optional HR."""

    t_s: np.ndarray
    ppg: np.ndarray | None
    hr_bpm: np.ndarray | None = None


@dataclass(frozen=True)
class Recording:
    """One recording: ``video`` is a video file, or a folder of frame images (PURE).
    ``dataset`` is "ubfc" | "pure" | "session" | "folder"."""

    name: str
    video: Path
    ground_truth_path: Path | None
    dataset: str

    def ground_truth(self) -> GroundTruth | None:
        if self.ground_truth_path is None:
            return None
        if self.ground_truth_path.name == "ground_truth.txt":
            return read_ubfc_ground_truth(self.ground_truth_path)
        if self.ground_truth_path.suffix.lower() == ".json":
            first = None
            if Path(self.video).is_dir():
                try:
                    first = ImageFolderSource(self.video).first_stamp
                except SourceError:
                    first = None
            return read_pure_ground_truth(self.ground_truth_path, first_frame_stamp_ns=first)
        return read_csv_ground_truth(self.ground_truth_path)

    def frame_source(self) -> ImageFolderSource | VideoFileSource:
        """The recording's frame source (raises SourceError when unreadable)."""
        if Path(self.video).is_dir():
            return ImageFolderSource(self.video)
        return VideoFileSource(self.video)

    def frames(self) -> Iterator[Frame]:
        """The recording's frames, in order, with source timestamps (seconds from the first)."""
        return iter(self.frame_source())


# ---- frame images -----------------------------------------------------------------------------
_DIGITS = re.compile(r"(\d+)")


def _name_number(path: Path) -> int | None:
    runs = _DIGITS.findall(path.stem)
    return int(runs[-1]) if runs else None


def _stamp_unit_s(numbers: np.ndarray) -> float | None:
    """Seconds per unit of the numbers in frame-image names: 1e-9 (ns), 1e-6, 1e-3 when the
    median step between frames is a plausible frame interval (5 ms .. 1 s) in that unit; None
    when the names are frame counters (step 1) or nothing fits."""
    if numbers.size < 2:
        return 1e-9 if numbers.size and numbers[0] > 10**15 else None
    step = float(np.median(np.diff(numbers)))
    if step <= 0:
        return None
    for unit in (1e-9, 1e-6, 1e-3):
        if 0.005 <= step * unit <= 1.0:
            return unit
    return None


class ImageFolderSource:
    """Frames from a folder of images (PURE: ``Image<ns>.png``), with times from the file names.

    Names ending in a time stamp (ns, us or ms, detected from the step between frames) give the
    times; frame counters or other names give ``index / fps_hz``. Times start at 0 s. Unreadable
    images are skipped (counted in ``corrupt_frames``); iterating again restarts at the first
    frame.
    """

    def __init__(self, folder: str | Path, *, fps_hz: float = 30.0) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"image folder not found: {self.folder}")
        files = [p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        if not files:
            raise SourceError(f"{self.folder} holds no frame images ({', '.join(IMAGE_SUFFIXES)})")
        numbers = [_name_number(p) for p in files]
        self.first_stamp: int | None = None
        if all(n is not None for n in numbers):
            order = sorted(range(len(files)), key=lambda i: (numbers[i], files[i].name))
            files = [files[i] for i in order]
            nums = np.array([numbers[i] for i in order], dtype=np.int64)
            unit = _stamp_unit_s(nums)
            if unit is not None:
                self.first_stamp = int(nums[0])
                t = (nums - nums[0]).astype(np.float64) * unit
            else:
                t = np.arange(len(files), dtype=np.float64) / fps_hz
            self.stamp_unit_s = unit
        else:
            files = sorted(files)
            t = np.arange(len(files), dtype=np.float64) / fps_hz
            self.stamp_unit_s = None
        self.paths: list[Path] = files
        self.t_s: np.ndarray = t
        self.fps_hz = float((len(t) - 1) / (t[-1] - t[0])) if len(t) > 1 and t[-1] > t[0] else float(fps_hz)
        self.corrupt_frames = 0

    @property
    def n_frames(self) -> int:
        return len(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Frame]:
        last = -math.inf
        for i, (p, t) in enumerate(zip(self.paths, self.t_s)):
            bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if bgr is None or bgr.size == 0:
                self.corrupt_frames += 1
                log.warning("skipping unreadable frame image %s", p)
                continue
            t = float(t)
            if t <= last:  # repeated stamp: keep the clock monotonic
                t = last + 1e-3
            last = t
            yield Frame(index=i, t_s=t, bgr=bgr)


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


def read_pure_ground_truth(path: Path, first_frame_stamp_ns: int | None = None) -> GroundTruth:
    """PURE ``<NN-MM>.json``: the ``"/FullPackage"`` entries' ``Value.waveform`` (pulse-oximeter
    PPG) and ``Value.pulseRate`` (bpm) at ``Timestamp`` (ns). Times are seconds from
    ``first_frame_stamp_ns`` (the first image's stamp; the first package when None)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable PURE JSON file ({e})") from None
    packages = data.get("/FullPackage") if isinstance(data, dict) else None
    if not packages:
        raise ValueError(f"{path}: no \"/FullPackage\" entries (not a PURE ground-truth file)")
    t, ppg, hr = [], [], []
    for p in packages:
        try:
            v = p["Value"]
            t.append(int(p["Timestamp"]))
            ppg.append(float(v["waveform"]) if v.get("waveform") is not None else np.nan)
            hr.append(float(v["pulseRate"]) if v.get("pulseRate") is not None else np.nan)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: malformed /FullPackage entry {p!r} ({e})") from None
    stamps = np.array(t, dtype=np.int64)
    order = np.argsort(stamps, kind="stable")
    stamps = stamps[order]
    t0 = int(first_frame_stamp_ns) if first_frame_stamp_ns is not None else int(stamps[0])
    t_s = (stamps - t0).astype(np.float64) * 1e-9
    ppg_a = np.asarray(ppg, dtype=np.float64)[order]
    hr_a = np.asarray(hr, dtype=np.float64)[order]
    return GroundTruth(t_s=t_s, ppg=ppg_a if np.isfinite(ppg_a).any() else None,
                       hr_bpm=hr_a if np.isfinite(hr_a).any() else None)


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


def _has_images(d: Path) -> bool:
    try:
        return any(p.suffix.lower() in IMAGE_SUFFIXES for p in d.iterdir())
    except OSError:
        return False


def _pure_recording(root: Path, d: Path) -> Recording | None:
    name = d.name
    img_dir = d / name if (d / name).is_dir() and _has_images(d / name) else (d if _has_images(d) else None)
    if img_dir is None:
        return None
    for j in (d / f"{name}.json", d.parent / f"{name}.json", img_dir / f"{name}.json"):
        if j.is_file():
            return Recording(name=name, video=img_dir, ground_truth_path=j, dataset="pure")
    return None


def read_pure(root: Path) -> list[Recording]:
    """Recordings of a PURE-style folder: ``root/<NN-MM>/<NN-MM>/*.png`` (or ``root/<NN-MM>/*.png``)
    with ``<NN-MM>.json`` beside the image folder or the recording folder. A folder of images
    without its JSON is not taken as PURE. Sorted by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        rec = _pure_recording(root, d)
        if rec is not None:
            out.append(rec)
    if not out:  # root itself may be one recording
        rec = _pure_recording(root.parent, root)
        if rec is not None:
            out.append(rec)
    return out


def _session_video(d: Path) -> Path | None:
    meta_video = None
    try:
        meta = json.loads((d / "session.json").read_text(encoding="utf-8"))
        if isinstance(meta, dict):
            v = meta.get("video") or meta.get("video_file")
            if isinstance(v, dict):
                v = v.get("path") or v.get("file")
            if isinstance(v, str) and v:
                meta_video = Path(v) if Path(v).is_absolute() else d / v
    except (OSError, json.JSONDecodeError):
        log.warning("%s: unreadable session.json", d)
    if meta_video is not None and meta_video.is_file():
        return meta_video
    vids = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                  and ".partial" not in p.name)
    named = [p for p in vids if p.stem == "video"]
    return (named or vids or [None])[0]


def read_sessions(root: Path) -> list[Recording]:
    """The app's recorded session folders under ``root`` (or ``root`` itself when it is one) that
    hold a video (``video.*``, or the file ``session.json`` names). Ground truth only from an
    optional ``ground_truth.csv`` (the session's ``bvp.csv`` is the app's own estimate)."""
    root = Path(root)
    if not root.is_dir():
        return []
    dirs = [root] if (root / "session.json").is_file() else sorted(
        p for p in root.iterdir() if p.is_dir() and (p / "session.json").is_file())
    out = []
    for d in dirs:
        video = _session_video(d)
        if video is None:
            log.info("session %s has no video: skipped", d)
            continue
        gt = d / "ground_truth.csv"
        out.append(Recording(name=d.name, video=video, ground_truth_path=gt if gt.is_file() else None,
                             dataset="session"))
    return out


def read_dataset(root: Path, kind: str = "auto") -> list[Recording]:
    """Recordings under ``root``: ``kind`` "ubfc" | "pure" | "session" | "folder", or "auto":
    UBFC layout when it looks like one, else PURE, else session folders, else every video in
    the folder. A single video file is one recording."""
    root = Path(root)
    if kind not in DATASET_KINDS:
        raise ValueError(f"dataset kind must be one of {DATASET_KINDS}, got {kind!r}")
    if root.is_file():
        if root.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"{root}: not a video file ({', '.join(VIDEO_SUFFIXES)})")
        gt = root.with_suffix(".csv")
        return [Recording(name=root.name, video=root, ground_truth_path=gt if gt.exists() else None,
                          dataset="folder")]
    if not root.is_dir():
        raise ValueError(f"dataset folder not found: {root}")
    readers = {"ubfc": read_ubfc, "pure": read_pure, "session": read_sessions, "folder": read_video_folder}
    if kind != "auto":
        return readers[kind](root)
    for reader in (read_ubfc, read_pure, read_sessions, read_video_folder):
        recs = reader(root)
        if recs:
            return recs
    return []


def _num(name: str) -> int:
    digits = "".join(c for c in name if c.isdigit())
    return int(digits) if digits else 1 << 30


def default_face_model() -> str | None:
    """The face model of a development checkout, ``../shared/models/face_landmarker.task`` beside
    the repository, if present; else None (the product's own resolution then applies)."""
    p = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "face_landmarker.task"
    return str(p) if p.is_file() else None


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
