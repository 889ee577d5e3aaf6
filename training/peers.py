"""Public peers for the benchmark: open-rppg (FacePhys) side by side on the same clips and reference,
so the gap to the best public model shows in every table. A yardstick only: never a teacher,
never a source of labels.

open-rppg needs onnxruntime and opencv-python, which would overwrite this environment's
onnxruntime-gpu and opencv-contrib-python, so it lives in its own virtual environment
(``python3 dev.py peers`` builds ``.venv-peers``) and runs as a subprocess:
``benchmarks/peers/open_rppg_runner.py`` writes the peer's BVP on the video's frame times to an
npz, read back here. Results are cached by the video's path, size and mtime and the peer's model
and version.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PEER_VENV = REPO / ".venv-peers"
RUNNER = REPO / "benchmarks" / "peers" / "open_rppg_runner.py"
PEER_PYTHON_ENV = "FCUS_PEER_PYTHON"
DEFAULT_MODEL = "FacePhys.rlap"
# About 20x the CPU time of a 1-minute 30 fps clip on a shared 2-core machine.
DEFAULT_TIMEOUT_S = 1800.0


class PeerError(RuntimeError):
    """The peer is missing, failed, timed out, or wrote an unreadable result."""


@dataclass(frozen=True)
class PeerResult:
    """The peer's pulse on one video: ``bvp`` at ``t_s`` (s from the first frame, the video's
    frame times), its own whole-clip HR when it gives one, and how long it took."""

    name: str  # e.g. "open-rppg FacePhys.rlap"
    t_s: np.ndarray
    bvp: np.ndarray
    hr_bpm: float | None
    runtime_s: float  # decode + face detection + inference
    load_s: float  # model load
    version: str


def peer_python(python: str | os.PathLike | None = None) -> Path | None:
    """The peer environment's python: ``python`` if given, else ``$FCUS_PEER_PYTHON``, else
    ``.venv-peers``; None when that file does not exist."""
    chosen = python or os.environ.get(PEER_PYTHON_ENV)
    if chosen:
        path = Path(chosen)
    else:
        path = PEER_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    return path if path.is_file() else None


def peer_available(python: str | os.PathLike | None = None) -> bool:
    return peer_python(python) is not None and RUNNER.is_file()


def _call(cmd: list[str], timeout_s: float, what: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise PeerError(f"{what}: timed out after {timeout_s:.0f} s") from None
    except OSError as e:
        raise PeerError(f"{what}: could not start {cmd[0]} ({e})") from None
    if check and done.returncode != 0:
        raise PeerError(_failure(done, what))
    return done


def _failure(done: subprocess.CompletedProcess, what: str) -> str:
    tail = "\n".join((done.stderr or done.stdout or "").strip().splitlines()[-8:])
    return f"{what}: exit status {done.returncode}\n{tail}"


@functools.lru_cache(maxsize=8)
def peer_version(python: Path, runner: Path = RUNNER) -> str:
    """open-rppg's version in the peer environment (the runner's ``--version``; no model load)."""
    done = _call([str(python), str(runner), "--version"], 120.0, "open-rppg --version")
    return done.stdout.strip()


def cache_key(video: Path, model: str, version: str) -> str:
    st = video.stat()
    ident = f"{video.resolve()}|{st.st_size}|{st.st_mtime_ns}|{model}|{version}"
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def _read_result(path: Path) -> PeerResult:
    try:
        with np.load(path, allow_pickle=False) as z:
            hr = float(z["hr_bpm"])
            return PeerResult(
                name=f"open-rppg {z['model']}", t_s=np.asarray(z["t_s"], dtype=np.float64),
                bvp=np.asarray(z["bvp"], dtype=np.float64), hr_bpm=hr if np.isfinite(hr) else None,
                runtime_s=float(z["runtime_s"]), load_s=float(z["load_s"]), version=str(z["version"]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise PeerError(f"unreadable peer result {path}: {e}") from None


def _require_python(python: str | os.PathLike | None) -> Path:
    py = peer_python(python)
    if py is None:
        raise PeerError(f"open-rppg peer not set up: run `python3 dev.py peers` (makes {PEER_VENV}) "
                        f"or set {PEER_PYTHON_ENV} to a python that has open-rppg")
    return py


def run_peers(videos: list[str | os.PathLike], model: str = DEFAULT_MODEL,
              cache_dir: str | os.PathLike | None = None, *, python: str | os.PathLike | None = None,
              runner: Path = RUNNER, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[PeerResult]:
    """open-rppg's ``model`` on each video file, in order: from ``cache_dir`` where it holds that
    video/model/version, the rest in ONE runner call (one model load; ``timeout_s`` per video).
    Raises PeerError when the peer is missing or fails on any video (the others are cached)."""
    py = _require_python(python)
    videos = [Path(v) for v in videos]
    for v in videos:
        if not v.is_file():
            raise PeerError(f"open-rppg peer reads video files; {v} is not one")
    version = peer_version(py, runner) if cache_dir is not None else ""
    cached = [Path(cache_dir) / f"open-rppg-{cache_key(v, model, version)}.npz" if cache_dir is not None
              else None for v in videos]
    results = {i: _read_result(c) for i, c in enumerate(cached) if c is not None and c.is_file()}
    todo = [i for i in range(len(videos)) if i not in results]
    if todo:
        results.update(_run_uncached(py, runner, [videos[i] for i in todo], [cached[i] for i in todo],
                                     todo, model, timeout_s))
    return [results[i] for i in range(len(videos))]


def _run_uncached(py: Path, runner: Path, videos: list[Path], cached: list[Path | None], index: list[int],
                  model: str, timeout_s: float) -> dict[int, PeerResult]:
    what = f"open-rppg {model} on {videos[0]}" + (f" and {len(videos) - 1} more" if len(videos) > 1 else "")
    with tempfile.TemporaryDirectory(prefix="fcus-peer-") as tmp:
        outs = [Path(tmp) / f"{n}.npz" for n in range(len(videos))]
        done = _call([str(py), str(runner), *map(str, videos), "--model", model, "--out", *map(str, outs)],
                     timeout_s * len(videos), what, check=False)
        results = {}
        for i, out, keep in zip(index, outs, cached):
            if not out.is_file():
                continue
            results[i] = _read_result(out)
            if keep is not None:
                keep.parent.mkdir(parents=True, exist_ok=True)
                part = keep.with_suffix(".part")
                shutil.copyfile(out, part)
                os.replace(part, keep)
    if done.returncode != 0 or len(results) < len(videos):
        raise PeerError(_failure(done, what))
    return results


def run_peer(video: str | os.PathLike, model: str = DEFAULT_MODEL, cache_dir: str | os.PathLike | None = None,
             *, python: str | os.PathLike | None = None, runner: Path = RUNNER,
             timeout_s: float = DEFAULT_TIMEOUT_S) -> PeerResult:
    """open-rppg's ``model`` on one video file (``run_peers`` for one)."""
    return run_peers([video], model, cache_dir, python=python, runner=runner, timeout_s=timeout_s)[0]


