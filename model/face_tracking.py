"""Face tracking: MediaPipe Face Landmarker (VIDEO mode) with an OpenCV Haar-cascade fallback.

Both trackers share :class:`FaceTracker`, which turns raw per-frame detections into a stable
:class:`~model.types.Face`:

* selection: among several faces, keep following the one that overlaps the previously tracked
  box (IoU), else take the largest, most central one; ``Face.n_faces`` counts all faces seen;
* one person at a time: while the followed face was seen within ``switch_after_s`` and another face
  was seen beside it within that time, only a face where it was is followed; a miss of the
  detector (which drops a face now and then, more often with several in view) gives no face
  rather than a jump to someone else. After that time the largest, most central face is followed,
  under a new ``Face.track_id``: a pulse signal must never run from one person into another. With
  nobody else seen for that long, a face that jumped is the same person, followed at once, and so
  is a lone face back where it was lost within ``same_person_within_s`` (4 s), with nobody else
  seen since (someone who looked away): its track, and the heart-rate belief that rides on it, go
  on. ``Face.new_person`` is set on the first face of a new track only, never on the frames held
  or interpolated after it;
* stabilisation: a One-Euro filter on the box (centre and size) and on the landmarks, with the
  speed measured in face sizes per second so the tuning does not depend on the face's size;
* face lost: ``Face(ok=False)`` at once (no stale box); the filters restart when a face comes
  back, so the box appears where it is instead of gliding there;
* ``detect_every=k``: run the detector on one frame in k and hold the last result in between.
  A held frame is checked against a 16x16 grey thumbnail of the face taken at the last
  detection; when it changed a lot (face gone, covered, moved fast) the detector runs at once.
  While no face is tracked the detector runs on every frame, so a returning face is picked up
  on its first frame.
"""

from __future__ import annotations

import dataclasses
import importlib.abc
import importlib.util
import itertools
import logging
import math
import os
import sys
import threading
import types
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from model.face_model import FIX_HINT, resolve_face_model

# MediaPipe's C++ core logs start-up chatter to stderr through glog/TFLite; keep it quiet unless
# the user asks otherwise (set before mediapipe is imported, which happens lazily below).
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from model.types import Box, Face, Frame

log = logging.getLogger(__name__)

_THUMB_PX = 16
_HAAR_SIZE_RANGE = 1.4  # tracked Haar search: sizes within [1/1.4, 1.4] of the last face


@dataclass(frozen=True)
class OneEuroParams:
    """One-Euro filter tuning (Casiez et al., CHI 2012).

    ``beta`` multiplies the speed in face sizes per second (the filter's ``scale``), so a face
    moving at one face-height per second raises the cutoff by ``beta`` Hz.
    """

    min_cutoff_hz: float = 0.8
    beta: float = 8.0
    d_cutoff_hz: float = 1.0


