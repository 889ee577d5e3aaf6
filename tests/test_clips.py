"""The training sampler: windows, determinism, augmentations, views, fractions, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from model.signal import estimate_hr
from training.clips import (
    AugmentConfig,
    ClipSampler,
    frames_needed,
    resample_time,
    spatial_augment,
    two_views,
)
from training.crop_cache import CachedRecording

S = 36
FS = 30.0


def synth_rec(n: int, hr_bpm: float = 60.0, valid: np.ndarray | None = None, seed: int = 0,
              name: str = "r") -> CachedRecording:
    """A skin-masked face clip: an elliptic skin patch (texture + pulse) in a zero crop."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:S, 0:S]
    skin = ((xx - 17.5) / 12) ** 2 + ((yy - 19) / 15) ** 2 <= 1
    texture = rng.uniform(0.8, 1.2, (S, S, 1)) * np.array([190.0, 140.0, 110.0])
    t = np.arange(n) / FS
    pulse = 1 + 0.01 * np.sin(2 * np.pi * hr_bpm / 60 * t + rng.uniform(0, 6))
    face = (texture[None] * pulse[:, None, None, None]) * skin[None, :, :, None]
    face = face + rng.normal(0, 0.5, face.shape) * skin[None, :, :, None]
    bg = np.broadcast_to(rng.uniform(40, 120, (1, S, S, 3)), (n, S, S, 3))
    v = np.ones(n, bool) if valid is None else valid
    face = np.where(v[:, None, None, None], face, 0)
    return CachedRecording(name=name, t_s=t, face=face.astype(np.float16), background=bg.astype(np.float16),
                           valid=v, rgb_mean=np.zeros((n, 3)), fs_hz=FS)


def skin_trace(clip: np.ndarray, channel: int = 1) -> np.ndarray:
    """Mean over the pixels that are skin in every frame of a (3, T, S, S) clip."""
    skin = (clip > 0).all(axis=(0, 1))
    return clip[channel][:, skin].mean(axis=1)


@pytest.fixture(scope="module")
def recs():
    v = np.ones(700, bool)
    v[300:330] = False  # face lost for 1 s
    return [synth_rec(500, 60.0, seed=1, name="a"), synth_rec(700, 90.0, valid=v, seed=2, name="b"),
            synth_rec(60, 70.0, seed=3, name="short")]  # shorter than a window


def test_windows_and_epoch_coverage(recs):
    sampler = ClipSampler(recs, 64, batch_size=4, seed=0)
    w = sampler.windows
    # a: 500 // 64 = 7; b: valid runs [0, 300) -> 4 and [330, 700) -> 5; short: none
    assert sampler.n_windows == 7 + 4 + 5 and len(sampler) == 4
    for r, a in w:
        assert recs[r].valid[a:a + 64].all() and a + 64 <= recs[r].n_frames
    assert not any(r == 2 for r, _ in w)
    seen = []
    batches = list(sampler.iter_epoch(0))
    assert len(batches) == len(sampler)
    for b in batches:
        seen.extend(zip(b.rec_index.tolist(), b.start.tolist()))
    assert sorted(seen) == sorted(map(tuple, w.tolist()))  # every window once
    assert [b.batch_size for b in batches] == [4, 4, 4, 4]


def test_phase_jitter_moves_the_cut(recs):
    sampler = ClipSampler(recs, 64, batch_size=4, seed=0, phase_jitter=True)
    cuts = []
    for epoch in (0, 1):
        rows = np.concatenate([np.stack([b.rec_index, b.start], 1) for b in sampler.iter_epoch(epoch)])
        for r in range(2):
            starts = np.sort(rows[rows[:, 0] == r, 1])
            assert np.all(np.diff(starts) >= 64)  # still non-overlapping
            assert all(recs[r].valid[a:a + 64].all() for a in starts)
        cuts.append(sorted(map(tuple, rows.tolist())))
    assert cuts[0] != cuts[1]


