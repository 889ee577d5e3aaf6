"""The streaming estimator on constructed ROI traces (no video): timing of readings, accuracy,
gaps when the face is lost, the quality gate on noise, and the BVP stream."""

import numpy as np
import pytest

from model.estimator import (
    STATE_ACQUIRING,
    STATE_NO_FACE,
    STATE_READING,
    WITHHELD_ACQUIRING,
    EstimatorConfig,
    StreamingEstimator,
)
from model.pulse_methods import ClassicPulseMethod, make_pulse_method
from model.signal import PULSE_BAND_HZ
from model.types import HRV_GAP, HRV_NO_HR, HRV_WEAK, Box, Face, RoiSample

SKIN = np.array([180.0, 130.0, 110.0])
PBV = np.array([0.33, 0.77, 0.53])


def _trace(hr_bpm, duration_s=40.0, fs=30.0, seed=0, pulse=0.006, noise=0.3, jitter_s=0.004):
    rng = np.random.default_rng(seed)
    t = np.arange(0, duration_s, 1 / fs) + rng.uniform(-jitter_s, jitter_s, int(round(duration_s * fs)))
    t[0] = 0.0
    phase = 2 * np.pi * hr_bpm / 60 * t
    wave = np.sin(phase) + 0.4 * np.sin(2 * phase + 0.8)
    light = 1 + 0.02 * np.sin(2 * np.pi * 0.05 * t)  # slow common-mode drift
    rgb = SKIN * light[:, None] * (1 - pulse * wave[:, None] * PBV / np.linalg.norm(PBV))
    rgb += rng.normal(0, noise, rgb.shape)
    return t, rgb


def _run(t, rgb, ok=None, method="pos", cfg=None):
    est = StreamingEstimator(make_pulse_method(method), cfg or EstimatorConfig())
    ups = []
    for i in range(len(t)):
        good = True if ok is None else bool(ok[i])
        s = RoiSample(t_s=float(t[i]), face_ok=good, rgb_mean=rgb[i] if good else np.full(3, np.nan))
        ups.append(est.push_roi(s))
    return est, ups


@pytest.mark.parametrize("method", ["pos", "chrom"])
def test_readings_once_a_second_and_accurate(method):
    t, rgb = _trace(84.0)
    est, ups = _run(t, rgb, method=method)
    rd = [u.reading for u in ups if u.reading is not None]
    times = np.array([r.t_s for r in rd])
    assert np.all(np.diff(times) <= 1.0 + 0.05)
    shown = [r for r in rd if r.hr_bpm is not None]
    assert shown, "no reading shown on a clean pulse"
    first = shown[0].t_s
    assert first <= EstimatorConfig().min_window_s + 1.5
    assert all(abs(r.hr_bpm - 84.0) < 1.0 for r in shown)
    assert ups[-1].state == STATE_READING


def test_face_lost_gives_gap_and_recovers():
    t, rgb = _trace(72.0, duration_s=45.0)
    ok = ~((t > 15) & (t < 20))
    est, ups = _run(t, rgb, ok=ok)
    during = [u for u in ups if 16 < u.frame_t_s < 19.5]
    assert all(u.state == STATE_NO_FACE for u in during)
    assert all(u.reading.hr_bpm is None for u in during if u.reading)
    after = [u.reading for u in ups if u.reading and u.frame_t_s > 20 + EstimatorConfig().min_window_s + 1]
    assert after and all(r.hr_bpm is not None and abs(r.hr_bpm - 72) < 1.5 for r in after)
    est.finish()
    bvp = est.bvp_at(t)
    assert bvp.shape == t.shape
    assert np.all(np.isnan(bvp[(t > 15.2) & (t < 19.8)]))
    assert np.isfinite(bvp[(t > 25) & (t < 40)]).all()


@pytest.mark.parametrize("miss_s, bridged", [(0.3, True), (0.8, False)])
def test_a_short_miss_of_the_face_is_bridged_a_longer_one_breaks_the_signal(miss_s, bridged):
    """The detector drops a face for a few frames (more often with several people in view): a miss
    up to max_gap_s (0.5 s) is bridged, the readings go on; a longer one starts the signal again."""
    t, rgb = _trace(72.0, duration_s=40.0)
    ok = ~((t >= 20.0) & (t < 20.0 + miss_s))
    est, ups = _run(t, rgb, ok=ok)
    after = [u.reading for u in ups if u.reading is not None and 20.0 <= u.frame_t_s < 26.0]
    during = [u.state for u in ups if 20.0 <= u.frame_t_s < 20.0 + miss_s]
    if bridged:  # the display does not blink either: the frames of the miss keep the reading's state
        assert set(during) == {STATE_READING}
        assert all(r.hr_bpm is not None and abs(r.hr_bpm - 72.0) < 1.5 for r in after)
        est.finish()
        assert np.isfinite(est.bvp_at(t[(t > 20.05) & (t < 20.25)])).all()  # the stream runs through it
    else:  # "no face" once the miss is longer than can be bridged
        assert STATE_READING in during and during[-1] == STATE_NO_FACE
        assert any(r.withheld in (WITHHELD_ACQUIRING, "no_face") for r in after)
        # the face back: acquiring, not the reading from before the miss, until the next update
        back = [u.state for u in ups if 20.0 + miss_s <= u.frame_t_s < 20.0 + miss_s + 0.3]
        assert back and set(back) == {STATE_ACQUIRING}


def test_hrv_and_respiration_restart_after_a_bridged_miss():
    """The bridged stretch holds interpolated colour, not beats: HRV needs its 20 s again after it,
    and says so; at the update inside the miss it is not blanked as "the signal ends in a gap"."""
    t, rgb = _trace(72.0, duration_s=60.0, pulse=0.02, noise=0.05)
    ok = ~((t >= 30.0) & (t < 30.3))
    whys = {round(u.frame_t_s): why for u, why in _hrv_whys(t, rgb, ok)}
    assert whys[29] is None  # HRV before the miss
    assert all(whys[s].code == HRV_GAP for s in range(31, 50))  # 20 s of signal after the miss first
    assert whys[52] is None


