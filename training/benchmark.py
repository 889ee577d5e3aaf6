"""Accuracy and speed of the pulse methods side by side, in one run and one table.

Datasets: the synthetic suite (known HR 45-180 bpm, still and with motion + flicker), the UBFC
subjects in ``../shared/data/ubfc-dev`` (or ``--ubfc DIR``) and faces without a pulse. Every clip is
tracked once (``training.crop_cache``: face crops, skin means and the fixed-box means on one grid);
every method, the FCUS model (the shipped ``assets/fcus_rppg.onnx``) and the classic ones, then
runs on the same grid points through the streaming estimator the app uses (``training.replay``).
For UBFC the classic methods run on both ROI variants: the landmark skin region (ours) and a fixed
face box (the classic baseline).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from model.fcus_contract import DEFAULT_CONTRACT
from model.pulse_methods import PULSE_METHODS, PulseMethod, make_pulse_method
from training.crop_cache import build_cache
from training.datasets import Recording, default_face_model, default_ubfc_root, read_ubfc
from training.replay import MethodScore, score_method
from training.tables import per_subject_table, pooled_table

log = logging.getLogger(__name__)

MEGAMIND_PATHS = (Path("/usr/share/doc/opencv-doc/examples/data/Megamind.avi"),)
DEFAULT_METHODS = PULSE_METHODS  # the model, then the classic methods
NO_PULSE = "no-pulse"


@dataclass(frozen=True)
class Suite:
    """One dataset of the run: its recordings, the ROI variants the classic methods read, and the
    cache folder of its tracking passes."""

    name: str
    recordings: list[Recording]
    rois: tuple[str, ...]
    cache: Path


def synthetic_recordings(out_dir: Path, kind: str) -> list[Recording]:
    from training.synth import suite_configs, write_clip

    recordings = []
    for cfg in suite_configs(kind):
        d = out_dir / f"{kind}-{int(round(cfg.hr_bpm))}bpm"
        files = write_clip(cfg, d, progress=False)
        recordings.append(Recording(name=d.name, video=files.video_path, ground_truth_path=files.ground_truth_txt,
                              dataset=f"synth-{kind}"))
    return recordings


# More faces without a pulse (``no_pulse_recordings(more=True)``): the same photograph moving like
# a printed face held in front of the camera, and moving under a slowly changing light.
MORE_NO_PULSE = {
    "moving-photo": dict(motion="sway", seed=98),
    "moving-photo-light-drift": dict(motion="sway", illumination_drift=0.3, seed=97),
}


NO_PULSE_S = 30.0  # length of the synthetic faces without a pulse


def no_pulse_recordings(out_dir: Path, megamind: Path | None, more: bool = False,
                        durations_s: tuple[float, ...] = (NO_PULSE_S,)) -> list[Recording]:
    """Faces without a pulse: a still photo (the synthetic face with zero pulse amplitude, sensor
    noise only) and, when present, OpenCV's animated ``Megamind.avi`` (Debian's opencv-doc); with
    ``more``, also the clips of :data:`MORE_NO_PULSE`. Each synthetic one once per length in
    ``durations_s``; a length other than :data:`NO_PULSE_S` is in its name (``still-photo-120s``)."""
    from training.synth import SynthConfig, write_clip

    photos = {"still-photo": dict(seed=99, motion="none"), **(MORE_NO_PULSE if more else {})}
    recordings = []
    for duration_s in durations_s:
        suffix = "" if duration_s == NO_PULSE_S else f"-{duration_s:g}s"
        for base, changes in photos.items():
            name = base + suffix
            files = write_clip(SynthConfig(duration_s=float(duration_s), pulse_amplitude=0.0, **changes),
                               out_dir / name, progress=False)
            recordings.append(Recording(name=name, video=files.video_path, ground_truth_path=None, dataset="no-pulse"))
    for p in ([megamind] if megamind else list(MEGAMIND_PATHS)):
        if p is not None and Path(p).is_file():
            recordings.append(Recording(name="Megamind.avi", video=Path(p), ground_truth_path=None, dataset="no-pulse"))
            break
    return recordings


def add_no_pulse_args(ap) -> None:
    """The studies' options for the faces without a pulse (``--megamind``, ``--more-no-pulse``,
    ``--no-pulse-s``)."""
    ap.add_argument("--megamind", type=Path, default=None,
                    help="OpenCV's Megamind.avi, a face without a pulse (default: Debian opencv-doc's path)")
    ap.add_argument("--more-no-pulse", action="store_true",
                    help="also the photo moving like a printed face, with and without a drifting light")
    ap.add_argument("--no-pulse-s", type=float, nargs="+", default=[NO_PULSE_S], metavar="S",
                    help=f"lengths of the synthetic faces without a pulse, each one once per length (default "
                         f"{NO_PULSE_S:g})")


def kept_pickle(path: Path | None, make):
    """What ``make()`` returns, kept in the pickle ``path`` (a study's replays or scores): read from
    it when it exists (nothing is trained), else made and, unless None, written there."""
    import pickle

    if path is not None and path.is_file():
        return pickle.loads(path.read_bytes())
    value = make()
    if value is not None and path is not None:
        path.write_bytes(pickle.dumps(value))
    return value


def add_clip_truth_arg(ap) -> None:
    """The studies' ``--truth``: what a whole clip's (or segment's) true HR is
    (``training.metrics.CLIP_TRUTHS``)."""
    from training.metrics import CLIP_TRUTH_LABELS

    ap.add_argument("--truth", choices=tuple(CLIP_TRUTH_LABELS), default=next(iter(CLIP_TRUTH_LABELS)),
                    help="a unit's true HR: the contact PPG's " + " or its ".join(CLIP_TRUTH_LABELS.values()))


def cached_no_pulse(tmp: Path, megamind: Path | None, *, more: bool = False, cache_dir: Path | None = None,
                    durations_s: tuple[float, ...] = (NO_PULSE_S,)) -> list:
    """:func:`no_pulse_recordings` through the crop cache (``cache_dir``, else one under ``tmp``),
    tracked with the default face model for the default FCUS contract."""
    from training.crop_cache import build_cache
    from training.datasets import default_face_model

    return build_cache(no_pulse_recordings(tmp, megamind, more=more, durations_s=durations_s),
                       cache_dir or tmp / "cache", DEFAULT_CONTRACT, face_model=default_face_model(), progress=False)


def study_recordings(args, prog: str, tmp: Path) -> tuple[list, list] | None:
    """(the dev subjects through the crop cache, the faces without a pulse) for a study's ``args``
    (``add_reference_args`` and :func:`add_no_pulse_args`); None, after saying why, without the
    dev subjects."""
    from training.crop_cache import NO_DATA_HINT, cached_reference_recordings

    cached = cached_reference_recordings(args.data, args.cache)
    if cached is None:
        print(f"{prog}: {NO_DATA_HINT}", file=sys.stderr)
        return None
    durations = tuple(getattr(args, "no_pulse_s", None) or (NO_PULSE_S,))
    return cached, cached_no_pulse(tmp, args.megamind, more=args.more_no_pulse, cache_dir=args.cache,
                                   durations_s=durations)


def load_methods(names: list[str]) -> tuple[list[PulseMethod], list[str]]:
    """The pulse methods called ``names``, and a note for each one skipped (FCUS without its
    model file). An unknown name raises ValueError."""
    methods, notes = [], []
    for name in names:
        try:
            methods.append(make_pulse_method(name))
        except FileNotFoundError as e:
            notes.append(f"{name}: skipped ({e})")
    return methods, notes


def score_suite(suite: Suite, methods: list[PulseMethod], face_model, *, allow_download: bool,
                progress: bool) -> tuple[list[MethodScore], list]:
    """Track the suite's recordings once (cached) and score every method on every ROI variant
    it can read (crop methods read the skin crops only)."""
    contract = next((m.contract for m in methods if getattr(m, "needs_crops", False)), DEFAULT_CONTRACT)
    entries = build_cache(suite.recordings, suite.cache, contract, face_model=face_model,
                          allow_download=allow_download, progress=progress)
    scores = [score_method(m, entries, roi, dataset=suite.name)
              for roi in suite.rois for m in methods if roi == "skin" or not m.needs_crops]
    return scores, entries


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fcus-rppg benchmark", description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help="comma-separated methods (default %(default)s; fcus = the shipped model, skipped "
                        "with a note when its file is missing)")
    p.add_argument("--ubfc", type=Path, default=None, help="UBFC-style folder (default ../shared/data/ubfc-dev)")
    p.add_argument("--no-ubfc", action="store_true", help="skip the UBFC-rPPG subjects")
    p.add_argument("--no-synth", action="store_true", help="skip the synthetic suite")
    p.add_argument("--subjects", default=None, help="comma-separated subject names (default: all)")
    p.add_argument("--face-model", default=None,
                   help="MediaPipe face_landmarker.task (default: ../shared/models, else as the app finds it)")
    p.add_argument("--no-download", action="store_true", help="never download the face model")
    p.add_argument("--cache", type=Path, default=None,
                   help="crop cache folder for the UBFC tracking passes (default: a temporary one)")
    p.add_argument("--megamind", type=Path, default=None, help="Megamind.avi (default: Debian opencv-doc path)")
    p.add_argument("--no-nopulse", action="store_true",
                   help="skip the faces without a pulse (a still photo, the photo moving like a printed face with and "
                        "without a drifting light, Megamind.avi)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    p.add_argument("--no-peer", action="store_true",
                   help="leave out the open-rppg yardstick row (it runs when `python3 dev.py peers` has set "
                        "up .venv-peers, or FCUS_PEER_PYTHON names a python with open-rppg)")
    p.add_argument("--peer-cache", type=Path, default=None,
                   help="cache of the peer's results (default: the user cache)")
    return p


def make_suites(args, tmp: Path) -> list[Suite]:
    """The datasets the options ask for. Generated clips are tracked into the temporary folder
    (their paths change every run); UBFC into ``--cache`` when given."""
    suites = []
    if not args.no_synth:
        for kind in ("still", "motion"):
            suites.append(Suite(f"synth-{kind}", synthetic_recordings(tmp / "clips", kind), ("skin",), tmp / "cache"))
    if not args.no_nopulse:
        suites.append(Suite(NO_PULSE, no_pulse_recordings(tmp / "clips", args.megamind, more=True), ("skin",),
                            tmp / "cache"))
    ubfc_root = args.ubfc or default_ubfc_root()
    if not args.no_ubfc:
        if ubfc_root is None:
            print("UBFC data not found (../shared/data/ubfc-dev or --ubfc): skipped", file=sys.stderr)
        else:
            recordings = read_ubfc(ubfc_root)
            if args.subjects:
                keep = set(args.subjects.split(","))
                recordings = [r for r in recordings if r.name in keep]
            suites.append(Suite("ubfc", recordings, ("skin", "box"), args.cache or tmp / "cache"))
    return suites


def report(scores: list[MethodScore], suites: list[Suite]) -> str:
    """The pooled table (every dataset with a reference), the no-pulse coverage per clip, and
    per dataset the whole-clip HR per subject (UBFC also the MAE @20 s per subject)."""
    blocks = []
    with_ref = [s for s in scores if s.dataset != NO_PULSE]
    if with_ref:
        blocks.append(pooled_table(with_ref))
    no_pulse = [s for s in scores if s.dataset == NO_PULSE]
    if no_pulse:
        blocks.append(per_subject_table(no_pulse, "coverage", "faces without a pulse: share of HR updates "
                                                              "shown (the gate should withhold them)"))
    for suite in suites:
        sel = [s for s in with_ref if s.dataset == suite.name]
        if not sel or suite.name == NO_PULSE:
            continue
        if suite.name == "ubfc":
            blocks.append(per_subject_table(sel, "mae20", "MAE @20 s (bpm) per subject, ubfc"))
        blocks.append(per_subject_table(sel, "clip_hr", f"whole-clip HR (bpm), {suite.name}"))
    return "\n\n".join(blocks)


def peer_rows(suites: list[Suite], cache_dir: Path | None) -> tuple[list[MethodScore], str]:
    """The open-rppg peer (a yardstick only: never a teacher, never a source of labels) on the
    UBFC suite, scored like every method; with a one-line note of what ran or why not."""
    from training.crop_cache import default_cache_dir
    from training.peers import PeerError, peer_available, peer_score, run_peers

    ubfc = [s for s in suites if s.name == "ubfc"]
    if not ubfc:
        return [], "peer: no UBFC suite, nothing to compare"
    if not peer_available():
        return [], "peer: open-rppg not set up (`python3 dev.py peers`): its row is left out"
    recordings = [r for r in ubfc[0].recordings if r.ground_truth_path is not None]
    try:
        results = run_peers([r.video for r in recordings], cache_dir=cache_dir or default_cache_dir() / "peers")
    except PeerError as e:
        return [], f"peer: {e}"
    score = peer_score(recordings, results, dataset="ubfc")
    return [score], f"peer: {score.method} {results[0].version if results else ''} (a yardstick, its own pipeline)"


def _check_args(p: argparse.ArgumentParser, args) -> None:
    """Refuse, before any work, what would run nothing or fail late (argparse's exit 2)."""
    if args.ubfc is not None and not args.ubfc.is_dir():
        p.error(f"--ubfc: no such folder: {args.ubfc}")
    if args.no_synth and args.no_nopulse and args.no_ubfc:
        p.error("--no-synth, --no-nopulse and --no-ubfc together leave nothing to benchmark")
    if args.subjects and not args.no_ubfc:
        root = args.ubfc or default_ubfc_root()
        names = {r.name for r in read_ubfc(root)} if root is not None else set()
        unknown = sorted(set(args.subjects.split(",")) - names)
        if unknown:
            p.error(f"--subjects: {', '.join(unknown)} not in {root} (it holds {', '.join(sorted(names)) or 'none'})")


def benchmark_main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    logging.basicConfig(level=logging.WARNING)
    if args.face_model is None:
        args.face_model = default_face_model()
    try:
        methods, notes = load_methods([m.strip() for m in args.methods.split(",") if m.strip()])
    except ValueError as e:
        print(f"fcus-rppg benchmark: {e}", file=sys.stderr)
        return 2
    scores: list[MethodScore] = []
    tracker = "-"
    with tempfile.TemporaryDirectory(prefix="fcus-bench-") as tmp:
        suites = make_suites(args, Path(tmp))
        for suite in suites:
            got, entries = score_suite(suite, methods, args.face_model, allow_download=not args.no_download,
                                       progress=sys.stderr.isatty())
            scores += got
            if entries and tracker == "-":
                tracker = str(entries[0].meta.get("tracker_message") or entries[0].meta.get("tracker", "-"))
    if not args.no_peer:
        peer, note = peer_rows(suites, args.peer_cache)
        scores += peer
        notes.append(note)
    print(f"tracker: {tracker}")
    for note in notes:
        print(note)
    print(report(scores, suites))
    if args.json:
        args.json.write_text(json.dumps([s.summary() for s in scores], indent=2))
    return 0