def peer_score(recordings, results: list[PeerResult], dataset: str = ""):
    """The peer's BVP on each recording scored like every method (``training.replay``): window
    HRs against the contact PPG of the same window; no HR stream (the peer has no gate)."""
    from training.metrics import mean_window_hr, window_pairs
    from training.replay import WINDOWS_S, ClipScore, MethodScore

    clips = []
    for recording, res in zip(recordings, results):
        gt = recording.ground_truth()
        if gt is None or gt.ppg is None or len(res.t_s) < 2:
            continue
        pairs = {w: tuple(window_pairs(res.t_s, res.bvp, gt.t_s, gt.ppg, w)) for w in WINDOWS_S}
        ref_hr = mean_window_hr(gt.t_s, gt.ppg, float(gt.t_s[0]), float(gt.t_s[-1]))
        clips.append(ClipScore(name=recording.name, pairs=pairs, n_updates=0, n_shown=0, shown_err_bpm=(),
                               clip_hr_bpm=res.hr_bpm, ref_hr_bpm=ref_hr,
                               media_s=float(res.t_s[-1] - res.t_s[0]), compute_s=res.runtime_s))
    name = results[0].name if results else f"open-rppg {DEFAULT_MODEL}"
    return MethodScore(name, "peer", dataset, clips)


@dataclass(frozen=True)
class PeerReadings:
    """The peer's readings on one recording as hr.csv would give them: every ``every_s`` the
    spectral HR of its BVP over the trailing ``window_s``, against the contact PPG's HR over the
    same span (``training.metrics.window_hr`` for both)."""

    name: str
    errors_bpm: tuple[float, ...]

    @property
    def within5(self) -> float:
        from training.metrics import reading_accuracy

        return reading_accuracy(self.errors_bpm)[0]

    @property
    def mae_bpm(self) -> float:
        from training.metrics import reading_accuracy

        return reading_accuracy(self.errors_bpm)[1]


def peer_readings(recordings, results: list[PeerResult], every_s: float = 1.0,
                  window_s: float = 10.0) -> list[PeerReadings]:
    """Per recording with a contact PPG, the peer's readings every ``every_s`` from the first full
    ``window_s`` on (no gate: the peer has none), each minus the reference over the same span."""
    from training.metrics import window_hr

    out = []
    for recording, res in zip(recordings, results):
        gt = recording.ground_truth()
        if gt is None or gt.ppg is None or len(res.t_s) < 2:
            continue
        errs = []
        for t in np.arange(float(res.t_s[0]) + window_s, float(res.t_s[-1]) + 1e-9, every_s):
            ref = window_hr(gt.t_s, gt.ppg, t - window_s, t)
            est = window_hr(res.t_s, res.bvp, t - window_s, t)
            if ref is not None and est is not None:
                errs.append(est - ref)
        out.append(PeerReadings(recording.name, tuple(errs)))
    return out
