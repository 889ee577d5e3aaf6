"""Preprocessing cache shared by training, evaluation and the benchmark: one tracking pass per recording.

Each recording is decoded ONCE, through the same face tracking and ROI code ``analyze`` uses
(:func:`model.keyframe_tracking.create_keyframe_tracker`: the detector on key frames, the face
interpolated between them, and
``RoiExtractor(crop_size=contract.crop_size, crop_scale=contract.crop_scale, crop_masked=True)``),
so training sees the crops that inference sees. Per frame it keeps the skin-masked face
crop, a background crop (a non-face square of the frame, the null-space regulariser's non-pulse
reference), whether a face was found, the skin mean colour and the mean colour of a fixed face
box (the first tracked box, whole-box mean: the classic baseline ROI). These are then put on a uniform
grid at ``contract.fs_hz`` from the real timestamps: each grid point takes the nearest frame, and
is invalid when that frame had no face or lies more than ``MAX_GAP_S`` away.

One cache entry per recording, a folder of ``.npy`` files (memory-mapped on load)::

    <cache_dir>/<name>-<key>/
        t_s.npy          (N,)        float64  uniform grid, seconds from the first frame
        face.npy         (N,S,S,3)   float16  skin-masked face crop, RGB 0..255, 0 off the skin
        background.npy   (N,S,S,3)   float16  background crop, RGB 0..255 (not masked)
        valid.npy        (N,)        bool     face found at a frame within MAX_GAP_S
        rgb_mean.npy     (N,3)       float32  skin mean R, G, B (NaN without a face)
        rgb_box.npy      (N,3)       float32  mean R, G, B of the fixed first face box (NaN before
                                              the first face or farther than MAX_GAP_S from a frame)
        face_box.npy     (N,4)       float32  tracked face box x, y, w, h in pixels (NaN: none)
        background_box.npy (N,4)     float32  the background square x, y, w, h
        frame_index.npy  (N,)        int32    the source frame each grid point took
        frame_t_s.npy    (F,)        float64  the source frames' own times
        frame_face_ok.npy (F,)       bool
        frame_rgb_mean.npy (F,3)     float32  the skin-mean trace per source frame
        frame_rgb_box.npy (F,3)      float32  the fixed-box mean per source frame
        meta.json                              what, how, when (written last)

The key hashes the source path, its size and mtime (for an image folder: file count, total size,
newest mtime), the contract's crop settings and grid rate, and the face model path, so a changed
input or setting makes a new entry. An entry is written into a temporary folder and renamed into
place when complete: a killed run never leaves a half entry (stale temporary folders are removed
on a later run).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from model.fcus_contract import DEFAULT_CONTRACT, FcusContract
from model.frame_crops import background_crop, has_model_crop
from model.image_source import IMAGE_SUFFIXES
from model.keyframe_tracking import KeyframeConfig
from model.roi import RoiExtractor
from model.session_source import FRAMES_NAME, is_session_dir, session_video
from model.types import Box
from training.datasets import Recording

log = logging.getLogger(__name__)

CACHE_VERSION = 3  # 2: the fixed-box means and the per-frame traces; 3: key-frame tracking
MAX_GAP_S = 0.5  # a grid point farther than this from its nearest frame is invalid
APP_CACHE_NAME = "fcus-rppg"
_TMP_PREFIX = ".tmp-"
_STALE_TMP_S = 6 * 3600.0

ARRAY_FILES = ("t_s", "face", "background", "valid", "rgb_mean", "rgb_box", "face_box", "background_box",
               "frame_index", "frame_t_s", "frame_face_ok", "frame_rgb_mean", "frame_rgb_box")
_MMAP_ARRAYS = ("face", "background")


def default_cache_dir() -> Path:
    """``platformdirs.user_cache_dir("fcus-rppg")/crops``."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_CACHE_NAME)) / "crops"


