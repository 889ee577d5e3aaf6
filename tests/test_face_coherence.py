"""The face's spatial coherence (model/signal/face_coherence.py) and the estimator's check on it."""

import numpy as np
import pytest

from model.estimator import WITHHELD_INCOHERENT, EstimatorConfig, StreamingEstimator
from model.signal.face_coherence import GRID, face_pulse, region_colours
from model.types import RoiSample

FS = 30.0
S = 36
SKIN = np.array([180.0, 130.0, 110.0], np.float32)
PBV = np.array([0.33, 0.77, 0.53])
BAND = (0.6, 3.6)


def _crops(n, f_hz=1.3, in_step=True, pulse=0.01, noise=1.0, seed=0, masked_rows=0):
    """(n, S, S, 3) masked crops: each 12 px region's skin darkens along the blood-volume direction
    at ``f_hz``, all regions in phase (``in_step``) or each at its own phase; pixel noise; the top
    ``masked_rows`` rows are 0 (outside the skin mask)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    b = S // GRID
    phases = np.zeros(GRID * GRID) if in_step else rng.uniform(0, 2 * np.pi, GRID * GRID)
    out = np.empty((n, S, S, 3), np.float32)
    for r in range(GRID * GRID):
        i, j = divmod(r, GRID)
        wave = np.sin(2 * np.pi * f_hz * t + phases[r])
        colour = SKIN * (1 - pulse * wave[:, None] * PBV / np.linalg.norm(PBV))
        out[:, i * b:(i + 1) * b, j * b:(j + 1) * b, :] = colour[:, None, None, :]
    out += rng.normal(0, noise, out.shape).astype(np.float32)
    out[:, :masked_rows] = 0
    return out


def face_coherence(crops, fs_hz, f_hz, band_hz):
    pulse = face_pulse(crops, fs_hz, f_hz, band_hz)
    return None if pulse is None else pulse.coherence


def test_region_colours_are_the_mean_of_the_skin_pixels_of_each_block():
    rng = np.random.default_rng(1)
    crops = rng.uniform(1, 255, (5, S, S, 3)).astype(np.float32)
    crops[:, :7, :] = 0  # masked rows
    crops[2, 24:, 24:] = 0  # one region without skin in one frame
    means, counts = region_colours(crops)
    b = S // GRID
    for r in range(GRID * GRID):
        i, j = divmod(r, GRID)
        block = crops[:, i * b:(i + 1) * b, j * b:(j + 1) * b]
        skin = block.max(axis=3) > 0
        np.testing.assert_array_equal(counts[:, r], skin.sum(axis=(1, 2)))
        for k in range(5):
            if skin[k].any():
                np.testing.assert_allclose(means[k, r], block[k][skin[k]].mean(axis=0), rtol=1e-5)
            else:
                assert np.all(np.isnan(means[k, r]))


def test_a_pulse_in_step_across_the_face_is_coherent_and_independent_regions_are_not():
    coherent = face_coherence(_crops(300), FS, 1.3, BAND)
    scattered = face_coherence(_crops(300, in_step=False), FS, 1.3, BAND)
    noise_only = face_coherence(_crops(300, pulse=0.0), FS, 1.3, BAND)
    assert coherent > 0.9
    assert abs(noise_only) < 0.15
    assert scattered < 0.5 < coherent
    # at a frequency the pulse is not at, even the coherent face shows little
    assert face_coherence(_crops(300), FS, 2.6, BAND) < 0.3


def test_no_measure_without_enough_skin_regions_or_window():
    # 1 skin row of 12 in the bottom regions: under MIN_SKIN_SHARE everywhere
    assert face_coherence(_crops(300, masked_rows=35), FS, 1.3, BAND) is None
    assert face_coherence(_crops(300, masked_rows=30), FS, 1.3, BAND) > 0.9  # 6 rows: the bottom 3 regions count
    assert face_coherence(_crops(10), FS, 1.3, BAND) is None


class _GreenMethod:
    """A pulse method that needs crops (as FCUS does) and reads the skin mean's green."""

    name, needs_crops, min_window_s = "green-crops", True, 0.0

    def window_bvp(self, window):
        assert window.crops is not None
        g = window.rgb[:, 1]
        return -(g / g.mean() - 1.0)


