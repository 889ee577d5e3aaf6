"""The training sampler: clips of T frames cut from the crop cache, with augmentations.

An epoch is every recording cut into non-overlapping windows of T grid frames (only windows whose
frames are all valid, cut inside each valid run), shuffled with the seed, in batches. Everything
random is drawn from generators seeded by ``(seed, epoch, batch)``, so an epoch is the same each
time it is asked for, and its first batches are the same whatever ``fraction`` is asked.

Augmentations (each switchable in :class:`AugmentConfig`):

* speed resampling: ``ceil((T - 1) * speed) + 1`` grid frames from the window start, resampled
  linearly to T (output frame i is the source at ``i * speed`` frames), so every frequency in
  the clip, the heart rate included, is multiplied by ``speed`` (1.2: the HR reads 20 % higher).
  The speed is drawn log-uniformly in ``speed_range`` and lowered where the valid run after the
  window is too short for it (never below 1);
* horizontal flip;
* a small shift and scale of the crop (one ``cv2.warpAffine`` for the whole clip; zero border,
  like the masked-out pixels);
* a brightness gain (all channels alike), clipped to 0..255.

Clips leave channel-first, ``(B, 3, T, S, S)`` float32 RGB 0..255, as the model contract wants.
The background crops (non-pulse references) get the same speed and brightness gain (their
flip/warp would not change what they are: a reference without pulse).

Cross-view helper: :func:`two_views` gives two spatial augmentations of the same clips (same
speed and time span: their BVP must agree).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from model.signal.resample import interp_frames
from model.signal.runs import true_runs
from training.crop_cache import CachedRecording
from training.sharding import Shard, shard_rows


@dataclass(frozen=True)
class AugmentConfig:
    speed: bool = True
    flip: bool = True
    shift: bool = True
    brightness: bool = True
    speed_range: tuple[float, float] = (0.8, 1.25)
    max_shift_frac: float = 0.08  # of the crop side, in x and y
    scale_range: tuple[float, float] = (0.92, 1.08)
    gain_range: tuple[float, float] = (0.85, 1.15)

    @classmethod
    def off(cls) -> "AugmentConfig":
        return cls(speed=False, flip=False, shift=False, brightness=False)

    @property
    def spatial(self) -> bool:
        return self.flip or self.shift or self.brightness


@dataclass
class ViewInfo:
    """The augmentation each clip of a batch got."""

    flip: np.ndarray  # (B,) bool
    shift_px: np.ndarray  # (B, 2) float: dx, dy in crop pixels
    scale: np.ndarray  # (B,) float
    gain: np.ndarray  # (B,) float
    name: str = "a"

    @classmethod
    def identity(cls, b: int, name: str = "a") -> "ViewInfo":
        return cls(np.zeros(b, bool), np.zeros((b, 2)), np.ones(b), np.ones(b), name)

    def subset(self, rows: np.ndarray) -> "ViewInfo":
        """The draws of the clips ``rows`` (a rank's share of the global batch)."""
        return ViewInfo(self.flip[rows], self.shift_px[rows], self.scale[rows], self.gain[rows], self.name)


@dataclass
class ClipBatch:
    """A batch of clips. ``face``/``background``: (B, 3, T, S, S) float32 RGB 0..255.
    ``speed``: the resampling factor applied (the clip's HR is the source's times ``speed``);
    ``rec_index``/``start``: the recording (index into the sampler's list) and the first grid
    frame; ``n_source``: grid frames the clip spans; ``t_start_s``: the start time."""

    face: np.ndarray
    background: np.ndarray
    speed: np.ndarray
    rec_index: np.ndarray
    start: np.ndarray
    view: ViewInfo
    n_source: np.ndarray
    t_start_s: np.ndarray
    fs_hz: float = 30.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # speed-resampled clips before the spatial augmentation, for two_views: faces pixel-major
    # (B, S, S, T, 3), backgrounds (B, 3, T, S, S)
    base_face: np.ndarray | None = field(default=None, repr=False)
    base_background: np.ndarray | None = field(default=None, repr=False)
    # the rank's share of the global batch in a distributed run (None: the whole batch)
    shard: Shard | None = None

    @property
    def batch_size(self) -> int:
        return int(self.face.shape[0])

    @property
    def window_frames(self) -> int:
        return int(self.face.shape[2])

    def __len__(self) -> int:
        return self.batch_size


# ---- building blocks -----------------------------------------------------------------------------
def frames_needed(window_frames: int, speed: float) -> int:
    """Grid frames a clip of ``window_frames`` at ``speed`` reads."""
    return int(math.ceil((window_frames - 1) * speed - 1e-9)) + 1


def _to_f32(a: np.ndarray) -> np.ndarray:
    """float16/float32 array -> float32 (OpenCV's SIMD half conversion when it is there)."""
    a = np.ascontiguousarray(a)
    if a.dtype == np.float16 and hasattr(cv2, "convertFp16") and a.size:
        flat = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)
        return cv2.convertFp16(flat.view(np.int16)).reshape(a.shape)
    return a.astype(np.float32, copy=False)