class OneEuroFilter:
    """Element-wise One-Euro filter for a numpy array of fixed shape."""

    def __init__(self, params: OneEuroParams = OneEuroParams()) -> None:
        self.params = params
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray | float:
        tau_s = 1.0 / (2.0 * math.pi * cutoff_hz)
        return 1.0 / (1.0 + tau_s / dt_s)

    def reset(self) -> None:
        self._x = None
        self._dx = None

    def __call__(self, x: np.ndarray, dt_s: float, scale: float = 1.0) -> np.ndarray:
        """Filter ``x`` observed ``dt_s`` seconds after the previous sample.

        ``dt_s <= 0`` (or a first or differently shaped sample) restarts the filter at ``x``.
        ``scale`` converts the speed to the units ``beta`` expects (face size in pixels)."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape or dt_s <= 0:
            self._x = x.copy()
            self._dx = np.zeros_like(x)
            return self._x.copy()
        p = self.params
        dx = (x - self._x) / dt_s
        a_d = self._alpha(p.d_cutoff_hz, dt_s)
        self._dx = self._dx + a_d * (dx - self._dx)
        cutoff = p.min_cutoff_hz + p.beta * np.abs(self._dx) / max(scale, 1e-6)
        a = self._alpha(cutoff, dt_s)
        self._x = self._x + a * (x - self._x)
        return self._x.copy()


@dataclass(frozen=True)
class Detection:
    """One raw face found by a detector, in pixel coordinates."""

    box: Box
    landmarks: np.ndarray | None = None  # (N, 2) float32 or None


def iou(a: Box, b: Box) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def _box_from_landmarks(points: np.ndarray) -> Box:
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return Box(float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def _to_rgb(bgr: np.ndarray) -> np.ndarray:
    if bgr.ndim == 2:
        return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    if bgr.shape[2] == 4:
        return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _to_gray(bgr: np.ndarray) -> np.ndarray:
    if bgr.ndim == 2:
        return bgr
    return cv2.cvtColor(bgr, cv2.COLOR_BGRA2GRAY if bgr.shape[2] == 4 else cv2.COLOR_BGR2GRAY)


class FaceTracker:
    """Base of the face trackers: selection, smoothing, face-lost and frame-skip logic.

    Subclasses implement :meth:`_detect`. Use as a context manager or call :meth:`close`.
    """

    name: str = ""
    #: IoU with the previous box above which a detection is "the same face".
    same_face_iou: float = 0.3
    #: A time step outside (0, max_gap_s] restarts the filters (seek, loop, long stall).
    max_gap_s: float = 1.0
    #: Mean absolute grey-level change of the face thumbnail that ends a hold (detect_every>1).
    held_change_threshold: float = 20.0
    #: How long the followed face may be unseen, while another face was seen within that time,
    #: before the tracker follows a face elsewhere (meanwhile: no face).
    switch_after_s: float = 1.0
    #: A lone face found again within this time of the followed one's loss, where it was lost (within
    #: a face width, about its size), with no other face seen since nor within ``switch_after_s``
    #: before, is the same person (same ``track_id``); otherwise a new one. 4 s: the estimator's HR
    #: belief, which the kept track carries, is forgotten 10 s after its last update
    #: (``HrPosteriorConfig.reset_after_s``) and the first window after a return needs 6 s.
    same_person_within_s: float = 4.0
    #: The followed face missed by the detector on the whole frame is looked for again in a square
    #: this many times its size around where it was last seen (:meth:`_detect_near`), while it was
    #: seen within ``switch_after_s``. With two faces in view MediaPipe misses one for 1-4.5 s now and
    #: then (small in a wide frame); on two-person clips of dev subjects 14 and 12 side by side the
    #: crop found it on all of its 1,275 missed frames (about 10 ms a call). None: off.
    look_near_scale: float | None = 2.0
    #: Track ids increase over the process's life (a tracker reset never reuses one).
    _track_ids = itertools.count(1)

    #: Filter tuning when none is given (subclasses adapt it to their detector's jitter).
    default_filter: OneEuroParams = OneEuroParams()

    def __init__(
        self,
        *,
        detect_every: int = 1,
        box_filter: OneEuroParams | None = None,
        landmark_filter: OneEuroParams | None = None,
    ) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        self.detect_every = int(detect_every)
        self._box_filter = OneEuroFilter(box_filter or self.default_filter)
        self._lm_filter = OneEuroFilter(landmark_filter or self.default_filter)
        self._closed = False
        self.reset()

    # --- to implement -------------------------------------------------------------------
    def _detect(self, frame: Frame) -> list[Detection]:
        raise NotImplementedError

    def _detect_near(self, frame: Frame, box: Box) -> list[Detection]:
        """Faces in the square ``look_near_scale`` times ``box``'s size around it, in frame
        coordinates (optional: none by default)."""
        return []

    def _reset_detector(self) -> None:
        """Forget detector-internal state (optional)."""

    def _close_detector(self) -> None:
        """Release detector resources (optional)."""

    # --- public API ---------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the tracked face (e.g. when the source changes)."""
        self._box_filter.reset()
        self._lm_filter.reset()
        self._unseen_s = math.inf  # since the followed face was last detected
        self._alone_s = math.inf  # since the detector last saw more than one face
        self._track_id = 0
        self._last_raw_box: Box | None = None  # the followed face's last raw box (kept while it is unseen)
        self._last_face = Face(ok=False, tracker=self.name)
        self._last_t_s: float | None = None
        self._nominal_dt_s = 1.0 / 30.0
        self._frames_since_detect = 0
        self._dt_since_detect_s: float | None = None
        self._thumb: np.ndarray | None = None
        self._reset_detector()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close_detector()

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def process(self, frame: Frame) -> Face:
        """Track the face in ``frame``; ``Face(ok=False)`` when none is seen."""
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
        dt_s = self._step_time(frame.t_s)
        # time since the last detection (what the filters see); None after a discontinuity
        if dt_s is None or self._dt_since_detect_s is None:
            self._dt_since_detect_s = None
        else:
            self._dt_since_detect_s += dt_s
        self._frames_since_detect += 1
        if (
            self._last_face.ok
            and self._frames_since_detect < self.detect_every
            and self._dt_since_detect_s is not None
            and not self._face_region_changed(frame)
        ):
            return self._last_face  # held between detections
        detections = self._detect(frame)
        face = self._update(detections, frame, self._dt_since_detect_s)
        self._frames_since_detect = 0
        self._dt_since_detect_s = 0.0
        self._last_face = face.held()  # what the frames held after it get
        self._thumb = self._face_thumbnail(frame, face.box) if face.ok else None
        return face

    # --- internals ----------------------------------------------------------------------
    @staticmethod
    def _face_thumbnail(frame: Frame, box: Box | None) -> np.ndarray | None:
        """Tiny grey thumbnail of the face box, to notice on held frames that the face left."""
        if box is None:
            return None
        img = frame.bgr
        height, width = img.shape[:2]
        x0, y0, w, h = box.clipped(width, height).as_int()
        if w < 4 or h < 4:
            return None
        patch = _to_gray(img[y0:y0 + h, x0:x0 + w])
        thumb = cv2.resize(patch, (_THUMB_PX, _THUMB_PX), interpolation=cv2.INTER_AREA)
        return thumb.astype(np.float32)

    def _face_region_changed(self, frame: Frame) -> bool:
        """True when the held face's region no longer looks like it did at the last detection
        (face gone, covered or moved fast): then detect now instead of holding a stale face."""
        if self._thumb is None:
            return True
        now = self._face_thumbnail(frame, self._last_face.box)
        if now is None or now.shape != self._thumb.shape:
            return True
        return float(np.mean(np.abs(now - self._thumb))) > self.held_change_threshold

    def _step_time(self, t_s: float) -> float | None:
        """Time since the previous frame; None when the filters must restart."""
        last, self._last_t_s = self._last_t_s, float(t_s)
        if last is None:
            return None
        dt_s = float(t_s) - last
        if 0.0 < dt_s <= self.max_gap_s:
            self._nominal_dt_s = dt_s
            return dt_s
        if -self.max_gap_s < dt_s <= 0.0:
            return self._nominal_dt_s  # repeated / slightly out-of-order stamp
        return None  # seek, loop or stall

    def _select(self, detections: list[Detection], width: int, height: int) -> Detection | None:
        """The detection to follow: the one overlapping the followed face's last box; while that
        face was seen within ``switch_after_s`` and so was another one, no other (None); else the
        largest, most central."""
        prev = self._prev_raw_box
        if prev is not None:
            overlaps = [iou(d.box, prev) for d in detections]
            best = int(np.argmax(overlaps))
            if overlaps[best] >= self.same_face_iou:
                return detections[best]
            if not self._alone:  # someone else is about: that face may not be the one followed
                return None
        half_diag = 0.5 * math.hypot(width, height)

        def score(d: Detection) -> float:
            dist = math.hypot(d.box.cx - width / 2.0, d.box.cy - height / 2.0)
            return d.box.area * (1.0 - 0.5 * min(dist / half_diag, 1.0))

        return max(detections, key=score)

    @property
    def _prev_raw_box(self) -> Box | None:
        """The followed face's last raw box while it was seen within ``switch_after_s``; None after that
        (or a time discontinuity): where it was is forgotten."""
        return self._last_raw_box if self._unseen_s <= self.switch_after_s else None

    @property
    def _alone(self) -> bool:
        """No second face seen for ``switch_after_s``: a face that jumped is the one followed."""
        return self._alone_s > self.switch_after_s

    def _look_near(self, frame: Frame, prev: Box, detections: list[Detection]) -> Detection | None:
        """The face :meth:`_detect_near` finds around ``prev`` that overlaps it most (at least
        ``same_face_iou``), not one of ``detections`` (the whole frame's) found again; None without
        one. A failing look is logged once and switched off for this tracker."""
        try:
            found = self._detect_near(frame, prev)
        except Exception:  # noqa: BLE001 - the whole frame's result stands without it
            log.warning("looking for a missed face near its last box failed; not tried again", exc_info=True)
            self.look_near_scale = None
            return None
        best, best_iou = None, self.same_face_iou
        for d in found:
            overlap = iou(d.box, prev)
            if overlap >= best_iou and all(iou(d.box, o.box) < 0.5 for o in detections):
                best, best_iou = d, overlap
        return best

    def _back_alone(self, detections: list[Detection]) -> bool:
        """One face found again within ``same_person_within_s`` of losing the followed one, where it
        was lost, no other face seen since nor within ``switch_after_s`` before: the same person, back."""
        lost = self._last_raw_box
        if not (self._track_id != 0 and len(detections) == 1 and self._unseen_s <= self.same_person_within_s
                and self._alone_s > self._unseen_s + self.switch_after_s and lost is not None):
            return False
        b = detections[0].box  # back where it was lost: within a face width, about its size
        size = max(lost.w, lost.h, 1.0)
        return (math.hypot(b.cx - lost.cx, b.cy - lost.cy) <= size
                and 1 / 1.5 <= max(b.w, b.h) / size <= 1.5)

    def _update(self, detections: list[Detection], frame: Frame, dt_s: float | None) -> Face:
        height, width = frame.bgr.shape[:2]
        self._unseen_s = math.inf if dt_s is None else self._unseen_s + dt_s
        prev = self._prev_raw_box
        if prev is not None and self.look_near_scale and all(iou(d.box, prev) < self.same_face_iou for d in detections):
            # missed where it was (alone, a face elsewhere would be taken for it): look closer
            near = self._look_near(frame, prev, detections)
            detections = detections if near is None else [*detections, near]
        self._alone_s = 0.0 if len(detections) > 1 else (math.inf if dt_s is None else self._alone_s + dt_s)
        chosen = self._select(detections, width, height) if detections else None
        if chosen is None and detections:  # a face seen and not taken for the followed one: someone else
            self._alone_s = 0.0
        if chosen is None:  # the filters restart: a face found again appears where it is, no glide
            self._box_filter.reset()
            self._lm_filter.reset()
            return Face(ok=False, tracker=self.name, n_faces=len(detections), track_id=self._track_id)
        same_place = prev is not None and iou(chosen.box, prev) >= self.same_face_iou
        new_person = False
        if (prev is None or not (same_place or self._alone)) and not self._back_alone(detections):
            # another person (or nobody followed before)
            # someone else, most likely, when a second face was in view where the followed one was last seen
            new_person = (self._track_id != 0 and math.isfinite(self._unseen_s)
                          and self._alone_s <= self._unseen_s + 1e-9)
            self._track_id = next(FaceTracker._track_ids)
        if not same_place or dt_s is None:  # another face or a time discontinuity: no glide
            self._box_filter.reset()
            self._lm_filter.reset()
        self._last_raw_box = chosen.box
        self._unseen_s = 0.0
        b = chosen.box
        step = dt_s if dt_s is not None else 0.0
        scale = max(b.w, b.h, 1.0)
        cx, cy, w, h = self._box_filter(np.array([b.cx, b.cy, b.w, b.h]), step, scale)
        box = Box(float(cx - w / 2.0), float(cy - h / 2.0), float(w), float(h))
        landmarks = None
        if chosen.landmarks is not None:
            landmarks = self._lm_filter(chosen.landmarks, step, scale).astype(np.float32)
        return Face(ok=True, box=box, landmarks=landmarks, tracker=self.name,
                    n_faces=len(detections), track_id=self._track_id, new_person=new_person)


