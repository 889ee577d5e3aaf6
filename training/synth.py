"""Synthetic pulse clips written as a dataset (``fcus-rppg synth``).

The frames and their ground truth come from :mod:`model.synthetic` (a real face photograph whose
skin pulses with a realistic PPG, optionally under head sway, light drift and flicker, and sensor
noise). Clips are written in the UBFC-rPPG DATASET_2 layout (``vid.avi`` + ``ground_truth.txt``),
so one dataset reader serves synthetic and real clips:

    ground_truth.txt   row 1: PPG waveform (zero-mean, unit std), row 2: HR (bpm),
                       row 3: timestamps (s); one value per video frame
    ground_truth.json  the config, mean HR, beat times, codec, how the amplitude is defined
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from model.synthetic.config import CODECS, MOTIONS, SynthConfig
from model.synthetic.frames import SynthRenderer

logger = logging.getLogger(__name__)

SUITE_HR_BPM = (45.0, 60.0, 75.0, 90.0, 120.0, 150.0, 180.0)
SUITE_KINDS = ("still", "motion")
GROUND_TRUTH_FORMAT = "fcus-rppg-synth/1"


@dataclass(frozen=True)
class SynthClipFiles:
    """What :func:`write_clip` wrote."""

    out_dir: Path
    video_path: Path
    ground_truth_txt: Path
    ground_truth_json: Path
    n_frames: int
    mean_hr_bpm: float
    seconds: float = field(default=0.0, compare=False)



def open_video_writer(path: Path, codec: str, fs_hz: float, width: int, height: int) -> cv2.VideoWriter:
    spec = CODECS[codec]
    writer = cv2.VideoWriter(
        str(path), spec.api, cv2.VideoWriter_fourcc(*spec.fourcc), float(fs_hz), (width, height)
    )
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {spec.fourcc} video to {path}")
    return writer


def write_ground_truth_txt(path: Path, bvp: np.ndarray, hr_bpm: np.ndarray, t_s: np.ndarray) -> None:
    """UBFC-rPPG DATASET_2 ``ground_truth.txt``: three whitespace-separated rows (PPG, HR bpm,
    time s), in the same ``%.7e`` layout as the original files."""
    rows = np.vstack([bvp, hr_bpm, t_s]).astype(np.float64)
    with open(path, "w", encoding="ascii") as fh:
        for row in rows:
            fh.write("".join(f"{v:16.7e}" for v in row) + "\n")


def write_clip(config: SynthConfig, out_dir: str | os.PathLike, progress: bool = True) -> SynthClipFiles:
    """Write ``vid.<ext>``, ``ground_truth.txt`` and ``ground_truth.json`` into ``out_dir``.

    The video is written under a temporary name and renamed when complete, so an interrupted run
    never leaves a clip that looks finished.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    renderer = SynthRenderer(config)
    truth = renderer.truth()
    video_path = out / config.video_name
    tmp_path = out / f"vid.partial.{CODECS[config.codec].ext}"
    writer = open_video_writer(tmp_path, config.codec, config.fs_hz, config.width, config.height)
    try:
        for i in tqdm(range(len(renderer)), desc=f"synth {config.slug}", unit="frame",
                      disable=not progress, file=sys.stderr, leave=False):
            writer.write(renderer.frame(i))
    finally:
        writer.release()
    os.replace(tmp_path, video_path)

    gt_txt = out / "ground_truth.txt"
    write_ground_truth_txt(gt_txt, truth.bvp, truth.hr_bpm, truth.t_s)
    beats = truth.beat_t_s
    meta = {
        "format": GROUND_TRUTH_FORMAT,
        "video": video_path.name,
        "fourcc": CODECS[config.codec].fourcc,
        "lossless": CODECS[config.codec].lossless,
        "n_frames": truth.n_frames,
        "fs_hz": config.fs_hz,
        "width": config.width,
        "height": config.height,
        "mean_hr_bpm": truth.mean_hr_bpm,
        "beat_hr_bpm": float(60.0 * (beats.size - 1) / (beats[-1] - beats[0])) if beats.size > 1 else None,
        "n_beats": int(beats.size),
        "beat_t_s": [round(float(b), 6) for b in beats],
        "face_box_xywh_frame0": [round(v, 2) for v in renderer.face_box(0)],
        "ground_truth_rows": ["ppg (zero-mean, unit std)", "hr_bpm", "t_s"],
        "pulse_amplitude_definition": (
            "relative trough-to-peak change of the green channel of skin pixels over one beat; "
            "R and B change along the PBV signature R:G:B = 0.33:0.77:0.53"
        ),
        "config": asdict(config),
    }
    gt_json = out / "ground_truth.json"
    gt_json.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    seconds = time.perf_counter() - t0
    logger.info(
        "wrote %s: %d frames, mean HR %.1f bpm, %.1f MB, %.1f s",
        video_path, truth.n_frames, truth.mean_hr_bpm, video_path.stat().st_size / 1e6, seconds,
    )
    return SynthClipFiles(out, video_path, gt_txt, gt_json, truth.n_frames, truth.mean_hr_bpm, seconds)


