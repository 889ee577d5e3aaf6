"""Face tracking on key frames: the detector runs on one frame in ``every`` (sooner when the face
moved), and the frames between two key frames get the box and landmarks interpolated between
them in time.

:meth:`model.face_tracking.FaceTracker.process` with ``detect_every > 1`` cannot see the next key
frame, so between detections it holds the last face; a held box jumps at every detection, and the
skin mask with it. Here the frames between two key frames wait in a short list (at most
``every - 1`` frames) until the next detection, so the mask glides with the face instead:
``analyze`` and the crop cache pull (:meth:`KeyframeTracking.track`), the app's worker pushes
(:meth:`KeyframeTracking.push`: its frames are measured up to ``every`` frames late). The
detector is MediaPipe's Face Landmarker (about 12 ms a call on this 2-core CPU): on every 2nd
frame it was 70 % of analyze's time.

A frame becomes a key frame at once when

* no face is tracked (a returning face is picked up on its first frame; with another person about,
  a face elsewhere only after ``FaceTracker.switch_after_s``, the detector running on every frame
  meanwhile);
* ``every`` frames have passed since the last key frame, or more than ``max_gap_s`` of time;
* the face region changed: the mean absolute grey-level change of a 16x16 thumbnail of the last
  key frame's box exceeds ``change_threshold`` (the face moved, turned, was covered or left).

The frames between a key frame with a face and one without (the face left, or another face)
keep the last key frame's face: the thumbnail check passed on each of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from model.face_tracking import FaceTracker, iou
from model.types import Box, Face, Frame


@dataclass(frozen=True)
class KeyframeConfig:
    #: A key frame (detector run) at least once in this many frames (chosen on held-out
    #: subjects: benchmarks/speed_choices.py, docs/speed.md, "Speed").
    every: int = 12
    #: Mean absolute grey-level change (0..255) of the face thumbnail since the last key frame
    #: that makes the current frame a key frame at once.
    change_threshold: float = 6.0
    #: Longer than this since the last key frame (a stall, a gap in the frame times): detect now.
    max_gap_s: float = 0.5
    #: False holds the last key frame's face between key frames (what the live tracker does; for
    #: the ablation of the interpolation).
    interpolate: bool = True
    #: The One-Euro filter's cutoff at rest on the key frames (None: the tracker's own, tuned for
    #: a detection every frame or two; with fewer detections a lower cutoff smooths as much).
    min_cutoff_hz: float | None = 0.3

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if self.change_threshold <= 0 or self.max_gap_s <= 0:
            raise ValueError("change_threshold and max_gap_s must be positive")


def interpolate_face(a: Face, b: Face, w: float) -> Face:
    """The face ``w`` (0..1) of the way from key face ``a`` to key face ``b`` (both ok): box and
    landmarks linear in time; ``a`` itself when ``b`` is another face or has no matching landmarks."""
    if not (a.ok and b.ok and a.box is not None and b.box is not None) or a.track_id != b.track_id \
            or iou(a.box, b.box) < FaceTracker.same_face_iou:
        return a
    ab, bb = a.box, b.box
    box = Box(ab.x + w * (bb.x - ab.x), ab.y + w * (bb.y - ab.y), ab.w + w * (bb.w - ab.w), ab.h + w * (bb.h - ab.h))
    lm = None
    if a.landmarks is not None and b.landmarks is not None and a.landmarks.shape == b.landmarks.shape:
        lm = (a.landmarks + np.float32(w) * (b.landmarks - a.landmarks)).astype(np.float32)
    elif a.landmarks is not None:
        lm = a.landmarks
    return Face(ok=True, box=box, landmarks=lm, tracker=a.tracker, n_faces=a.n_faces, track_id=a.track_id)


class KeyframeTracking:
    """Track the faces of a frame sequence with ``tracker`` on key frames only (see module doc).

    ``tracker`` is a :class:`FaceTracker` that detects on every call (``detect_every=1``): its
    selection and One-Euro smoothing then run on the key frames. ``key_frames`` counts the
    detector runs."""

    def __init__(self, tracker: FaceTracker, config: KeyframeConfig | None = None) -> None:
        self.tracker = tracker
        self.cfg = config or KeyframeConfig()
        self.key_frames = 0
        self.frames = 0
        self.reset()

    @property
    def name(self) -> str:
        return self.tracker.name

    def close(self) -> None:
        self.tracker.close()

    def detect(self, frame: Frame) -> Face:
        """The detector on a key frame (a method of its own, so a profile can time it)."""
        self.key_frames += 1
        return self.tracker.process(frame)

    def changed(self, frame: Frame, key: Frame, key_face: Face, key_thumb: np.ndarray | None) -> bool:
        """Whether ``frame`` must be a key frame now (see module doc)."""
        if key_thumb is None or frame.t_s - key.t_s > self.cfg.max_gap_s or frame.t_s <= key.t_s:
            return True
        now = self.tracker._face_thumbnail(frame, key_face.box)
        if now is None or now.shape != key_thumb.shape:
            return True
        return float(np.mean(np.abs(now - key_thumb))) > self.cfg.change_threshold

    def reset(self) -> None:
        """Forget the frames and faces seen (a new source); pending frames are dropped."""
        self.tracker.reset()
        self._key: Frame | None = None
        self._key_face = Face(ok=False, tracker=self.name)
        self._key_thumb: np.ndarray | None = None
        self._pending: list[Frame] = []

    @property
    def latest_face(self) -> Face:
        """The face of the last key frame (what a display can draw on the newest frame)."""
        return self._key_face

    def push(self, frame: Frame) -> list[tuple[Frame, Face]]:
        """Take the next frame; return the frames whose face is now known, in order (none while
        ``frame`` waits for the next key frame)."""
        self.frames += 1
        key = self._key
        if key is not None and self._key_face.ok and len(self._pending) + 1 < self.cfg.every \
                and not self.changed(frame, key, self._key_face, self._key_thumb):
            self._pending.append(frame)
            return []
        face = self.detect(frame)
        span_s = frame.t_s - key.t_s if key is not None else 0.0
        out = []
        for f in self._pending:
            if self.cfg.interpolate:
                w = (f.t_s - key.t_s) / span_s if span_s > 0 else 0.0
                out.append((f, interpolate_face(self._key_face, face, min(max(w, 0.0), 1.0))))
            else:
                out.append((f, self._key_face))
        out.append((frame, face))
        self._pending = []
        self._key, self._key_face = frame, face.held()  # the frames after it get it held, not flagged again
        self._key_thumb = self.tracker._face_thumbnail(frame, face.box) if face.ok else None
        return out

    def flush(self) -> list[tuple[Frame, Face]]:
        """The frames still waiting (end of the source): they keep the last key frame's face."""
        out = [(f, self._key_face) for f in self._pending]
        self._pending = []
        return out

    def track(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Face]]:
        """(frame, face) for every frame of ``frames``, in order, at most ``every`` frames late."""
        for frame in frames:
            yield from self.push(frame)
        yield from self.flush()


def create_keyframe_tracker(model_path=None, *, allow_download: bool = True, prefer: str = "auto",
                           config: KeyframeConfig | None = None) -> tuple[KeyframeTracking, str]:
    """:func:`model.face_tracking.create_face_tracker` (same resolution, fallback and errors)
    wrapped for key-frame tracking: what ``analyze``, the crop cache and the app track with."""
    from model.face_tracking import create_face_tracker

    config = config or KeyframeConfig()
    detector, message = create_face_tracker(model_path, allow_download=allow_download, prefer=prefer, detect_every=1,
                                            min_cutoff_hz=config.min_cutoff_hz)
    return KeyframeTracking(detector, config), message