def _hrv_whys(t, rgb, ok):
    est = StreamingEstimator(make_pulse_method("pos"), EstimatorConfig())
    out = []
    for i in range(len(t)):
        good = bool(ok[i])
        u = est.push_roi(RoiSample(t_s=float(t[i]), face_ok=good, rgb_mean=rgb[i] if good else np.full(3, np.nan)))
        if u.reading is not None:
            out.append((u, est.hrv_why))
    return out


def test_every_frame_with_a_face_gets_a_bvp_value_up_to_the_last_one():
    """A UBFC-like clip at 29.37 fps: its last frame lies after the 30 Hz grid's last sample."""
    t, rgb = _trace(72.0, duration_s=881 / 29.37 - 1e-6, fs=29.37, jitter_s=0.0)
    assert (t[-1] * 30.0) % 1.0 > 0.05  # the last frame is not on the grid
    est, _ = _run(t, rgb)
    est.finish()
    bvp = est.bvp_at(t)
    assert np.isfinite(bvp).all()
    tg, vg = est.bvp_stream()
    assert t[-1] > tg[-1] and bvp[-1] == vg[-1]
    assert np.isnan(est.bvp_at(np.array([tg[-1] + 1.5 / 30.0]))).all()  # not further out


def test_hrv_only_from_a_pulse_strong_enough_for_beat_times():
    """A weak pulse still gives the HR, but its beat times jitter: no HRV, and the reason why."""
    t, rgb = _trace(72.0, duration_s=45.0, pulse=0.02, noise=0.05)
    est, _ = _run(t, rgb)
    assert est.last_hrv is not None and est.hrv_withheld == ""
    t, rgb = _trace(72.0, duration_s=45.0, pulse=0.006, noise=0.3)
    est, _ = _run(t, rgb)
    assert est.readings[-1].hr_bpm is not None and abs(est.readings[-1].hr_bpm - 72.0) < 2.0
    assert est.last_hrv is None and "too weak for beat-to-beat times" in est.hrv_withheld
    why = est.hrv_why  # the reason and its figures, for a display to word
    assert why.code == HRV_WEAK and why.need_snr_db == 11.0 and why.snr_db < 11.0 and why.over_s >= 20.0
    assert f"median SNR {why.snr_db:.1f} dB" in why.text
    est, _ = _run(t, rgb, cfg=EstimatorConfig(hrv_min_snr_db=None))  # without the SNR rule it would show
    assert est.last_hrv is not None


def test_no_hrv_when_the_clip_ends_without_a_reading_and_it_says_why():
    t, rgb = _trace(72.0, duration_s=45.0, pulse=0.02, noise=0.05)
    gone = t > 42.0  # the face leaves for the last 3 s
    est, ups = _run(t, rgb, ok=~gone)
    assert any(u.hrv is not None for u in ups)  # there was HRV while the face was there
    assert est.last_hrv is None and est.last_resp_bpm is None and est.hrv_withheld
    assert est.hrv_withheld.endswith("(no face is in view)")  # the HR's own reason, not only its absence
    assert est.hrv_why.code == HRV_NO_HR and est.hrv_why.hr_withheld == "no_face"


def test_gate_withholds_noise():
    rng = np.random.default_rng(3)
    t = np.arange(0, 40, 1 / 30)
    rgb = SKIN + rng.normal(0, 0.5, (len(t), 3))
    est, ups = _run(t, rgb)
    rd = [u.reading for u in ups if u.reading is not None and u.reading.hr_raw_bpm is not None]
    shown = sum(r.hr_bpm is not None for r in rd)
    assert len(rd) > 20 and shown / len(rd) < 0.2


def test_bvp_stream_tracks_the_pulse_and_hrv_appears():
    t, rgb = _trace(66.0, duration_s=40.0, noise=0.1)
    est, ups = _run(t, rgb)
    est.finish()
    tg, vg = est.bvp_stream()
    assert np.allclose(np.diff(tg), 1 / 30.0)
    assert np.isfinite(vg).mean() > 0.95
    ref = np.sin(2 * np.pi * 66 / 60 * tg) + 0.4 * np.sin(4 * np.pi * 66 / 60 * tg + 0.8)
    ok = np.isfinite(vg)
    assert np.corrcoef(vg[ok], ref[ok])[0, 1] > 0.8
    assert any(u.hrv is not None for u in ups)
    tr, vr = est.recent_bvp(5.0)
    assert len(tr) >= 5 * 30 - 1


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="pos"):
        ClassicPulseMethod("bogus")


# ---- the pulse band: one definition, one band-pass ---------------------------------------------
class _ToneMethod:
    """Stand-in method: a 1.2 Hz pulse plus a 4.5 Hz tone on the window's grid, unfiltered; keeps
    the windows it was handed."""

    name = "tone"
    needs_crops = False
    min_window_s = 2.0
    device = "CPU"

    def __init__(self):
        self.windows = []

    @staticmethod
    def bvp(t_s):
        return np.sin(2 * np.pi * 1.2 * t_s) + np.sin(2 * np.pi * 4.5 * t_s)

    def window_bvp(self, window):
        self.windows.append(window)
        return self.bvp(window.t_s)


def _run_tone(cfg, monkeypatch=None):
    import model.estimator as est_mod

    calls = []
    if monkeypatch is not None:
        real = est_mod.bandpass

        def counting_bandpass(x, fs_hz, lo_hz, hi_hz, order=4):
            calls.append((np.array(x, copy=True), (lo_hz, hi_hz)))
            return real(x, fs_hz, lo_hz, hi_hz, order)

        monkeypatch.setattr(est_mod, "bandpass", counting_bandpass)
    method = _ToneMethod()
    est = StreamingEstimator(method, cfg)
    for k in range(int(20 * 30)):
        est.push_roi(RoiSample(t_s=k / 30.0, face_ok=True, rgb_mean=SKIN))
    est.finish()
    return est, method, calls