def _close_before_thread_shutdown(landmarker: Any) -> None:
    """Close a landmarker left open at interpreter exit before Python stops its worker threads.

    MediaPipe runs its C calls on a ThreadPoolExecutor; a landmarker still open at exit is
    closed by its ``__del__`` after that executor has shut down, which prints a traceback.
    ``atexit`` runs too late, so this uses the hook ``concurrent.futures`` itself uses (and does
    nothing where it is missing). Only a weak reference is kept.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is None:
        return
    ref = weakref.ref(landmarker)

    def close_if_alive() -> None:
        obj = ref()
        if obj is not None:
            obj.close()

    try:
        register(close_if_alive)
    except RuntimeError:  # already shutting down
        pass


# mediapipe.tasks.python.vision imports its drawing helpers, and with them matplotlib.pyplot, which
# nothing here calls: about 0.5 s of CPU at every start of ``analyze`` and the app (this 2-core
# machine). mediapipe.tasks.python imports its audio tasks, and with them sounddevice: 70 ms of
# the 110 ms that importing mediapipe takes. An import hook gives those modules placeholders that
# import the real module when one of its attributes is first read.
_MEDIAPIPE_DEFERRED = ("mediapipe.tasks.python.vision.drawing_utils", "mediapipe.tasks.python.vision.drawing_styles",
                       "mediapipe.tasks.python.audio")


class _LoadedOnFirstUse(types.ModuleType):
    """Placeholder module: the real one is imported when an attribute is first read. (A submodule
    of the audio package cannot be imported by its full name while the placeholder stands in for
    it, ``import mediapipe.tasks.python.audio.audio_classifier``; ``from
    mediapipe.tasks.python import audio`` and then ``audio.AudioClassifier`` work. Nothing here
    uses MediaPipe's audio tasks.)"""

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        _DeferredImports.released.add(self.__name__)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


class _DeferredImports(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The import hook that hands out the placeholders (until a module is released)."""

    released: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        if name in _MEDIAPIPE_DEFERRED and name not in self.released:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return _LoadedOnFirstUse(spec.name)

    def exec_module(self, module) -> None:
        pass


def _defer_mediapipe_extras() -> None:
    """Install the hook (once; not when mediapipe's tasks are already imported)."""
    if "mediapipe.tasks.python" in sys.modules or any(isinstance(f, _DeferredImports) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _DeferredImports())


class MediaPipeFaceTracker(FaceTracker):
    """MediaPipe Face Landmarker (Tasks API, VIDEO mode): box and 478 landmarks."""

    name = "mediapipe"
    # Landmark jitter is small (~0.15 px on a static face): favour responsiveness.
    default_filter = OneEuroParams(min_cutoff_hz=1.0, beta=10.0, d_cutoff_hz=1.5)

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        num_faces: int = 3,
        detect_every: int = 1,
        **kwargs: Any,
    ) -> None:
        _defer_mediapipe_extras()
        import mediapipe as mp

        self._mp = mp
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"face model not found: {path}")
        self.model_path = path
        self._landmarker = self._new_landmarker(video=True, num_faces=int(num_faces))
        self._near_landmarker: Any = None  # up to two faces in a still image: made at the first miss
        self.num_faces = int(num_faces)
        self._last_ts_ms = -1
        super().__init__(detect_every=detect_every, **kwargs)

    def _new_landmarker(self, *, video: bool, num_faces: int) -> Any:
        """A Face Landmarker on ``model_path``: video mode (timestamps, tracking between frames) or
        still images; closed before Python's worker threads stop at exit."""
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            num_faces=num_faces,
        )
        landmarker = vision.FaceLandmarker.create_from_options(options)
        _close_before_thread_shutdown(landmarker)
        return landmarker

    @staticmethod
    def _detections(result: Any, width: int, height: int, x0: int = 0, y0: int = 0) -> list[Detection]:
        """The landmarker's faces (normalised to an image ``width`` x ``height`` whose corner lies at
        ``x0``, ``y0`` of the frame) in frame pixels."""
        scale = np.array([width, height], dtype=np.float32)
        offset = np.array([x0, y0], dtype=np.float32)
        detections = []
        for face_landmarks in result.face_landmarks:
            pts = np.array([(p.x, p.y) for p in face_landmarks], dtype=np.float32) * scale + offset
            detections.append(Detection(_box_from_landmarks(pts), pts))
        return detections

    def _close_detector(self) -> None:
        try:
            self._landmarker.close()
        finally:
            if self._near_landmarker is not None:
                self._near_landmarker.close()

    def _timestamp_ms(self, t_s: float) -> int:
        """Strictly increasing integer ms, even when ``t_s`` repeats or goes back (loops).

        Not cleared by :meth:`reset`: the landmarker itself cannot be reset."""
        ts_ms = int(round(t_s * 1000.0))
        if ts_ms <= self._last_ts_ms:
            ts_ms = self._last_ts_ms + 1
        self._last_ts_ms = ts_ms
        return ts_ms

    def _detect(self, frame: Frame) -> list[Detection]:
        rgb = _to_rgb(frame.bgr)
        height, width = rgb.shape[:2]
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        result = self._landmarker.detect_for_video(image, self._timestamp_ms(frame.t_s))
        return self._detections(result, width, height)

    def _detect_near(self, frame: Frame, box: Box) -> list[Detection]:
        """The Face Landmarker (image mode, up to two faces: a neighbour's head may reach into the
        crop) on the square crop around ``box``: a face small in a wide frame, which the whole-frame
        pass misses now and then, fills it."""
        side = self.look_near_scale * max(box.w, box.h)
        height, width = frame.bgr.shape[:2]
        x0, y0 = max(int(box.cx - side / 2.0), 0), max(int(box.cy - side / 2.0), 0)
        x1, y1 = min(int(box.cx + side / 2.0), width), min(int(box.cy + side / 2.0), height)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return []
        if self._near_landmarker is None:
            self._near_landmarker = self._new_landmarker(video=False, num_faces=2)
        crop = np.ascontiguousarray(_to_rgb(frame.bgr[y0:y1, x0:x1]))
        result = self._near_landmarker.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=crop))
        return self._detections(result, x1 - x0, y1 - y0, x0, y0)