def resample_time(seg: np.ndarray, window_frames: int, speed: float) -> np.ndarray:
    """Frames ``seg`` (n, ...) linearly resampled along axis 0 at positions ``i * speed``,
    i < window_frames: a contiguous float32 (window_frames, ...) array."""
    x = _to_f32(seg)
    if speed == 1.0:
        out = x[:window_frames]
        return out.copy() if np.shares_memory(out, seg) else out
    return interp_frames(x, np.arange(window_frames, dtype=np.float64) * speed)


_WARP_MAX_CHANNELS = 4 if int(cv2.__version__.split(".")[0]) >= 5 else 512


def _affine(size: int, flip: bool, shift_px: tuple[float, float], scale: float) -> np.ndarray:
    """Forward map (source -> destination pixel) of a flip, a scale about the centre, a shift."""
    c = (size - 1) / 2.0
    sx = -scale if flip else scale
    return np.array([[sx, 0.0, c - sx * c + shift_px[0]],
                     [0.0, scale, c - scale * c + shift_px[1]]], dtype=np.float64)


def _augment_pixel_major(x: np.ndarray, flip: bool, shift_px: tuple[float, float], scale: float,
                         gain: float, out: np.ndarray) -> np.ndarray:
    """``x``: one clip (S, S, T, 3) float32 (pixel-major) -> ``out`` (3, T, S, S): flip, the
    shift/scale warp (one warpAffine for all frames; zero border, like the masked pixels),
    brightness gain, clipped to 0..255."""
    h, w, t, c = x.shape
    if scale != 1.0 or shift_px[0] != 0.0 or shift_px[1] != 0.0:
        flat = x.reshape(h, w, t * c)
        warped = np.empty_like(flat)
        m = _affine(w, flip, shift_px, scale)
        # OpenCV 4 warps up to 512 channels in one call; OpenCV 5 reads an array with more than
        # 4 channels as a 3-D matrix and refuses it: warp in chunks there.
        for k in range(0, t * c, _WARP_MAX_CHANNELS):
            sl = slice(k, k + _WARP_MAX_CHANNELS)
            warped[:, :, sl] = cv2.warpAffine(
                np.ascontiguousarray(flat[:, :, sl]), m, (w, h), flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT, borderValue=0).reshape(h, w, -1)
        src = warped.reshape(h, w, t, c)
    else:
        src = x[:, ::-1] if flip else x
    np.multiply(src.transpose(3, 2, 0, 1), np.float32(gain), out=out)
    if gain > 1.0:
        np.minimum(out, np.float32(255.0), out=out)
    return out


def spatial_augment(clip: np.ndarray, flip: bool, shift_px: tuple[float, float], scale: float,
                    gain: float) -> np.ndarray:
    """One clip (T, S, S, 3) float32: flip, shift/scale warp, gain; returns (T, S, S, 3)."""
    x = np.ascontiguousarray(np.asarray(clip, np.float32).transpose(1, 2, 0, 3))
    out = np.empty((3,) + clip.shape[:3], np.float32)
    _augment_pixel_major(x, flip, shift_px, scale, gain, out)
    return out.transpose(1, 2, 3, 0)