def _tone_share(vg):
    from model.signal import power_spectrum

    spec = power_spectrum(vg[np.isfinite(vg)], 30.0)
    i_tone, i_pulse = (int(np.argmin(np.abs(spec.freqs_hz - f))) for f in (4.5, 1.2))
    return float(spec.power[i_tone] / spec.power[i_pulse])


def test_the_config_band_is_the_one_the_estimator_filters_to(monkeypatch):
    est, method, calls = _run_tone(EstimatorConfig(), monkeypatch)
    assert EstimatorConfig().band_hz == PULSE_BAND_HZ
    # Every update filters the method's own output once, to the config's band, and hands the
    # band to the method (CHROM filters X and Y to it).
    assert len(calls) == len(method.windows) > 10
    for (x, band), w in zip(calls, method.windows):
        assert band == PULSE_BAND_HZ and w.band_hz == PULSE_BAND_HZ
        np.testing.assert_array_equal(x, method.bvp(w.t_s))
    assert _tone_share(est.bvp_stream()[1]) < 0.05  # 4.5 Hz is outside 0.6-3.6 Hz

    wide = EstimatorConfig(band_hz=(0.6, 5.5))
    est, method, calls = _run_tone(wide, monkeypatch)
    assert {band for _, band in calls} == {(0.6, 5.5)} and method.windows[-1].band_hz == (0.6, 5.5)
    assert _tone_share(est.bvp_stream()[1]) > 0.5  # the changed band changes what passes


def test_the_snr_is_measured_in_the_config_band(monkeypatch):
    import model.estimator as est_mod

    seen = []
    real = est_mod.estimate_hr
    monkeypatch.setattr(est_mod, "estimate_hr", lambda *a, **k: seen.append(k) or real(*a, **k))
    cfg = EstimatorConfig(band_hz=(0.5, 4.0), lo_bpm=40.0, hi_bpm=220.0)
    _run_tone(cfg)
    assert seen and all(k["snr_band_hz"] == (0.5, 4.0) and (k["lo_bpm"], k["hi_bpm"]) == (40.0, 220.0)
                        for k in seen)


@pytest.mark.parametrize("band", [(0.8, 3.6), (0.6, 3.0), (3.6, 0.6)])
def test_a_band_that_does_not_enclose_the_hr_range_is_refused(band):
    with pytest.raises(ValueError, match="pulse band"):
        EstimatorConfig(band_hz=band)


def _reasons(t, rgb, ok=None, boxes=None):
    from model.types import Box

    est = StreamingEstimator(make_pulse_method("pos"), EstimatorConfig())
    for i in range(len(t)):
        good = True if ok is None else bool(ok[i])
        box = Box(*boxes[i]) if boxes is not None else Box(100.0, 100.0, 200.0, 200.0)
        est.push_roi(RoiSample(t_s=float(t[i]), face_ok=good, rgb_mean=rgb[i] if good else np.full(3, np.nan),
                               box=box if good else None))
    return est.readings


def test_withheld_readings_say_why():
    from model.estimator import WITHHELD_REASONS

    t, rgb = _trace(80.0, duration_s=30.0)
    ok = np.ones(len(t), bool)
    ok[(t > 20) & (t < 24)] = False
    rs = _reasons(t, rgb, ok)
    by_t = {round(r.t_s): r for r in rs}
    assert by_t[3].withheld == "acquiring"  # face there, under the 6 s the first reading needs
    assert by_t[22].withheld == "no_face"
    assert by_t[26].withheld == "acquiring"  # the signal restarts after the gap
    assert all(r.withheld == "" for r in rs if r.hr_bpm is not None)
    assert all(r.withheld in WITHHELD_REASONS for r in rs if r.hr_bpm is None)
    assert any(r.hr_bpm is not None for r in rs)


@pytest.mark.parametrize("case, expected", [("noise", "weak_signal"), ("dark", "too_dark"),
                                            ("bright", "saturated"), ("moving", "motion"), ("grey", "no_colour"),
                                            ("grey-clipped", "saturated"), ("grey-dark", "too_dark")])
def test_the_gates_reason_names_what_is_wrong(case, expected):
    """Each withheld reading names its cause; a skin that lost its colour to the exposure (clipped
    at white, too dark) is named for the exposure, not as a camera without colour."""
    rng = np.random.default_rng(3)
    t = np.arange(0, 20, 1 / 30.0)
    colour = {"dark": SKIN * 12.0 / 180.0, "bright": np.array([252.0, 200.0, 170.0]),
              "grey": np.full(3, 150.0), "grey-clipped": np.full(3, 250.0),
              "grey-dark": np.full(3, 12.0)}.get(case, SKIN)
    rgb = colour + rng.normal(0, 1.0, (len(t), 3))  # no pulse: the gate stays closed
    boxes = None
    if case == "moving":  # the head sways by a third of the face width
        x = 100.0 + 60.0 * np.sin(2 * np.pi * 0.3 * t)
        boxes = np.stack([x, np.full_like(t, 100.0), np.full_like(t, 200.0), np.full_like(t, 200.0)], axis=1)
    rs = [r for r in _reasons(t, rgb, boxes=boxes) if r.t_s > 8]
    assert rs and all(r.hr_bpm is None and r.withheld == expected for r in rs)


