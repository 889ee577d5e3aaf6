"""``fcus-rppg analyze SOURCE``: the offline run of the streaming estimator over a video file, a
recorded session folder or a folder of frame images (:func:`model.frame_source.open_frame_source`).

Writes ``DIR/bvp.csv`` (t_s,bvp: one row per frame, the source's real times from 0: container
times for a video, frames.csv's for a session), ``DIR/hr.csv`` (t_s,hr_bpm,quality,withheld,person:
one row per update, hr_bpm empty while the quality gate withholds, withheld then saying why, person
numbering the people measured one after the other) and
``DIR/summary.json`` (with the source's kind and where its times came from under ``source``;
``fps_hz`` is measured from those times).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import logging
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import closing
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

import numpy as np

from model.batch_analyze import (
    SUMMARY_CSV,
    BatchJob,
    duplicate_count,
    expand_sources,
    result_dirs,
    run_batch,
    skipped_files,
    write_summary,
)
from model.clip_hr import ClipHr, whole_clip_hr
from model.estimator import (
    WINDOW_S_RANGE,
    WITHHELD_ACQUIRING,
    WITHHELD_NO_COLOUR,
    WITHHELD_NO_FACE,
    WITHHELD_REASONS,
    EstimatorConfig,
    StreamingEstimator,
)
from model.face_tracking import TRACKER_CHOICES, FaceTrackerRequestError
from model.fcus_contract import weights_beside
from model.frame_source import open_frame_source
from model.keyframe_tracking import KeyframeConfig, create_keyframe_tracker
from model.prefetch import prefetch
from model.profile import Profiler, decode_floor, process_age_s, profile_table
from model.pulse_methods import (
    PULSE_METHODS,
    default_method,
    estimator_config,
    make_pulse_method,
    method_spec,
    model_file_method,
    reliable_rule,
    roi_extractor_for,
)
from model.results_io import OutDirError, check_out_dir, write_files_atomic
from model.video_source import SHORT_READ_SHARE, SourceError

log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
EXIT_NO_FACE = 3


@dataclass
class AnalyzeResult:
    frame_t_s: np.ndarray
    frame_bvp: np.ndarray
    summary: dict
    estimator: StreamingEstimator
    # frame times where the tracker began measuring another person (Face.new_person): hr.csv's person
    # column counts them (readings from the first such time on are person 2, ...)
    person_t_s: tuple[float, ...] = ()


def clip_hr_reliability(shown_bpm: list[float], n_judged: int, clip_hr_bpm: float | None,
                        method: str | None = None, path_gap_bpm: float | None = None) -> dict:
    """A summary's ``hr_reliable`` and ``hr_reliable_why_not`` (empty when reliable) by ``method``'s
    rule (``MethodSpec.reliable``, ``model.reliable_rule``; the default rule for None or a name
    outside the registry): enough judged HR updates showed a reading, and the whole-clip HR agrees
    with them (``path_gap_bpm``: ``model.clip_hr.ClipHr.gap_to`` of the shown readings)."""
    why = reliable_rule(method).why_not(shown_bpm, n_judged, clip_hr_bpm, path_gap_bpm)
    return {"hr_reliable": not why, "hr_reliable_why_not": why}


def with_people(reliability: dict, people: int) -> dict:
    """``reliability`` (:func:`clip_hr_reliability`), or not reliable when more than one person was
    measured one after the other (``Face.new_person``): one HR for the clip would blend them."""
    if people <= 1:
        return reliability
    return {"hr_reliable": False, "hr_reliable_why_not": (
        f"{people} people were measured one after the other (the one measured was not seen for a second while "
        "another face was): the clip's HR mixes them; hr.csv's person column has each one's readings")}


def withheld_counts(updates: Iterable[tuple[float | None, str]]) -> dict[str, int]:
    """A summary's ``withheld_counts``: why the updates without a reading had none, counted (hr.csv's
    ``withheld`` column over its rows with an empty ``hr_bpm``). ``updates``: (hr_bpm or None, withheld)."""
    return dict(Counter(why for hr_bpm, why in updates if hr_bpm is None))


def clip_hr_fields(clip: ClipHr, reliable: bool) -> dict:
    """A summary's whole-clip HR fields (``ClipHr.as_dict``), with ``hr_interval_bpm`` None when the
    HR is not reliable: the interval is meant for a confirmed HR (the console gives none either), and
    "93.9 +- 4.3" would read as one."""
    fields = clip.as_dict()
    if not reliable:
        fields["hr_interval_bpm"] = None
    return fields


# Frames queued after each of the pipeline's threads (about 1 MB each at 640x480).
PIPELINE_DEPTH = 16
# Sources of a batch analysed at once. One analyze keeps about 1.5 cores busy; on this 2-core CPU
# the 8 dev clips took 45.7 s one at a time and 38.7 s two at a time (docs/speed.md, "Speed").
DEFAULT_JOBS = max(1, min(4, os.cpu_count() or 1))


def window_config(window_s: float) -> EstimatorConfig:
    """The estimator's settings for ``--window-s``: a first reading no later than one window."""
    return EstimatorConfig(window_s=window_s, min_window_s=min(EstimatorConfig.min_window_s, window_s))


