"""Rendering of the synthetic pulse video: a real face photograph whose skin pixels pulse.

The face is ``skimage.data.astronaut()`` (NASA portrait, public domain), which real face trackers
detect. The skin mask is built without any face tracker: a hand-placed polygon around the visible
face skin (forehead below the fringe, cheeks, chin) intersected with a YCrCb skin-colour
threshold (which drops the eyes, brows' darkest hairs, teeth and highlights), feathered.

Per frame (all float32, vectorised):

    skin_bgr(t) = skin_bgr0 * (1 + a * pulse(t) * pbv / max(pbv))      pulse acts on skin only

(the caller passes ``pulse = -bvp``: blood absorbs, so skin darkens as the blood volume rises)
    frame(t)    = gain(t) * scene(t) + noise                             common-mode light change

where ``pbv`` is the blood-volume-pulse signature (R:G:B = 0.33:0.77:0.53, green strongest), so
``a`` is the green channel's relative trough-to-peak change over one beat. Motion warps the photo
and the mask together with one affine map from the source image.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

# Blood-volume-pulse signature, unit norm, in RGB order (de Haan & van Leest 2014, approx.).
PBV_RGB = np.array([0.33, 0.77, 0.53]) / np.linalg.norm([0.33, 0.77, 0.53])

# Hand-placed outline of the visible face skin in astronaut() pixel coordinates (x, y).
ASTRONAUT_FACE_POLYGON = np.array(
    [
        (187, 116), (193, 92), (205, 83), (225, 79), (245, 80), (259, 85), (265, 93),
        (268, 110), (267, 128), (263, 143), (257, 155), (250, 165), (241, 172), (230, 176),
        (220, 176), (210, 172), (201, 165), (194, 155), (189, 143), (186, 128),
    ],
    dtype=np.int32,
)
# Face box as a face-landmark model sees it (hairline to chin) in astronaut() pixels: x, y, w, h.
ASTRONAUT_FACE_BOX = (181.0, 72.0, 89.0, 105.0)
# YCrCb skin range (inclusive) used inside the polygon.
_SKIN_YCRCB_LO = (90, 140, 90)
_SKIN_YCRCB_HI = (250, 175, 122)
_MASK_FEATHER_SIGMA_PX = 1.5  # in source pixels

FACE_HEIGHT_FRAC = 0.39  # face box height / frame height (187 px at 480)
FACE_CENTRE_FRAC = (0.5, 0.42)  # face box centre / (frame width, frame height)


@functools.lru_cache(maxsize=1)
def astronaut_source() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut photo as float32 BGR (512x512x3, 0..255) and its feathered float32 skin
    mask (512x512, 0..1). Read-only arrays; cached."""
    from skimage import data  # local: scikit-image is only needed here

    rgb = data.astronaut()
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    mask = skin_mask_from_polygon(bgr, ASTRONAUT_FACE_POLYGON)
    img = bgr.astype(np.float32)
    img.setflags(write=False)
    mask.setflags(write=False)
    return img, mask


