"""Dataset readers. Ground truth is for evaluation only.

Layouts (:func:`read_dataset` reads every one it finds in a folder):

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

:meth:`Recording.frames` yields :class:`~model.types.Frame` objects for any of them through
:func:`model.frame_source.open_frame_source`, on their real times: container timestamps for
videos, file-name timestamps for image folders, ``frames.csv`` for sessions (the session's video
has a nominal frame rate).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.frame_source import FrameSource, open_frame_source
from model.image_source import ImageFolderSource, has_images
from model.session_source import RECORDING_QUIET_S, files_quiet_s, session_video
from model.types import Frame
from model.video_source import VIDEO_SUFFIXES, SourceError

log = logging.getLogger(__name__)
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
    ``dataset`` is "ubfc" | "pure" | "session" | "folder". A recorded session also has its
    ``session_dir``: its frames are read from there, on frames.csv's times."""

    name: str
    video: Path
    ground_truth_path: Path | None
    dataset: str
    session_dir: Path | None = None

    @property
    def source_path(self) -> Path:
        """What :meth:`frame_source` opens: the session folder, else ``video``."""
        return self.session_dir if self.session_dir is not None else Path(self.video)

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

    def frame_source(self) -> FrameSource:
        """The recording's frame source, :func:`model.frame_source.open_frame_source` of
        :attr:`source_path` (raises SourceError when unreadable). A UBFC video plays on its
        container's times, as ``analyze`` reads it: replaying it on ground_truth.txt's row-2
        stamps (jittered, with gaps up to 0.75 s that break the estimator's windows) moved the
        shipped model's MAE at 20 s on the 8 dev subjects from 3.37 to 4.47 bpm."""
        return open_frame_source(self.source_path)

    def frames(self) -> Iterator[Frame]:
        """The recording's frames, in order, with their real times (seconds from the first)."""
        return iter(self.frame_source())


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
    # a *.partial* file is a video still being written (synth, the recorder): not a recording
    for v in sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and ".partial" not in p.name):
        gt = v.with_suffix(".csv")
        out.append(Recording(name=str(v.relative_to(root)), video=v,
                             ground_truth_path=gt if gt.exists() else None, dataset="folder"))
    return out


def _pure_recording(root: Path, d: Path) -> Recording | None:
    name = d.name
    img_dir = d / name if (d / name).is_dir() and has_images(d / name) else (d if has_images(d) else None)
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
        recording = _pure_recording(root, d)
        if recording is not None:
            out.append(recording)
    if not out:  # root itself may be one recording
        recording = _pure_recording(root.parent, root)
        if recording is not None:
            out.append(recording)
    return out


def read_sessions(root: Path) -> list[Recording]:
    """The app's recorded session folders under ``root`` (or ``root`` itself when it is one) that
    hold a video (``video.*``, or the file ``session.json`` names) and are not still being
    recorded. Ground truth only from an optional ``ground_truth.csv`` (the session's ``bvp.csv``
    is the app's own estimate)."""
    return _scan_sessions(root).recordings


@dataclass(frozen=True)
class DatasetScan:
    """What a folder holds for training: its recordings, and what was passed over with why
    (``(name, reason)``: a session recorded with the video off, one still being recorded)."""

    recordings: list[Recording]
    passed_over: list[tuple[str, str]]


def _scan_sessions(root: Path) -> DatasetScan:
    """:func:`read_sessions`, and the session folders it passes over with why."""
    root = Path(root)
    if not root.is_dir():
        return DatasetScan([], [])
    dirs = [root] if (root / "session.json").is_file() else sorted(
        p for p in root.iterdir() if p.is_dir() and (p / "session.json").is_file())
    out, passed = [], []
    for d in dirs:
        video = session_video(d)
        if video is None:
            passed.append((d.name, "the session holds no video (it was recorded with the video off)"))
            continue
        if _still_recording(d):
            passed.append((d.name, "the session is still being recorded (no end marker, its files change)"))
            continue
        gt = d / "ground_truth.csv"
        out.append(Recording(name=d.name, video=video, ground_truth_path=gt if gt.is_file() else None,
                             dataset="session", session_dir=d))
    return DatasetScan(out, passed)


def _still_recording(d: Path) -> bool:
    """An unfinished session (no end marker) whose files changed within RECORDING_QUIET_S; an older
    one was killed, and its frames are read as far as its video holds them."""
    try:
        meta = json.loads((d / "session.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if isinstance(meta, dict) and meta.get("ended"):
        return False
    return files_quiet_s(d) < RECORDING_QUIET_S


def scan_dataset(root: Path, kind: str = "auto") -> DatasetScan:
    """Recordings under ``root`` and what was passed over: ``kind`` "ubfc" | "pure" | "session" |
    "folder" reads that layout only; "auto" reads them all: UBFC subjects, PURE recordings and
    session folders, then every other video in the folder tree (not one inside a folder already
    read as a subject, recording or session). A single video file is one recording."""
    root = Path(root)
    if kind not in DATASET_KINDS:
        raise ValueError(f"dataset kind must be one of {DATASET_KINDS}, got {kind!r}")
    if root.is_file():
        if root.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"{root}: not a video file ({', '.join(VIDEO_SUFFIXES)})")
        gt = root.with_suffix(".csv")
        return DatasetScan([Recording(name=root.name, video=root, ground_truth_path=gt if gt.exists() else None,
                                      dataset="folder")], [])
    if not root.is_dir():
        raise ValueError(f"dataset folder not found: {root}")
    if kind == "session":
        return _scan_sessions(root)
    readers = {"ubfc": read_ubfc, "pure": read_pure, "folder": read_video_folder}
    if kind != "auto":
        return DatasetScan(readers[kind](root), [])
    sessions = _scan_sessions(root)
    found = read_ubfc(root) + read_pure(root) + sessions.recordings
    # the folders those recordings (and the sessions passed over) own: their videos are not loose ones
    owned = {Path(r.session_dir) for r in found if r.session_dir is not None}
    owned |= {Path(r.video).parent for r in found if r.dataset == "ubfc"}
    owned |= {Path(r.video) if Path(r.video).is_dir() else Path(r.video).parent
              for r in found if r.dataset == "pure"}
    owned |= {root / name for name, _ in sessions.passed_over}
    if (root / "session.json").is_file():  # root is one session
        owned.add(root)

    def loose(r: Recording) -> bool:
        return not any(o == p for o in owned for p in (Path(r.video), *Path(r.video).parents))

    found += [r for r in read_video_folder(root) if loose(r)]
    return DatasetScan(found, sessions.passed_over)


def read_dataset(root: Path, kind: str = "auto") -> list[Recording]:
    """The recordings of :func:`scan_dataset` (what it passed over is left out)."""
    return scan_dataset(root, kind).recordings


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