def _draw_view(rng: np.random.Generator, b: int, cfg: AugmentConfig, size: int, name: str) -> ViewInfo:
    flip = rng.random(b) < 0.5 if cfg.flip else np.zeros(b, bool)
    if cfg.shift:
        m = cfg.max_shift_frac * size
        shift = rng.uniform(-m, m, size=(b, 2))
        scale = rng.uniform(cfg.scale_range[0], cfg.scale_range[1], size=b)
    else:
        shift, scale = np.zeros((b, 2)), np.ones(b)
    gain = rng.uniform(cfg.gain_range[0], cfg.gain_range[1], size=b) if cfg.brightness else np.ones(b)
    return ViewInfo(flip, shift, scale, gain, name)


def _apply_view(base_face: np.ndarray, base_background: np.ndarray,
                view: ViewInfo) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-major face clips (B, S, S, T, 3) and channel-first background clips (B, 3, T, S, S)
    -> the view's (face, background), both (B, 3, T, S, S). The background (a non-pulse
    reference) takes the view's brightness gain only."""
    b, s, _, t, c = base_face.shape
    face = np.empty((b, c, t, s, s), np.float32)
    bg = np.empty_like(face)
    for i in range(b):
        g = float(view.gain[i])
        _augment_pixel_major(base_face[i], bool(view.flip[i]),
                             (float(view.shift_px[i, 0]), float(view.shift_px[i, 1])),
                             float(view.scale[i]), g, face[i])
        np.multiply(base_background[i], np.float32(g), out=bg[i])
        if g > 1.0:
            np.minimum(bg[i], np.float32(255.0), out=bg[i])
    return face, bg


def two_views(batch: ClipBatch, rng: np.random.Generator,
              config: AugmentConfig | None = None) -> tuple[ClipBatch, ClipBatch]:
    """Two spatial augmentations (flip, shift/scale, gain) of the SAME clips: same recordings,
    time span and speed, so their BVP must agree. ``config`` defaults to the batch's (or the
    standard spatial augmentations when the batch had none)."""
    if batch.base_face is None or batch.base_background is None:
        raise ValueError("the batch does not keep its un-augmented clips (base_face)")
    cfg = config or (batch.augment if batch.augment.spatial else AugmentConfig())
    size = batch.face.shape[-1]
    views = []
    for name in ("a", "b"):
        if batch.shard is None:
            v = _draw_view(rng, batch.batch_size, cfg, size, name)
        else:  # the global batch's draws, then this rank's share
            v = _draw_view(rng, batch.shard.global_size, cfg, size, name).subset(batch.shard.rows)
        face, bg = _apply_view(batch.base_face, batch.base_background, v)
        views.append(replace(batch, face=face, background=bg, view=v))
    return views[0], views[1]


# ---- the sampler -------------------------------------------------------------------------------------
def _run_end(valid: np.ndarray) -> np.ndarray:
    """For each index, the end (exclusive) of the valid run it is in (its own index if invalid)."""
    n = len(valid)
    end = np.arange(n, dtype=np.int64)
    nxt = n
    for i in range(n - 1, -1, -1):
        if valid[i]:
            end[i] = nxt
        else:
            nxt = i
    return end