def run_analysis(video: str | Path, method_name: str = "pos", *, face_model: str | None = None,
                 allow_download: bool = True, tracker_kind: str = "auto", model_path: str | None = None,
                 config: EstimatorConfig | None = None, progress: bool = True,
                 profiler: Profiler | None = None, keyframes: KeyframeConfig | None = None,
                 depth: int = PIPELINE_DEPTH, images_fps_hz: float | None = None) -> AnalyzeResult:
    """Run the estimator over ``video`` (any path :func:`open_frame_source` opens). Raises
    SourceError for unreadable input and FaceTrackerRequestError when ``face_model`` or
    ``tracker_kind="mediapipe"`` cannot be met. With a ``profiler`` every stage's time is counted
    into it (:mod:`model.profile`). The face is tracked on key frames (``keyframes``,
    :mod:`model.keyframe_tracking`); decode and tracking run in threads of their own, each at most
    ``depth`` frames ahead of the next stage (0: all in this thread)."""
    from tqdm import tqdm

    from model.opencv_threads import limit_opencv_threads

    limit_opencv_threads()
    source = open_frame_source(video, images_fps_hz=images_fps_hz)
    # a classic method ignores model_path; the model gets one ONNX Runtime thread: the pipeline's
    # threads keep both cores busy, and more threads only added CPU (benchmarks in docs/speed.md)
    extra = {"intra_op_threads": 1} if method_spec(method_name).takes_model else {}
    method = make_pulse_method(method_name, model_path=model_path, **extra)
    tracker, tracker_msg = create_keyframe_tracker(face_model, allow_download=allow_download, prefer=tracker_kind,
                                                  config=keyframes)
    cfg = estimator_config(method.name, config)
    roi = roi_extractor_for(method)
    est = StreamingEstimator(method, cfg)
    frames, push = _profiled(profiler, source, tracker, roi, method, est)
    frame_t: list[float] = []
    most_faces, several = 0, 0  # the most faces seen at once; frames with more than one
    person_t_s: list[float] = []  # where the tracker moved to another person (Face.new_person)
    t_start = time.perf_counter()
    total = source.n_frames if source.n_frames > 0 else None
    # Three threads (model.prefetch): decode (OpenCV's decoder, outside the GIL), face tracking
    # (MediaPipe's graph, outside the GIL; the key frames), and the ROI, the method (ONNX Runtime)
    # and the HR in this one; the queues hold ``depth`` frames each.
    tracked = prefetch(tracker.track(prefetch(frames, depth, "decode")), depth, "tracking")
    try:
        with closing(tracked), tqdm(total=total, unit="frame", desc=f"analyze {Path(video).name}",
                                    disable=not progress, file=sys.stderr, leave=False) as bar:
            for frame, face in tracked:
                most_faces = max(most_faces, face.n_faces)
                several += face.n_faces > 1
                upd = push(roi.extract(frame, face), face)
                if face.new_person:
                    person_t_s.append(upd.frame_t_s)
                frame_t.append(upd.frame_t_s)
                bar.update(1)
        t_finish = time.perf_counter()
        est.finish()
        if profiler is not None:
            profiler.push_s += time.perf_counter() - t_finish
            profiler.settle()
    finally:
        tracker.close()
    runtime_s = time.perf_counter() - t_start
    t = np.asarray(frame_t)
    if len(t) == 0:
        raise SourceError(f"{video} holds no readable video frames")
    short = getattr(source, "listed_warning", "") or short_read_warning(len(t), source.n_frames, source.kind)
    bvp = est.bvp_at(t)
    tg, vg = est.bvp_stream()
    duration_s = float(t[-1] - t[0]) if len(t) > 1 else 0.0
    shown = [r.hr_bpm for r in est.readings if r.hr_bpm is not None]
    shown_t = [r.t_s for r in est.readings if r.hr_bpm is not None]
    n_judged = sum(r.hr_raw_bpm is not None for r in est.readings)
    clip = whole_clip_hr(tg, vg, cfg.fs_hz, lo_bpm=cfg.lo_bpm, hi_bpm=cfg.hi_bpm)
    reliability = clip_hr_reliability(shown, n_judged, clip.hr_bpm, method_name, clip.gap_to(shown_t, shown))
    reliability = with_people(reliability, 1 + len(person_t_s))  # the people measured one after the other
    summary = {
        "video": str(video),
        "source": source.describe(),
        "method": method_name,
        # where the method ran: the ONNX Runtime provider the session really got ("CUDA"/"CPU")
        "inference": {"device": str(getattr(method, "device", "") or "CPU"),
                      "providers": list(getattr(method, "providers", []) or [])},
        # which model file read it (a fine-tuned one or the shipped one; None for a classic method)
        "model": model_record(getattr(method, "model_path", None)),
        # the whole clip's HR (model.clip_hr: the median of its window HRs), +- hr_interval_bpm (None when
        # the HR is not reliable)
        **clip_hr_fields(clip, reliability["hr_reliable"]),
        "hr_bpm_median_of_readings": float(np.median(shown)) if shown else None,
        "frames": int(len(t)),
        # what the container announced (approximate for some formats), and a word when far more
        "frames_announced": int(source.n_frames) if source.n_frames > 0 else None,
        "frames_warning": short or None,
        "fps_hz": float((len(t) - 1) / duration_s) if duration_s > 0 else None,
        "duration_s": duration_s,
        "face_share": est.n_face_frames / max(est.n_frames, 1),
        # more than one face in view: one is measured (the same one throughout where it can be
        # followed, else the largest and most central)
        "faces_seen_max": most_faces,
        "several_faces_share": several / max(est.n_frames, 1),
        "people_measured": 1 + len(person_t_s),
        "readings": len(est.readings),
        "readings_shown_share": len(shown) / max(len(est.readings), 1),
        # judged updates: those with a full enough window for an HR estimate
        "judged_shown_share": len(shown) / max(n_judged, 1),
        # why the updates without a reading had none (hr.csv's withheld column, counted)
        "withheld_counts": withheld_counts((r.hr_bpm, r.withheld) for r in est.readings),
        # and why not, for the user
        **reliability,
        "tracker": tracker.name,
        "tracker_message": tracker_msg,
        "tracker_key_frames": tracker.key_frames,  # frames the face detector ran on
        "runtime_s": runtime_s,
        "x_real_time": duration_s / runtime_s if runtime_s > 0 else None,
        "hrv": _hrv_dict(est),
        "hrv_withheld": est.hrv_withheld,  # why there is none ("" with an HRV)
        "respiration_bpm": est.last_resp_bpm,
        # its settings, a nested setting (the HR posterior's) as a dict of its own
        "estimator": {k: asdict(v) if is_dataclass(v) else v for k, v in vars(cfg).items()},
    }
    return AnalyzeResult(frame_t_s=t - t[0], frame_bvp=bvp, summary=summary, estimator=est,
                         person_t_s=tuple(person_t_s))


