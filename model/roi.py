"""Region of interest: skin mask, mean skin colour and the stabilised face crop.

With MediaPipe landmarks (canonical 468/478-point mesh) the skin region is the face oval (hairline
to chin) with the eyes, brows, lips and the nose tip/nostrils cut out (convex hulls widened by a
margin), intersected with a YCrCb skin-colour range that drops hair, glasses, beard and shadows.
Without landmarks (OpenCV fallback) the region is forehead and cheek rectangles as fractions of
the box, with the same colour gate. The smaller forehead/cheek patches (``FOREHEAD_IDX``,
``*_CHEEK_IDX``) averaged too few pixels on compressed video (see ``FACE_OVAL_IDX``).

Everything is computed inside the face's bounding region only, so the cost does not grow with the
frame size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from model.types import Box, Face, Frame, RoiSample

log = logging.getLogger(__name__)

# --- MediaPipe canonical face mesh indices ("right" = the subject's right = image left) ---------
# Forehead band: upper row (69 .. 299, one mesh row above the brows) then the brows' upper edge
# back (296 .. 66), through the glabella (9).
FOREHEAD_IDX = (69, 108, 151, 337, 299, 296, 336, 9, 107, 66)
# Cheeks: under-eye row (117-119 / 346-348), down the side of the nose (100, 142, 203 /
# 329, 371, 423), along the upper nasolabial region (206, 207 / 426, 427) and back up the
# outer cheek (187, 123 / 411, 352).
RIGHT_CHEEK_IDX = (117, 118, 119, 100, 142, 203, 206, 207, 187, 123)
LEFT_CHEEK_IDX = (346, 347, 348, 329, 371, 423, 426, 427, 411, 352)
# Face oval (silhouette, forehead at the hairline down to the chin). The skin region is the oval
# minus eyes, brows, lips and nostrils, gated by skin colour (YCrCb): on compressed webcam video a
# large averaging area matters most. Measured with POS/CHROM on UBFC subjects 3, 5, 10, 12
# (20 s windows, MAE): forehead+cheek patches 22.3/13.3 bpm, the same gated by colour 14.2/13.3,
# the gated oval 2.5/8.3, a fixed face box 23.4/9.1.
FACE_OVAL_IDX = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
                 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54,
                 103, 67, 109)
SKIN_POLYGONS_IDX = (FACE_OVAL_IDX,)

RIGHT_EYE_IDX = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE_IDX = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_BROW_IDX = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
LEFT_BROW_IDX = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
LIPS_IDX = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40,
            185)
NOSE_TIP_IDX = (1, 4, 49, 48, 64, 98, 97, 2, 326, 327, 294, 278, 279)
EXCLUDED_IDX = (RIGHT_EYE_IDX, LEFT_EYE_IDX, RIGHT_BROW_IDX, LEFT_BROW_IDX, LIPS_IDX, NOSE_TIP_IDX)
#: Excluded hulls are widened by this fraction of the face height on each side.
EXCLUDE_MARGIN_FRAC = 0.02
_MESH_POINTS = 468
# The same index tuples as arrays, built once: indexing the landmarks with them on every frame
# costs less than converting a tuple each time (the mask is cut for every frame of a clip).
_SKIN_POLYGONS = tuple(np.asarray(idx, dtype=np.intp) for idx in SKIN_POLYGONS_IDX)
_SKIN_POINTS = np.unique(np.concatenate(_SKIN_POLYGONS))
_EXCLUDED = tuple(np.asarray(idx, dtype=np.intp) for idx in EXCLUDED_IDX)

# --- Box-only fallback: (x0, y0, x1, y1) as fractions of a Haar face box ------------------------
FALLBACK_RECTS_FRAC = (
    (0.30, 0.05, 0.70, 0.20),  # forehead
    (0.15, 0.50, 0.38, 0.72),  # right cheek (image left)
    (0.62, 0.50, 0.85, 0.72),  # left cheek (image right)
)
# YCrCb skin range (Chai & Ngan 1999); the colour gate is dropped when it keeps under this share
# of the rectangles (odd lighting), so a found face always yields a value.
YCRCB_SKIN_LO = (0, 133, 77)
YCRCB_SKIN_HI = (255, 173, 127)
MIN_COLOUR_GATE_KEEP = 0.25

_SHIFT = 4  # fixed-point bits for sub-pixel polygon rasterisation
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class SkinMask:
    """Skin mask local to a region of the image: ``mask`` (uint8, 0 or 255) covers rows
    ``y0 .. y0 + h`` and columns ``x0 .. x0 + w`` of the frame."""

    mask: np.ndarray
    x0: int = 0
    y0: int = 0

    @property
    def pixels(self) -> int:
        return int(cv2.countNonZero(self.mask)) if self.mask.size else 0

    @property
    def slices(self) -> tuple[slice, slice]:
        h, w = self.mask.shape[:2]
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)

    def full(self, shape_hw: tuple[int, int]) -> np.ndarray:
        """The mask placed in a zero image of ``shape_hw``."""
        out = np.zeros(shape_hw[:2], dtype=np.uint8)
        if self.mask.size:
            out[self.slices] = self.mask
        return out


_EMPTY = SkinMask(np.zeros((0, 0), dtype=np.uint8))


def _region(x0: float, y0: float, x1: float, y1: float, width: int,
            height: int) -> tuple[int, int, int, int] | None:
    ix0, iy0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    ix1, iy1 = min(int(np.ceil(x1)) + 1, width), min(int(np.ceil(y1)) + 1, height)
    if ix1 <= ix0 or iy1 <= iy0:
        return None
    return ix0, iy0, ix1, iy1


def _landmark_mask(landmarks: np.ndarray, face_h_px: float, width: int, height: int) -> SkinMask:
    skin = landmarks[_SKIN_POINTS]
    region = _region(*skin.min(axis=0), *skin.max(axis=0), width, height)
    if region is None:
        return _EMPTY
    x0, y0, x1, y1 = region
    # every landmark in fixed point (sub-pixel, relative to the region) at once; the polygons and
    # hulls index into it
    fixed = np.round((landmarks - np.array([x0, y0], dtype=np.float64)) * _ONE).astype(np.int32)
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    cv2.fillPoly(mask, [fixed[idx] for idx in _SKIN_POLYGONS], 255, lineType=cv2.LINE_8, shift=_SHIFT)
    margin_px = max(1, int(round(EXCLUDE_MARGIN_FRAC * face_h_px)))
    hulls = [cv2.convexHull(fixed[idx]) for idx in _EXCLUDED]
    for hull in hulls:  # each hull cut out, then all their widened outlines in one call
        cv2.fillConvexPoly(mask, hull, 0, lineType=cv2.LINE_8, shift=_SHIFT)
    cv2.polylines(mask, hulls, True, 0, thickness=2 * margin_px, lineType=cv2.LINE_8, shift=_SHIFT)
    return SkinMask(mask, x0, y0)


def _colour_gate(mask: np.ndarray, bgr_region: np.ndarray) -> np.ndarray:
    """Keep the skin-coloured pixels of ``mask`` (YCrCb range); the plain mask when the gate would
    keep less than ``MIN_COLOUR_GATE_KEEP`` of it (unusual light or skin tone)."""
    ycrcb = cv2.cvtColor(bgr_region, cv2.COLOR_BGR2YCrCb)
    gated = cv2.bitwise_and(mask, cv2.inRange(ycrcb, YCRCB_SKIN_LO, YCRCB_SKIN_HI))
    if cv2.countNonZero(gated) >= MIN_COLOUR_GATE_KEEP * cv2.countNonZero(mask):
        return gated
    return mask


def _box_mask(box: Box, width: int, height: int, bgr: np.ndarray | None) -> SkinMask:
    region = _region(box.x, box.y, box.x + box.w, box.y + box.h, width, height)
    if region is None:
        return _EMPTY
    x0, y0, x1, y1 = region
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    for fx0, fy0, fx1, fy1 in FALLBACK_RECTS_FRAC:
        p0 = (int(round(box.x + fx0 * box.w)) - x0, int(round(box.y + fy0 * box.h)) - y0)
        p1 = (int(round(box.x + fx1 * box.w)) - x0 - 1, int(round(box.y + fy1 * box.h)) - y0 - 1)
        cv2.rectangle(mask, p0, p1, 255, thickness=-1)
    if bgr is not None:
        mask = _colour_gate(mask, bgr[y0:y1, x0:x1])
    return SkinMask(mask, x0, y0)


def skin_mask(face: Face, shape_hw: tuple[int, ...], bgr: np.ndarray | None = None) -> SkinMask:
    """Skin region of ``face`` in an image of ``shape_hw`` (box-local mask plus offset).

    Uses the landmark polygons when the face has mesh landmarks, else the box rectangles; both
    gated by skin colour when ``bgr``, the frame, is given. Empty when the face is not ok.
    """
    if not face.ok or face.box is None:
        return _EMPTY
    height, width = int(shape_hw[0]), int(shape_hw[1])
    lm = face.landmarks
    if lm is not None and lm.ndim == 2 and lm.shape[0] >= _MESH_POINTS:
        sm = _landmark_mask(lm.astype(np.float64), face.box.h, width, height)
        if bgr is not None and sm.mask.size:
            sm = SkinMask(_colour_gate(sm.mask, bgr[sm.slices]), sm.x0, sm.y0)
        return sm
    return _box_mask(face.box, width, height, bgr)


def _crop_square(box: Box, scale: float, width: int, height: int):
    """The crop square around ``box`` (x0, y0, x1, y1) and its part inside the image (sx0, sy0,
    sx1, sy1); None when they do not overlap."""
    side = max(box.w, box.h) * scale
    s = max(int(round(side)), 1)
    x0 = int(round(box.cx - s / 2.0))
    y0 = int(round(box.cy - s / 2.0))
    x1, y1 = x0 + s, y0 + s
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if sx1 <= sx0 or sy1 <= sy0:
        return None
    return (x0, y0, x1, y1), (sx0, sy0, sx1, sy1)


def _finish_crop(patch: np.ndarray, square, inside, size_px: int) -> np.ndarray:
    """Pad ``patch`` (the in-image part of the square) by edge replication, resize (INTER_AREA)
    to ``size_px`` and return float32 RGB."""
    x0, y0, x1, y1 = square
    sx0, sy0, sx1, sy1 = inside
    if (sx0, sy0, sx1, sy1) != (x0, y0, x1, y1):
        patch = cv2.copyMakeBorder(patch, sy0 - y0, y1 - sy1, sx0 - x0, x1 - sx1,
                                   cv2.BORDER_REPLICATE)
    small = cv2.resize(patch, (size_px, size_px), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)


def masked_face_crop(bgr: np.ndarray, mask: SkinMask, box: Box, size_px: int, scale: float = 1.2) -> np.ndarray | None:
    """:func:`face_crop` of the frame with every pixel outside ``mask`` set to 0, built from the
    crop square only (the same values as masking the whole frame first, at a fraction of the cost)."""
    height, width = bgr.shape[:2]
    where = _crop_square(box, scale, width, height)
    if where is None:
        return None
    sx0, sy0, sx1, sy1 = where[1]
    patch = np.zeros((sy1 - sy0, sx1 - sx0, 3), dtype=bgr.dtype)
    if mask.mask.size:
        mh, mw = mask.mask.shape[:2]
        ix0, iy0 = max(sx0, mask.x0), max(sy0, mask.y0)
        ix1, iy1 = min(sx1, mask.x0 + mw), min(sy1, mask.y0 + mh)
        if ix1 > ix0 and iy1 > iy0:
            m = mask.mask[iy0 - mask.y0:iy1 - mask.y0, ix0 - mask.x0:ix1 - mask.x0]
            cv2.copyTo(bgr[iy0:iy1, ix0:ix1], m, patch[iy0 - sy0:iy1 - sy0, ix0 - sx0:ix1 - sx0])
    return _finish_crop(patch, *where, size_px)


def face_crop(bgr: np.ndarray, box: Box, size_px: int, scale: float = 1.2) -> np.ndarray | None:
    """Square crop around ``box`` (side = scale * max(w, h)), padded by edge replication where it
    leaves the image, resized with INTER_AREA to ``size_px``; float32 RGB 0..255."""
    height, width = bgr.shape[:2]
    where = _crop_square(box, scale, width, height)
    if where is None:
        return None
    sx0, sy0, sx1, sy1 = where[1]
    return _finish_crop(bgr[sy0:sy1, sx0:sx1], *where, size_px)


class RoiExtractor:
    """Per-frame ROI: mean skin RGB (classic methods) and the face crop (model input).

    ``last_mask`` keeps the mask of the latest call (for overlays)."""

    def __init__(self, crop_size: int | None = 72, crop_scale: float = 1.2, *, crop_masked: bool = False) -> None:
        if crop_size is not None and crop_size < 1:
            raise ValueError(f"crop_size must be positive or None, got {crop_size}")
        if crop_scale <= 0:
            raise ValueError(f"crop_scale must be positive, got {crop_scale}")
        self.crop_size = crop_size
        self.crop_scale = float(crop_scale)
        self.crop_masked = bool(crop_masked)  # pixels outside the skin region set to 0 (FCUS input)
        self.last_mask: SkinMask = _EMPTY

    def extract(self, frame: Frame, face: Face) -> RoiSample:
        if not face.ok or face.box is None:
            self.last_mask = _EMPTY
            return RoiSample(t_s=frame.t_s, face_ok=False, rgb_mean=np.full(3, np.nan))
        bgr = frame.bgr
        mask = skin_mask(face, bgr.shape, bgr)
        self.last_mask = mask
        n_pixels = mask.pixels
        if n_pixels > 0:
            b, g, r, _ = cv2.mean(bgr[mask.slices], mask=mask.mask)
            rgb_mean = np.array([r, g, b], dtype=np.float64)
        else:
            rgb_mean = np.full(3, np.nan)
        crop = None
        if self.crop_size is not None:
            if self.crop_masked:
                crop = masked_face_crop(bgr, mask, face.box, self.crop_size, self.crop_scale)
            else:
                crop = face_crop(bgr, face.box, self.crop_size, self.crop_scale)
        return RoiSample(t_s=frame.t_s, face_ok=True, rgb_mean=rgb_mean, skin_pixels=n_pixels,
                         crop=crop, box=face.box)


def draw_overlay(
    bgr: np.ndarray,
    face: Face,
    mask: SkinMask | None = None,
    *,
    box_color: tuple[int, ...] = (0, 200, 0),
    skin_color: tuple[int, ...] = (255, 160, 0),
    thickness: int = 2,
) -> np.ndarray:
    """Draw the face box and the skin-region outline on ``bgr`` in place; returns ``bgr`` (a BGR
    picture, or BGRA with 4-value colours).

    ``mask`` defaults to :func:`skin_mask` of the face (pass ``RoiExtractor.last_mask`` to show
    exactly what was averaged)."""
    if not face.ok or face.box is None:
        return bgr
    if mask is None:
        mask = skin_mask(face, bgr.shape, bgr)
    x, y, w, h = face.box.as_int()
    cv2.rectangle(bgr, (x, y), (x + w, y + h), box_color, thickness)
    if mask.mask.size:
        contours, _ = cv2.findContours(mask.mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE,
                                       offset=(mask.x0, mask.y0))
        cv2.drawContours(bgr, contours, -1, skin_color, max(1, thickness - 1))
    return bgr