def test_a_skin_without_colour_gets_no_reading_whatever_the_method_reads():
    """A greyscale or infrared camera: the channels are equal (within the codec's rounding), so every
    method reads noise; no reading is shown even where the method's output passes the gate (here a
    method that reads a clean tone whatever the skin does), and the withheld reason says why."""
    from model.estimator import GREY_CHANNELS_SHARE, WITHHELD_NO_COLOUR, colourless

    grey = np.column_stack([np.full(100, 118.0), np.full(100, 120.0), np.full(100, 118.0)])  # MJPG's rounding
    assert colourless(grey) and not colourless(np.tile(SKIN, (100, 1)))
    assert not colourless(np.tile(SKIN * 12.0 / 180.0, (100, 1)))  # dark skin is still coloured
    assert not colourless(np.full((5, 3), np.nan))
    level = 150.0
    assert colourless(np.tile([level, level, level * (1 + 0.9 * GREY_CHANNELS_SHARE)], (10, 1)))
    assert not colourless(np.tile([level, level, level * (1 + 1.1 * GREY_CHANNELS_SHARE)], (10, 1)))

    def readings(rgb):
        est = StreamingEstimator(_FixedRateMethod(72.0), EstimatorConfig())
        for k in range(20 * 30):
            est.push_roi(RoiSample(t_s=k / 30.0, face_ok=True, rgb_mean=rgb))
        return [r for r in est.readings if r.t_s > 8]

    assert any(r.hr_bpm is not None for r in readings(SKIN))  # the tone passes the gate on a coloured skin
    on_grey = readings(np.full(3, 120.0))
    assert on_grey and all(r.hr_bpm is None and r.withheld == WITHHELD_NO_COLOUR for r in on_grey)


def test_hr_tracking_and_the_narrowed_stream_are_switchable():
    """With hr_tracking the readings come from the Viterbi track; track_half_width_hz narrows the
    stream around it (a 2.2 Hz tone beside a 1.2 Hz pulse leaves the stream)."""
    cfg = EstimatorConfig(hr_tracking=True, track_half_width_hz=0.15)
    est, _, _ = _run_tone(cfg)
    assert est.hr_tracker is not None and len(est.hr_tracker.path()[0]) > 10
    assert all(abs(r.hr_raw_bpm - 72.0) < 1.5 for r in est.readings if r.hr_raw_bpm is not None)
    assert StreamingEstimator(_ToneMethod(), EstimatorConfig()).hr_tracker is None  # off by default

    class TwoTones(_ToneMethod):
        @staticmethod
        def bvp(t_s):
            return np.sin(2 * np.pi * 1.2 * t_s) + 0.8 * np.sin(2 * np.pi * 2.2 * t_s)

    def share_22(cfg):
        est = StreamingEstimator(TwoTones(), cfg)
        for k in range(20 * 30):
            est.push_roi(RoiSample(t_s=k / 30.0, face_ok=True, rgb_mean=SKIN))
        est.finish()
        from model.signal import power_spectrum

        v = est.bvp_stream()[1]
        spec = power_spectrum(v[np.isfinite(v)], 30.0)
        i22, i12 = (int(np.argmin(np.abs(spec.freqs_hz - f))) for f in (2.2, 1.2))
        return spec.power[i22] / spec.power[i12]

    assert share_22(EstimatorConfig(hr_tracking=True)) > 0.3
    assert share_22(cfg) < 0.05


def test_hr_posterior_gives_the_reading_and_its_quality():
    """With hr_posterior the reading is the filter's mode and the quality the gate reads is its mass
    (not the SNR's logistic); a mass gate shows the steady 72 bpm tone; it is off by default, and
    refused beside the other ways of reading a window."""
    from model.signal.hr_posterior import HrPosteriorConfig
    from model.signal.quality import quality_from_snr

    cfg = EstimatorConfig(hr_posterior=HrPosteriorConfig(), gate_open=0.7, gate_close=0.7, steady_n=0)
    est, _, _ = _run_tone(cfg)
    judged = [r for r in est.readings if r.hr_raw_bpm is not None]
    assert len(judged) > 10
    assert all(abs(r.hr_raw_bpm - 72.0) <= 1.0 for r in judged)
    assert all(0.0 <= r.quality <= 1.0 for r in judged)
    # the quality is the posterior's mass, not the SNR's logistic
    assert judged[-1].quality == est.hr_posterior.last.mass
    assert any(abs(r.quality - quality_from_snr(r.snr_db)) > 0.1 for r in judged)
    shown = [r for r in est.readings if r.hr_bpm is not None]
    assert shown and all(abs(r.hr_bpm - 72.0) <= 1.0 for r in shown)
    assert StreamingEstimator(_ToneMethod(), EstimatorConfig()).hr_posterior is None
    for clash in (dict(hr_tracking=True), dict(context_s=20.0, context_reading=True)):
        with pytest.raises(ValueError, match="hr_posterior"):
            EstimatorConfig(hr_posterior=HrPosteriorConfig(), **clash)


class _FixedRateMethod:
    """A pulse method that reads a fixed tone whatever the skin does (a model gone wrong)."""

    name, needs_crops, min_window_s = "tone", False, 0.0

    def __init__(self, hr_bpm):
        self.hr_bpm = hr_bpm

    def window_bvp(self, window):
        return np.sin(2 * np.pi * self.hr_bpm / 60.0 * np.asarray(window.t_s))


def _run_method(method, t, rgb, cfg):
    est = StreamingEstimator(method, cfg)
    for i in range(len(t)):
        est.push_roi(RoiSample(t_s=float(t[i]), face_ok=True, rgb_mean=rgb[i]))
    return [r for r in est.readings if r.hr_raw_bpm is not None]