def short_read_warning(n_read: int, n_announced: int, kind: str = "video") -> str:
    """A user's warning when far fewer frames could be read than the source announces (a file cut
    short, e.g. an interrupted copy, that still decodes up to the cut; a session's video shorter than
    its frames.csv; a folder with unreadable images); "" otherwise."""
    if n_announced <= 0 or n_read >= SHORT_READ_SHARE * n_announced:
        return ""
    if kind == "images":
        return (f"read {n_read} of its {n_announced} frame images: the others are unreadable "
                f"(the results cover the frames read)")
    return (f"read {n_read} of the {n_announced} frames the file announces: it may be truncated "
            f"(the results cover the frames read)")


def model_record(path) -> dict | None:
    """The model file's path and SHA-256, so that runs with different models can be told apart."""
    if path is None:
        return None
    import hashlib

    p = Path(path)
    try:
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError:
        digest = None
    return {"path": str(p.resolve()), "sha256": digest}


def _hrv_dict(est: StreamingEstimator) -> dict | None:
    h = est.last_hrv
    if h is None:
        return None
    return {"n_beats": h.n_beats, "mean_ibi_ms": h.mean_ibi_ms, "sdnn_ms": h.sdnn_ms,
            "rmssd_ms": h.rmssd_ms, "pnn50": h.pnn50}