def haar_cascade_path() -> Path:
    return Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"


class OpenCvFaceTracker(FaceTracker):
    """Haar-cascade fallback: box only (``landmarks`` is None)."""

    name = "opencv"
    # Haar boxes jump by whole scale steps (~1 px centre, ~5 px size): smooth harder.
    default_filter = OneEuroParams(min_cutoff_hz=0.5, beta=4.0, d_cutoff_hz=1.0)

    def __init__(
        self,
        detect_every: int = 1,
        *,
        work_width_px: int = 320,
        min_face_frac: float = 0.2,
        **kwargs: Any,
    ) -> None:
        path = haar_cascade_path()
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"could not load the Haar cascade {path}")
        self.work_width_px = int(work_width_px)
        self.min_face_frac = float(min_face_frac)
        super().__init__(detect_every=detect_every, **kwargs)

    def _detect(self, frame: Frame) -> list[Detection]:
        gray = _to_gray(frame.bgr)
        height, width = gray.shape[:2]
        factor = min(1.0, self.work_width_px / float(width))
        if factor < 1.0:
            gray = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        rects: Any = ()
        prev = self._prev_raw_box
        if prev is not None:
            # While tracking, search only sizes near the tracked face's (about 2x faster);
            # the whole frame is still scanned, so similar-sized faces are still counted.
            size = max(prev.w, prev.h) * factor
            lo, hi = int(size / _HAAR_SIZE_RANGE), int(np.ceil(size * _HAAR_SIZE_RANGE))
            rects = self._cascade.detectMultiScale(
                gray, scaleFactor=1.1, minNeighbors=5, minSize=(lo, lo), maxSize=(hi, hi))
        if len(rects) == 0:
            min_px = max(16, int(self.min_face_frac * min(gray.shape[:2])))
            rects = self._cascade.detectMultiScale(
                gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_px, min_px))
        inv = 1.0 / factor
        return [Detection(Box(x * inv, y * inv, w * inv, h * inv)) for (x, y, w, h) in rects]


