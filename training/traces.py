"""One tracking pass over a video: per-frame times and ROI colour traces, reused by several methods
(benchmarks, evaluation). The ROI variants: the landmark skin region the app uses, and a fixed face
box (the first detected box, whole-box mean), the classic baseline."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.types import Box, RoiSample
from model.video_source import VideoFileSource

log = logging.getLogger(__name__)


@dataclass
class Traces:
    t_s: np.ndarray  # (N,) container times from 0
    rgb_skin: np.ndarray  # (N, 3), NaN where no face
    rgb_box: np.ndarray  # (N, 3) fixed first-detected box, NaN before the first detection
    face_ok: np.ndarray  # (N,) bool
    tracker: str
    runtime_s: float  # decode + tracking + ROI

    def roi_samples(self, variant: str = "skin") -> list[RoiSample]:
        rgb = self.rgb_skin if variant == "skin" else self.rgb_box
        ok = np.isfinite(rgb[:, 0])
        return [RoiSample(t_s=float(t), face_ok=bool(o), rgb_mean=c) for t, o, c in zip(self.t_s, ok, rgb)]


def _box_mean(bgr: np.ndarray, box: Box) -> np.ndarray:
    h, w = bgr.shape[:2]
    x, y, bw, bh = box.clipped(w, h).as_int()
    if bw < 2 or bh < 2:
        return np.full(3, np.nan)
    b, g, r, _ = cv2.mean(bgr[y:y + bh, x:x + bw])
    return np.array([r, g, b])


def extract_traces(video: Path, tracker, roi, *, progress: bool = False) -> Traces:
    from tqdm import tqdm

    src = VideoFileSource(video)
    t, skin, boxm, ok = [], [], [], []
    fixed: Box | None = None
    t0 = time.perf_counter()
    with tqdm(total=src.info.n_frames or None, disable=not progress, leave=False, unit="frame",
              desc=Path(video).parent.name) as bar:
        for frame in src:
            face = tracker.process(frame)
            s = roi.extract(frame, face)
            if fixed is None and face.ok and face.box is not None:
                fixed = face.box
            t.append(frame.t_s)
            skin.append(s.rgb_mean)
            ok.append(s.face_ok)
            boxm.append(_box_mean(frame.bgr, fixed) if fixed is not None else np.full(3, np.nan))
            bar.update(1)
    return Traces(t_s=np.asarray(t), rgb_skin=np.asarray(skin, dtype=np.float64),
                  rgb_box=np.asarray(boxm, dtype=np.float64), face_ok=np.asarray(ok, dtype=bool),
                  tracker=tracker.name, runtime_s=time.perf_counter() - t0)


def cached_traces(video: Path, cache_dir: Path | None, make_tracker, roi, *, progress: bool = False,
                  tracker_tag: str = "") -> Traces:
    """``extract_traces`` with an optional npz cache keyed by the file's path, size and mtime."""
    if cache_dir is None:
        tracker = make_tracker()
        try:
            return extract_traces(video, tracker, roi, progress=progress)
        finally:
            tracker.close()
    st = Path(video).stat()
    key = hashlib.sha1(f"{Path(video).resolve()}|{st.st_size}|{st.st_mtime_ns}|{tracker_tag}|roi-oval-v2".encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"traces-{key}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return Traces(t_s=z["t_s"], rgb_skin=z["rgb_skin"], rgb_box=z["rgb_box"], face_ok=z["face_ok"],
                      tracker=str(z["tracker"]), runtime_s=float(z["runtime_s"]))
    tracker = make_tracker()
    try:
        tr = extract_traces(video, tracker, roi, progress=progress)
    finally:
        tracker.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, t_s=tr.t_s, rgb_skin=tr.rgb_skin, rgb_box=tr.rgb_box, face_ok=tr.face_ok,
             tracker=np.array(tr.tracker), runtime_s=np.array(tr.runtime_s))
    return tr