def test_the_cross_check_withholds_a_rate_the_skin_colour_does_not_carry():
    from model.estimator import WITHHELD_UNSURE

    t, rgb = _trace(72.0)
    check = EstimatorConfig(check_methods=("chrom", "pos"), check_bpm=3.0, check_min_agree=1)
    wrong = _run_method(_FixedRateMethod(100.0), t, rgb, check)
    assert wrong and all(r.hr_bpm is None and r.withheld == WITHHELD_UNSURE for r in wrong)
    assert all(len(r.check_hr_bpm) == 2 and all(abs(c - 72.0) < 2.0 for c in r.check_hr_bpm) for r in wrong[2:])
    unchecked = _run_method(_FixedRateMethod(100.0), t, rgb, EstimatorConfig())
    assert sum(r.hr_bpm is not None for r in unchecked) > len(unchecked) // 2  # the SNR gate alone shows it
    right = _run_method(_FixedRateMethod(72.0), t, rgb, check)
    assert sum(r.hr_bpm is not None for r in right) > len(right) // 2
    assert all(abs(r.hr_bpm - 72.0) < 1.0 for r in right if r.hr_bpm is not None)


def test_the_cross_check_counts_agreeing_methods():
    t, rgb = _trace(72.0)
    t_noise, noise = _trace(72.0, pulse=0.0, seed=3)  # colour without a pulse: the checks read noise
    both = EstimatorConfig(check_methods=("chrom", "pos"), check_bpm=3.0, check_min_agree=2)
    assert sum(r.hr_bpm is not None for r in _run_method(_FixedRateMethod(72.0), t, rgb, both)) > 10
    assert all(r.hr_bpm is None for r in _run_method(_FixedRateMethod(72.0), t_noise, noise, both))
    with pytest.raises(ValueError, match="check_min_agree"):
        EstimatorConfig(check_methods=("chrom",), check_min_agree=2)


class _ScriptedMethod:
    """A tone at 60 bpm, then noise (the gate closes), then a tone at 96 bpm."""

    name, needs_crops, min_window_s = "scripted", False, 0.0

    def window_bvp(self, window):
        t = np.asarray(window.t_s)
        rng = np.random.default_rng(int(t[-1] * 10))
        return np.where(t < 20, np.sin(2 * np.pi * 1.0 * t),
                        np.where(t < 34, rng.normal(0, 1, len(t)), np.sin(2 * np.pi * 1.6 * t)))


def test_the_median_never_mixes_in_readings_from_before_a_withheld_stretch():
    t, rgb = _trace(72.0, duration_s=60.0)
    rs = _run_method(_ScriptedMethod(), t, rgb, EstimatorConfig())
    shown = [(r.t_s, r.hr_bpm) for r in rs if r.hr_bpm is not None]
    early = [hr for ts, hr in shown if ts < 20]
    gap = [r for r in rs if 30 <= r.t_s < 34]
    late = [hr for ts, hr in shown if ts >= 34]
    assert early and all(abs(hr - 60.0) < 2.0 for hr in early)
    assert gap and all(r.hr_bpm is None for r in gap)  # the noise closed the gate
    # not the median with the 60 bpm readings of before (which gave ~60 on reopening)
    assert late and all(hr > 90.0 for hr in late) and abs(late[-1] - 96.0) < 1.0


class _JumpyMethod:
    """Clean tones whose rate jumps between 60 and 84 bpm from one update to the next."""

    name, needs_crops, min_window_s = "jumpy", False, 0.0

    def window_bvp(self, window):
        t = np.asarray(window.t_s)
        f_hz = 1.0 if int(round(t[-1])) % 2 else 1.4
        return np.sin(2 * np.pi * f_hz * t)


def test_steadiness_withholds_a_rate_that_jumps_between_windows():
    from model.estimator import WITHHELD_UNSURE

    t, rgb = _trace(72.0)
    steady = EstimatorConfig(steady_n=3, steady_bpm=5.0)
    jumpy = _run_method(_JumpyMethod(), t, rgb, steady)
    assert jumpy and all(r.hr_bpm is None and r.withheld == WITHHELD_UNSURE for r in jumpy)
    assert sum(r.hr_bpm is not None for r in _run_method(_JumpyMethod(), t, rgb, EstimatorConfig())) > 10
    calm = _run_method(_FixedRateMethod(72.0), t, rgb, steady)
    shown = [r for r in calm if r.hr_bpm is not None]
    assert shown and calm.index(shown[0]) == 2  # the third window HR in a row that agrees


def _update_times(method, t, rgb, ok, cfg):
    """(t_s, judged, shown) of every HR update; the face is lost where ``ok`` is False."""
    est = StreamingEstimator(method, cfg)
    for i in range(len(t)):
        est.push_roi(RoiSample(t_s=float(t[i]), face_ok=bool(ok[i]),
                               rgb_mean=rgb[i] if ok[i] else np.full(3, np.nan)))
    return [(r.t_s, r.hr_raw_bpm is not None, r.hr_bpm is not None) for r in est.readings]


def test_updates_come_twice_a_second_until_the_first_reading_and_again_after_the_face_is_lost():
    t, rgb = _trace(72.0, duration_s=40.0)
    ok = ~((t >= 20.0) & (t < 22.0))  # the face lost for 2 s
    cfg = EstimatorConfig(steady_n=3, steady_bpm=5.0, acquire_every_s=0.5)
    ups = _update_times(_FixedRateMethod(72.0), t, rgb, ok, cfg)
    first = next(u for u in ups if u[2])
    assert 6.9 < first[0] < 7.1  # judged at 6, 6.5 and 7 s: three steady window HRs by 7 s, not 8
    pairs = list(zip(ups, ups[1:]))  # consecutive updates
    before = [b[0] - a[0] for a, b in pairs if a[1] and b[0] <= first[0]]
    assert before and all(abs(s - 0.5) < 0.05 for s in before)  # judged, nothing shown yet: twice a second
    after = [b[0] - a[0] for a, b in pairs if first[0] <= a[0] and b[0] < 20.0]
    assert after and all(abs(s - 1.0) < 0.05 for s in after)  # once shown: every second
    back = [u for u in ups if u[0] > 22.0]
    back_first = next(u for u in back if u[2])
    half = [u for u in back if u[1] and u[0] <= back_first[0]]
    assert len(half) >= 3 and all(abs(b[0] - a[0] - 0.5) < 0.05 for a, b in zip(half, half[1:]))
    plain = _update_times(_FixedRateMethod(72.0), t, rgb, ok, EstimatorConfig(steady_n=3, steady_bpm=5.0))
    assert next(u for u in plain if u[2])[0] > 7.9  # every second: 6, 7, 8 s
    with pytest.raises(ValueError, match="positive"):
        EstimatorConfig(acquire_every_s=0.0)