class FaceTrackerRequestError(RuntimeError):
    """An explicit request (``--face-model PATH``, ``--tracker mediapipe``) cannot be met.

    Its text is one short line for the user; callers exit with status 2 (command line) or
    refuse to start (app) instead of running another tracker than the one asked for."""


TRACKER_CHOICES = ("auto", "mediapipe", "opencv")


def _filters(cls: type[FaceTracker], min_cutoff_hz: float | None) -> dict:
    """Box and landmark filter arguments of ``cls`` with another cutoff at rest (none: its own)."""
    if min_cutoff_hz is None:
        return {}
    params = dataclasses.replace(cls.default_filter, min_cutoff_hz=float(min_cutoff_hz))
    return {"box_filter": params, "landmark_filter": params}


def create_face_tracker(
    model_path: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool = True,
    prefer: str = "auto",
    num_faces: int = 3,
    detect_every: int = 2,
    cache_dir: str | os.PathLike[str] | None = None,
    min_cutoff_hz: float | None = None,
) -> tuple[FaceTracker, str]:
    """The best available tracker and a one-line message for the user.

    ``prefer="opencv"`` forces the Haar fallback. Otherwise the MediaPipe model is resolved
    (explicit path, ``FCUS_FACE_MODEL``, the shipped bundle, user cache, download); with
    ``prefer="auto"`` a failure there or in MediaPipe itself returns the OpenCV tracker and a
    WARNING says why. An explicit ``model_path`` that cannot be used, or ``prefer="mediapipe"``
    when MediaPipe cannot run, raises :class:`FaceTrackerRequestError` instead. ``min_cutoff_hz``
    replaces the tracker's One-Euro cutoff at rest (box and landmarks).
    """
    if prefer not in TRACKER_CHOICES:
        raise ValueError(f"prefer must be one of {', '.join(TRACKER_CHOICES)}, got {prefer!r}")
    if prefer == "opencv":
        message = "Face tracking: OpenCV Haar cascade (as requested); no landmarks."
        log.info(message)
        return OpenCvFaceTracker(detect_every=detect_every, **_filters(OpenCvFaceTracker, min_cutoff_hz)), message

    resolution = resolve_face_model(model_path, allow_download=allow_download, cache_dir=cache_dir)
    if resolution.detail and resolution.detail != resolution.message:
        log.info("%s", resolution.detail)
    reason = resolution.message
    if resolution.explicit_unmet:
        raise FaceTrackerRequestError(reason)
    if resolution.path is not None:
        try:
            tracker = MediaPipeFaceTracker(resolution.path, num_faces=num_faces, detect_every=detect_every,
                                           **_filters(MediaPipeFaceTracker, min_cutoff_hz))
        except ImportError as exc:  # mediapipe missing or broken
            log.warning("MediaPipe cannot be imported: %s", exc)
            reason = "MediaPipe is missing or broken; reinstall fcus-rppg"
            if resolution.source == "explicit":
                raise FaceTrackerRequestError(reason) from exc
        except Exception as exc:  # not a Face Landmarker bundle, truncated, ...
            log.warning("MediaPipe face tracker failed to start on %s: %s", resolution.path, exc)
            if resolution.source == "explicit":
                raise FaceTrackerRequestError(
                    f"Face model unreadable: {resolution.path}; "
                    "pass --face-model FILE with a Face Landmarker .task bundle") from exc
            reason = f"Face model unreadable: {resolution.path}; {FIX_HINT}"
        else:
            message = f"Face tracking: MediaPipe Face Landmarker ({resolution.message})."
            log.info(message)
            return tracker, message
    if prefer == "mediapipe":
        raise FaceTrackerRequestError(f"MediaPipe face tracker unavailable: {reason}")
    message = f"Face tracking: OpenCV fallback (coarser skin region). {reason}"
    log.warning(message)
    return OpenCvFaceTracker(detect_every=detect_every, **_filters(OpenCvFaceTracker, min_cutoff_hz)), message
