"""Synthetic pulse video with known ground truth (``fcus-rppg synth``).

A real face photograph (``skimage.data.astronaut()``) is placed in the frame; its skin pixels
change colour along the blood-volume-pulse direction with a realistic PPG (see
:mod:`training.synth_pulse`), optionally under head sway, common-mode light drift and flicker,
and sensor noise (see :mod:`training.synth_video`). Clips are written in the UBFC-rPPG DATASET_2
layout (``vid.avi`` + ``ground_truth.txt``), so one dataset reader serves synthetic and real clips:

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
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from training.synth_pulse import PulseWave, synth_pulse
from training.synth_video import FaceScene, FrameComposer, Pose, SwayMotion, illumination_gain

logger = logging.getLogger(__name__)

MOTIONS = ("none", "sway")
SUITE_HR_BPM = (45.0, 60.0, 75.0, 90.0, 120.0, 150.0, 180.0)
SUITE_KINDS = ("still", "motion")
GROUND_TRUTH_FORMAT = "fcus-rppg-synth/1"


@dataclass(frozen=True)
class Codec:
    """A VideoWriter setting that works with this OpenCV build (opencv-contrib-python 4.14 with
    its bundled FFmpeg: FFV1, HFYU, MJPG, mp4v and XVID encode; avc1/H264 do not)."""

    fourcc: str
    ext: str
    api: int  # cv2 VideoWriter backend
    lossless: bool


# Measured for 640x480 at 30 fps with sensor noise 2 (per 20 s clip; encode / decode per frame):
CODECS: dict[str, Codec] = {
    # OpenCV's own Motion-JPEG writer (sharper than FFmpeg's MJPG): ~50 MB, 3 ms / 1.5 ms;
    # the skin-mean pulse survives (r = 0.999 against the lossless frames). Webcams stream MJPG.
    "mjpg": Codec("MJPG", "avi", cv2.CAP_OPENCV_MJPEG, False),
    # Lossless, decodes bit-exactly: ~260 MB (~165 MB without noise), 14 ms / 13 ms.
    "ffv1": Codec("FFV1", "avi", cv2.CAP_FFMPEG, True),
    # MPEG-4 Part 2 at FFmpeg's default rate: ~2 MB; blurs the pulse (green r ~ 0.7), a stress test.
    "mp4v": Codec("mp4v", "mp4", cv2.CAP_FFMPEG, False),
}


@dataclass(frozen=True)
class SynthConfig:
    """Everything that defines a synthetic clip; the same config and seed give the same clip.

    ``pulse_amplitude`` is the green channel's relative trough-to-peak change of skin brightness
    over one beat (AC/DC; webcam rPPG is about 0.002-0.02); red and blue change less, along the
    blood-volume-pulse signature. As on real skin, blood absorbs light: the skin darkens as the
    blood volume (the ground-truth BVP/PPG) rises. ``illumination_drift`` is the relative change of the light over
    the clip; ``flicker_amplitude`` applies only when ``flicker_hz`` > 0. ``sensor_noise_std`` is
    in 8-bit levels. ``resp_baseline``: respiratory baseline wander, relative to one beat's
    trough-to-peak. ``timestamp_jitter_s``: std of the capture-time jitter around ``k / fs_hz``.
    """

    duration_s: float = 20.0
    fs_hz: float = 30.0
    width: int = 640
    height: int = 480
    hr_bpm: float = 72.0
    hrv_std_bpm: float = 2.0
    resp_rate_bpm: float = 15.0
    resp_baseline: float = 0.1
    pulse_amplitude: float = 0.01
    motion: str = "none"
    motion_amplitude_px: float = 12.0
    motion_rotation_deg: float = 3.0
    motion_scale: float = 0.03
    illumination_drift: float = 0.0
    flicker_hz: float = 0.0
    flicker_amplitude: float = 0.02
    sensor_noise_std: float = 2.0
    codec: str = "mjpg"
    seed: int = 0
    timestamp_jitter_s: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not self.duration_s > 0:
            problems.append(f"duration_s must be > 0 (got {self.duration_s})")
        if not self.fs_hz > 0:
            problems.append(f"fs_hz must be > 0 (got {self.fs_hz})")
        if self.width < 64 or self.height < 64:
            problems.append(f"frame must be at least 64x64 (got {self.width}x{self.height})")
        if not 20.0 <= self.hr_bpm <= 250.0:
            problems.append(f"hr_bpm must be in 20..250 (got {self.hr_bpm})")
        if self.hrv_std_bpm < 0 or self.sensor_noise_std < 0 or self.timestamp_jitter_s < 0:
            problems.append("hrv_std_bpm, sensor_noise_std and timestamp_jitter_s must be >= 0")
        if not 0.0 <= self.pulse_amplitude < 0.5:
            problems.append(f"pulse_amplitude must be in [0, 0.5) (got {self.pulse_amplitude})")
        if self.motion not in MOTIONS:
            problems.append(f"motion must be one of {MOTIONS} (got {self.motion!r})")
        if self.codec not in CODECS:
            problems.append(f"codec must be one of {tuple(CODECS)} (got {self.codec!r})")
        if self.seed < 0:
            problems.append(f"seed must be >= 0 (got {self.seed})")
        if self.flicker_hz < 0:
            problems.append(f"flicker_hz must be >= 0 (got {self.flicker_hz})")
        if self.n_frames < 2:
            problems.append("the clip must have at least two frames")
        if problems:
            raise ValueError("invalid SynthConfig: " + "; ".join(problems))

    @property
    def n_frames(self) -> int:
        return int(round(self.duration_s * self.fs_hz))

    @property
    def video_name(self) -> str:
        return f"vid.{CODECS[self.codec].ext}"

    @property
    def slug(self) -> str:
        """Short folder name, e.g. ``still_hr075`` or ``sway_hr120``."""
        kind = "still" if self.motion == "none" else self.motion
        return f"{kind}_hr{self.hr_bpm:03.0f}"


@dataclass
class SynthClip:
    """Ground truth of a synthetic clip, per frame (``t_s``, ``bvp``, ``hr_bpm``,
    ``illumination`` gain), the systolic beat times, and the frames (N x H x W x 3 BGR uint8)
    when they were rendered."""

    config: SynthConfig
    t_s: np.ndarray
    bvp: np.ndarray
    hr_bpm: np.ndarray
    beat_t_s: np.ndarray
    illumination: np.ndarray
    frames: np.ndarray | None = None

    @property
    def mean_hr_bpm(self) -> float:
        return float(np.mean(self.hr_bpm))

    @property
    def n_frames(self) -> int:
        return int(self.t_s.size)


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


class SynthRenderer:
    """Plans a clip from its config (timestamps, pulse, light, motion) and renders any frame.

    Each frame's noise has its own seeded stream, so ``frame(i)`` is the same whether frames are
    drawn in order or not.
    """

    def __init__(self, config: SynthConfig) -> None:
        self.config = c = config
        seq = np.random.SeedSequence(c.seed)
        rng_pulse, rng_time, rng_motion, rng_light = (np.random.default_rng(s) for s in seq.spawn(4))
        self._noise_entropy = (int(c.seed) & 0xFFFFFFFF, 0x5EED)

        n = c.n_frames
        t_s = np.arange(n, dtype=np.float64) / c.fs_hz
        if c.timestamp_jitter_s > 0:
            limit = 0.45 / c.fs_hz  # keeps the order of frames
            jitter = np.clip(rng_time.normal(0.0, c.timestamp_jitter_s, n), -limit, limit)
            t_s = t_s + jitter - jitter[0]
        wave: PulseWave = synth_pulse(
            t_s,
            c.hr_bpm,
            hrv_std_bpm=c.hrv_std_bpm,
            resp_rate_bpm=c.resp_rate_bpm,
            resp_baseline=c.resp_baseline,
            exposure_s=1.0 / c.fs_hz,
            rng=rng_pulse,
        )
        self.wave = wave
        self.illumination = illumination_gain(
            t_s, c.duration_s, c.illumination_drift, c.flicker_hz, c.flicker_amplitude,
            flicker_phase=float(rng_light.uniform(0.0, 2.0 * np.pi)),
        )
        self.motion = (
            SwayMotion.random(c.motion_amplitude_px, c.motion_rotation_deg, c.motion_scale, rng_motion)
            if c.motion == "sway"
            else None
        )
        self.scene = FaceScene(c.width, c.height)
        self._composer = FrameComposer(self.scene, c.pulse_amplitude, c.sensor_noise_std)

    @property
    def t_s(self) -> np.ndarray:
        return self.wave.t_s

    def truth(self) -> SynthClip:
        return SynthClip(
            config=self.config,
            t_s=self.wave.t_s.copy(),
            bvp=self.wave.bvp.copy(),
            hr_bpm=self.wave.hr_bpm.copy(),
            beat_t_s=self.wave.beat_t_s.copy(),
            illumination=self.illumination.copy(),
        )

    def pose(self, i: int) -> Pose | None:
        """Head pose of frame ``i`` (None: at rest, no motion)."""
        return self.motion.pose(float(self.wave.t_s[i])) if self.motion is not None else None

    def skin_mask(self, i: int = 0) -> np.ndarray:
        """Ground-truth skin weight (float32 H x W, 0..1) of frame ``i``."""
        return self.scene.skin_mask(self.pose(i) or Pose())

    def face_box(self, i: int = 0) -> tuple[float, float, float, float]:
        """Face box (x, y, w, h; hairline to chin) of frame ``i`` in pixels."""
        return self.scene.face_box(self.pose(i) or Pose())

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as BGR uint8 H x W x 3."""
        if not 0 <= i < self.wave.t_s.size:
            raise IndexError(f"frame {i} outside 0..{self.wave.t_s.size - 1}")
        rng = np.random.default_rng((*self._noise_entropy, i))
        return self._composer.compose(
            self.pose(i), -float(self.wave.pulse[i]), float(self.illumination[i]), rng
        )

    def __len__(self) -> int:
        return int(self.wave.t_s.size)

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        for i in range(len(self)):
            yield float(self.wave.t_s[i]), self.frame(i)