def _fmt(x: float | None, nd: int = 4) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.{nd}f}"


# The analyze output format, shared with the app's session recordings (app.recording).
BVP_HEADER = ["t_s", "bvp"]
HR_HEADER = ["t_s", "hr_bpm", "quality", "withheld", "person"]


def bvp_row(t_s: float, bvp: float) -> list[str]:
    """One bvp.csv row; the BVP is empty where there is no signal (NaN)."""
    return [f"{t_s:.4f}", _fmt(float(bvp), 5)]


def hr_row(t_s: float, reading, person: int = 1) -> list[str]:
    """One hr.csv row for an HrReading; hr_bpm is empty while the quality gate withholds it, and
    ``withheld`` then says why (``model.estimator.WITHHELD_REASONS``); ``person`` numbers the people
    measured one after the other (1, then 2 from where the tracker moved to another, ...)."""
    return [f"{t_s:.3f}", _fmt(reading.hr_bpm, 2), f"{reading.quality:.3f}", reading.withheld, str(int(person))]


def person_of(t_s: float, person_t_s) -> int:
    """The person (1, 2, ...) measured at time ``t_s``, given the times where another began."""
    return 1 + bisect.bisect_right(person_t_s, t_s)


def write_outputs(out_dir: Path, result: AnalyzeResult) -> None:
    """Write bvp.csv, hr.csv and summary.json into ``out_dir``, all or nothing (raises OSError;
    then an earlier run's files there are untouched)."""
    est = result.estimator
    t0 = est.t0_s or 0.0

    def bvp(fh) -> None:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(BVP_HEADER)
        for t, v in zip(result.frame_t_s, result.frame_bvp):
            w.writerow(bvp_row(t, v))

    def hr(fh) -> None:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HR_HEADER)
        for r in est.readings:
            w.writerow(hr_row(r.t_s - t0, r, person_of(r.t_s, result.person_t_s)))

    def summary(fh) -> None:
        fh.write(json.dumps(result.summary, indent=2) + "\n")

    write_files_atomic(out_dir, {"bvp.csv": bvp, "hr.csv": hr, "summary.json": summary})