@dataclass
class CachedRecording:
    """One recording on the uniform grid. ``face``/``background`` are (N, S, S, 3) float16 RGB
    0..255 (memory-mapped when loaded from the cache); ``valid`` (N,) marks grid points with a
    face. ``rgb_box`` is the fixed-first-box mean on the same grid (the classic baseline ROI);
    the ``frame_*`` arrays are per source frame. ``source`` gives the ground truth
    (``source.ground_truth()``): for evaluation only."""

    name: str
    t_s: np.ndarray
    face: np.ndarray
    background: np.ndarray
    valid: np.ndarray
    rgb_mean: np.ndarray
    fs_hz: float
    source: Recording | None = None
    path: Path | None = None
    face_box: np.ndarray | None = None
    background_box: np.ndarray | None = None
    frame_index: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    rgb_box: np.ndarray | None = None
    frame_t_s: np.ndarray | None = None
    frame_face_ok: np.ndarray | None = None
    frame_rgb_mean: np.ndarray | None = None
    frame_rgb_box: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        """Grid points (frames at ``fs_hz``)."""
        return int(len(self.t_s))

    @property
    def crop_size(self) -> int:
        return int(self.face.shape[1])

    @property
    def media_s(self) -> float:
        """Seconds of video the entry covers (its source frames' span)."""
        t = self.frame_t_s if self.frame_t_s is not None and len(self.frame_t_s) else self.t_s
        return float(t[-1] - t[0]) if len(t) else 0.0

    @property
    def track_s(self) -> float:
        """Seconds the tracking pass took (decode, tracking, ROI and crops), from the meta."""
        return float(self.meta.get("track_s", self.meta.get("runtime_s", 0.0)))

    @property
    def valid_share(self) -> float:
        return float(np.mean(self.valid)) if len(self.valid) else 0.0

    def ground_truth(self):
        """The source's ground truth (evaluation only), or None."""
        return self.source.ground_truth() if self.source is not None else None


