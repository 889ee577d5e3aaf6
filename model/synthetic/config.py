"""What defines a synthetic clip: its config (timing, pulse, motion, light, noise, codec, seed).

The same config and seed always give the same clip (:mod:`model.synthetic.frames` renders it);
the codec is the one :mod:`training.synth` writes the clip with.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2

# "rest": a seated person's small, slow head motion (REST_MOTION); "none": a photograph that does not
# move at all; "sway": a swaying head (motion_amplitude_px, motion_rotation_deg, motion_scale)
MOTIONS = ("none", "rest", "sway")
REST_MOTION = {"amplitude_px": 1.5, "rotation_deg": 0.3, "scale": 0.003}  # amplitude_px at 640 px wide (scaled)


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
    motion: str = "rest"
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
        kind = {"none": "photo", "rest": "still"}.get(self.motion, self.motion)
        return f"{kind}_hr{self.hr_bpm:03.0f}"
