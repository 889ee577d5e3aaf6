"""Values that travel between the stages of the pipeline (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One captured frame. ``t_s`` comes from the source clock (camera or container), never from
    an assumed frame rate. ``bgr`` is uint8 HxWx3 as OpenCV delivers it."""

    index: int
    t_s: float
    bgr: np.ndarray


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in pixel coordinates (float)."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2.0

    @property
    def cy(self) -> float:
        return self.y + self.h / 2.0

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    def clipped(self, width: int, height: int) -> "Box":
        x0 = min(max(self.x, 0.0), float(width))
        y0 = min(max(self.y, 0.0), float(height))
        x1 = min(max(self.x + self.w, 0.0), float(width))
        y1 = min(max(self.y + self.h, 0.0), float(height))
        return Box(x0, y0, x1 - x0, y1 - y0)

    def as_int(self) -> tuple[int, int, int, int]:
        return int(round(self.x)), int(round(self.y)), int(round(self.w)), int(round(self.h))


@dataclass(frozen=True)
class Face:
    """Result of the face tracker for one frame.

    ``ok`` is False when no face is seen: then ``box`` and ``landmarks`` are None (never a stale
    box). ``landmarks`` are (N, 2) float32 pixel coordinates (478 for MediaPipe, None for the
    OpenCV fallback). ``tracker`` names the tracker that produced it ("mediapipe" | "opencv").
    ``track_id`` numbers the person followed: it changes when the tracker starts following a
    face that is not the one it followed before (0: none yet), and a pulse signal must not run
    across a change; ``new_person`` is True on the first face of a track begun while another face
    was in view: most likely someone else than the person measured before (a lone face that comes
    back is not flagged, and where it was lost, within ``FaceTracker.same_person_within_s``, with
    nobody else seen, keeps its track; only the first face of a track is flagged).
    ``n_faces`` counts the faces seen in the frame, the followed one included.
    """

    ok: bool
    box: Box | None = None
    landmarks: np.ndarray | None = None
    tracker: str = ""
    n_faces: int = 0
    track_id: int = 0
    new_person: bool = False

    def held(self) -> "Face":
        """This face on a later frame (held or interpolated between detections): the same person, so
        not flagged ``new_person``: the flag stays on the frame whose detection began the track."""
        return replace(self, new_person=False) if self.new_person else self


@dataclass(frozen=True)
class RoiSample:
    """What the ROI stage extracts from one frame.

    ``rgb_mean``: mean R, G, B (float64, 0..255) over the skin region, NaN when no face.
    ``crop``: stabilised face crop, float32 RGB HxWx3 in 0..255 (model input), None when no face
    or when no crop was asked for. ``skin_pixels``: number of pixels averaged.
    """

    t_s: float
    face_ok: bool
    rgb_mean: np.ndarray
    skin_pixels: int = 0
    crop: np.ndarray | None = None
    box: Box | None = None


@dataclass(frozen=True)
class HrReading:
    """One heart-rate update. ``hr_bpm`` is None while the quality gate withholds the reading;
    ``hr_raw_bpm`` is the spectral estimate regardless of the gate (for diagnostics);
    ``withheld`` says why there is no reading (one of ``model.estimator.WITHHELD_REASONS``; empty
    when ``hr_bpm`` is set); ``check_hr_bpm`` the cross-check methods' own HRs of the same window
    (``EstimatorConfig.check_methods``, in that order; None where one has no estimate)."""

    t_s: float
    hr_bpm: float | None
    quality: float
    hr_raw_bpm: float | None = None
    snr_db: float = float("nan")
    withheld: str = ""
    check_hr_bpm: tuple[float | None, ...] = ()
    # the window's evidence (model.signal.reading_features.ReadingFeatures) when the estimator
    # computed it (a learned reading quality, or EstimatorConfig.keep_features)
    features: object | None = None


# Why there is no HRV (HrvWithheld.code)
HRV_NO_HR = "no_hr"  # it comes with a heart rate, and the last update showed none
HRV_GAP = "gap"  # the signal ends in a gap (the face just lost)
HRV_SHORT = "short"  # too little signal without a gap
HRV_WEAK = "weak"  # the pulse too weak for beat-to-beat times
HRV_BEATS = "beats"  # too few clean beats


@dataclass(frozen=True)
class HrvWithheld:
    """Why an update has no HRV: ``code`` (one of the ``HRV_*`` codes above), the figures behind it
    where it has some, and ``text``, the estimator's sentence (summary.json's ``hrv_withheld``).
    A display words it from the code and the figures, never from the text."""

    code: str
    text: str
    hr_withheld: str = ""  # HRV_NO_HR: why the update showed no heart rate (HrReading.withheld)
    need_s: float | None = None  # HRV_SHORT, HRV_GAP: the gap-free signal HRV needs (s)
    snr_db: float | None = None  # HRV_WEAK: the median SNR over the stretch (dB)
    over_s: float | None = None  # HRV_WEAK: the stretch's length (s)
    need_snr_db: float | None = None  # HRV_WEAK: the median SNR HRV needs (dB)


@dataclass(frozen=True)
class HrvMetrics:
    """Heart-rate variability from beat times (time domain)."""

    n_beats: int
    mean_ibi_ms: float
    sdnn_ms: float
    rmssd_ms: float
    pnn50: float  # share (0..1) of successive differences over 50 ms
