"""model.fcus_stream: the model's BVP computed once per grid sample (with context) instead of
once per window, stitched without steps, and restarted on a gap or another recording."""

from __future__ import annotations

import numpy as np
import pytest

from model.fcus_stream import StreamConfig, StreamedBvp

FS = 30.0


def crops_of(signal: np.ndarray) -> np.ndarray:
    """(N, 2, 2, 3) 'crops' whose pixels carry ``signal`` (and a brightness of 100)."""
    return (100.0 + signal)[:, None, None, None] * np.ones((1, 2, 2, 3))


def standardised_model(crops: np.ndarray) -> np.ndarray:
    """A stand-in with the real model's window dependence: relative change to the window's
    mean, a short temporal filter, standardised over the window."""
    x = crops.mean(axis=(1, 2, 3))
    x = x / x.mean() - 1.0
    y = np.convolve(x, np.ones(5) / 5, mode="same")
    return (y - y.mean()) / y.std()


def stream_windows(sb: StreamedBvp, signal: np.ndarray, window: int = 300, hop: int = 30, start: int = 180):
    """What the estimator does: once a second, the trailing window (at most ``window``)."""
    crops = crops_of(signal)
    out = []
    for k1 in range(start - 1, len(signal), hop):
        k0 = max(0, k1 - window + 1)
        out.append((k0, sb.window(k0, crops[k0:k1 + 1])))
    return out


def test_stitched_windows_match_the_whole_window_and_cost_a_third():
    t = np.arange(1800) / FS
    rng = np.random.default_rng(0)
    signal = 0.5 * np.sin(2 * np.pi * 1.2 * t) + 0.2 * rng.normal(size=t.size) + 2.0 * t / t[-1]
    sb = StreamedBvp(standardised_model, min_frames=64)
    windows = stream_windows(sb, signal)
    crops = crops_of(signal)
    for k0, bvp in windows:
        whole = standardised_model(crops[k0:k0 + len(bvp)])
        r = np.corrcoef(bvp[10:-10], whole[10:-10])[0, 1]
        assert r > 0.97
        spec = np.abs(np.fft.rfft(bvp - bvp.mean(), 4096))
        f_hz = np.fft.rfftfreq(4096, 1 / FS)[np.argmax(spec)]
        assert abs(f_hz - 1.2) < 0.05
    whole_cost = sum(len(b) for _, b in windows)
    assert sb.frames_run < 0.35 * whole_cost


def test_no_step_where_chunks_meet():
    """Each call's output comes with its own gain and offset (as a per-window standardisation
    gives): the stitched BVP matches each chunk to the samples it overlaps, so the joins vanish."""
    rng = np.random.default_rng(1)
    t = np.arange(900) / FS
    signal = np.sin(2 * np.pi * 1.0 * t)

    def model(crops):
        x = crops.mean(axis=(1, 2, 3)) - 100.0
        return rng.uniform(0.5, 2.0) * x + rng.uniform(-3.0, 3.0)

    sb = StreamedBvp(model, min_frames=64)
    _, last = stream_windows(sb, signal)[-1]
    k0 = len(signal) - len(last)
    fitted = np.polyfit(signal[k0:], last, 1)
    residual = last - np.polyval(fitted, signal[k0:])
    assert np.abs(residual).max() < 0.02 * last.std()


def test_a_gap_a_rewind_or_other_crops_start_a_new_stretch():
    t = np.arange(900) / FS
    signal = np.sin(2 * np.pi * 1.0 * t)
    crops = crops_of(signal)
    sb = StreamedBvp(standardised_model, min_frames=64)
    sb.window(0, crops[:180])
    sb.window(0, crops[:210])
    n_cached = sb.frames_run
    sb.window(400, crops[400:600])  # a gap: the window starts after the cached samples
    assert sb.frames_run - n_cached == 200
    sb.window(0, crops[:180])  # back in time (a new recording replayed)
    assert sb.frames_run - n_cached == 380
    other = crops_of(np.cos(2 * np.pi * 1.3 * t))
    before = sb.frames_run
    sb.window(0, other[:210])  # same indices, other crops
    assert sb.frames_run - before == 210


def test_a_window_shorter_than_the_model_accepts_is_refused():
    sb = StreamedBvp(standardised_model, min_frames=64)
    with pytest.raises(ValueError, match="64 frames"):
        sb.window(0, crops_of(np.zeros(40)))
    with pytest.raises(ValueError):
        StreamConfig(context_left=-1)


def test_fcus_method_streams_and_matches_whole_windows_on_the_shipped_model():
    from model.fcus_method import FcusPulseMethod, shipped_model_path
    from model.method_api import RoiWindow

    if not shipped_model_path().is_file():
        pytest.skip("no shipped model")
    rng = np.random.default_rng(3)
    n = 600
    t = np.arange(n) / FS
    pulse = 1.5 * np.sin(2 * np.pi * 1.25 * t)
    crops = np.clip(120 + pulse[:, None, None, None] + rng.normal(0, 2, (n, 36, 36, 3)), 0, 255).astype(np.float32)
    streamed, whole = FcusPulseMethod(), FcusPulseMethod(stream=None)
    for k1 in range(179, n, 30):
        k0 = max(0, k1 - 299)
        w = RoiWindow(t_s=t[k0:k1 + 1], rgb=np.zeros((k1 - k0 + 1, 3)), fs_hz=FS, crops=crops[k0:k1 + 1], grid_k0=k0)
        a, b = streamed.window_bvp(w), whole.window_bvp(w)
        assert np.corrcoef(a, b)[0, 1] > 0.9
    assert streamed.stream.frames_run < 0.5 * sum(min(k1 + 1, 300) for k1 in range(179, n, 30))


def test_window_crops_read_as_the_stacked_array_and_stack_only_what_is_read():
    from model.method_api import WindowCrops

    frames = [np.full((4, 4, 3), float(i), np.float32) for i in range(10)]
    index = np.array([0, 1, 1, 3, 4, 5, 7, 8, 9])  # frame 2 missed (repeats 1), frame 6 too (repeats 7)
    view = WindowCrops(frames, index)
    stacked = np.stack([frames[i] for i in index])
    assert len(view) == 9 and view.shape == stacked.shape and view.dtype == np.float32 and view.ndim == 4
    assert np.array_equal(np.asarray(view), stacked) and np.asarray(view, dtype=np.float64).dtype == np.float64
    assert np.array_equal(view[3:], stacked[3:]) and np.array_equal(view[-2], stacked[-2])
    assert view[2] is frames[1]  # a crop read alone is not copied
    assert view[9:].shape == (0, 4, 4, 3)
    with pytest.raises(ValueError):
        WindowCrops(frames, np.array([], dtype=int))


def test_the_streamed_model_reads_window_crops_as_it_reads_the_stacked_array():
    from model.method_api import WindowCrops

    t = np.arange(600) / FS
    signal = 0.5 * np.sin(2 * np.pi * 1.2 * t) + 0.1 * np.random.default_rng(4).normal(size=t.size)
    crops = crops_of(signal)
    frames = list(crops)
    a, b = StreamedBvp(standardised_model, min_frames=64), StreamedBvp(standardised_model, min_frames=64)
    for k1 in range(179, 600, 30):
        k0 = max(0, k1 - 299)
        view = WindowCrops(frames, np.arange(k0, k1 + 1))
        assert np.array_equal(a.window(k0, view), b.window(k0, crops[k0:k1 + 1]))
    assert a.frames_run == b.frames_run