def test_deterministic_per_seed_and_epoch(recs):
    a = list(ClipSampler(recs, 64, 4, seed=5).iter_epoch(2))
    b = list(ClipSampler(recs, 64, 4, seed=5).iter_epoch(2))
    for x, y in zip(a, b):
        assert np.array_equal(x.face, y.face) and np.array_equal(x.background, y.background)
        assert np.array_equal(x.speed, y.speed) and np.array_equal(x.start, y.start)
        assert np.array_equal(x.view.flip, y.view.flip)
    other_epoch = list(ClipSampler(recs, 64, 4, seed=5).iter_epoch(3))
    other_seed = list(ClipSampler(recs, 64, 4, seed=6).iter_epoch(2))
    key = [(x.rec_index.tolist(), x.start.tolist()) for x in a]
    assert key != [(x.rec_index.tolist(), x.start.tolist()) for x in other_epoch]
    assert key != [(x.rec_index.tolist(), x.start.tolist()) for x in other_seed]


def test_fraction_gives_the_first_batches(recs):
    sampler = ClipSampler(recs, 32, batch_size=2, seed=1)
    n = len(sampler)
    full = list(sampler.iter_epoch(0))
    quarter = list(sampler.iter_epoch(0, fraction=0.25))
    half = list(sampler.iter_epoch(0, fraction=0.5))
    assert len(quarter) == round(n / 4) and len(half) == round(n / 2)
    for q, f in zip(quarter, full):
        assert np.array_equal(q.face, f.face) and np.array_equal(q.start, f.start)
    assert len(list(sampler.iter_epoch(0, fraction=1e-6))) == 1
    with pytest.raises(ValueError):
        list(sampler.iter_epoch(0, fraction=0))


def test_batch_shapes_dtypes_range(recs):
    b = next(ClipSampler(recs, 160, batch_size=3, seed=0).iter_epoch(0))
    assert b.face.shape == (3, 3, 160, S, S) and b.face.dtype == np.float32
    assert b.background.shape == b.face.shape and b.background.dtype == np.float32
    assert b.face.min() >= 0 and b.face.max() <= 255 and b.face.flags.c_contiguous
    assert b.speed.shape == (3,) and b.rec_index.shape == (3,) and b.start.shape == (3,)
    assert np.all((b.speed >= 0.8 - 1e-9) & (b.speed <= 1.25 + 1e-9))
    assert np.all(b.n_source == [frames_needed(160, s) for s in b.speed])
    assert b.view.flip.shape == (3,) and b.window_frames == 160 and len(b) == 3


def test_no_augmentation_is_the_cached_crops(recs):
    b = next(ClipSampler(recs, 64, 4, seed=0, augment=False).iter_epoch(0))
    for i in range(4):
        r, a = recs[b.rec_index[i]], b.start[i]
        ref = np.asarray(r.face[a:a + 64], np.float32).transpose(3, 0, 1, 2)
        assert np.array_equal(b.face[i], ref) and b.speed[i] == 1.0
        assert np.array_equal(b.background[i], np.asarray(r.background[a:a + 64], np.float32).transpose(3, 0, 1, 2))


@pytest.mark.parametrize("speed", [1.25, 0.8])
def test_speed_moves_the_heart_rate(speed):
    rec = synth_rec(400, 60.0, seed=4)
    cfg = AugmentConfig(speed=True, flip=False, shift=False, brightness=False, speed_range=(speed, speed))
    b = next(ClipSampler([rec], 160, batch_size=1, augment=cfg).iter_epoch(0))
    assert b.speed[0] == pytest.approx(speed)
    hr = estimate_hr(skin_trace(b.face[0]), FS).hr_bpm
    assert hr == pytest.approx(60.0 * speed, abs=2.5)
    plain = next(ClipSampler([rec], 160, batch_size=1, augment=False).iter_epoch(0))
    assert estimate_hr(skin_trace(plain.face[0]), FS).hr_bpm == pytest.approx(60.0, abs=2.5)


def test_speed_is_capped_by_the_valid_run():
    v = np.ones(200, bool)
    v[170:] = False
    rec = synth_rec(200, valid=v)
    cfg = AugmentConfig(speed=True, flip=False, shift=False, brightness=False, speed_range=(1.25, 1.25))
    s = ClipSampler([rec], 160, 1, augment=cfg)
    b = next(s.iter_epoch(0))
    assert b.speed[0] == pytest.approx(169 / 159) and b.n_source[0] <= 170


def test_resample_time_is_linear():
    seg = np.arange(20, dtype=np.float16)[:, None] * np.ones((1, 2), np.float16)
    out = resample_time(seg, 8, 1.5)
    assert np.allclose(out[:, 0], np.arange(8) * 1.5)
    assert np.array_equal(resample_time(seg, 8, 1.0)[:, 0], np.arange(8))