def test_the_fast_updates_stop_when_the_signal_is_acquire_until_s_old():
    t, rgb = _trace(72.0, duration_s=20.0)
    ok = np.ones(len(t), dtype=bool)
    cfg = EstimatorConfig(steady_n=3, steady_bpm=5.0, acquire_every_s=0.5, acquire_until_s=8.0)
    ups = _update_times(_JumpyMethod(), t, rgb, ok, cfg)  # never steady: no reading ever shown
    judged = [round(u[0], 1) for u in ups if u[1]]
    assert not any(u[2] for u in ups)
    assert judged[:6] == [6.0, 6.5, 7.0, 7.5, 8.0, 9.0]  # twice a second while under 8 s old, then every second


class _BurstMethod(_ToneMethod):
    """A 1.8 Hz (108 bpm) pulse with a louder 1.2 Hz (72 bpm) interferer for 6 s of 40."""

    @staticmethod
    def bvp(t_s):
        burst = (t_s >= 24.0) & (t_s < 30.0)
        return np.sin(2 * np.pi * 1.8 * t_s) + 1.6 * burst * np.sin(2 * np.pi * 1.2 * t_s)


def _stream_window_hrs(cfg):
    from model.signal import estimate_hr

    est = StreamingEstimator(_BurstMethod(), cfg)
    for k in range(40 * 30):
        est.push_roi(RoiSample(t_s=k / 30.0, face_ok=True, rgb_mean=SKIN))
    est.finish()
    t, v = est.bvp_stream()
    hrs = []
    for t0 in np.arange(20.0, 30.5, 1.0):  # the 10 s windows of bvp.csv that hold the burst
        m = (t >= t0) & (t < t0 + 10.0)
        hrs.append(estimate_hr(v[m], 30.0).hr_bpm)
    return est, np.array(hrs)


def test_context_narrowing_keeps_a_burst_out_of_the_stream():
    """With ``context_s`` each window enters the stream narrowed around the HR of the trailing
    20 s, so a 6 s interferer that wins the 10 s windows around it leaves the stream; without it
    those windows of the stream read the interferer. The readings' own HRs are not changed."""
    est_plain, plain = _stream_window_hrs(EstimatorConfig())
    assert np.sum(np.abs(plain - 72.0) < 3.0) >= 3, plain
    est, narrowed = _stream_window_hrs(EstimatorConfig(context_s=20.0, context_half_width_hz=0.4))
    assert np.all(np.abs(narrowed - 108.0) < 3.0), narrowed
    assert est.last_context_hr_bpm is not None and abs(est.last_context_hr_bpm - 108.0) < 3.0
    assert [r.hr_raw_bpm for r in est.readings] == [r.hr_raw_bpm for r in est_plain.readings]
    with pytest.raises(ValueError):
        EstimatorConfig(context_s=0.0)


def test_context_reading_searches_near_the_context_hr():
    """``context_reading``: a window's reading is searched within the half-width of the context
    HR, so the burst's windows read the pulse once the context exists (and the plain ones do not;
    nothing is shown, so the continuity prior of a shown reading plays no part)."""
    def raw_hrs(cfg):
        est, _ = _stream_window_hrs(cfg)
        return np.array([r.hr_raw_bpm for r in est.readings if r.t_s >= 25.0 and r.hr_raw_bpm is not None])

    plain = raw_hrs(EstimatorConfig(context_s=20.0, steady_n=1000))
    assert np.sum(np.abs(plain - 72.0) < 3.0) >= 3, plain
    ctx = raw_hrs(EstimatorConfig(context_s=20.0, context_reading=True, steady_n=1000))
    assert len(ctx) >= 10 and np.all(np.abs(ctx - 108.0) < 3.0), ctx


def test_the_reading_windows_median_outvotes_a_burst_the_window_reads():
    """``reading_windows_s``: each update reads the median of the HRs of the trailing 8, 10, 12, 15
    and 20 s of the un-narrowed stream, so the 6 s burst that wins the window's own peak in some
    updates is outvoted by the longer windows; without it those updates read the burst."""
    def raw_hrs(cfg):
        est, _ = _stream_window_hrs(cfg)
        return np.array([r.hr_raw_bpm for r in est.readings if r.t_s >= 25.0 and r.hr_raw_bpm is not None])

    plain = raw_hrs(EstimatorConfig(context_s=20.0, steady_n=1000))
    assert np.sum(np.abs(plain - 72.0) < 3.0) >= 3, plain
    windows = raw_hrs(EstimatorConfig(context_s=20.0, steady_n=1000, reading_windows_s=(8.0, 10.0, 12.0, 15.0, 20.0)))
    assert len(windows) >= 10 and np.all(np.abs(windows - 108.0) < 3.0), windows
    for bad in ({"reading_windows_s": (10.0,)}, {"context_s": 10.0, "reading_windows_s": (8.0, 20.0)},
                {"context_s": 20.0, "reading_windows_s": (0.0,)}):
        with pytest.raises(ValueError):
            EstimatorConfig(**bad)


