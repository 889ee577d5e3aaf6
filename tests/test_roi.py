"""Skin mask, mean skin colour, face crop and overlay."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from model import roi
from model.face_tracking import MediaPipeFaceTracker
from model.roi import RoiExtractor, SkinMask, draw_overlay, face_crop, skin_mask
from model.types import Box, Face, Frame
from tests.face_frames import CANVAS_HW, face_image, frame, shared_face_model_path

MODEL_PATH = shared_face_model_path()
needs_model = pytest.mark.skipif(
    MODEL_PATH is None,
    reason="face model absent: no assets/face_landmarker.task, FCUS_FACE_MODEL or ../shared/models copy",
)
SKIN_BGR = (90, 130, 200)  # a light skin tone (passes the YCrCb gate)


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, Face]:
    if MODEL_PATH is None:
        pytest.skip("face model absent")
    img = face_image((320, 240))
    with MediaPipeFaceTracker(MODEL_PATH) as tracker:
        face = tracker.process(frame(0, img))
    assert face.ok and face.landmarks is not None
    return img, face


def _polygon_mask(points: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape_hw, dtype=np.uint8)
    cv2.fillPoly(out, [np.round(points).astype(np.int32)], 255)
    return out


def _values_at(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    xy = np.round(points).astype(int)
    return mask[xy[:, 1], xy[:, 0]]


def _box_face(x: float = 230, y: float = 140, w: float = 180, h: float = 180) -> Face:
    return Face(ok=True, box=Box(x, y, w, h), tracker="opencv", n_faces=1)


# --- landmark skin mask ----------------------------------------------------------------------
@needs_model
def test_mask_excludes_eyes_brows_mouth_and_nostrils(astronaut):
    img, face = astronaut
    full = skin_mask(face, img.shape).full(img.shape[:2])
    excluded = sorted(set().union(*roi.EXCLUDED_IDX)) + list(range(468, 478))  # + irises
    assert not _values_at(full, face.landmarks[excluded]).any()
    # and a margin around them: the eye corners' neighbourhoods are clear too
    for idx in (roi.RIGHT_EYE_IDX, roi.LEFT_EYE_IDX, roi.LIPS_IDX):
        hull = cv2.convexHull(np.round(face.landmarks[list(idx)]).astype(np.int32))
        hull_mask = np.zeros(img.shape[:2], np.uint8)
        cv2.fillConvexPoly(hull_mask, hull, 255)
        hull_mask = cv2.dilate(hull_mask, np.ones((3, 3), np.uint8))
        assert not (hull_mask & full).any()


@needs_model
def test_mask_covers_forehead_and_both_cheeks(astronaut):
    img, face = astronaut
    mask = skin_mask(face, img.shape)
    full = mask.full(img.shape[:2])
    for idx in roi.SKIN_POLYGONS_IDX:
        poly = _polygon_mask(face.landmarks[list(idx)], img.shape[:2])
        covered = np.count_nonzero(poly & full) / np.count_nonzero(poly)
        assert covered > 0.6, idx
    # cheek centres (50, 280) and the forehead middle are skin
    forehead_mid = face.landmarks[list(roi.FOREHEAD_IDX)].mean(axis=0, keepdims=True)
    assert _values_at(full, np.vstack([face.landmarks[[50, 280]], forehead_mid])).all()
    # nothing outside the skin polygons (the face oval)
    union = np.zeros(img.shape[:2], np.uint8)
    for idx in roi.SKIN_POLYGONS_IDX:
        union |= cv2.dilate(_polygon_mask(face.landmarks[list(idx)], img.shape[:2]),
                            np.ones((3, 3), np.uint8))
    assert not (full & ~union).any()
    assert mask.pixels > 0.3 * face.box.area  # a large averaging area
    # the mask is local to the region of the polygons, not the whole frame
    oval = face.landmarks[list(roi.FACE_OVAL_IDX)]
    span = np.ptp(oval, axis=0)
    assert mask.mask.shape[0] <= span[1] + 3 and mask.mask.shape[1] <= span[0] + 3


@needs_model
def test_colour_gate_drops_non_skin_pixels(astronaut):
    img, face = astronaut
    plain = skin_mask(face, img.shape)
    gated = skin_mask(face, img.shape, img)
    assert 0.5 * plain.pixels < gated.pixels < plain.pixels
    full_plain, full_gated = plain.full(img.shape[:2]), gated.full(img.shape[:2])
    dropped = (full_plain > 0) & (full_gated == 0)
    ycrcb = cv2.cvtColor(img, cv2.COLOR_BGR2YCrCb)
    in_range = cv2.inRange(ycrcb, roi.YCRCB_SKIN_LO, roi.YCRCB_SKIN_HI) > 0
    assert not in_range[dropped].any()  # only out-of-range (non-skin) pixels were removed
    # a face in a light that the range does not fit keeps the plain mask rather than nothing
    blue = img.copy()
    blue[..., 0] = 255
    assert skin_mask(face, img.shape, blue).pixels == plain.pixels


@needs_model
def test_mask_of_a_face_partly_outside_the_frame(astronaut):
    img, face = astronaut
    shifted = Face(ok=True, box=Box(face.box.x - 300, face.box.y, face.box.w, face.box.h),
                   landmarks=face.landmarks - np.array([300, 0], np.float32), tracker="mediapipe")
    mask = skin_mask(shifted, img.shape)
    visible_w = float(shifted.landmarks[list(roi.FACE_OVAL_IDX), 0].max())
    assert mask.x0 == 0 and mask.mask.shape[1] <= visible_w + 3
    assert mask.full(img.shape[:2]).shape == img.shape[:2]


@needs_model
def test_rgb_mean_of_a_constant_skin_patch(astronaut):
    _, face = astronaut
    img = np.empty((*CANVAS_HW, 3), np.uint8)
    img[:] = (200, 40, 40)  # blue-ish background ...
    mask = skin_mask(face, img.shape)
    img[mask.full(img.shape[:2]) > 0] = SKIN_BGR  # ... skin colour exactly where the mask is
    sample = RoiExtractor(crop_size=None).extract(Frame(3, 0.1, img), face)
    assert sample.face_ok and sample.t_s == 0.1
    assert sample.rgb_mean.dtype == np.float64
    np.testing.assert_allclose(sample.rgb_mean, SKIN_BGR[::-1], atol=1e-9)
    assert sample.skin_pixels == mask.pixels and sample.crop is None and sample.box == face.box


def test_rgb_mean_box_only_face_is_exact():
    img = np.empty((*CANVAS_HW, 3), np.uint8)
    img[:] = SKIN_BGR
    sample = RoiExtractor().extract(Frame(0, 0.0, img), _box_face())
    np.testing.assert_allclose(sample.rgb_mean, SKIN_BGR[::-1], atol=1e-9)
    assert sample.skin_pixels > 0


# --- box-only fallback mask --------------------------------------------------------------------
def test_fallback_mask_rectangles_gated_by_skin_colour():
    face = _box_face()
    img = np.empty((*CANVAS_HW, 3), np.uint8)
    img[:] = SKIN_BGR
    plain = skin_mask(face, img.shape, img)
    rects_only = skin_mask(face, img.shape)  # no image: rectangles alone
    assert plain.pixels == rects_only.pixels > 0
    full = plain.full(img.shape[:2])
    ys, xs = np.nonzero(full)
    b = face.box
    assert xs.min() >= b.x and xs.max() < b.x + b.w and ys.min() >= b.y and ys.max() < b.y + b.h
    # forehead rectangle present (top fifth of the box), nothing at eye height (40 % of the box)
    assert full[int(b.y + 0.12 * b.h), int(b.cx)] and not full[int(b.y + 0.4 * b.h)].any()

    painted = img.copy()
    painted[: int(b.y + 0.3 * b.h)] = (255, 60, 0)  # blue over the forehead: not skin
    gated = skin_mask(face, img.shape, painted)
    assert 0 < gated.pixels < plain.pixels
    assert not gated.full(img.shape[:2])[: int(b.y + 0.3 * b.h)].any()


def test_fallback_mask_keeps_rectangles_when_colour_gate_rejects_everything():
    img = np.full((*CANVAS_HW, 3), 128, np.uint8)  # grey: no pixel in the skin range
    mask = skin_mask(_box_face(), img.shape, img)
    assert mask.pixels == skin_mask(_box_face(), img.shape).pixels > 0


# --- no face, crop -------------------------------------------------------------------------------
def test_no_face_gives_nan_and_no_crop():
    extractor = RoiExtractor()
    sample = extractor.extract(frame(5, face_image()), Face(ok=False, tracker="mediapipe"))
    assert not sample.face_ok
    assert sample.rgb_mean.shape == (3,) and np.isnan(sample.rgb_mean).all()
    assert sample.crop is None and sample.box is None and sample.skin_pixels == 0
    assert skin_mask(Face(ok=False), (480, 640)).pixels == 0
    assert extractor.last_mask.pixels == 0


def test_crop_shape_dtype_and_rgb_order():
    img = np.empty((*CANVAS_HW, 3), np.uint8)
    img[:] = (10, 20, 30)  # BGR
    sample = RoiExtractor(crop_size=72).extract(Frame(0, 0.0, img), _box_face())
    assert sample.crop.shape == (72, 72, 3) and sample.crop.dtype == np.float32
    np.testing.assert_array_equal(sample.crop[0, 0], [30, 20, 10])


def test_crop_is_square_enlarged_and_padded_at_edges():
    img = np.zeros((*CANVAS_HW, 3), np.uint8)
    img[:, 320:] = 255  # left half black, right half white
    box = Box(300, 200, 40, 20)  # wide box: square side = 1.5 * 40 = 60 around (320, 210)
    crop = face_crop(img, box, 60, scale=1.5)
    assert crop.shape == (60, 60, 3)
    assert (crop[:, :30] == 0).all() and (crop[:, 30:] == 255).all()
    # box sticking out of the top-left corner: replicated edge pixels, full size
    corner = face_crop(img, Box(-50, -50, 100, 100), 32)
    assert corner.shape == (32, 32, 3) and (corner == 0).all()
    assert face_crop(img, Box(-500, -500, 10, 10), 32) is None


def test_crop_follows_the_face_content():
    img = face_image((320, 240))
    a = face_crop(img, Box(240, 140, 160, 200), 72)
    moved = face_image((360, 260))
    b = face_crop(moved, Box(280, 160, 160, 200), 72)
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_extractor_validates_arguments():
    with pytest.raises(ValueError):
        RoiExtractor(crop_size=0)
    with pytest.raises(ValueError):
        RoiExtractor(crop_scale=0)


# --- overlay and speed -------------------------------------------------------------------------
def test_draw_overlay_marks_box_and_skin_outline():
    img = np.empty((*CANVAS_HW, 3), np.uint8)
    img[:] = SKIN_BGR
    face = _box_face(200, 100, 200, 200)
    out = draw_overlay(img.copy(), face, box_color=(0, 255, 0), skin_color=(255, 0, 0))
    assert tuple(out[100, 300]) == (0, 255, 0)  # top edge of the box
    mask = skin_mask(face, img.shape)
    ys, xs = np.nonzero(mask.full(img.shape[:2]))
    assert (out == (255, 0, 0)).all(axis=2).sum() > 100  # outline drawn
    assert tuple(out[ys.min(), xs[ys == ys.min()].min()]) == (255, 0, 0)
    untouched = img.copy()
    assert draw_overlay(untouched, Face(ok=False)) is untouched
    np.testing.assert_array_equal(untouched, img)
    explicit = draw_overlay(img.copy(), face, SkinMask(np.zeros((0, 0), np.uint8)))
    assert not (explicit == (255, 160, 0)).all(axis=2).any()


@needs_model
def test_extraction_is_fast(astronaut):
    img, face = astronaut
    extractor = RoiExtractor()
    fr = frame(0, img)
    extractor.extract(fr, face)
    n = 100
    t0 = time.perf_counter()
    for _ in range(n):
        extractor.extract(fr, face)
    ms = (time.perf_counter() - t0) / n * 1000
    assert ms < 5.0, f"{ms:.2f} ms per frame"


@needs_model
def test_masked_crop_zeroes_non_skin_pixels(astronaut):
    img, face = astronaut
    frame = Frame(index=0, t_s=0.0, bgr=img)
    plain = RoiExtractor(crop_size=36).extract(frame, face).crop
    masked = RoiExtractor(crop_size=36, crop_masked=True).extract(frame, face).crop
    assert masked.shape == plain.shape == (36, 36, 3) and masked.dtype == np.float32
    zero = np.all(masked == 0, axis=2)
    assert 0.2 < zero.mean() < 0.8  # background, hair, eyes, mouth gone; the skin stays
    skin = ~zero
    # inside the skin the colour is the plain crop's colour (crop pixels that average a few
    # masked source pixels, next to excluded features, are darker)
    inner = cv2.erode(skin.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    close = np.all(np.abs(masked[inner] - plain[inner]) < 2.0, axis=1)
    assert close.mean() > 0.85


@pytest.mark.parametrize("seed", range(4))
def test_masked_crop_equals_the_crop_of_the_masked_frame(seed):
    """masked_face_crop builds the crop from the crop square only; its values are those of masking
    the whole frame first (what the model was trained on), also where the square leaves the frame."""
    rng = np.random.default_rng(seed)
    bgr = rng.integers(0, 256, (*CANVAS_HW, 3), dtype=np.uint8)
    for _ in range(100):
        box = Box(rng.uniform(-150, 600), rng.uniform(-150, 450), w := rng.uniform(20, 300), w * rng.uniform(0.8, 1.3))
        x0, y0 = int(rng.integers(0, 620)), int(rng.integers(0, 460))
        h, w_px = min(int(rng.integers(1, 300)), CANVAS_HW[0] - y0), min(int(rng.integers(1, 300)), CANVAS_HW[1] - x0)
        mask = SkinMask((rng.random((h, w_px)) > 0.5).astype(np.uint8) * 255, x0, y0)
        whole = np.zeros_like(bgr)
        whole[mask.slices] = np.where(mask.mask[..., None] > 0, bgr[mask.slices], 0)
        expected = face_crop(whole, box, 36, 1.2)
        got = roi.masked_face_crop(bgr, mask, box, 36, 1.2)
        assert (expected is None) == (got is None)
        if got is not None:
            np.testing.assert_array_equal(got, expected)


def _mask_one_polygon_at_a_time(landmarks: np.ndarray, face_h_px: float, width: int, height: int) -> SkinMask:
    """The skin mask as the module's doc states it, one polygon and one hull at a time (what
    ``_landmark_mask`` computed before it indexed one fixed-point copy of all the landmarks)."""
    polys = [landmarks[list(idx)] for idx in roi.SKIN_POLYGONS_IDX]
    allp = np.concatenate(polys)
    x0, y0, x1, y1 = roi._region(*allp.min(axis=0), *allp.max(axis=0), width, height)
    origin = np.array([x0, y0], dtype=np.float64)

    def fixed(points):
        return np.round((points - origin) * roi._ONE).astype(np.int32)

    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    cv2.fillPoly(mask, [fixed(p) for p in polys], 255, lineType=cv2.LINE_8, shift=roi._SHIFT)
    margin = max(1, int(round(roi.EXCLUDE_MARGIN_FRAC * face_h_px)))
    for idx in roi.EXCLUDED_IDX:
        hull = cv2.convexHull(fixed(landmarks[list(idx)]))
        cv2.fillConvexPoly(mask, hull, 0, lineType=cv2.LINE_8, shift=roi._SHIFT)
        cv2.polylines(mask, [hull], True, 0, thickness=2 * margin, lineType=cv2.LINE_8, shift=roi._SHIFT)
    return SkinMask(mask, x0, y0)


@needs_model
def test_the_mask_is_the_same_pixels_as_one_polygon_at_a_time(astronaut):
    """The per-frame shortcut (index arrays built once, one fixed-point conversion, one call for
    the widened outlines) cuts exactly the mask of the plain construction, for faces moved by
    sub-pixel amounts, scaled and clipped by the frame edge."""
    _, face = astronaut
    rng = np.random.default_rng(3)
    base = face.landmarks.astype(np.float64)
    skin = np.unique(np.concatenate([list(idx) for idx in roi.SKIN_POLYGONS_IDX]))
    inside = clipped = 0
    for i in range(60):  # two in three inside the frame, the rest moved over an edge
        shift = rng.uniform(-15, 15, 2) if i % 3 else rng.uniform(-140, 140, 2)
        centre = np.array([160.0, 120.0])  # faces a third to a half the frame high, or larger
        lm = (base - base.mean(0)) / np.ptp(base[:, 1]) * rng.uniform(80, 120 if i % 3 else 400) + centre + shift
        lm += rng.normal(0, 0.3, lm.shape)
        h = float(np.ptp(lm[:, 1]))
        region = roi._region(*lm[skin].min(0), *lm[skin].max(0), 320, 240)
        want = _mask_one_polygon_at_a_time(lm, h, 320, 240) if region else roi._EMPTY
        got = roi._landmark_mask(lm, h, 320, 240)
        assert (got.x0, got.y0) == (want.x0, want.y0) and np.array_equal(got.mask, want.mask), i
        whole = lm[skin].min() >= 0 and lm[skin, 0].max() < 320 and lm[skin, 1].max() < 240
        inside, clipped = inside + bool(whole), clipped + (not whole)
    assert inside >= 30 and clipped >= 10