def test_flip_and_shift_change_pixels_not_the_pulse(recs):
    rng = np.random.default_rng(0)
    base = next(ClipSampler(recs, 160, 4, seed=0, augment=False).iter_epoch(0))
    a, b = two_views(base, rng, AugmentConfig(speed=False, brightness=False))
    for i in range(4):
        assert not np.array_equal(a.face[i], b.face[i])  # different flip/shift
        ta, tb, t0 = skin_trace(a.face[i]), skin_trace(b.face[i]), skin_trace(base.face[i])
        for tr in (ta, tb):
            # the relative change (what the model sees after its normalisation) is kept
            rel, rel0 = tr / tr.mean() - 1, t0 / t0.mean() - 1
            assert np.corrcoef(rel, rel0)[0, 1] > 0.95
            assert np.std(rel) == pytest.approx(np.std(rel0), rel=0.15)
            assert abs(tr.mean() - t0.mean()) / t0.mean() < 0.15  # edge pixels mix with the zeros
    # the flip alone mirrors the clip exactly
    clip = base.face[0].transpose(1, 2, 3, 0)
    flipped = spatial_augment(clip, True, (0.0, 0.0), 1.0, 1.0)
    assert np.array_equal(flipped, clip[:, :, ::-1])


def test_brightness_gain_scales_all_channels(recs):
    base = next(ClipSampler(recs, 64, 2, seed=0, augment=False).iter_epoch(0))
    cfg = AugmentConfig(speed=False, flip=False, shift=False, brightness=True, gain_range=(0.9, 0.9))
    a, _ = two_views(base, np.random.default_rng(0), cfg)
    assert np.allclose(a.face, base.face * 0.9, rtol=1e-6)
    assert np.allclose(a.background, base.background * 0.9, rtol=1e-6)


def test_two_views_share_the_time_span(recs):
    b = next(ClipSampler(recs, 160, 4, seed=3).iter_epoch(1))
    va, vb = two_views(b, np.random.default_rng(1))
    sa, _ = ClipSampler(recs, 160, 4, seed=3).two_views(b, np.random.default_rng(1))
    assert np.array_equal(sa.face, va.face)
    for v in (va, vb):
        assert np.array_equal(v.rec_index, b.rec_index) and np.array_equal(v.start, b.start)
        assert np.array_equal(v.speed, b.speed) and np.array_equal(v.n_source, b.n_source)
    assert not np.array_equal(va.face, vb.face)
    assert va.view.name == "a" and vb.view.name == "b"
    for i in range(4):  # same pulse in both views
        ta, tb = skin_trace(va.face[i]), skin_trace(vb.face[i])
        assert np.corrcoef(ta, tb)[0, 1] > 0.95


def test_assembly_speed():
    """Assembling a batch (the sampler's window, then the two augmented views) must stay a small
    share of one forward and backward pass of the net with its Conv3d learned path, the yardstick
    this bound was set on. Both are timed on the same batches, interleaved, so the bound holds on a
    slow or busy machine (an absolute 50 ms bound failed CI at 53 ms). The default net, without
    that path, is about as fast as the assembly (57 against 47 ms once here), so with it the
    assembly is a large share of a training step."""
    torch = pytest.importorskip("torch")
    from model.fcus_net import FcusNet, FcusNetConfig

    recs = [synth_rec(1800, 70.0, seed=k) for k in range(3)]
    sampler = ClipSampler(recs, 160, batch_size=4, seed=0)
    net = FcusNet(FcusNetConfig(learned_path=True))
    rng = np.random.default_rng(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the numpy/OpenCV assembly runs on one core too
    try:
        assemble_s, step_s = [], []
        it = sampler.iter_epoch(1)
        while True:
            t0 = time.perf_counter()
            b = next(it, None)
            if b is None or len(b.face) < 4:
                break
            va, vb = two_views(b, rng)
            assemble_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            x = torch.as_tensor(np.concatenate([va.face, vb.face])).float()
            out = net(x)
            (out[0] if isinstance(out, tuple) else out).pow(2).mean().backward()
            step_s.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    ms, step_ms = 1000 * float(np.median(assemble_s)), 1000 * float(np.median(step_s))
    print(f"batch B=4 T=160 S=36: assembly median {ms:.1f} ms, forward+backward {step_ms:.1f} ms "
          f"over {len(assemble_s)} batches")
    assert len(assemble_s) >= 5
    assert ms < 0.25 * step_ms