def _out_dir(text: str) -> Path:
    """``--out``: a folder path (an empty one would silently mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty: name a folder (\".\" for the current one)")
    return Path(text)


def _window_s(text: str) -> float:
    """``--window-s``: a number of seconds within WINDOW_S_RANGE (argparse says so otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    lo, hi = WINDOW_S_RANGE
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"{value:g} s is outside {lo:g}-{hi:g} s")
    return value


def _positive(kind: type):
    """An argparse type: a number of ``kind`` above 0 (argparse says so otherwise)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}") from None
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value
    return parse


def _profiled(profiler: Profiler | None, source, tracker, roi, method, est):
    """The frames and the estimator's push as the pipeline sees them: with a profiler, every
    stage's methods wrapped to count their time into it (:mod:`model.profile`)."""
    if profiler is None:
        return source, est.push_roi
    profiler.wrap(tracker, "detect", "face tracking")
    profiler.wrap(tracker, "changed", "face tracking")
    profiler.wrap(roi, "extract", "ROI (skin mask, crop)")
    profiler.wrap(method, "window_bvp", "pulse method")
    profiler.device = str(getattr(method, "device", "") or "CPU")
    return profiler.frames_of(source), profiler.timed_push(est.push_roi)


def several_faces_note(summary: dict) -> str:
    """The console's word when more than one face was in view for part of the clip."""
    share = summary.get("several_faces_share") or 0.0
    if share < 0.05:
        return ""
    return (f"{summary['faces_seen_max']} faces in view in {100 * share:.0f}% of the frames; one was measured "
            "(the same one throughout where it could be followed, else the largest and most central)")


def no_colour_note(summary: dict) -> str:
    """The console's word when most judged updates were withheld because the skin had no colour."""
    counts = summary.get("withheld_counts") or {}
    judged = sum(v for k, v in counts.items() if k not in (WITHHELD_NO_FACE, WITHHELD_ACQUIRING))
    if not judged or counts.get(WITHHELD_NO_COLOUR, 0) < 0.5 * judged:
        return ""
    return ("the video has no colour (a greyscale or infrared camera, or its colour turned off): the pulse is "
            "read from the skin's change of colour, so no reading can be made")


def nominal_times_warning(summary: dict) -> str:
    """The console's word when a folder of images gave no times and its frames were spaced by a
    rate taken as given (a wrong rate scales every HR)."""
    src = summary["source"]
    if src.get("kind") != "images" or src.get("frame_times") != "nominal rate":
        return ""
    return (f"the image names carry no time stamps: frames taken as {summary['fps_hz']:g} per second "
            "(give the camera's rate with --fps; a wrong rate scales every heart rate)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fcus-rppg analyze",
                                description="Measure the pulse in a video file or a recorded session.")
    p.add_argument("video", metavar="SOURCE", nargs="+",
                   help="video file (mp4, avi, mkv, ...), a session folder the app recorded with its "
                        "video (replayed on frames.csv's real frame times) or a folder of frame images; "
                        "several sources, or a folder of videos, are analysed as a batch: one result "
                        "folder each under --out and --out/summary.csv")
    p.add_argument("--method", choices=PULSE_METHODS, default=None,
                   help="pulse method (default: fcus with --model or when its model is available, "
                        "else pos)")
    p.add_argument("--out", required=True, type=_out_dir, help="output folder")
    p.add_argument("--model", default=None, help="FCUS ONNX model file (default: the shipped one)")
    p.add_argument("--face-model", default=None,
                   help="MediaPipe face_landmarker.task (default: $FCUS_FACE_MODEL, else the shipped one); "
                        "exit 2 when it cannot be used")
    p.add_argument("--no-download", action="store_true", help="never download the face model")
    p.add_argument("--tracker", choices=TRACKER_CHOICES, default="auto",
                   help="face tracker: auto (MediaPipe, else the OpenCV fallback with a warning), "
                        "mediapipe (exit 2 when it cannot run) or opencv")
    p.add_argument("--window-s", type=_window_s, default=EstimatorConfig.window_s,
                   help=f"HR window length in seconds, {WINDOW_S_RANGE[0]:g}-{WINDOW_S_RANGE[1]:g} "
                        f"(default {EstimatorConfig.window_s:g}; the first reading comes after at most "
                        f"{EstimatorConfig.min_window_s:g} s of face)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--fps", type=_positive(float), default=None,
                   help="frames per second of a folder of frame images whose names are counters, not time "
                        "stamps (default 30); video files and sessions carry their own times")
    p.add_argument("--jobs", type=_positive(int), default=DEFAULT_JOBS,
                   help="a batch: how many sources to analyse at once, in separate processes "
                        f"(default {DEFAULT_JOBS}: the CPU cores, at most 4)")
    p.add_argument("--adapt", action="store_true",
                   help="fine-tune the FCUS model on this clip (no labels; needs the train extra) and read "
                        "the clip with it; the adapted model is kept as OUT/adapted_model.onnx")
    p.add_argument("--profile", action="store_true",
                   help="print the time per frame of each stage (decode, face tracking, ROI, method, "
                        "estimator, writing) beside a plain OpenCV decode of the same file")
    return p