def _replay(in_step, cfg):
    crops = _crops(900, f_hz=1.2, in_step=in_step, pulse=0.02, noise=0.5, seed=3)
    est = StreamingEstimator(_GreenMethod(), cfg)
    for k in range(len(crops)):
        c = crops[k]
        rgb = c.reshape(-1, 3).mean(axis=0).astype(np.float64)
        est.push_roi(RoiSample(t_s=k / FS, face_ok=True, rgb_mean=rgb, skin_pixels=S * S, crop=c))
    return [r for r in est.readings if r.hr_raw_bpm is not None]


def test_the_estimator_withholds_readings_whose_face_does_not_pulse_as_one():
    cfg = EstimatorConfig(steady_n=3, coherence_min=0.2)
    shown = [r for r in _replay(True, cfg) if r.hr_bpm is not None]
    assert shown and all(abs(r.hr_bpm - 72.0) < 2.0 for r in shown)
    scattered = _replay(False, cfg)
    # the mean colour still pulses (the regions' phases do not cancel), so the SNR gate would show it
    assert any(r.hr_bpm is not None for r in _replay(False, EstimatorConfig(steady_n=3)))
    assert all(r.hr_bpm is None for r in scattered)
    assert any(r.withheld == WITHHELD_INCOHERENT for r in scattered)


def _replay_faces(moving_px, cfg):
    """The in-step face of :func:`_replay`, with a face box and landmarks that sway by
    ``moving_px`` (0: a face that does not move at all, as a photo on a stand)."""
    from model.types import Box, Face

    crops = _crops(900, f_hz=1.2, in_step=True, pulse=0.02, noise=0.5, seed=3)
    grid = np.stack(np.meshgrid(np.linspace(0, 100, 10), np.linspace(0, 120, 10)), -1).reshape(-1, 2)
    est = StreamingEstimator(_GreenMethod(), cfg)
    for k in range(len(crops)):
        dx = moving_px * np.sin(2 * np.pi * 0.25 * k / FS)
        box = Box(200.0 + dx, 100.0, 100.0, 120.0)
        face = Face(ok=True, box=box, landmarks=(grid + [200.0 + dx, 100.0]).astype(np.float32))
        c = crops[k]
        est.push_roi(RoiSample(t_s=k / FS, face_ok=True, rgb_mean=c.reshape(-1, 3).mean(axis=0).astype(np.float64),
                               skin_pixels=S * S, crop=c, box=box), face)
    return [r for r in est.readings if r.hr_raw_bpm is not None]


def test_a_face_that_does_not_move_is_not_taken_for_a_live_one():
    """still_spread_max: the readings of a face whose landmarks do not move (under 0.7 per mille of
    its width over the window) are withheld as "still_face", however clearly it pulses; a face moving
    as a seated person does (here 2 px, 20 per mille of its width) is read; without landmarks the rule
    cannot tell."""
    from model.estimator import WITHHELD_STILL

    cfg = EstimatorConfig(steady_n=3, coherence_min=0.2, still_spread_max=0.7e-3)
    moving = [r for r in _replay_faces(2.0, cfg) if r.hr_bpm is not None]
    assert moving and all(abs(r.hr_bpm - 72.0) < 2.0 for r in moving)
    still = _replay_faces(0.0, cfg)
    assert all(r.hr_bpm is None for r in still) and any(r.withheld == WITHHELD_STILL for r in still)
    assert any(r.hr_bpm is not None for r in _replay_faces(0.0, EstimatorConfig(steady_n=3, coherence_min=0.2)))
    assert any(r.hr_bpm is not None for r in _replay(True, cfg))  # no faces given: no stillness to measure
    with pytest.raises(ValueError):
        EstimatorConfig(still_spread_max=-1.0)


def test_coherence_min_must_be_a_correlation():
    with pytest.raises(ValueError):
        EstimatorConfig(coherence_min=1.5)