def generate_frames(config: SynthConfig) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(t_s, bgr_uint8)`` for every frame of the clip, in order, rendered on demand."""
    yield from SynthRenderer(config)


def ground_truth(config: SynthConfig) -> SynthClip:
    """The clip's ground truth without rendering any frame (cheap)."""
    return SynthRenderer(config).truth()


def render_clip(config: SynthConfig, progress: bool = False) -> SynthClip:
    """Ground truth plus all frames in memory (N x H x W x 3 uint8: 550 MB for 20 s at 640x480,
    so prefer :func:`generate_frames` or :func:`write_clip` for long clips)."""
    renderer = SynthRenderer(config)
    clip = renderer.truth()
    frames = np.empty((len(renderer), config.height, config.width, 3), np.uint8)
    for i in tqdm(range(len(renderer)), desc="render", unit="frame", disable=not progress,
                  file=sys.stderr, leave=False):
        frames[i] = renderer.frame(i)
    clip.frames = frames
    return clip


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
    p.add_argument("--suite", choices=SUITE_KINDS, help=f"write the whole suite (HR {', '.join(f'{h:g}' for h in SUITE_HR_BPM)} bpm) into subfolders")
    p.add_argument("--duration-s", type=float, default=d.duration_s, help="clip length in seconds (default %(default)s)")
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
    p.add_argument("--flicker-hz", type=float, default=d.flicker_hz, help="light flicker frequency in Hz (default %(default)s)")
    p.add_argument("--flicker-amplitude", type=float, default=d.flicker_amplitude,
                   help="light flicker as a relative brightness change (default %(default)s; 0 = off)")
    p.add_argument("--noise", type=float, default=d.sensor_noise_std, help="sensor noise std (8-bit levels)")
    p.add_argument("--codec", choices=tuple(CODECS), default=d.codec, help="video codec of the clip (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (pulse, motion, noise; default %(default)s)")
    p.add_argument("--jitter-s", type=float, default=d.timestamp_jitter_s, help="timestamp jitter std (s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def synth_main(argv: list[str] | None = None) -> int:
    """``fcus-rppg synth``: write one clip, or a whole suite into ``OUT/<slug>/``."""
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        base = SynthConfig(
            duration_s=args.duration_s, fs_hz=args.fs_hz, width=args.width, height=args.height,
            hr_bpm=args.hr_bpm, hrv_std_bpm=args.hrv_std_bpm, pulse_amplitude=args.amplitude,
            motion=args.motion, motion_amplitude_px=args.motion_px,
            illumination_drift=args.drift, flicker_hz=args.flicker_hz,
            flicker_amplitude=args.flicker_amplitude, sensor_noise_std=args.noise,
            codec=args.codec, seed=args.seed, timestamp_jitter_s=args.jitter_s,
        )
        if args.suite:
            configs = suite_configs(args.suite, base)
            for cfg in tqdm(configs, desc=f"suite {args.suite}", unit="clip", disable=args.quiet, file=sys.stderr):
                write_clip(cfg, args.out / cfg.slug, progress=not args.quiet)
        else:
            write_clip(base, args.out, progress=not args.quiet)
    except (ValueError, RuntimeError, OSError) as exc:
        logger.error("synth failed: %s", exc)
        return 1
    return 0


_CONFIG_FIELDS = tuple(f.name for f in fields(SynthConfig))


def config_from_dict(values: dict) -> SynthConfig:
    """Rebuild a config from ``ground_truth.json``'s ``config`` (unknown keys are ignored)."""
    return SynthConfig(**{k: v for k, v in values.items() if k in _CONFIG_FIELDS})


if __name__ == "__main__":
    raise SystemExit(synth_main())