def test_the_reading_windows_median_is_not_the_longest_window():
    """A 72 bpm interferer in the first 12 s of a 20 s stretch wins its 15 and 20 s windows but
    not its 8, 10 and 12 s ones: the median reads the 108 bpm pulse that the longest window
    misses; a stretch shorter than every window is read whole."""
    from model.signal import estimate_hr

    cfg = EstimatorConfig(context_s=20.0, reading_windows_s=(8.0, 10.0, 12.0, 15.0, 20.0))
    est = StreamingEstimator(make_pulse_method("pos"), cfg)
    t = np.arange(0, 20.0, 1 / 30.0)
    run = np.sin(2 * np.pi * 1.8 * t) + 2.5 * (t < 12.0) * np.sin(2 * np.pi * 1.2 * t)
    assert abs(estimate_hr(run, 30.0).hr_bpm - 72.0) < 2.0
    assert abs(est._windows_hr(run) - 108.0) < 2.0
    assert abs(est._windows_hr(run[-9 * 30:]) - 108.0) < 2.0
    assert est._windows_hr(np.empty(0)) is None
    for bad in ({"hr_tracking": True}, {"context_reading": True}):
        with pytest.raises(ValueError):
            EstimatorConfig(context_s=20.0, reading_windows_s=(10.0,), **bad)


def test_the_snr_floor_withholds_what_the_quality_alone_would_show():
    """gate_min_snr_db under the posterior's mass: the same steady tone, shown without the floor,
    is withheld as a weak signal with a floor above its SNR."""
    from model.estimator import WITHHELD_WEAK
    from model.signal.hr_posterior import HrPosteriorConfig

    base = dict(hr_posterior=HrPosteriorConfig(), gate_open=0.7, gate_close=0.7, steady_n=0)
    est, _, _ = _run_tone(EstimatorConfig(**base))
    judged = [r for r in est.readings if r.hr_raw_bpm is not None]
    assert any(r.hr_bpm is not None for r in judged)
    top_snr = max(r.snr_db for r in judged)
    est, _, _ = _run_tone(EstimatorConfig(**base, gate_min_snr_db=top_snr + 1.0))
    judged = [r for r in est.readings if r.hr_raw_bpm is not None]
    assert judged and all(r.hr_bpm is None and r.withheld == WITHHELD_WEAK for r in judged)


def test_the_snr_gate_beside_the_posterior_shows_what_either_gate_shows():
    """posterior_snr_gate: a belief gate that never opens shows nothing alone; beside it the SNR's gate
    with 3 steady window HRs shows the steady tone; the steadiness then binds that gate only."""
    from model.signal.hr_posterior import HrPosteriorConfig
    from model.signal.quality import quality_from_snr

    never = dict(hr_posterior=HrPosteriorConfig(), gate_open=0.999999, gate_close=0.999999)
    est, _, _ = _run_tone(EstimatorConfig(**never, steady_n=0))
    assert not any(r.hr_bpm is not None for r in est.readings)
    snr_gate = (quality_from_snr(-0.5), quality_from_snr(-1.7))
    est, _, _ = _run_tone(EstimatorConfig(**never, steady_n=3, posterior_snr_gate=snr_gate))
    shown = [r for r in est.readings if r.hr_bpm is not None]
    assert shown and all(abs(r.hr_bpm - 72.0) <= 1.0 for r in shown)
    judged = [r for r in est.readings if r.hr_raw_bpm is not None]
    assert judged.index(shown[0]) >= 2  # three steady window HRs first
    # the reported quality reaches the belief gate's opening where the SNR's gate opened
    assert shown[0].quality >= never["gate_open"] - 1e-9
    assert all(r.quality >= 0.0 for r in judged)
    with pytest.raises(ValueError, match="posterior_snr_gate"):
        EstimatorConfig(posterior_snr_gate=snr_gate)  # only beside the posterior


def test_the_bvp_stream_does_not_depend_on_the_gate():
    """Only updates on the one-second grid add to the stream: a gate that never opens (the updates
    come twice a second for 10 s) and one that opens at once give the same bvp stream, and after
    the faster updates the grid keeps its phase."""
    base = dict(acquire_every_s=0.5, acquire_until_s=10.0, steady_n=0)
    never, _, _ = _run_tone(EstimatorConfig(**base, gate_open=0.999999, gate_close=0.999999))
    at_once, _, _ = _run_tone(EstimatorConfig(**base, gate_open=0.0, gate_close=0.0))
    t_never = [r.t_s for r in never.readings]
    assert any(abs(b - a - 0.5) < 0.04 for a, b in zip(t_never, t_never[1:]))  # judged twice a second
    t_a, v_a = never.bvp_stream()
    t_b, v_b = at_once.bvp_stream()
    np.testing.assert_array_equal(t_a, t_b)
    np.testing.assert_allclose(v_a, v_b, rtol=0, atol=1e-12)
    late = [t for t in t_never if t > 12.0]
    assert all(abs(t - round(t)) < 0.04 for t in late)  # back on the whole seconds of the grid


def test_another_person_followed_starts_the_signal_afresh():
    """The tracker's track_id changes when it follows another face: no window spans both people."""
    t1, rgb1 = _trace(66.0, duration_s=20.0)
    t2, rgb2 = _trace(102.0, duration_s=20.0, seed=1)
    t = np.concatenate([t1, t2 + 20.0])
    rgb = np.concatenate([rgb1, rgb2 * 0.8])  # the other person's skin is darker: a step at the switch
    box = Box(100.0, 100.0, 120.0, 150.0)

    def run(ids):
        est = StreamingEstimator(make_pulse_method("pos"), EstimatorConfig())
        for i in range(len(t)):
            face = Face(ok=True, box=box, track_id=ids[i])
            est.push_roi(RoiSample(t_s=float(t[i]), face_ok=True, rgb_mean=rgb[i], box=box), face)
        return [r for r in est.readings if r.t_s > 20.0]

    switched = run(np.where(t < 20.0, 1, 2))
    est = StreamingEstimator(make_pulse_method("pos"), EstimatorConfig())
    states = [est.push_roi(RoiSample(t_s=float(t[i]), face_ok=True, rgb_mean=rgb[i], box=box),
                           Face(ok=True, box=box, track_id=1 if t[i] < 20.0 else 2)).state for i in range(len(t))]
    assert states[int(np.searchsorted(t, 19.9))] == STATE_READING
    assert states[int(np.searchsorted(t, 20.0))] == STATE_ACQUIRING  # not the first person's reading
    assert switched[0].withheld == WITHHELD_ACQUIRING and switched[0].hr_raw_bpm is None
    acquiring = [r for r in switched if r.hr_raw_bpm is None]
    min_s = EstimatorConfig().min_window_s
    assert 20.0 + min_s - 1.0 <= acquiring[-1].t_s < 20.0 + min_s + 1.0
    shown = [r.hr_bpm for r in switched if r.hr_bpm is not None]
    assert shown and all(abs(hr - 102.0) < 1.5 for hr in shown)
    untold = run(np.zeros(len(t), int))  # without track ids the window runs on across the switch
    assert untold[0].hr_raw_bpm is not None