class ClipSampler:
    """Batches of augmented clips from cached recordings (see the module docstring).

    ``augment``: True (default augmentations, ``speed_range`` as given), False (none), or an
    :class:`AugmentConfig`. ``phase_jitter``: cut each valid run at a random offset (drawn per
    epoch) instead of at its start, so later epochs see other windows. ``drop_last``: drop a
    last, incomplete batch. ``world_size``/``rank``: the batches are the one-process run's (same
    windows, same random draws), each holding only this rank's share of the clips
    (``training.sharding``); ``len()`` counts global batches.
    """

    def __init__(self, recordings: Sequence[CachedRecording], window_frames: int, batch_size: int = 4,
                 seed: int = 0, speed_range: tuple[float, float] = (0.8, 1.25),
                 augment: bool | AugmentConfig = True, *, phase_jitter: bool = False,
                 drop_last: bool = False, world_size: int = 1, rank: int = 0) -> None:
        if window_frames < 2:
            raise ValueError(f"window_frames must be >= 2, got {window_frames}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        lo, hi = float(speed_range[0]), float(speed_range[1])
        if not 0 < lo <= hi:
            raise ValueError(f"speed_range must be 0 < lo <= hi, got {speed_range}")
        if isinstance(augment, AugmentConfig):
            self.augment = augment
        elif augment:
            self.augment = AugmentConfig(speed_range=(lo, hi))
        else:
            self.augment = AugmentConfig.off()
        self.recordings = list(recordings)
        self.window_frames = int(window_frames)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.phase_jitter = bool(phase_jitter)
        self.drop_last = bool(drop_last)
        shard_rows(1, world_size, rank)  # checks the rank
        self.world_size, self.rank = int(world_size), int(rank)
        sizes = {r.face.shape[1:] for r in self.recordings}
        if len(sizes) > 1:
            raise ValueError(f"recordings have different crop shapes: {sizes}")
        self._valid = [np.asarray(r.valid, dtype=bool) for r in self.recordings]
        self._run_end = [_run_end(v) for v in self._valid]
        self._segments = [true_runs(v) for v in self._valid]
        self._windows0 = self._cut(None)

    def data_id(self) -> list[str]:
        """What the sampler trains on, for a resumed run to check: each recording's crop-cache entry
        (its name with the key of its source file and crop settings), else its name and length."""
        return sorted(Path(r.path).name if getattr(r, "path", None) else f"{r.name}:{len(r.valid)}"
                      for r in self.recordings)

    # ---- windows ---------------------------------------------------------------------------------
    def _cut(self, rng: np.random.Generator | None) -> np.ndarray:
        t = self.window_frames
        rows = []
        for ri, segs in enumerate(self._segments):
            for a, b in segs:
                n = (b - a) // t
                if n == 0:
                    continue
                off = int(rng.integers(0, (b - a) - n * t + 1)) if rng is not None else 0
                rows.extend((ri, a + off + k * t) for k in range(n))
        return np.asarray(rows, dtype=np.int64).reshape(-1, 2)

    @property
    def windows(self) -> np.ndarray:
        """(n, 2) rows (recording index, start grid frame) of the windows (no phase jitter)."""
        return self._windows0.copy()

    @property
    def n_windows(self) -> int:
        return int(len(self._windows0))

    def __len__(self) -> int:
        n = self.n_windows
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def epoch_windows(self, epoch: int) -> np.ndarray:
        """The epoch's windows in its shuffled order."""
        if self.phase_jitter:
            w = self._cut(np.random.default_rng([self.seed, int(epoch), 7]))
        else:
            w = self._windows0
        order = np.random.default_rng([self.seed, int(epoch), 1]).permutation(len(w))
        return w[order]

    def n_batches(self, fraction: float = 1.0) -> int:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        n = len(self)
        return n if fraction >= 1 else min(n, max(1, int(round(n * fraction))))

    def iter_epoch(self, epoch: int, fraction: float = 1.0) -> Iterator[ClipBatch]:
        """The epoch's batches (deterministic given ``seed`` and ``epoch``); with ``fraction``
        < 1 only its first ``round(len * fraction)`` batches (at least one)."""
        w = self.epoch_windows(epoch)
        nb = self.n_batches(fraction)
        if self.phase_jitter:  # the cut may differ from the nominal one
            full = len(w) // self.batch_size if self.drop_last else -(-len(w) // self.batch_size)
            nb = min(nb, full)
        for bi in range(nb):
            rows = w[bi * self.batch_size:(bi + 1) * self.batch_size]
            rng = np.random.default_rng([self.seed, int(epoch), 2, bi])
            shard = shard_rows(len(rows), self.world_size, self.rank) if self.world_size > 1 else None
            yield self.make_batch(rows[:, 0], rows[:, 1], rng, shard=shard)

    def __iter__(self) -> Iterator[ClipBatch]:
        return self.iter_epoch(0)

    # ---- assembling -------------------------------------------------------------------------------
    def max_speed(self, rec_index: int, start: int) -> float:
        """Largest speed whose frames stay inside the valid run from ``start``."""
        avail = int(self._run_end[rec_index][start] - start) if self._valid[rec_index][start] else 0
        if avail < self.window_frames:
            return 0.0
        return (avail - 1) / (self.window_frames - 1)

    def draw_speeds(self, rec_index: np.ndarray, start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        b = len(rec_index)
        cfg = self.augment
        if not cfg.speed:
            return np.ones(b)
        lo, hi = cfg.speed_range
        s = np.exp(rng.uniform(math.log(lo), math.log(hi), size=b)) if hi > lo else np.full(b, lo)
        cap = np.array([self.max_speed(int(r), int(a)) for r, a in zip(rec_index, start)])
        return np.minimum(s, np.maximum(cap, 1.0))

    def _read(self, rec_index: int, start: int, speed: float, face_out: np.ndarray, bg_out: np.ndarray) -> int:
        """Speed-resampled face clip into ``face_out`` (S, S, T, 3) and background clip into
        ``bg_out`` (3, T, S, S); returns the grid frames read."""
        cached = self.recordings[rec_index]
        n = min(frames_needed(self.window_frames, speed), cached.n_frames - start)
        t = self.window_frames
        s = face_out.shape[0]
        face = np.ascontiguousarray(resample_time(cached.face[start:start + n], t, speed))
        cv2.transpose(face.reshape(t, s * s, 3), dst=face_out.reshape(s * s, t, 3))  # pixel-major
        bg = np.ascontiguousarray(resample_time(cached.background[start:start + n], t, speed))
        cv2.transpose(bg.reshape(-1, 3), dst=bg_out.reshape(3, -1))  # channel-first
        return n

    def make_batch(self, rec_index: np.ndarray, start: np.ndarray, rng: np.random.Generator,
                   speed: np.ndarray | None = None, view_name: str = "a",
                   shard: Shard | None = None) -> ClipBatch:
        """Clips of the given (recording, start) rows; speeds drawn from ``rng`` unless given.
        With ``shard``, the random draws are the whole batch's and only its ``rows`` are read."""
        rec_index = np.asarray(rec_index, dtype=np.int64)
        start = np.asarray(start, dtype=np.int64)
        speeds = self.draw_speeds(rec_index, start, rng) if speed is None else np.asarray(speed, float)
        view = _draw_view(rng, len(rec_index), self.augment, self.recordings[0].face.shape[1], view_name)
        if shard is not None:
            rec_index, start, speeds = rec_index[shard.rows], start[shard.rows], speeds[shard.rows]
            view = view.subset(shard.rows)
        b = len(rec_index)
        size = self.recordings[0].face.shape[1]
        t = self.window_frames
        base_f = np.empty((b, size, size, t, 3), np.float32)  # pixel-major, for the warp
        base_b = np.empty((b, 3, t, size, size), np.float32)
        n_src = np.empty(b, np.int64)
        t0 = np.empty(b)
        for i in range(b):
            n_src[i] = self._read(int(rec_index[i]), int(start[i]), float(speeds[i]), base_f[i], base_b[i])
            t0[i] = float(self.recordings[int(rec_index[i])].t_s[int(start[i])])
        face, bg = _apply_view(base_f, base_b, view)
        return ClipBatch(
            face=face, background=bg, speed=speeds,
            rec_index=rec_index, start=start, view=view, n_source=n_src, t_start_s=t0,
            fs_hz=float(self.recordings[0].fs_hz) if self.recordings else 30.0,
            augment=self.augment, base_face=base_f, base_background=base_b, shard=shard,
        )

    def unsharded(self) -> "ClipSampler":
        """This sampler as one process sees it (every clip of every batch)."""
        whole = copy.copy(self)
        whole.world_size, whole.rank = 1, 0
        return whole

    def two_views(self, batch: ClipBatch, rng: np.random.Generator) -> tuple[ClipBatch, ClipBatch]:
        """:func:`two_views` with this sampler's augmentation settings."""
        return two_views(batch, rng)