def analyze_main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    t_main = time.perf_counter()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        check_out_dir(args.out)  # before the work: an unwritable --out is found at once
    except OutDirError as e:
        print(f"fcus-rppg analyze: --out: {e.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # An explicit --model asks for the method that loads it (a bad file is refused, not replaced).
    method = args.method or (model_file_method().name if args.model else default_method())
    sources = expand_sources(args.video)
    _note_scan(args.video)
    if len(sources) != 1 or Path(args.video[0]) != sources[0]:
        if args.adapt:
            print("fcus-rppg analyze: --adapt takes one source", file=sys.stderr)
            return EXIT_BAD_INPUT
        return _batch_main(args, sources, method)
    args.video = args.video[0]
    if Path(args.video).is_dir() and Path(args.out).resolve() == Path(args.video).resolve():
        print(f"fcus-rppg analyze: --out is the folder being analysed ({args.video}); its own hr.csv and "
              "summary.json would be overwritten: give another --out", file=sys.stderr)
        return EXIT_BAD_INPUT
    adapted = None
    if args.adapt:
        if method != model_file_method().name:
            print(f"fcus-rppg analyze: --adapt adapts the FCUS model; --method {method} has none", file=sys.stderr)
            return EXIT_BAD_INPUT
        adapted = run_adapt(args.video, args.out, args.model, args.face_model)
        if adapted is None:
            return EXIT_BAD_INPUT
        args.model = adapted["model"]
    cfg = window_config(args.window_s)
    profiler = Profiler() if args.profile else None
    try:
        result = run_analysis(args.video, method, face_model=args.face_model,
                                   allow_download=not args.no_download, tracker_kind=args.tracker,
                                   model_path=args.model, config=cfg, progress=_progress(args),
                                   profiler=profiler, images_fps_hz=args.fps)
    except (SourceError, FaceTrackerRequestError, ValueError, OSError) as e:
        print(f"fcus-rppg analyze: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if adapted is not None:
        result.summary["adapted"] = adapted
    t_write = time.perf_counter()
    try:
        write_outputs(args.out, result)
        if profiler is not None:
            profiler.wall_s["writing"] += time.perf_counter() - t_write
    except OSError as e:
        print(f"fcus-rppg analyze: cannot write results to {args.out}: {e.strerror or e}; "
              f"earlier results there are unchanged", file=sys.stderr)
        return EXIT_BAD_INPUT
    s = result.summary
    for warning in (s["frames_warning"], nominal_times_warning(s), several_faces_note(s), no_colour_note(s),
                    earlier_files_note(args.out, SINGLE_RUN_FILES | ({ADAPTED_MODEL_NAME} if adapted else set()))):
        if warning:
            print(f"fcus-rppg analyze: {args.video}: {warning}", file=sys.stderr)
    if s["face_share"] == 0:
        print(f"fcus-rppg analyze: no face found in {args.video} (tracker: {s['tracker']}); "
              f"empty results written to {args.out}", file=sys.stderr)
        return EXIT_NO_FACE
    adapted_text = f", adapted in {adapted['adapt_s']:.0f} s" if adapted else ""
    print(f"{Path(args.video).name}: method {method}{adapted_text}, HR {_hr_text(s)}, "
          f"face in {100 * s['face_share']:.0f}% of {s['frames']} frame{'s' if s['frames'] != 1 else ''}, "
          f"tracker {s['tracker']}, "
          f"{s['x_real_time']:.1f}x real time{' (the reading alone)' if adapted else ''} -> {args.out}")
    if profiler is not None:
        _print_profile(profiler, s, t_main)
    return 0


def _progress(args) -> bool:
    """A progress bar unless --quiet, and only on a terminal (redrawn into a log file it leaves a
    line of carriage returns)."""
    return not args.quiet and sys.stderr.isatty()


def _hr_text(s: dict) -> str:
    """The whole-clip HR as the console line says it."""
    hr = s["hr_bpm"]
    if not hr:
        need_s = float((s.get("estimator") or {}).get("min_window_s") or 0.0)
        if s["duration_s"] < need_s:
            long_s = math.floor(10.0 * s["duration_s"]) / 10.0  # never "6.0 s long" for 5.97 s
            return f"not measurable: the clip is {long_s:.1f} s long, a reading needs {need_s:g} s of face"
        face_s = math.floor(10.0 * s["face_share"] * s["duration_s"]) / 10.0
        if face_s < need_s:
            return f"not measurable: the face is in view for {face_s:.1f} s, a reading needs {need_s:g} s of face"
        return f"not measurable: the face was never in view for {need_s:g} s at a stretch"
    half = s.get("hr_interval_bpm")
    if s["hr_reliable"]:
        return f"{hr:.1f} +- {half:.1f} bpm" if half is not None else f"{hr:.1f} bpm"
    # no interval here: it is calibrated on clips whose HR is reliable
    why = s.get("hr_reliable_why_not") or f"it takes {reliable_rule(s.get('method')).describe()}"
    if no_colour_note(s):  # the clip's signal is noise: no rate to suggest
        return f"not reliable: {why} (the video has no colour)"
    return (f"not reliable: {why} ({100 * s['judged_shown_share']:.0f}% of the updates passed the quality "
            f"gate{_main_withheld(s)}; the clip's signal suggests {hr:.0f} bpm, unconfirmed)")


def _main_withheld(s: dict) -> str:
    """", most withheld as REASON" from summary.json's counts of withheld updates ("" without them)."""
    judged = set(WITHHELD_REASONS) - {WITHHELD_NO_FACE, WITHHELD_ACQUIRING}  # what a judged update is withheld as
    counts = {k: v for k, v in (s.get("withheld_counts") or {}).items() if k in judged}
    if not counts:
        return ""
    reason = max(counts, key=counts.get)
    return f", most withheld as {reason.replace('_', ' ')}"


ADAPTED_MODEL_NAME = "adapted_model.onnx"
SINGLE_RUN_FILES = frozenset({"bvp.csv", "hr.csv", "summary.json"})  # what one source's analysis writes
# every file analyze may write at the top of --out (a batch writes SUMMARY_CSV there, its sources' results below)
ANALYZE_FILES = SINGLE_RUN_FILES | {ADAPTED_MODEL_NAME, SUMMARY_CSV}


def run_adapt(source: str, out_dir: Path, weights_onnx: str | None, face_model: str | None) -> dict | None:
    """``fcus-rppg adapt`` on ``source`` in a child process (torch stays out of this one), the
    adapted model written to ``out_dir``; what summary.json records of it, or None (and a
    message) when it failed."""
    import subprocess
    import tempfile

    from model.adapt_child import adapt_command, adapt_failure
    out_dir.mkdir(parents=True, exist_ok=True)
    model = out_dir / ADAPTED_MODEL_NAME
    crops = tempfile.TemporaryDirectory(prefix="fcus-adapt-")  # a one-off clip's crops: not kept
    # a model given with --model is adapted from its own weights
    cmd = adapt_command(model, source=source, cache=crops.name,
                        weights=weights_beside(weights_onnx) if weights_onnx else None,
                        face_model=face_model or None)
    t0 = time.perf_counter()
    with crops:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        why = adapt_failure(done.stderr or "", "it needs torch: pip install 'fcus-rppg[train]'")
        print(f"fcus-rppg analyze: --adapt failed: {why}", file=sys.stderr)
        return None
    return {"model": str(model), "adapt_s": time.perf_counter() - t0, "log": done.stdout.strip()}


def earlier_files_note(out_dir: str | Path, written: set[str]) -> str:
    """The console's word when ``out_dir`` holds results an earlier analyze wrote there that this run
    did not write (an adapted model, a batch's summary.csv, a single run's files beside a batch's):
    they are left as they are, and said to be older."""
    out_dir = Path(out_dir)
    older = sorted(n for n in ANALYZE_FILES - written if (out_dir / n).is_file())
    if not older:
        return ""
    return (f"{out_dir} also holds {', '.join(older)} from an earlier run, not this one's results "
            "(left as they were)")


def _note_scan(args_video: list[str]) -> None:
    """Say on the console what a folder scan passed over and what was named twice (analysed once)."""
    skipped = skipped_files(args_video)
    if skipped:
        names = ", ".join(p.name for p in skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        print(f"fcus-rppg analyze: not analysed (not a video by its suffix, nor a recorded session): {names}; "
              "name a file to analyse it anyway", file=sys.stderr)
    twice = duplicate_count(args_video)
    if twice:
        print(f"fcus-rppg analyze: {twice} source{'s' if twice > 1 else ''} named more than once, analysed once",
              file=sys.stderr)


def _batch_main(args, sources: list[Path], method: str) -> int:
    """Many sources: one result folder each, summary.csv; exit 1 when any source failed."""
    if not sources:
        print(f"fcus-rppg analyze: no video or session folder in {', '.join(args.video)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    jobs = [BatchJob(str(s), str(d), method, args.face_model, not args.no_download, args.tracker, args.model,
                     args.window_s, args.fps) for s, d in zip(sources, result_dirs(sources, args.out))]
    rows = run_batch(jobs, args.jobs, progress=_progress(args))
    path = write_summary(args.out, rows)
    n_bad = sum(r.status == "failed" for r in rows)
    failed = f"; {n_bad} failed and {'was' if n_bad == 1 else 'were'} skipped (their rows say why)" if n_bad else ""
    older = earlier_files_note(args.out, {SUMMARY_CSV})
    if older:
        print(f"fcus-rppg analyze: {older}", file=sys.stderr)
    print(f"{len(rows) - n_bad} of {len(rows)} sources analysed{failed} -> {path}")
    return 1 if n_bad else 0


def _print_profile(profiler: Profiler, summary: dict, t_main: float) -> None:
    """The stage table, the whole process (wall and CPU since the process began: start-up and
    imports included) and, for a video file or a session's video, the decode floor."""
    wall_s, cpu_s = process_age_s(time.perf_counter() - t_main), time.process_time()
    video = summary["source"].get("video") or (summary["video"] if summary["source"]["kind"] == "video" else None)
    floor = decode_floor(video) if video else None
    print(profile_table(profiler, floor, wall_s, cpu_s, summary["duration_s"]))