def skin_mask_from_polygon(bgr: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Feathered skin mask (float32 0..1): ``polygon`` intersected with the YCrCb skin range,
    opened to drop speckles, then Gaussian-feathered."""
    region = np.zeros(bgr.shape[:2], np.uint8)
    cv2.fillPoly(region, [polygon.reshape(-1, 1, 2)], 255)
    ycrcb = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)
    skin = cv2.inRange(ycrcb, _SKIN_YCRCB_LO, _SKIN_YCRCB_HI)
    mask = cv2.bitwise_and(region, skin)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), _MASK_FEATHER_SIGMA_PX)
    return soft


@dataclass(frozen=True)
class Pose:
    """Head pose relative to the rest position: translation (px), in-plane rotation (deg, counter-
    clockwise on screen), scale factor; all about the face centre."""

    dx_px: float = 0.0
    dy_px: float = 0.0
    angle_deg: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True)
class SwayMotion:
    """Smooth head sway: sinusoids at incommensurate frequencies below the heart-rate band
    (0.11-0.37 Hz), with random phases, so the motion never repeats exactly within a clip."""

    amplitude_px: float
    rotation_deg: float
    scale: float
    phases: tuple[float, float, float, float]

    FREQS_HZ = (0.23, 0.37, 0.17, 0.11)  # x, y, rotation, scale

    @classmethod
    def random(
        cls, amplitude_px: float, rotation_deg: float, scale: float, rng: np.random.Generator
    ) -> "SwayMotion":
        ph = tuple(float(p) for p in rng.uniform(0.0, 2.0 * np.pi, 4))
        return cls(amplitude_px, rotation_deg, scale, ph)  # type: ignore[arg-type]

    def pose(self, t_s: float) -> Pose:
        w = [2.0 * math.pi * f * t_s + p for f, p in zip(self.FREQS_HZ, self.phases)]
        return Pose(
            dx_px=self.amplitude_px * math.sin(w[0]),
            dy_px=0.5 * self.amplitude_px * math.sin(w[1]),
            angle_deg=self.rotation_deg * math.sin(w[2]),
            scale=1.0 + self.scale * math.sin(w[3]),
        )


class FaceScene:
    """Places the astronaut photo in a ``width`` x ``height`` frame with the face box
    ``FACE_HEIGHT_FRAC`` of the frame height tall, and warps source-sized images into the frame
    for a head pose (one affine map from the source, so photo, pulse and mask move together)."""

    def __init__(self, width: int, height: int) -> None:
        if width < 64 or height < 64:
            raise ValueError(f"frame must be at least 64x64, got {width}x{height}")
        self.width = int(width)
        self.height = int(height)
        self.src_bgr, self.src_mask = astronaut_source()
        fx, fy, fw, fh = ASTRONAUT_FACE_BOX
        self._src_face_centre = (fx + fw / 2.0, fy + fh / 2.0)
        self.base_scale = FACE_HEIGHT_FRAC * self.height / fh
        self.face_centre_px = (FACE_CENTRE_FRAC[0] * self.width, FACE_CENTRE_FRAC[1] * self.height)

    def affine(self, pose: Pose = Pose()) -> np.ndarray:
        """2x3 map from source pixels to frame pixels for ``pose``."""
        cx, cy = self.face_centre_px
        m = cv2.getRotationMatrix2D(self._src_face_centre, pose.angle_deg, self.base_scale * pose.scale)
        # Move the source face centre to the (displaced) frame face centre.
        m[0, 2] += cx + pose.dx_px - self._src_face_centre[0]
        m[1, 2] += cy + pose.dy_px - self._src_face_centre[1]
        return m

    def face_box(self, pose: Pose = Pose()) -> tuple[float, float, float, float]:
        """Axis-aligned box (x, y, w, h) of the posed face box's corners in frame pixels."""
        fx, fy, fw, fh = ASTRONAUT_FACE_BOX
        corners = np.array([[fx, fy, 1], [fx + fw, fy, 1], [fx, fy + fh, 1], [fx + fw, fy + fh, 1]])
        pts = corners @ self.affine(pose).T
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        return float(x0), float(y0), float(x1 - x0), float(y1 - y0)

    def warp(self, src: np.ndarray, pose: Pose = Pose()) -> np.ndarray:
        """A source-sized (512x512[xC]) float32 image in frame coordinates for ``pose``; borders
        reflect, so no black edge ever enters the frame."""
        return cv2.warpAffine(
            src, self.affine(pose), (self.width, self.height), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )

    def skin_mask(self, pose: Pose = Pose()) -> np.ndarray:
        """Skin weight (float32 H x W, 0..1) in the frame for ``pose``."""
        return np.clip(self.warp(self.src_mask, pose), 0.0, 1.0)


def illumination_gain(
    t_s: np.ndarray,
    duration_s: float,
    drift: float,
    flicker_hz: float,
    flicker_amplitude: float,
    flicker_phase: float = 0.0,
) -> np.ndarray:
    """Common-mode light level per frame: a smooth (half-cosine) drift from 1 to ``1 + drift``
    over the clip, times ``1 + flicker_amplitude * sin(2 pi flicker_hz t)`` sampled at the frame
    times (a short exposure, so mains flicker aliases as on a fast-shutter webcam)."""
    t = np.asarray(t_s, dtype=np.float64)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip(t / max(duration_s, 1e-9), 0.0, 1.0))
    gain = 1.0 + drift * ramp
    if flicker_hz > 0 and flicker_amplitude:
        gain = gain * (1.0 + flicker_amplitude * np.sin(2.0 * np.pi * flicker_hz * t + flicker_phase))
    return gain


