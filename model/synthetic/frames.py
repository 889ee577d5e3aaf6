"""Frames of a synthetic clip with its ground truth, rendered on demand from a :class:`SynthConfig`.

The pulse is :mod:`model.synthetic.pulse` (a realistic PPG with heart-rate variability); the
pixels are :mod:`model.synthetic.scene` (a real face photograph whose skin pulses, under optional
head sway, light drift and flicker, and sensor noise). Used by the app's demo source and, through
:mod:`training.synth`, by the clip writer.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from model.synthetic.config import REST_MOTION, SynthConfig
from model.synthetic.pulse import PulseWave, synth_pulse
from model.synthetic.scene import FaceScene, FrameComposer, Pose, SwayMotion, illumination_gain


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
        if c.motion == "sway":
            self.motion = SwayMotion.random(c.motion_amplitude_px, c.motion_rotation_deg, c.motion_scale, rng_motion)
        elif c.motion == "rest":  # a live face is never still: the small motion of a seated person
            self.motion = SwayMotion.random(REST_MOTION["amplitude_px"] * c.width / 640.0, REST_MOTION["rotation_deg"],
                                            REST_MOTION["scale"], rng_motion)
        else:
            self.motion = None
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
        """Head pose of frame ``i`` (None: motion "none", a photograph)."""
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