# ---- keys and paths -----------------------------------------------------------------------------
def source_fingerprint(path: Path) -> dict:
    """Identity of a recording's frames: a file's size and mtime; an image folder's file count,
    total size and newest mtime; a session folder's video and frames.csv (its frame times)."""
    p = Path(path)
    if is_session_dir(p):
        video, frames = session_video(p), p / FRAMES_NAME
        return {"kind": "session", "video": source_fingerprint(video) if video else None,
                "frames": source_fingerprint(frames) if frames.is_file() else None}
    if p.is_dir():
        n = size = newest = 0
        with os.scandir(p) as it:
            for e in it:
                if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES:
                    st = e.stat()
                    n += 1
                    size += st.st_size
                    newest = max(newest, st.st_mtime_ns)
        return {"kind": "images", "n": n, "size": size, "mtime_ns": newest}
    st = p.stat()
    return {"kind": "file", "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cache_key(recording: Recording, contract: FcusContract, face_model_tag: str) -> str:
    spec = {
        "version": CACHE_VERSION,
        "source": str(Path(recording.video).resolve()),
        "fingerprint": source_fingerprint(recording.source_path),
        "crop_size": contract.crop_size,
        "crop_scale": contract.crop_scale,
        "crop_masked": True,
        "fs_hz": contract.fs_hz,
        "max_gap_s": MAX_GAP_S,
        "face_model": face_model_tag,
    }
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return (s or "rec")[:48]


def entry_dir(cache_dir: Path, recording: Recording, contract: FcusContract, face_model_tag: str) -> Path:
    return Path(cache_dir) / f"{_slug(recording.name)}-{cache_key(recording, contract, face_model_tag)}"


def _tag(path: Path | None, keyframes: KeyframeConfig | None) -> str:
    """The face model and the key-frame tracking settings, as an entry's key holds them."""
    model = str(Path(path).resolve()) if path is not None else "opencv"
    return f"{model}|{json.dumps(asdict(keyframes or KeyframeConfig()), sort_keys=True)}"


# ---- one tracking pass ------------------------------------------------------------------------------
@dataclass
class FrameTrack:
    """Per-frame output of the tracking pass (before the grid)."""

    t_s: np.ndarray  # (F,)
    face: list  # F crops (S,S,3) float16
    background: list  # F crops (S,S,3) float16
    face_ok: np.ndarray  # (F,) bool
    rgb_mean: np.ndarray  # (F,3)
    rgb_box: np.ndarray  # (F,3) mean of the fixed first face box, NaN before the first face
    face_box: np.ndarray  # (F,4)
    background_box: np.ndarray  # (F,4)
    tracker: str = ""
    corrupt_frames: int = 0


def box_mean(bgr: np.ndarray, box: Box) -> np.ndarray:
    """Mean R, G, B of the whole ``box`` (clipped to the frame); NaN when under 2 x 2 pixels."""
    h, w = bgr.shape[:2]
    x, y, bw, bh = box.clipped(w, h).as_int()
    if bw < 2 or bh < 2:
        return np.full(3, np.nan)
    b, g, r, _ = cv2.mean(bgr[y:y + bh, x:x + bw])
    return np.array([r, g, b])


def track_recording(recording: Recording, tracker, roi: RoiExtractor, *, progress: bool = False) -> FrameTrack:
    """Decode ``recording`` once, tracking the face (``tracker``: a
    :class:`~model.keyframe_tracking.KeyframeTracking`) and cutting the crops of every frame."""
    from tqdm import tqdm

    size = int(roi.crop_size)
    zero = np.zeros((size, size, 3), np.float16)
    source = recording.frame_source()
    total = getattr(source, "n_frames", None) or getattr(getattr(source, "info", None), "n_frames", None)
    t, faces, bgs, ok, means, boxm, fboxes, bboxes = [], [], [], [], [], [], [], []
    bg_box: Box | None = None
    fixed: Box | None = None  # the first tracked face box: the classic baseline ROI
    nan4 = (np.nan,) * 4
    with tqdm(total=total or None, disable=not progress, leave=False, unit="frame", file=sys.stderr,
              desc=f"crops {recording.name}") as bar:
        for frame, face in tracker.track(source):
            s = roi.extract(frame, face)
            good = has_model_crop(s, size)
            if fixed is None and face.ok and face.box is not None:
                fixed = face.box
            bg, bg_box = background_crop(frame.bgr, s.box, roi.crop_scale, size, bg_box)
            t.append(frame.t_s)
            faces.append(s.crop.astype(np.float16) if good else zero)
            bgs.append(bg.astype(np.float16))
            ok.append(good)
            means.append(s.rgb_mean if good else np.full(3, np.nan))
            boxm.append(box_mean(frame.bgr, fixed) if fixed is not None else np.full(3, np.nan))
            fboxes.append((s.box.x, s.box.y, s.box.w, s.box.h) if s.box is not None else nan4)
            bboxes.append((bg_box.x, bg_box.y, bg_box.w, bg_box.h))
            bar.update(1)
    if not t:
        from model.video_source import SourceError

        raise SourceError(f"{recording.video} gave no readable frames")
    return FrameTrack(
        t_s=np.asarray(t, dtype=np.float64), face=faces, background=bgs,
        face_ok=np.asarray(ok, dtype=bool), rgb_mean=np.asarray(means, dtype=np.float32),
        rgb_box=np.asarray(boxm, dtype=np.float32),
        face_box=np.asarray(fboxes, dtype=np.float32), background_box=np.asarray(bboxes, dtype=np.float32),
        tracker=getattr(tracker, "name", ""), corrupt_frames=int(getattr(source, "corrupt_frames", 0)),
    )


def uniform_grid(frame_t_s: np.ndarray, fs_hz: float, face_ok: np.ndarray,
                 max_gap_s: float = MAX_GAP_S) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid times ``t0 + k / fs_hz`` over the frames' span, the nearest frame of each grid point,
    and its validity (nearest frame has a face and is within ``max_gap_s``)."""
    t = np.asarray(frame_t_s, dtype=np.float64)
    n = int(math.floor((t[-1] - t[0]) * fs_hz + 1e-6)) + 1
    tg = t[0] + np.arange(n, dtype=np.float64) / fs_hz
    j = np.clip(np.searchsorted(t, tg), 1, max(len(t) - 1, 1)) if len(t) > 1 else np.zeros(n, np.int64)
    if len(t) > 1:
        left = j - 1
        nearest = np.where(np.abs(t[left] - tg) <= np.abs(t[j] - tg), left, j)
    else:
        nearest = j
    valid = np.asarray(face_ok, dtype=bool)[nearest] & (np.abs(t[nearest] - tg) <= max_gap_s)
    return tg, nearest.astype(np.int64), valid


def _save_npy(path: Path, arr: np.ndarray) -> None:
    np.save(path, arr, allow_pickle=False)


def _write_entry(tmp: Path, track: FrameTrack, fs_hz: float, crop_size: int) -> dict:
    tg, nearest, valid = uniform_grid(track.t_s, fs_hz, track.face_ok)
    n = len(tg)
    for name, frames in (("face", track.face), ("background", track.background)):
        out = np.lib.format.open_memmap(tmp / f"{name}.npy", mode="w+", dtype=np.float16,
                                        shape=(n, crop_size, crop_size, 3))
        for k, j in enumerate(nearest):
            out[k] = frames[j]
        out.flush()
        del out
    _save_npy(tmp / "t_s.npy", tg)
    _save_npy(tmp / "valid.npy", valid)
    _save_npy(tmp / "rgb_mean.npy", track.rgb_mean[nearest])
    near = np.abs(track.t_s[nearest] - tg) <= MAX_GAP_S
    _save_npy(tmp / "rgb_box.npy", np.where(near[:, None], track.rgb_box[nearest], np.float32(np.nan)))
    _save_npy(tmp / "face_box.npy", track.face_box[nearest])
    _save_npy(tmp / "background_box.npy", track.background_box[nearest])
    _save_npy(tmp / "frame_index.npy", nearest.astype(np.int32))
    _save_npy(tmp / "frame_t_s.npy", track.t_s)
    _save_npy(tmp / "frame_face_ok.npy", track.face_ok)
    _save_npy(tmp / "frame_rgb_mean.npy", track.rgb_mean)
    _save_npy(tmp / "frame_rgb_box.npy", track.rgb_box)
    return {"n_grid": n, "valid_share": float(valid.mean()) if n else 0.0}


def _clean_stale_tmp(cache_dir: Path) -> None:
    now = time.time()
    for p in cache_dir.glob(f"{_TMP_PREFIX}*"):
        try:
            if now - p.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def _make_tracker(face_model: Path | None, allow_download: bool, keyframes: KeyframeConfig | None = None):
    from model.keyframe_tracking import create_keyframe_tracker

    # analyze's tracking (key frames, interpolated between them): the same crops as analyze reads
    if face_model is None:
        return create_keyframe_tracker(None, allow_download=False, prefer="opencv", config=keyframes)
    return create_keyframe_tracker(face_model, allow_download=allow_download, config=keyframes)


def build_entry(recording: Recording, entry: Path, contract: FcusContract, face_model: Path | None,
                allow_download: bool = False, progress: bool = True, keyframes: KeyframeConfig | None = None) -> None:
    """Track ``recording`` and write its entry atomically to ``entry``."""
    entry = Path(entry)
    tmp = entry.parent / f"{_TMP_PREFIX}{entry.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        t0 = time.perf_counter()
        tracker, msg = _make_tracker(face_model, allow_download, keyframes)
        try:
            roi = RoiExtractor(crop_size=contract.crop_size, crop_scale=contract.crop_scale, crop_masked=True)
            track = track_recording(recording, tracker, roi, progress=progress)
        finally:
            tracker.close()
        track_s = time.perf_counter() - t0
        if face_model is not None and track.tracker != "mediapipe":
            log.warning("%s: the face model did not load (%s); crops come from the OpenCV tracker",
                        recording.name, msg)
        stats = _write_entry(tmp, track, contract.fs_hz, contract.crop_size)
        runtime_s = time.perf_counter() - t0
        meta = {
            "version": CACHE_VERSION,
            "name": recording.name,
            "dataset": recording.dataset,
            "source": str(Path(recording.video).resolve()),
            "fingerprint": source_fingerprint(recording.source_path),
            "fs_hz": contract.fs_hz,
            "crop_size": contract.crop_size,
            "crop_scale": contract.crop_scale,
            "crop_masked": True,
            "max_gap_s": MAX_GAP_S,
            "face_model": str(face_model) if face_model is not None else None,
            "tracker": track.tracker,
            "tracker_message": msg,
            "keyframes": asdict(keyframes or KeyframeConfig()),
            "n_source_frames": int(len(track.t_s)),
            "source_fps_hz": float((len(track.t_s) - 1) / (track.t_s[-1] - track.t_s[0]))
            if len(track.t_s) > 1 and track.t_s[-1] > track.t_s[0] else None,
            "face_share": float(track.face_ok.mean()),
            "corrupt_frames": track.corrupt_frames,
            "track_s": track_s,
            "runtime_s": runtime_s,
            "created": datetime.now().isoformat(timespec="seconds"),
            **stats,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(tmp, entry)
        except OSError:
            if (entry / "meta.json").is_file():  # another run finished the same entry first
                log.info("cache entry %s written concurrently; keeping it", entry)
            else:
                raise
        log.info("cached %s: %d frames -> %d grid points (%.0f%% valid) in %.1f s", recording.name,
                 meta["n_source_frames"], meta["n_grid"], 100 * meta["valid_share"], runtime_s)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_entry(entry: Path, recording: Recording | None = None) -> CachedRecording:
    """Open a cache entry; the crops are memory-mapped (read-only)."""
    entry = Path(entry)
    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    arrays = {}
    for name in ARRAY_FILES:
        p = entry / f"{name}.npy"
        if p.exists():
            arrays[name] = np.load(p, mmap_mode="r" if name in _MMAP_ARRAYS else None, allow_pickle=False)
    return CachedRecording(
        name=meta.get("name", entry.name) if recording is None else recording.name,
        t_s=arrays["t_s"], face=arrays["face"], background=arrays["background"],
        valid=arrays["valid"], rgb_mean=arrays["rgb_mean"], fs_hz=float(meta["fs_hz"]),
        source=recording, path=entry, face_box=arrays.get("face_box"),
        background_box=arrays.get("background_box"), frame_index=arrays.get("frame_index"), meta=meta,
        rgb_box=arrays.get("rgb_box"), frame_t_s=arrays.get("frame_t_s"), frame_face_ok=arrays.get("frame_face_ok"),
        frame_rgb_mean=arrays.get("frame_rgb_mean"), frame_rgb_box=arrays.get("frame_rgb_box"),
    )


@dataclass(frozen=True)
class CacheSetup:
    """A cache folder and the face model its crops are cut with (resolved once)."""

    cache: Path
    model_path: Path | None
    tag: str
    keyframes: KeyframeConfig | None = None  # the key-frame tracking (None: analyze's default)


def open_cache(cache_dir: str | os.PathLike | None = None, face_model: str | os.PathLike | None = None,
               allow_download: bool = False, keyframes: KeyframeConfig | None = None) -> CacheSetup:
    """The cache folder (created; stale temporary entries removed), its face model and its
    key-frame tracking (both part of every entry's key)."""
    from model.face_model import resolve_face_model

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(cache)
    resolution = resolve_face_model(face_model, allow_download=allow_download)
    if resolution.path is None:
        log.warning("no face model (%s): the crops come from the OpenCV tracker", resolution.message)
    return CacheSetup(cache, resolution.path, _tag(resolution.path, keyframes), keyframes)


def _entry_of(setup: CacheSetup, recording: Recording, contract: FcusContract) -> Path:
    return entry_dir(setup.cache, recording, contract, setup.tag)


def build_cache(
    recordings: Sequence[Recording],
    cache_dir: str | os.PathLike | None = None,
    contract: FcusContract = DEFAULT_CONTRACT,
    face_model: str | os.PathLike | None = None,
    allow_download: bool = False,
    progress: bool = True,
    keyframes: KeyframeConfig | None = None,
) -> list[CachedRecording]:
    """The cached crops of every recording, tracking (decoding) only those not cached yet.

    ``face_model``: the MediaPipe model (resolved like the app: explicit path, ``FCUS_FACE_MODEL``,
    user cache, download when ``allow_download``); without one the OpenCV tracker cuts the crops
    (and the key says so). ``cache_dir`` defaults to :func:`default_cache_dir`. An unreadable
    recording raises (``build_missing`` skips it instead)."""
    from tqdm import tqdm

    setup = open_cache(cache_dir, face_model, allow_download, keyframes)
    out = []
    recordings = list(recordings)
    for recording in tqdm(recordings, desc="crop cache", unit="rec", file=sys.stderr,
                          disable=not progress or len(recordings) < 2):
        entry = _entry_of(setup, recording, contract)
        if not (entry / "meta.json").is_file():
            build_entry(recording, entry, contract, setup.model_path, allow_download=allow_download, progress=progress,
                        keyframes=keyframes)
        out.append(load_entry(entry, recording))
    return out


# What an unreadable recording raises while it is tracked: the source's SourceError (a
# RuntimeError), a missing or unreadable file (OSError), a malformed one (ValueError).
UNREADABLE = (RuntimeError, OSError, ValueError)


def build_missing(
    recordings: Sequence[Recording],
    setup: CacheSetup,
    contract: FcusContract = DEFAULT_CONTRACT,
    *,
    part: tuple[int, int] = (0, 1),
    progress: bool = True,
) -> list[tuple[str, str]]:
    """Track the recordings of ``part`` ``(i, n)`` (every n-th from the i-th: the processes of a
    distributed run share the work) that are not cached yet. An unreadable recording is skipped:
    returns ``(name, reason)`` for each. Entries are renamed into place when complete, so a
    reader never sees half of one."""
    from tqdm import tqdm

    i, n = part
    mine = [r for k, r in enumerate(recordings) if k % n == i]
    failed = []
    for recording in tqdm(mine, desc="crop cache", unit="rec", file=sys.stderr,
                          disable=not progress or len(mine) < 2):
        try:
            entry = _entry_of(setup, recording, contract)  # reads the source's size and time
            if not (entry / "meta.json").is_file():
                build_entry(recording, entry, contract, setup.model_path, progress=progress, keyframes=setup.keyframes)
        except UNREADABLE as e:
            log.warning("%s: cannot be read (%s)", recording.name, e)
            failed.append((recording.name, str(e) or type(e).__name__))
    return failed


def load_cached(
    recordings: Sequence[Recording],
    setup: CacheSetup,
    contract: FcusContract = DEFAULT_CONTRACT,
) -> list[CachedRecording]:
    """The complete cache entries of ``recordings`` (those without one are left out)."""
    out = []
    for recording in recordings:
        try:
            entry = _entry_of(setup, recording, contract)
        except OSError:  # the source is gone: build_missing said so
            continue
        if (entry / "meta.json").is_file():
            out.append(load_entry(entry, recording))
    return out


def cache_size_bytes(entries: Sequence[CachedRecording]) -> int:
    """Bytes on disk of the entries' folders."""
    total = 0
    for e in entries:
        if e.path is not None:
            total += sum(p.stat().st_size for p in Path(e.path).iterdir() if p.is_file())
    return total


def _main(argv: list[str] | None = None) -> int:
    """``python -m training.crop_cache ROOT [--cache-dir D] [--crop-size S] [--face-model P]``."""
    import argparse
    from dataclasses import replace

    from training.datasets import read_dataset

    ap = argparse.ArgumentParser(description="Build the crop cache of a dataset folder.")
    ap.add_argument("root")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--crop-size", type=int, default=DEFAULT_CONTRACT.crop_size)
    ap.add_argument("--face-model", default=None)
    ap.add_argument("--allow-download", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    contract = replace(DEFAULT_CONTRACT, crop_size=args.crop_size)
    t0 = time.perf_counter()
    entries = build_cache(read_dataset(Path(args.root)), args.cache_dir, contract, args.face_model,
                          allow_download=args.allow_download)
    dt = time.perf_counter() - t0
    for e in entries:
        print(f"{e.name}: {e.n_frames} grid frames, {100 * e.valid_share:.1f}% valid, {e.path}")
    print(f"{len(entries)} recordings, {cache_size_bytes(entries) / 1e6:.1f} MB, {dt:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())


NO_DATA_HINT = "no data (give --data or put UBFC subjects in ../shared/data/ubfc-dev)"


def add_reference_args(ap) -> None:
    """A study's ``--cache`` and ``--data`` options (for :func:`cached_reference_recordings`)."""
    ap.add_argument("--cache", type=Path, default=None, help="crop cache folder (default: the user cache)")
    ap.add_argument("--data", type=Path, default=None, help="UBFC-style folder (default ../shared/data/ubfc-dev)")


def cached_reference_recordings(data: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                                face_model: str | os.PathLike | None = None, progress: bool = True,
                                keyframes: KeyframeConfig | None = None) -> list[CachedRecording] | None:
    """Every recording with a contact reference under ``data`` (default: ../shared/data/ubfc-dev),
    through the crop cache; None when there is no such folder (say :data:`NO_DATA_HINT`)."""
    from training.datasets import default_face_model, default_ubfc_root, read_dataset

    root = data or default_ubfc_root()
    if root is None:
        return None
    recordings = [r for r in read_dataset(Path(root)) if r.ground_truth_path is not None]
    return build_cache(recordings, cache_dir, DEFAULT_CONTRACT, face_model=face_model or default_face_model(),
                       progress=progress, keyframes=keyframes)