@functools.lru_cache(maxsize=1)
def _gaussian_lut() -> np.ndarray:
    """Standard normal quantiles at the centres of 65536 equal-probability bins: indexing it with
    uniform 16-bit integers gives Gaussian samples (tails cut at 4.3 sigma) about 3x faster than
    ``Generator.standard_normal``."""
    from scipy.special import ndtri

    lut = ndtri((np.arange(65536, dtype=np.float64) + 0.5) / 65536.0)
    return (lut / lut.std()).astype(np.float32)


class FrameComposer:
    """Renders uint8 BGR frames of a :class:`FaceScene` with the pulse, light gain and sensor
    noise applied, reusing its buffers (about 5 ms per 640x480 frame, at rest or in motion).

    The pulse is added in source coordinates and the sum warped once: warping is linear, so this
    equals warping photo and pulse separately, at half the cost.
    """

    def __init__(self, scene: FaceScene, pulse_amplitude: float, noise_std: float) -> None:
        self.scene = scene
        self.pulse_amplitude = float(pulse_amplitude)
        self.noise_std = float(noise_std)
        # Relative change per unit pulse, BGR order, strongest channel (green) = 1.
        dir_bgr = (PBV_RGB[::-1] / PBV_RGB.max()).astype(np.float32)
        self._src_pulse = scene.src_bgr * scene.src_mask[:, :, None] * (self.pulse_amplitude * dir_bgr)
        self._src_buf = np.empty_like(self._src_pulse)
        self._still_bgr = scene.warp(scene.src_bgr)
        self._still_pulse = scene.warp(self._src_pulse)
        shape = (scene.height, scene.width, 3)
        self._buf = np.empty(shape, np.float32)
        self._noise = np.empty(shape, np.float32) if noise_std > 0 else None
        self._noise_lut = _gaussian_lut() * np.float32(noise_std) if noise_std > 0 else None

    def noise(self, rng: np.random.Generator) -> np.ndarray:
        """Gaussian sensor noise (std ``noise_std``) for one frame, in an internal buffer."""
        if self._noise is None or self._noise_lut is None:
            raise RuntimeError("this composer has no sensor noise")
        idx = rng.integers(0, 65536, self._noise.size, dtype=np.uint16)
        np.take(self._noise_lut, idx, out=self._noise.reshape(-1))
        return self._noise

    def compose(
        self,
        pose: Pose | None,
        pulse: float,
        gain: float,
        rng: np.random.Generator | None,
    ) -> np.ndarray:
        """uint8 BGR frame ``gain * warp(photo * (1 + pulse * a * pbv * mask)) + noise``, rounded
        and clipped; ``pose`` None is the rest pose (cached warps)."""
        buf = self._buf
        if pose is None:
            np.multiply(self._still_pulse, np.float32(pulse), out=buf)
            buf += self._still_bgr
        else:
            np.multiply(self._src_pulse, np.float32(pulse), out=self._src_buf)
            self._src_buf += self.scene.src_bgr
            cv2.warpAffine(
                self._src_buf, self.scene.affine(pose), (self.scene.width, self.scene.height),
                dst=buf, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101,
            )
        if gain != 1.0:
            buf *= np.float32(gain)
        if self._noise is not None and rng is not None:
            buf += self.noise(rng)
        buf += np.float32(0.5)  # round half up on the cast below
        np.clip(buf, 0.0, 255.0, out=buf)
        return buf.astype(np.uint8)