def _posterior_cfg(**kw):
    from model.signal.hr_posterior import HrPosteriorConfig

    return EstimatorConfig(hr_posterior=HrPosteriorConfig(), gate_open=0.9, gate_close=0.7, hr_median_n=1, **kw)


def test_the_smoothed_gate_rereads_every_update_at_the_end_and_keeps_the_face_checks(monkeypatch):
    t, rgb = _trace(84.0, duration_s=40.0)
    live, _ = _run(t, rgb, cfg=_posterior_cfg())
    live.finish()
    est = StreamingEstimator(make_pulse_method("pos"), _posterior_cfg(smooth_gate=(0.8, 0.6)))
    not_a_pulse = est._not_a_pulse
    monkeypatch.setattr(est, "_not_a_pulse", lambda crops, hr, t_now=None: (
        "incoherent" if 25.0 <= t_now < 30.0 else not_a_pulse(crops, hr, t_now)))
    for i in range(len(t)):
        est.push_roi(RoiSample(t_s=float(t[i]), face_ok=True, rgb_mean=rgb[i]))
    before = list(est.readings)
    est.finish()
    judged = [r for r in est.readings if r.hr_raw_bpm is not None]
    first_live = next(r.t_s for r in live.readings if r.hr_bpm is not None)
    first = next(r.t_s for r in est.readings if r.hr_bpm is not None)
    assert first == judged[0].t_s < first_live  # the first window is read with the belief of all after it
    for r in judged:
        if 25.0 <= r.t_s < 30.0:
            assert r.hr_bpm is None and r.withheld == "incoherent"  # the face's checks still withhold
        else:
            assert r.hr_bpm is not None and abs(r.hr_bpm - 84.0) < 1.5 and r.withheld == "" and r.quality >= 0.6
    assert len(est.readings) == len(before) + 1  # finish() adds its one last update, no more
    again = list(est.readings)
    est.finish()
    assert est.readings == again  # a second finish() reads nothing again


def test_the_smoothed_gate_needs_the_posterior():
    with pytest.raises(ValueError):
        EstimatorConfig(smooth_gate=(0.8, 0.6))
    with pytest.raises(ValueError):
        _posterior_cfg(smooth_gate=(0.6, 0.8))


def test_the_smoothed_gate_can_read_the_finished_stream():
    """smooth_from_stream: the belief's evidence is bvp.csv's own window at each update."""
    t, rgb = _trace(84.0, duration_s=40.0)
    est, _ = _run(t, rgb, cfg=_posterior_cfg(smooth_gate=(0.8, 0.6), smooth_from_stream=True))
    calls = []
    stream = est.bvp_stream
    est.bvp_stream = lambda: calls.append(1) or stream()
    est.finish()
    assert calls  # the finished stream was read
    judged = [r for r in est.readings if r.hr_raw_bpm is not None]
    assert judged and all(r.hr_bpm is not None and abs(r.hr_bpm - 84.0) < 1.5 for r in judged[1:])
    with pytest.raises(ValueError):
        EstimatorConfig(smooth_from_stream=True)


def test_another_person_after_a_miss_starts_a_fresh_belief():
    """What the tracker does: the first person missed for more than a second, then another followed
    under a new track id. The HR posterior forgets the first person's rate (a gap alone would not:
    the belief outlives gaps of up to reset_after_s), which would otherwise vouch for a rate near it
    in the second person's weak signal."""
    t1, rgb1 = _trace(66.0, duration_s=20.0)
    t2, rgb2 = _trace(102.0, duration_s=20.0, seed=1, pulse=0.0015)  # a faint pulse under the noise
    t = np.concatenate([t1, t2 + 21.2])
    rgb = np.concatenate([rgb1, rgb2 * 0.8])
    box = Box(100.0, 100.0, 120.0, 150.0)

    def read_after_switch(second_id):
        est = StreamingEstimator(make_pulse_method("pos"), _posterior_cfg())
        for i in range(len(t)):
            face = Face(ok=True, box=box, track_id=1 if t[i] < 20.0 else second_id)
            est.push_roi(RoiSample(t_s=float(t[i]), face_ok=True, rgb_mean=rgb[i], box=box), face)
        return [r for r in est.readings if 21.2 < r.t_s < 35.0 and r.hr_raw_bpm is not None]

    fresh = read_after_switch(2)
    assert fresh and all(r.hr_bpm is None for r in fresh)  # the new person's faint pulse: nothing vouched for
    carried = read_after_switch(1)  # the same id: the first person's belief carried over the gap
    assert fresh[0].quality < 0.5 < carried[0].quality, "the carried belief vouches for the rate at once"
    # (and it showed wrong readings until an update after a gap counted only max_evidence_s of evidence)
    assert all(r.hr_bpm is None or abs(r.hr_bpm - 102.0) > 20.0 for r in carried)