def test_the_pulse_amplitude_grows_with_the_pulse_and_a_floor_withholds_a_faint_one():
    from model.estimator import WITHHELD_WEAK
    weak, strong = (face_pulse(_crops(300, pulse=p, noise=0.2), FS, 1.3, BAND) for p in (0.005, 0.02))
    assert strong.amplitude == pytest.approx(4 * weak.amplitude, rel=0.2)
    assert weak.coherence > 0.9 and strong.coherence > 0.9
    # the replay's pulse (0.02) passes a floor below its amplitude and is withheld as weak above it
    amp = face_pulse(_crops(300, f_hz=1.2, pulse=0.02, noise=0.5, seed=3), FS, 1.2, BAND).amplitude
    low = _replay(True, EstimatorConfig(steady_n=3, coherence_min=0.2, pulse_amplitude_min=0.5 * amp))
    high = _replay(True, EstimatorConfig(steady_n=3, coherence_min=0.2, pulse_amplitude_min=2.0 * amp))
    assert any(r.hr_bpm is not None for r in low)
    assert all(r.hr_bpm is None for r in high) and any(r.withheld == WITHHELD_WEAK for r in high)
    with pytest.raises(ValueError):
        EstimatorConfig(pulse_amplitude_min=-1e-4)


def test_without_crops_the_checks_pass():
    """A method that reads no crops (POS, CHROM) cannot be checked: its readings are as without the checks."""

    class _NoCrops(_GreenMethod):
        needs_crops = False

        def window_bvp(self, window):
            g = window.rgb[:, 1]
            return -(g / g.mean() - 1.0)

    crops = _crops(900, f_hz=1.2, in_step=False, pulse=0.02, noise=0.5, seed=3)

    def shown(cfg):
        est = StreamingEstimator(_NoCrops(), cfg)
        for k in range(len(crops)):
            rgb = crops[k].reshape(-1, 3).mean(axis=0).astype(np.float64)
            est.push_roi(RoiSample(t_s=k / FS, face_ok=True, rgb_mean=rgb, skin_pixels=S * S, crop=crops[k]))
        return [r.hr_bpm for r in est.readings]

    plain = shown(EstimatorConfig(steady_n=3))
    assert any(h is not None for h in plain)
    assert shown(EstimatorConfig(steady_n=3, coherence_min=0.2, pulse_amplitude_min=1.0)) == plain


def test_an_open_gate_closes_when_the_face_stops_pulsing_as_one():
    first = _crops(600, f_hz=1.2, in_step=True, pulse=0.02, noise=0.5, seed=3)
    then = _crops(600, f_hz=1.2, in_step=False, pulse=0.02, noise=0.5, seed=3)
    crops = np.concatenate([first, then])
    est = StreamingEstimator(_GreenMethod(), EstimatorConfig(steady_n=3, coherence_min=0.2))
    for k in range(len(crops)):
        rgb = crops[k].reshape(-1, 3).mean(axis=0).astype(np.float64)
        est.push_roi(RoiSample(t_s=k / FS, face_ok=True, rgb_mean=rgb, skin_pixels=S * S, crop=crops[k]))
    early = [r for r in est.readings if r.t_s <= 20.0]
    late = [r for r in est.readings if r.t_s >= 31.0]  # windows wholly in the scattered half
    assert any(r.hr_bpm is not None for r in early)
    assert late and all(r.hr_bpm is None for r in late)
    assert any(r.withheld == WITHHELD_INCOHERENT for r in late)


def test_each_frames_region_colours_alone_are_the_windows_and_give_the_same_pulse():
    """The estimator computes each frame's region colours once and gathers them per window: the same
    numbers, to the bit, as the window's crops read at once."""
    from model.signal.face_coherence import face_pulse_of_regions

    crops = _crops(300, pulse=0.01, noise=2.0, seed=5, masked_rows=5)
    means, counts = region_colours(crops)
    parts = [region_colours(crops[a:a + 37]) for a in range(0, 300, 37)]  # frames in batches of any size
    assert np.array_equal(np.concatenate([m for m, _ in parts]), means, equal_nan=True)
    assert np.array_equal(np.concatenate([c for _, c in parts]), counts)
    whole = face_pulse(crops, FS, 1.3, BAND)
    assert whole == face_pulse_of_regions(means, counts, (S // GRID) ** 2, FS, 1.3, BAND)
    assert face_pulse_of_regions(means[:10], counts[:10], (S // GRID) ** 2, FS, 1.3, BAND) is None  # too short