def suite_configs(kind: str = "still", base: SynthConfig | None = None) -> list[SynthConfig]:
    """The benchmark suite: one clip per HR in ``SUITE_HR_BPM`` (45..180 bpm), each with its own
    seed. ``still``: no motion; ``motion``: head sway plus a 5 % light drift and a 2 % flicker at
    10 Hz (100 Hz mains light aliased by a 30 fps camera). Other settings come from ``base``."""
    if kind not in SUITE_KINDS:
        raise ValueError(f"kind must be one of {SUITE_KINDS}, got {kind!r}")
    base = base if base is not None else SynthConfig()
    extra = {} if kind == "still" else {
        "motion": "sway", "illumination_drift": 0.05, "flicker_hz": 10.0, "flicker_amplitude": 0.02}
    return [
        replace(base, **{"hr_bpm": hr, "seed": base.seed + i, **extra})
        for i, hr in enumerate(SUITE_HR_BPM)
    ]


def _parser() -> argparse.ArgumentParser:
    d = SynthConfig()
    p = argparse.ArgumentParser(
        prog="fcus-rppg synth",
        description="Write a synthetic pulse video (UBFC-style vid.* + ground_truth.txt/json).",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder")
    suite_hr = ", ".join(f"{h:g}" for h in SUITE_HR_BPM)
    p.add_argument("--suite", choices=SUITE_KINDS, help=f"write the whole suite (HR {suite_hr} bpm) into subfolders")
    p.add_argument("--duration-s", type=float, default=d.duration_s,
                   help="clip length in seconds (default %(default)s)")
    p.add_argument("--fs-hz", type=float, default=d.fs_hz, help="frame rate in Hz (default %(default)s)")
    p.add_argument("--width", type=int, default=d.width, help="frame width in pixels (default %(default)s)")
    p.add_argument("--height", type=int, default=d.height, help="frame height in pixels (default %(default)s)")
    p.add_argument("--hr-bpm", type=float, default=d.hr_bpm, help="mean heart rate (ignored with --suite)")
    p.add_argument("--hrv-std-bpm", type=float, default=d.hrv_std_bpm,
                   help="heart-rate variability: std of the beat-to-beat rate in bpm (default %(default)s)")
    p.add_argument("--amplitude", type=float, default=d.pulse_amplitude, help="green trough-to-peak relative change")
    p.add_argument("--motion", choices=MOTIONS, default=d.motion, help="(set by --suite)")
    p.add_argument("--motion-px", type=float, default=d.motion_amplitude_px,
                   help="head motion amplitude in pixels (default %(default)s)")
    p.add_argument("--drift", type=float, default=d.illumination_drift, help="relative light change over the clip")
    p.add_argument("--flicker-hz", type=float, default=d.flicker_hz,
                   help="light flicker frequency in Hz (default %(default)s)")
    p.add_argument("--flicker-amplitude", type=float, default=d.flicker_amplitude,
                   help="light flicker as a relative brightness change (default %(default)s; 0 = off)")
    p.add_argument("--noise", type=float, default=d.sensor_noise_std, help="sensor noise std (8-bit levels)")
    p.add_argument("--codec", choices=tuple(CODECS), default=d.codec,
                   help="video codec of the clip (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (pulse, motion, noise; default %(default)s)")
    p.add_argument("--jitter-s", type=float, default=d.timestamp_jitter_s, help="timestamp jitter std (s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def synth_main(argv: list[str] | None = None) -> int:
    """``fcus-rppg synth``: write one clip, or a whole suite into ``OUT/<slug>/``."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")
    try:
        base = SynthConfig(
            duration_s=args.duration_s, fs_hz=args.fs_hz, width=args.width, height=args.height,
            hr_bpm=args.hr_bpm, hrv_std_bpm=args.hrv_std_bpm, pulse_amplitude=args.amplitude,
            motion=args.motion, motion_amplitude_px=args.motion_px,
            illumination_drift=args.drift, flicker_hz=args.flicker_hz,
            flicker_amplitude=args.flicker_amplitude, sensor_noise_std=args.noise,
            codec=args.codec, seed=args.seed, timestamp_jitter_s=args.jitter_s,
        )
    except ValueError as exc:  # a bad option value: an argument error like any other (exit 2)
        parser.error(str(exc))
    bars = not args.quiet and sys.stderr.isatty()  # a bar redrawn into a log file leaves carriage returns
    try:
        if args.suite:
            configs = suite_configs(args.suite, base)
            for cfg in tqdm(configs, desc=f"suite {args.suite}", unit="clip", disable=not bars, file=sys.stderr):
                write_clip(cfg, args.out / cfg.slug, progress=bars)
        else:
            write_clip(base, args.out, progress=bars)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"fcus-rppg synth: {exc}", file=sys.stderr)
        return 1
    return 0


_CONFIG_FIELDS = tuple(f.name for f in fields(SynthConfig))


def config_from_dict(values: dict) -> SynthConfig:
    """Rebuild a config from ``ground_truth.json``'s ``config`` (unknown keys are ignored)."""
    return SynthConfig(**{k: v for k, v in values.items() if k in _CONFIG_FIELDS})


if __name__ == "__main__":
    raise SystemExit(synth_main())
