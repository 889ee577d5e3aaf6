"""The window's session model (app/session_model.py), without Qt: the worker's payloads are
stood in for by plain namespaces with the same fields as app.worker's dataclasses."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from app.capture import SourceSpec
from app.session_model import (
    NO_VALUE,
    STATE_NO_SIGNAL,
    STATE_STARTING,
    SessionModel,
    method_label,
    quality_level,
)
from model.estimator import (
    STATE_ACQUIRING,
    STATE_NO_FACE,
    STATE_READING,
    STATE_UNRELIABLE,
    WITHHELD_ACQUIRING,
    EstimatorConfig,
    StreamingEstimator,
)
from model.pulse_methods import make_pulse_method
from model.signal.quality import QualityGate
from model.types import HrReading, HrvMetrics, HrvWithheld


def frame(state: str = STATE_READING, n_faces: int = 1, image: bool = True, fps_hz: float = 29.7):
    stats = SimpleNamespace(fps_hz=fps_hz, dropped=3, latency_ms=12.34, frames=10)
    return SimpleNamespace(t_s=1.0, image_bgra=np.zeros((4, 4, 4), np.uint8) if image else None,
                           state=state, face_ok=n_faces > 0, n_faces=n_faces, stats=stats)


def reading(t_s: float, hr_bpm: float | None, quality: float = 0.9, state: str = STATE_READING,
            hrv=None, resp_bpm=None, bvp_t_s=None, bvp=None, hrv_why=None, source_t_s=None, method="pos"):
    return SimpleNamespace(
        t_s=t_s, reading=HrReading(t_s=t_s, hr_bpm=hr_bpm, quality=quality), state=state, hrv=hrv,
        resp_bpm=resp_bpm, bvp_t_s=np.zeros(0) if bvp_t_s is None else bvp_t_s,
        bvp=np.zeros(0) if bvp is None else bvp, method=method, hrv_why=hrv_why, source_t_s=source_t_s)


def source(spec: SourceSpec, fallback: bool = False):
    return SimpleNamespace(spec=spec, label=spec.label, size=(640, 480), nominal_fps_hz=30.0, fallback=fallback)


def test_imports_no_qt():
    code = ("import sys, app.session_model; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')); "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_state_words_and_hr_text():
    s = SessionModel()
    assert (s.state, s.state_text, s.hr_text) == (STATE_STARTING, "Starting...", NO_VALUE)
    s.on_frame(frame(STATE_NO_FACE, n_faces=0))
    assert s.state == STATE_NO_FACE and s.state_text == "No face in view"
    s.on_frame(frame(STATE_ACQUIRING))
    lost = frame(STATE_NO_FACE, n_faces=1)  # the measured face is missed, another is in view
    lost.face_ok = False
    s.on_frame(lost)
    assert s.state_text == "Lost the measured face; another face is in view"
    s.on_frame(frame(STATE_NO_FACE, n_faces=0))  # the same state, no face at all now: the words follow
    assert s.state_text == "No face in view"
    s.on_frame(frame(STATE_NO_FACE, n_faces=1))  # the face is back; the measured frames lag behind it
    assert s.state_text == "No face"
    s.on_frame(frame(STATE_ACQUIRING))
    assert s.state_text == "Acquiring: hold still" and s.hr_text == NO_VALUE
    s.on_reading(reading(7.0, 71.6))
    assert s.state == STATE_READING and s.state_text == "Reading" and s.hr_text == "72"
    s.on_frame(frame(STATE_READING, n_faces=2))  # same state: the words stay until it changes
    s.on_reading(reading(8.0, 70.2))
    assert s.state_text == "Reading (2 faces: measuring the boxed one)" and s.hr_text == "70"
    s.on_reading(reading(9.0, None, quality=0.2, state=STATE_UNRELIABLE))
    assert s.state_text == "No reliable reading" and s.hr_text == NO_VALUE
    assert s.last_hr_bpm == 70.2


def test_lost_source_holds_no_signal_until_frames_return():
    s = SessionModel()
    s.on_source_changed(source(SourceSpec.parse("/v/clip.mp4", loop=False)))
    s.on_source_lost("end of file")
    assert s.state == STATE_NO_SIGNAL and s.state_text == "No signal: end of file"
    assert s.video_text == "No signal\nend of file"
    b = s.source_banner
    assert b.visible and b.kind == "lost" and b.level == "info" and b.text == "File clip.mp4: end of file"
    assert b.offer_retry and b.retry_text() == "Try the file again"
    assert not s.set_state(STATE_READING) and s.state == STATE_NO_SIGNAL
    s.on_reading(reading(5.0, 70.0))
    assert s.state == STATE_NO_SIGNAL and s.hr_text == NO_VALUE
    s.on_frame(frame(STATE_ACQUIRING, image=False))
    assert s.state == STATE_ACQUIRING and not s.source_banner.visible
    assert s.video_text == "Video hidden (privacy)\nmeasuring goes on"


def test_quality_levels_follow_the_gate():
    gate = QualityGate()
    for q in np.linspace(0.0, 1.0, 101):
        opens = QualityGate().update(float(q))  # a closed gate opens exactly where "good" starts
        assert opens == (quality_level(float(q)) == "good"), q
        gate_open = QualityGate()
        gate_open.update(1.0)
        stays = gate_open.update(float(q))  # an open gate closes exactly where "poor" starts
        assert stays == (quality_level(float(q)) != "poor"), q
    s = SessionModel()
    assert s.quality is None and s.quality_level is None
    s.on_reading(reading(6.0, None, quality=math.nan, state=STATE_ACQUIRING))
    assert s.quality == 0.0 and s.quality_level == "poor"
    s.on_reading(reading(7.0, 70.0, quality=1.7))
    assert s.quality == 1.0 and s.quality_level == "good"
    assert gate.open_at > gate.close_below
    # a strong signal whose reading is withheld for another reason is not shown green
    s.on_reading(reading(8.0, None, quality=0.95, state=STATE_UNRELIABLE))
    assert s.quality == 0.95 and s.quality_level == "fair"
    # no face, or no frames at all: nothing is measured now, the bar is empty
    s.on_frame(frame(STATE_NO_FACE, n_faces=0))
    assert s.quality is None and s.quality_level is None


def test_the_quality_bar_turns_green_at_one_mark_whatever_the_methods_gate():
    """The bar's length is the quality placed so that the running method's gate opens at
    BAR_OPEN_MARK; its colour changes there too. (A user test saw FCUS, whose gate then opened at
    quality 0.16, as a green bar 17 % full beside a reading, and CHROM as a red bar 36 % full.)"""
    from app.session_model import BAR_CLOSE_MARK, BAR_OPEN_MARK, quality_bar
    from model.pulse_methods import estimator_config

    for name in ("fcus", "pos", "chrom", "green"):
        cfg = estimator_config(name)
        gate = (cfg.gate_open, cfg.gate_close)
        qs = np.linspace(0.0, 1.0, 1001)
        bar = np.array([quality_bar(float(q), gate) for q in qs])
        assert np.all(np.diff(bar) >= 0) and bar[0] == 0.0 and bar[-1] == pytest.approx(1.0), name
        for q, b in zip(qs, bar):
            level = quality_level(float(q), gate)
            assert (level == "good") == (b >= BAR_OPEN_MARK - 1e-12), (name, q, b)
            assert (level == "poor") == (b < BAR_CLOSE_MARK), (name, q, b)
        assert quality_bar(cfg.gate_open, gate) == pytest.approx(BAR_OPEN_MARK)
    s = SessionModel()
    s.on_method_changed(SimpleNamespace(name="fcus", device="CPU", note="", calibrated=False, model_file="",
                                        gate=(estimator_config("fcus").gate_open, estimator_config("fcus").gate_close)))
    s.on_reading(reading(20.0, 70.0, quality=estimator_config("fcus").gate_open + 0.005))  # FCUS: shown
    assert s.quality_level == "good" and s.quality_bar >= BAR_OPEN_MARK
    s.on_method_changed(SimpleNamespace(name="chrom", device="CPU", note="", calibrated=False, model_file="",
                                        gate=(0.6, 0.4)))
    s.on_reading(reading(21.0, None, quality=0.36, state=STATE_UNRELIABLE))  # CHROM: withheld, weak
    assert s.quality_level == "poor" and s.quality_bar < BAR_CLOSE_MARK


def test_trend_series_with_gaps_and_breaks():
    s = SessionModel()
    assert s.trend.x_range() is None and s.trend.y_range() is None
    s.on_reading(reading(6.0, None, state=STATE_ACQUIRING))
    t, hr = s.trend.points()
    assert len(t) == 0 and s.trend.y_range() is None and s.trend.x_range() == (0.0, 60.0)
    s.on_reading(reading(7.0, 120.0))
    s.on_reading(reading(8.0, 121.0))
    t, hr = s.trend.points()
    assert list(t) == [6.0, 7.0, 8.0] and math.isnan(hr[0]) and list(hr[1:]) == [120.0, 121.0]
    assert s.trend.y_range() == (50.0, 126.0)
    s.on_method_changed(SimpleNamespace(name="pos", device="CPU", note="", calibrated=False, model_file=""))
    # the same method again: no break
    s.on_method_changed(SimpleNamespace(name="pos", device="CPU", note="", calibrated=False, model_file=""))
    assert len(s.trend.t_s) == 4 and math.isnan(s.trend.hr_bpm[-1])
    s.on_reading(reading(75.0, 64.0))
    assert s.trend.x_range() == (0.0, 90.0), "grows to the next 30 s step"
    s.on_reading(reading(89.5, 64.0))
    assert s.trend.x_range() == (0.0, 90.0), "the axis stays put within a step"
    s.on_reading(reading(90.5, 64.0))
    assert s.trend.x_range() == (0.0, 120.0)


def test_a_new_source_starts_the_trend_anew_on_its_own_time():
    """Sources opened one after another: each one's trend holds only its own readings, on the time
    within its session (the worker's source_t_s), not the app's clock."""
    s = SessionModel()
    s.on_source_changed(source(SourceSpec.parse("/v/a.mp4", loop=False)))
    for k in range(40):
        s.on_reading(reading(100.0 + k, 70.0, source_t_s=6.0 + k))
    assert s.trend.t_s[0] == 6.0 and s.trend.x_range() == (0.0, 60.0)
    s.on_source_changed(source(SourceSpec.parse("/v/session_dir", loop=False)))  # e.g. a session replay
    assert s.trend.t_s == [] and s.trend.x_range() is None and len(s.trend.points()[0]) == 0
    s.on_reading(reading(147.0, 90.0, source_t_s=6.5))
    s.on_reading(reading(148.0, 91.0, source_t_s=7.5))
    t, hr = s.trend.points()
    assert list(t) == [6.5, 7.5] and list(hr) == [90.0, 91.0], "only the new source's readings, on its time"
    assert s.trend.x_range() == (0.0, 60.0)


def test_a_method_switch_is_marked_on_the_trend_and_keeps_it():
    s = SessionModel()
    s.on_source_changed(source(SourceSpec("demo")))
    for k, m in enumerate(["pos", "pos", "chrom", "chrom", "green", "fcus", "fcus"]):
        if k and m != s.trend.method:
            s.on_method_changed(SimpleNamespace(name=m, device="CPU", note="", calibrated=False, model_file=""))
        s.on_reading(reading(10.0 + k, 70.0 + k, source_t_s=6.0 + k, method=m))
    assert [(m.t_s, m.label) for m in s.trend.marks] == [(6.0, "POS"), (8.0, "CHROM"), (10.0, "GREEN"),
                                                         (11.0, method_label("fcus"))]
    assert np.count_nonzero(np.isfinite(s.trend.hr_bpm)) == 7, "the trend keeps every method's readings"
    assert len(s.trend.break_at) == 3, "the line is not drawn across a switch"
    s.on_source_changed(source(SourceSpec("demo")))
    assert s.trend.marks == []


def test_bvp_keeps_the_last_span_and_its_scale():
    s = SessionModel()
    t = np.arange(0.0, 14.0, 1 / 30)
    s.on_reading(reading(14.0, 70.0, bvp_t_s=t, bvp=2.0 * np.sin(2 * np.pi * 1.2 * t)))
    b = s.bvp
    assert b.framed and b.t_rel_s[0] >= -10.0 - 1e-9 and b.t_rel_s[-1] == 0.0, "seconds before the newest sample"
    assert len(b.t_rel_s) == len(b.bvp) == np.count_nonzero(t >= t[-1] - 10.0)
    assert b.x_range == (-10.0, 0.0), "the time axis never moves"
    assert b.y_range[1] == pytest.approx(2.0 * 1.15, rel=0.01) and b.y_range[0] == -b.y_range[1]
    nan = np.full(5, np.nan)
    s.on_reading(reading(15.0, 70.0, bvp_t_s=np.arange(5) / 30, bvp=nan))
    assert len(s.bvp.t_rel_s) == 0 and s.bvp.x_range == (-10.0, 0.0)
    assert s.bvp.y_range[1] == pytest.approx(2.3, rel=0.01), "the scale stays until it can be measured"
    s.on_reading(reading(15.5, 70.0, bvp_t_s=np.arange(5) / 30, bvp=np.full(5, 100.0)))
    assert len(s.bvp.t_rel_s) == 5 and s.bvp.y_range[1] == pytest.approx(2.3, rel=0.01), "too few to scale by"
    s.on_reading(reading(16.0, 70.0, bvp_t_s=t, bvp=np.sin(t)))
    s.on_method_changed(SimpleNamespace(name="chrom", device="CPU", note="", calibrated=False, model_file=""))
    assert len(s.bvp.t_rel_s) == 0


def test_bvp_shows_no_wave_from_before_the_face_was_lost_or_another_person_measured():
    """The BVP card draws only the signal measured now: nothing while no face is in view, after
    the face's return none of the wave from before it, after a switch to another person none of
    the one measured before (the estimator's stream still holds both)."""
    s = SessionModel()
    t = np.arange(0.0, 14.0, 1 / 30)
    wave = np.sin(2 * np.pi * 1.2 * t)
    s.on_reading(reading(14.0, 70.0, bvp_t_s=t, bvp=wave))
    assert len(s.bvp.t_rel_s) == np.count_nonzero(t >= t[-1] - 10.0)
    lost = np.arange(0.0, 15.0, 1 / 30)  # the stream one second on: the face left at 14 s
    s.on_reading(reading(15.0, None, state=STATE_NO_FACE, bvp_t_s=lost,
                         bvp=np.where(lost < 14.0, np.sin(2 * np.pi * 1.2 * lost), np.nan)))
    assert len(s.bvp.t_rel_s) == 0, "no wave drawn while no face is in view"
    back = np.arange(0.0, 24.0, 1 / 30)  # back at 16 s, its first windows cover 16-24 s
    s.on_reading(reading(24.0, None, state=STATE_ACQUIRING, bvp_t_s=back,
                         bvp=np.where((back < 14.0) | (back >= 16.0), np.sin(2 * np.pi * 1.2 * back), np.nan)))
    drawn = s.bvp.t_rel_s[np.isfinite(s.bvp.bvp)]
    assert len(drawn) and drawn[0] >= 16.0 - 24.0 - 1e-9, "none of the wave from before the loss"
    switch = reading(30.0, None, state=STATE_ACQUIRING, bvp_t_s=np.arange(0.0, 30.0, 1 / 30),
                     bvp=np.where(np.arange(0.0, 30.0, 1 / 30) < 29.2, np.sin(np.arange(0.0, 30.0, 1 / 30)), np.nan))
    switch.new_person_t_s = 29.2  # the other person's first frame
    s.on_reading(switch)
    assert not np.isfinite(s.bvp.bvp).any() and not s.bvp.framed, "none of the one measured before; scale anew"
    later = np.arange(0.0, 37.0, 1 / 30)  # the new person's first window covers them from their first frame
    s.on_reading(reading(37.0, 66.0, bvp_t_s=later, bvp=np.sin(later)))
    assert abs(s.bvp.t_rel_s[0] - (29.2 - 37.0)) < 1 / 30 and s.bvp.framed
    s.on_source_changed(source(SourceSpec("demo")))  # a new source: its own clock, nothing held back
    s.on_reading(reading(14.0, 70.0, bvp_t_s=t, bvp=wave))
    assert len(s.bvp.t_rel_s) == np.count_nonzero(t >= t[-1] - 10.0)


def test_bvp_scale_holds_until_the_wave_outgrows_or_shrinks_away_from_it():
    s = SessionModel()
    t = np.arange(0.0, 12.0, 1 / 30)
    wave = np.sin(2 * np.pi * 1.2 * t)
    s.on_reading(reading(12.0, 70.0, bvp_t_s=t, bvp=2.0 * wave))
    held = s.bvp.y_range
    s.on_reading(reading(13.0, 70.0, bvp_t_s=t, bvp=1.5 * wave))
    assert s.bvp.y_range == held, "a wave 0.75 of the scale keeps it (no axis redraw)"
    s.on_reading(reading(14.0, 70.0, bvp_t_s=t, bvp=2.25 * wave))
    assert s.bvp.y_range == held, "a larger wave that still fits (the 15 % headroom) keeps it"
    s.on_reading(reading(15.0, 70.0, bvp_t_s=t, bvp=3.0 * wave))
    assert s.bvp.y_range[1] == pytest.approx(3.0 * 1.15, rel=0.01), "outgrown: rescaled"
    s.on_reading(reading(16.0, 70.0, bvp_t_s=t, bvp=1.0 * wave))
    assert s.bvp.y_range[1] == pytest.approx(1.15, rel=0.01), "below 0.6 of the scale: rescaled"


def test_hrv_and_respiration_texts():
    s = SessionModel()
    hrv = HrvMetrics(n_beats=30, mean_ibi_ms=850.0, sdnn_ms=41.6, rmssd_ms=33.2, pnn50=0.1)
    s.on_reading(reading(30.0, 70.0, hrv=hrv, resp_bpm=14.4))
    assert (s.sdnn_text, s.rmssd_text, s.resp_text) == ("42 ms", "33 ms", "14 breaths/min")
    assert s.hrv_note == "" and "Breathing rate" in s.resp_note
    few = HrvMetrics(n_beats=2, mean_ibi_ms=850.0, sdnn_ms=41.6, rmssd_ms=33.2, pnn50=0.1)
    s.on_reading(reading(31.0, 70.0, hrv=few, resp_bpm=None))
    assert (s.sdnn_text, s.rmssd_text, s.resp_text) == (NO_VALUE, NO_VALUE, NO_VALUE)
    assert "too few" in s.hrv_note
    s.on_reading(reading(33.0, 70.0, hrv=hrv))
    assert s.sdnn_text == "42 ms" and s.hrv_note == ""


def _why_from_estimator(hr_bpm: float | None, *, weak: bool = False, short: bool = False) -> HrvWithheld:
    """What the estimator itself gives (StreamingEstimator.hrv_why) in the cases a user test saw."""
    est = StreamingEstimator(make_pulse_method("pos"), EstimatorConfig())
    est._t0 = 0.0
    est._values_on = lambda ks: np.ones(int(30 * (10.0 if short else 33.0)))  # a gap-free stretch
    est._median_snr_db = lambda t_from: -0.6 if weak else 20.0
    est._vitals(40.0, hr_bpm, "" if hr_bpm is not None else WITHHELD_ACQUIRING)
    return est.hrv_why


ENGINEERS_WORDS = ("SNR", "median", "update", "signal is still too short", "beat-to-beat", "/min")


def test_the_hrv_and_respiration_tooltips_speak_to_a_patient():
    """Plain words for a patient; the figures a clinician could use short, in brackets at the end."""
    s = SessionModel()
    s.on_reading(reading(40.0, 70.0, hrv=None, hrv_why=_why_from_estimator(70.0, weak=True)))
    note = s.hrv_note
    assert not any(w in note for w in ENGINEERS_WORDS), note
    assert "clear" in note and note.endswith("(signal-to-noise -0.6 dB over the last 33 s; HRV needs 11 dB)"), note
    s.on_reading(reading(41.0, None, state=STATE_ACQUIRING, hrv=None, hrv_why=_why_from_estimator(None)))
    assert not any(w in s.hrv_note for w in ENGINEERS_WORDS) and "heart rate" in s.hrv_note, s.hrv_note
    assert "only together with a heart rate" in s.resp_note
    s.on_reading(reading(42.0, 70.0, hrv=None, hrv_why=_why_from_estimator(70.0, short=True)))
    assert "20 s without a break" in s.hrv_note and "20 s without a break" in s.resp_note
    assert "yet" in s.resp_note


def test_the_respiration_tooltip_does_not_promise_a_value_after_20_s():
    """Respiration is shown only when the breathing shows clearly in the pulse (model.signal.respiration:
    two of its three modulations agreeing, or one very concentrated), which may never happen in a steady
    reading: the tooltip says so, and says it after 150 s of readings without a value."""
    from app.session_model import RESP_TIP

    assert "often it does not" in RESP_TIP and "after about 20 s" not in RESP_TIP
    assert RESP_TIP.endswith(")") and "15 beats" in RESP_TIP and "breaths/min" in RESP_TIP
    s = SessionModel()
    for k in range(150):  # steady readings, a strong pulse, HRV shown, no respiration
        s.on_reading(reading(10.0 + k, 70.0, hrv=HrvMetrics(30, 850.0, 41.6, 33.2, 0.1), resp_bpm=None))
    assert s.resp_text == NO_VALUE
    assert "does not show clearly" in s.resp_note and "come and go" in s.resp_note
    assert not any(w in s.resp_note for w in ("SNR", "median", "/min ")), s.resp_note


def test_message_routes_and_banners():
    s = SessionModel()
    assert s.post_message("error", "") == "" and not s.messages
    assert s.post_message("warning", "FCUS unavailable") == "banner"
    assert s.banner.visible and s.banner.level == "warning"
    s.on_source_failed(SimpleNamespace(spec=SourceSpec("camera", camera_index=1), reason="busy",
                                       text="FCUS unavailable", level="error"))
    assert not s.banner.visible, "one banner for one problem"
    assert s.source_banner.retry_text() == "Try camera 1 again"
    assert s.post_message("error", "FCUS unavailable") == "status"
    assert s.post_message("info", "Loading the face tracker...") == "note"
    s.on_source_lost("camera unplugged")
    assert s.source_banner.kind == "lost" and s.source_banner.level == "error"
    s.post_message("error", "measurement error")
    assert s.post_message("ok", "Camera is back") == "note"
    assert not s.banner.visible and not s.source_banner.visible
    assert [lv for lv, _ in s.messages] == ["warning", "error", "error", "info", "error", "ok"]
    for i in range(300):
        s.add_message("info", str(i))
    assert len(s.messages) == 200 and s.messages[-1] == ("info", "299")


def test_stand_in_demo_and_status_line():
    s = SessionModel()
    st = s.status_line()
    assert (st.source, st.fps, st.dropped, st.latency, st.tracker, st.device, st.recording) == (
        "no source", "-- fps", "dropped 0", "-- ms/frame", "face: ...", None, "")
    asked = SourceSpec.parse("/v/missing.avi", loop=False)
    s.on_source_failed(SimpleNamespace(spec=asked, reason="no file", text="missing.avi: no such file",
                                       level="error"))
    assert s.source_banner.offer_demo
    assert not s.on_source_changed(source(SourceSpec("demo"), fallback=True)), "a stand-in is not remembered"
    assert s.source_banner.visible and not s.source_banner.offer_demo
    s.on_frame(frame(fps_hz=29.66))
    s.on_tracker_changed("mediapipe", "Face tracking: MediaPipe")
    s.on_method_changed(SimpleNamespace(name="fcus", device="CPU", note="", calibrated=False, model_file=""))
    s.on_recording_changed("/rec/session-1")
    st = s.status_line()
    assert st.source.endswith("standing in for File missing.avi")
    assert (st.fps, st.dropped, st.latency, st.tracker) == ("29.7 fps", "dropped 3", "12.3 ms/frame",
                                                            "face: mediapipe")
    assert st.device == "FCUS (model) on CPU" and st.recording == "\u25cf REC session-1"
    s.on_method_changed(SimpleNamespace(name="fcus", device="CPU", note="", calibrated=True, model_file=""))
    assert s.status_line().device == "FCUS (model) (calibrated) on CPU"
    s.on_method_changed(SimpleNamespace(name="fcus", device="CPU", note="", calibrated=False, model_file="ft.onnx"))
    assert s.status_line().device == "FCUS (model): ft.onnx on CPU"  # the user's own model file is named
    assert s.on_source_changed(source(asked)) and not s.source_banner.visible


def test_source_choices_and_method_labels():
    s = SessionModel()
    choices, current = s.source_choices()
    assert current == "" and choices == [("Demo (72 bpm synthetic)", "demo")]
    s.cameras = [2, 0]
    s.on_source_changed(source(SourceSpec("camera", camera_index=3)))
    choices, current = s.source_choices()
    assert current == "camera:3" and [c[1] for c in choices] == ["demo", "camera:0", "camera:2", "camera:3"]
    assert s.camera_in_use() == 3
    s.on_source_changed(source(SourceSpec.parse("/v/clip.mp4")))
    choices, current = s.source_choices()
    assert choices[-1] == ("clip.mp4", current) and s.camera_in_use() is None
    assert method_label("fcus") == "FCUS (model)" and method_label("pos") == "POS"
    assert method_label("new") == "NEW"


@pytest.mark.parametrize("why, words", [("motion", "too much motion"), ("too_dark", "too dark"),
                                        ("saturated", "too bright"), ("weak_signal", "weak signal"),
                                        ("incoherent", "no pulse across the face"),
                                        ("no_colour", "no colour")])
def test_a_withheld_reading_says_why(why, words):
    s = SessionModel()
    r = reading(9.0, None, quality=0.2, state=STATE_UNRELIABLE)
    r.reading = HrReading(t_s=9.0, hr_bpm=None, quality=0.2, withheld=why)
    s.on_reading(r)
    assert s.state_text.startswith("No reliable reading: ") and words in s.state_text
    s.on_reading(reading(10.0, 70.0))
    assert s.state_text == "Reading"


def test_long_trend_is_drawn_as_run_means_that_keep_the_gaps():
    from app.session_model import TrendSeries

    tr = TrendSeries()
    for k in range(10):
        tr.add(float(k), 60.0 + k)
    t, hr = tr.points(max_points=20)
    assert list(t) == list(range(10)) and list(hr) == [60.0 + k for k in range(10)], "short: every update"
    tr = TrendSeries()
    for k in range(1000):  # withheld (NaN) for updates 400..599
        tr.add(float(k), None if 400 <= k < 600 else 60.0 + (k % 4))
    t, hr = tr.points(max_points=100)
    assert len(t) == len(hr) == 100
    assert t[0] == pytest.approx(4.5) and hr[0] == pytest.approx(61.3), "runs of 10: their mean time and reading"
    assert np.all(np.isnan(hr[40:60])) and np.all(np.isfinite(hr[:40])) and np.all(np.isfinite(hr[60:])), "gaps kept"
    for k in range(1000, 1010):  # a run partly withheld reads the mean of what was shown in it
        tr.add(float(k), 90.0 if k < 1003 else None)
    t, hr = tr.points(max_points=101)  # runs of 10 again: the last one is 1000..1009
    assert len(t) == 101 and t[-1] == pytest.approx(1004.5) and hr[-1] == pytest.approx(90.0)


def test_long_trend_keeps_a_break_as_its_own_point():
    """Run means never mix the readings before and after a source or method change."""
    from app.session_model import TrendSeries

    tr = TrendSeries()
    for k in range(405):  # the break falls inside a run of 10
        tr.add(float(k), 70.0)
    tr.add_break()
    for k in range(406, 806):
        tr.add(float(k), 90.0)
    t, hr = tr.points(max_points=100)
    assert len(t) <= 100 + 2
    assert set(np.round(hr[np.isfinite(hr)], 6)) == {70.0, 90.0}, "no point averages the two sides"
    i = int(np.flatnonzero(np.isnan(hr))[0])
    assert np.all(hr[:i] == 70.0) and np.all(hr[i + 1:] == 90.0) and i == 45, "runs of 9 up to the break"
    assert t[i] == pytest.approx(404.001), "the break's own time"


def test_another_person_breaks_the_trend_and_marks_it():
    from app.session_model import ANOTHER_PERSON

    s = SessionModel()
    for k in range(5):
        s.on_reading(reading(10.0 + k, 70.0, source_t_s=float(k)))
    after = reading(15.0, None, state=STATE_ACQUIRING, source_t_s=5.0)
    after.new_person_t_s = 14.6  # the other person's first frame
    s.on_reading(after)
    s.on_reading(reading(16.0, 64.0, source_t_s=6.0))
    assert [m.label for m in s.trend.marks][-1] == ANOTHER_PERSON and s.trend.marks[-1].t_s == 5.0
    assert s.trend.break_at  # no line joins the two people


def test_the_several_faces_note_holds_through_a_missed_face_and_needs_the_box():
    """The detector drops one of two faces now and then: the note stays for a few seconds instead of
    flickering; while the measured face itself is missed (a bridged miss, no box) it is not said."""
    from app.session_model import SEVERAL_FACES_HOLD_S

    s = SessionModel()

    def at(t_s, n_faces, face_ok=True):
        f = frame(STATE_READING, n_faces=n_faces)
        f.t_s, f.face_ok = t_s, face_ok
        s.on_frame(f)
        s.on_reading(reading(t_s, 70.0))
        return s.state_text

    assert at(1.0, 2) == "Reading (2 faces: measuring the boxed one)"
    assert at(2.0, 1) == "Reading (2 faces: measuring the boxed one)"  # one face dropped for a moment
    assert at(2.5, 1, face_ok=False) == "Reading"  # the measured face missed: no box to point at
    assert at(1.0 + SEVERAL_FACES_HOLD_S + 0.5, 1) == "Reading"
    at(10.0, 2)
    s.on_source_changed(source(SourceSpec.parse("other.mp4")))  # another source: its own faces
    assert at(10.5, 1) == "Reading"
