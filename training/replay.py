"""Replay and scoring: any pulse method on a cached recording, scored against its contact PPG.

One tracking pass per recording (``training.crop_cache``) feeds every method on the same grid
points: the FCUS model (the shipped ONNX model through ``make_pulse_method("fcus")``, or the torch
net during training through ``training.fcus_eval.TorchPulseMethod``) reads the skin-masked face
crops, the classic methods the skin-mean colour ("skin") or the fixed first face box ("box", the
classic baseline ROI). Every method runs through the streaming estimator the app uses.

Scores (``training.metrics``): HR on consecutive 10 s and 20 s windows against the reference HR of
the same window, per recording, pooled and per subject; the HR stream as the app shows it: the
share of HR updates the quality gate lets through (coverage) and the error of the shown readings
against the reference over the trailing 10 s; and the whole-clip HR (``model.analyze``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from model.estimator import EstimatorConfig, StreamingEstimator
from model.pulse_methods import PulseMethod, estimator_config
from model.types import RoiSample
from training.metrics import HrMetrics, WindowHr, hr_metrics, mean_window_hr, window_hr, window_pairs

WINDOWS_S = (10.0, 20.0)
SHOWN_REF_S = 10.0  # a shown reading is compared with the reference over its trailing 10 s
ROIS = ("skin", "box")


def roi_samples(cached, roi: str = "skin", with_crops: bool = False) -> list[RoiSample]:
    """ROI samples of a cached recording on its uniform grid: the skin-mean colour ("skin", with
    the skin-masked crops when ``with_crops``) or the fixed-first-box mean ("box")."""
    if roi not in ROIS:
        raise ValueError(f"unknown ROI {roi!r}; choose one of {ROIS}")
    if roi == "box":
        if with_crops:
            raise ValueError("the fixed-box ROI has no crops: a crop method reads roi='skin'")
        if cached.rgb_box is None:
            raise ValueError(f"{cached.name}: the cache entry has no fixed-box means (rebuild it)")
        rgb = np.asarray(cached.rgb_box, dtype=np.float64)
        valid = np.isfinite(rgb).all(axis=1)
    else:
        rgb = np.asarray(cached.rgb_mean, dtype=np.float64)
        valid = np.asarray(cached.valid, dtype=bool)
    nan3 = np.full(3, np.nan)
    face = cached.face
    return [RoiSample(t_s=float(t), face_ok=bool(ok), rgb_mean=rgb[i] if ok else nan3,
                      crop=np.asarray(face[i], dtype=np.float32) if (ok and with_crops) else None)
            for i, (t, ok) in enumerate(zip(cached.t_s, valid))]


@dataclass(frozen=True)
class Replay:
    """One method's pass over one recording: the estimator (readings, BVP stream), its BVP at the
    grid points and the seconds the replay took."""

    estimator: StreamingEstimator
    bvp: np.ndarray
    compute_s: float


def replay(cached, method: PulseMethod, roi: str = "skin", cfg: EstimatorConfig | None = None) -> Replay:
    """Run ``method`` over the cached recording through the streaming estimator."""
    samples = roi_samples(cached, roi, with_crops=bool(method.needs_crops))
    est = StreamingEstimator(method, cfg or estimator_config(method.name, EstimatorConfig(fs_hz=cached.fs_hz)))
    t0 = time.perf_counter()
    for s in samples:
        est.push_roi(s)
    est.finish()
    bvp = est.bvp_at(np.asarray(cached.t_s, dtype=np.float64))
    return Replay(est, bvp, time.perf_counter() - t0)


@dataclass(frozen=True)
class ClipScore:
    """One method on one recording. ``pairs`` is empty, and the errors are, without a reference."""

    name: str
    pairs: dict[float, tuple[WindowHr, ...]]
    n_updates: int  # HR updates of the estimator
    n_shown: int  # updates with a reading the quality gate let through
    shown_err_bpm: tuple[float, ...]  # shown reading - reference over its trailing SHOWN_REF_S
    clip_hr_bpm: float | None
    ref_hr_bpm: float | None
    media_s: float
    compute_s: float  # tracking pass + replay
    shown_time_share: float = float("nan")  # share of the time a reading was shown (each holds until the next update)
    first_shown_s: float | None = None  # seconds from the first face to the first shown reading


def reference(cached) -> tuple[np.ndarray, np.ndarray] | None:
    """(t_s, ppg) of the contact reference (seconds from the first frame, the cache's clock)."""
    gt = cached.ground_truth()
    if gt is None or gt.ppg is None:
        return None
    return np.asarray(gt.t_s, dtype=np.float64), np.asarray(gt.ppg, dtype=np.float64)


def reading_errors(readings, ref_t: np.ndarray, ref_ppg: np.ndarray, *, raw: bool = False,
                   from_t_s: float | None = None) -> tuple[float | None, ...]:
    """Each update's reading minus the reference HR over its trailing ``SHOWN_REF_S`` (updates
    without a reference there are left out): the shown reading (``hr_bpm``; updates without one
    are left out), or with ``raw`` the window's own (``hr_raw_bpm``, before the gate; None where
    the window had none). ``from_t_s``: only the updates from then on."""
    errs: list[float | None] = []
    for r in readings:
        if from_t_s is not None and r.t_s < from_t_s - 1e-6:
            continue
        hr = r.hr_raw_bpm if raw else r.hr_bpm
        if hr is None and not raw:
            continue
        ref = window_hr(ref_t, ref_ppg, r.t_s - SHOWN_REF_S, r.t_s)
        if ref is not None:
            errs.append(None if hr is None else float(hr - ref))
    return tuple(errs)


RAW_FROM_S = 10.0  # raw readings are scored from the signal's 10th second on (a full 10 s window behind each)


def raw_reading_errors(cached, readings, from_s: float = RAW_FROM_S) -> list[float | None]:
    """Each update's raw reading (before the gate) minus the reference over its trailing
    ``SHOWN_REF_S``, from ``from_s`` after the recording's first sample on (None: no reading
    there); updates without a reference are left out."""
    return list(reading_errors(readings, *reference(cached), raw=True, from_t_s=float(cached.t_s[0]) + from_s))


def shown_errors(readings, ref_t: np.ndarray, ref_ppg: np.ndarray) -> tuple[float, ...]:
    """Each shown reading (``hr_bpm`` not None) minus the reference HR over its trailing
    ``SHOWN_REF_S`` (readings without a reference there are left out)."""
    return reading_errors(readings, ref_t, ref_ppg)  # type: ignore[return-value]  # no None: raw is off


def first_reading_s(cached, readings) -> float | None:
    """Seconds from the first grid point with a face to the first shown reading (None: none)."""
    valid = np.asarray(cached.valid, dtype=bool)
    shown = [r.t_s for r in readings if r.hr_bpm is not None]
    if not valid.any() or not shown:
        return None
    return float(shown[0]) - float(cached.t_s[int(np.argmax(valid))])


def shown_time_share(readings) -> float:
    """Share of the time from the first update on that a reading was shown: each update's reading
    holds until the next update (the last one for the median interval). Unlike the share of the
    updates, it does not depend on how often updates come."""
    if len(readings) < 2:
        return float("nan")
    t = np.array([r.t_s for r in readings], dtype=np.float64)
    gaps = np.diff(t)
    held = np.append(gaps, np.median(gaps))
    shown = np.array([r.hr_bpm is not None for r in readings])
    return float(held[shown].sum() / held.sum())


def score_recording(cached, method: PulseMethod, roi: str = "skin", cfg: EstimatorConfig | None = None) -> ClipScore:
    """Replay ``method`` on ``cached`` and score it against the recording's reference (if any)."""
    from model.clip_hr import whole_clip_hr

    run = replay(cached, method, roi, cfg)
    est = run.estimator
    n_shown = sum(r.hr_bpm is not None for r in est.readings)
    tg, vg = est.bvp_stream()
    c = est.cfg
    clip_hr = whole_clip_hr(tg, vg, c.fs_hz, lo_bpm=c.lo_bpm, hi_bpm=c.hi_bpm).hr_bpm if len(tg) else None
    common = dict(name=cached.name, n_updates=len(est.readings), n_shown=n_shown, clip_hr_bpm=clip_hr,
                  media_s=cached.media_s, compute_s=cached.track_s + run.compute_s,
                  shown_time_share=shown_time_share(est.readings),
                  first_shown_s=first_reading_s(cached, est.readings))
    ref = reference(cached)
    if ref is None:
        return ClipScore(pairs={}, shown_err_bpm=(), ref_hr_bpm=None, **common)
    t = np.asarray(cached.t_s, dtype=np.float64)
    pairs = {w: tuple(window_pairs(t, run.bvp, ref[0], ref[1], w)) for w in WINDOWS_S}
    return ClipScore(pairs=pairs, shown_err_bpm=shown_errors(est.readings, *ref),
                     ref_hr_bpm=reference_clip_hr(cached.name, *ref), **common)


_REF_CLIP_HR: dict[tuple, float | None] = {}


def reference_clip_hr(name: str, ref_t: np.ndarray, ref_ppg: np.ndarray) -> float | None:
    """The contact PPG's average HR over the whole recording (``training.metrics.mean_window_hr``),
    the truth a whole-clip HR is scored against; kept per recording (studies score one recording
    many times)."""
    key = (name, len(ref_t), float(ref_t[0]), float(ref_t[-1]), hash(np.ascontiguousarray(ref_ppg).tobytes()))
    if key not in _REF_CLIP_HR:
        _REF_CLIP_HR[key] = mean_window_hr(ref_t, ref_ppg, float(ref_t[0]), float(ref_t[-1]))
    return _REF_CLIP_HR[key]


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def subject_key(name: str) -> tuple[int, str]:
    """Sort key of subject names: their number (subject3 before subject10), then the name."""
    digits = "".join(c for c in name if c.isdigit())
    return (int(digits) if digits else 0, name)


@dataclass
class MethodScore:
    """A method's clip scores, pooled. A subject may appear in several clips (seeds, folds)."""

    method: str
    roi: str = "skin"
    dataset: str = ""
    clips: list[ClipScore] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.method if self.roi == "skin" else f"{self.method}/{self.roi}"

    def pairs(self, window_s: float) -> list[WindowHr]:
        return [p for c in self.clips for p in c.pairs.get(window_s, ())]

    def metrics(self, window_s: float) -> HrMetrics:
        return hr_metrics(self.pairs(window_s))

    @property
    def coverage(self) -> float:
        """Share of the HR updates that showed a reading."""
        return _ratio(sum(c.n_shown for c in self.clips), sum(c.n_updates for c in self.clips))

    @property
    def time_coverage(self) -> float:
        """Share of the time a reading was shown (clips weighted by their duration)."""
        ok = [c for c in self.clips if np.isfinite(c.shown_time_share)]
        return _ratio(sum(c.shown_time_share * c.media_s for c in ok), sum(c.media_s for c in ok))

    @property
    def shown_mae_bpm(self) -> float:
        """Mean absolute error of the shown readings (against the trailing 10 s reference)."""
        errs = [abs(e) for c in self.clips for e in c.shown_err_bpm]
        return float(np.mean(errs)) if errs else float("nan")

    @property
    def shown_within5(self) -> float:
        """Share of the shown readings within 5 bpm of the trailing 10 s reference."""
        errs = [abs(e) for c in self.clips for e in c.shown_err_bpm]
        return float(np.mean(np.asarray(errs) < 5.0)) if errs else float("nan")

    @property
    def x_real_time(self) -> float:
        return _ratio(sum(c.media_s for c in self.clips), sum(c.compute_s for c in self.clips))

    def subjects(self) -> list[str]:
        return sorted({c.name for c in self.clips}, key=subject_key)

    def subject(self, name: str) -> MethodScore:
        return MethodScore(self.method, self.roi, self.dataset, [c for c in self.clips if c.name == name])

    def renamed(self, method: str) -> MethodScore:
        return MethodScore(method, self.roi, self.dataset, list(self.clips))

    def summary(self) -> dict:
        """JSON-ready: the window metrics, the HR stream's numbers and each clip's whole-clip HR."""
        return {
            "dataset": self.dataset, "roi": self.roi, "method": self.method,
            "metrics": {f"{w:.0f}s": self.metrics(w).row() for w in WINDOWS_S},
            "coverage": _finite(self.coverage), "shown_mae_bpm": _finite(self.shown_mae_bpm),
            "x_real_time": _finite(self.x_real_time),
            "per_clip": [{"clip": c.name, "hr_est": c.clip_hr_bpm, "hr_ref": c.ref_hr_bpm,
                          "shown": _ratio(c.n_shown, c.n_updates)} for c in self.clips],
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def pooled(name: str, scores: Iterable[MethodScore]) -> MethodScore:
    """One score holding the clips of all ``scores`` (folds, seeds), named ``name``."""
    scores = list(scores)
    first = scores[0] if scores else MethodScore(name)
    return MethodScore(name, first.roi, first.dataset, [c for s in scores for c in s.clips])


def score_method(method: PulseMethod, recordings: Sequence, roi: str = "skin", *, label: str | None = None,
                 dataset: str = "", cfg: EstimatorConfig | None = None) -> MethodScore:
    """``method`` replayed and scored on every cached recording."""
    return MethodScore(label or method.name, roi, dataset,
                       [score_recording(cached, method, roi, cfg) for cached in recordings])
