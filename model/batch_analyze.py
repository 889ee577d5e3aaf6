"""``fcus-rppg analyze A.mp4 B.mp4 DIR/ --out OUT --jobs N``: many sources, in parallel processes.

Each source gets its own result folder ``OUT/<name>/`` (bvp.csv, hr.csv, summary.json, exactly
as a single ``analyze``), and ``OUT/summary.csv`` gets one row per source, failed ones included
with their error. A source that fails (corrupt, unreadable, no face) is reported and skipped; the
others go on. A folder given as a source is one source when it is a recorded session or a folder
of frame images, else it stands for the videos and session folders inside it (not recursive).
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from model.image_source import has_images
from model.results_io import write_files_atomic
from model.session_source import is_session_dir
from model.video_source import VIDEO_SUFFIXES

SUMMARY_CSV = "summary.csv"
SUMMARY_FIELDS = ("source", "status", "error", "out_dir", "method", "hr_bpm", "hr_interval_bpm", "hr_reliable",
                  "hr_reliable_why_not", "frames", "duration_s", "fps_hz", "face_share", "readings_shown_share",
                  "runtime_s", "x_real_time", "frames_warning")
_JOB_FIELDS = ("source", "status", "error", "out_dir", "method")  # a row's fields that the job itself gives


@dataclass(frozen=True)
class BatchJob:
    source: str
    out_dir: str
    method: str
    face_model: str | None
    allow_download: bool
    tracker_kind: str
    model_path: str | None
    window_s: float
    images_fps_hz: float | None = None  # analyze's --fps: a folder of images without time stamps


@dataclass(frozen=True)
class BatchRow:
    source: str
    status: str  # "ok" | "no_face" | "failed"
    error: str = ""
    out_dir: str = ""
    method: str = ""
    hr_bpm: float | None = None
    hr_interval_bpm: float | None = None  # hr_bpm +- this (model.clip_hr)
    hr_reliable: bool | None = None
    hr_reliable_why_not: str = ""  # why not, when not (model.reliable_rule)
    frames: int | None = None
    duration_s: float | None = None
    fps_hz: float | None = None
    face_share: float | None = None
    readings_shown_share: float | None = None
    runtime_s: float | None = None
    x_real_time: float | None = None
    frames_warning: str | None = None  # far fewer frames read than announced (model.analyze.short_read_warning)


def _scanned(p: Path) -> bool:
    """Whether the argument ``p`` is a folder to scan for sources (not itself one source)."""
    return p.is_dir() and not is_session_dir(p) and not has_images(p)


def _is_source(c: Path) -> bool:
    return (c.is_file() and c.suffix.lower() in VIDEO_SUFFIXES) or is_session_dir(c)


def _named_sources(paths: list[str | Path]) -> list[Path]:
    """Every source the arguments name, in order and with repeats (a folder of videos: its videos
    and session folders, sorted by name)."""
    return [c for p in map(Path, paths) for c in (sorted(filter(_is_source, p.iterdir())) if _scanned(p) else [p])]


def expand_sources(paths: list[str | Path]) -> list[Path]:
    """The sources the arguments stand for, in order; a source named twice (the same file) is
    taken once."""
    out: list[Path] = []
    seen: set[Path] = set()
    for c in _named_sources(paths):
        key = c.resolve()
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def skipped_files(paths: list[str | Path]) -> list[Path]:
    """What a folder scan of :func:`expand_sources` passed over: the scanned folders' files and
    folders that are neither a video (by suffix) nor a recorded session (hidden names left out),
    so that a user learns a clip of an unexpected suffix was not analysed."""
    out: list[Path] = []
    for p in map(Path, paths):
        if _scanned(p):
            out += sorted(c for c in p.iterdir() if not c.name.startswith(".") and not _is_source(c))
    return out


def duplicate_count(paths: list[str | Path]) -> int:
    """How many of the sources the arguments stand for were named more than once."""
    return len(_named_sources(paths)) - len(expand_sources(paths))


def result_dirs(sources: list[Path], out: Path) -> list[Path]:
    """One result folder per source under ``out``, named after it; sources of the same name
    (UBFC's ``subjectN/vid.mp4``) take their parent folder's name in front, and a clash left
    after that gets ``-2``, ``-3`` ..."""
    def base(s: Path) -> str:
        return s.stem if s.is_file() else s.name

    counts: dict[str, int] = {}
    for s in sources:
        counts[base(s)] = counts.get(base(s), 0) + 1
    seen: dict[str, int] = {}
    dirs = []
    for s in sources:
        name = base(s) if counts[base(s)] == 1 else f"{s.parent.name}-{base(s)}"
        k = seen.get(name, 0) + 1
        seen[name] = k
        dirs.append(out / (name if k == 1 else f"{name}-{k}"))
    return dirs


def run_job(job: BatchJob) -> BatchRow:
    """One source, start to end, in a worker process; never raises for a bad source."""
    from model.analyze import run_analysis, window_config, write_outputs

    try:
        cfg = window_config(job.window_s)
        result = run_analysis(job.source, job.method, face_model=job.face_model, allow_download=job.allow_download,
                              tracker_kind=job.tracker_kind, model_path=job.model_path, config=cfg, progress=False,
                              images_fps_hz=job.images_fps_hz)
        write_outputs(Path(job.out_dir), result)
    except Exception as e:  # noqa: BLE001 - any failure of one source is its row, never the batch's end
        return BatchRow(job.source, "failed", error=f"{type(e).__name__}: {e}", method=job.method)
    s = result.summary
    keep = {k: s.get(k) for k in SUMMARY_FIELDS if k not in _JOB_FIELDS}  # the rest is the summary's
    status = "ok" if s["face_share"] > 0 else "no_face"
    return BatchRow(job.source, status, out_dir=job.out_dir, method=job.method, **keep)


def run_batch(jobs: list[BatchJob], n_jobs: int, progress: bool = True) -> list[BatchRow]:
    """Every job, ``n_jobs`` processes at a time; rows in the jobs' order."""
    from tqdm import tqdm

    rows: dict[int, BatchRow] = {}
    ctx = multiprocessing.get_context("spawn")  # no inherited ONNX Runtime / MediaPipe state
    with ProcessPoolExecutor(max_workers=max(1, n_jobs), mp_context=ctx) as pool:
        futures = {pool.submit(run_job, j): i for i, j in enumerate(jobs)}
        with tqdm(total=len(jobs), unit="file", desc="analyze", disable=not progress, file=sys.stderr) as bar:
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    rows[i] = fut.result()
                except Exception as e:  # noqa: BLE001 - a worker that died (killed, out of memory)
                    rows[i] = BatchRow(jobs[i].source, "failed", error=f"worker died: {e}", method=jobs[i].method)
                if rows[i].status == "failed":
                    tqdm.write(f"fcus-rppg analyze: {rows[i].source}: {rows[i].error} (skipped)", file=sys.stderr)
                elif rows[i].frames_warning:
                    tqdm.write(f"fcus-rppg analyze: {rows[i].source}: {rows[i].frames_warning}", file=sys.stderr)
                bar.update(1)
    return [rows[i] for i in range(len(jobs))]


def write_summary(out: Path, rows: list[BatchRow]) -> Path:
    """``out/summary.csv`` (all or nothing, like every result file)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in asdict(r).items()})
    text = buf.getvalue()
    write_files_atomic(out, {SUMMARY_CSV: lambda fh: fh.write(text)})
    return out / SUMMARY_CSV
