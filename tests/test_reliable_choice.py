"""benchmarks/reliable_choice.py: the rule behind summary.json's hr_reliable, and how it is chosen."""

import itertools

import numpy as np

from tests.benchmark_modules import load_benchmark


def _unit(mod, shown, n_judged, clip_hr, truth, name="s", fold=0, kind="clip", gap=None):
    return mod.Unit(name, 0, fold, kind, tuple(shown), n_judged, clip_hr, truth, gap)


def test_the_units_decide_as_analyze_does_with_the_shipped_and_the_hand_set_rule():
    from model.analyze import clip_hr_reliability
    from model.reliable_rule import DEFAULT_RULE

    def clip_hr_reliable(*args):
        return clip_hr_reliability(*args)["hr_reliable"]

    mod = load_benchmark("reliable_choice")
    shipped = mod.shipped_rule()
    assert shipped in mod.RULES and DEFAULT_RULE in mod.RULES and shipped != DEFAULT_RULE
    for n_shown, n_judged, offset in itertools.product((0, 4, 5, 9, 20), (10, 15, 30, 60), (0.0, 4.9, 5.1, 7.9, 30.0)):
        shown = [80.0 + 0.1 * i for i in range(n_shown)]
        clip = 80.0 + offset
        gap = offset / 2  # the path at the readings: half the whole-clip HR's offset from their median
        u = _unit(mod, shown, n_judged, clip, 80.0, gap=gap)
        assert u.reliable(shipped) == clip_hr_reliable(shown, n_judged, clip, "fcus", gap)
        assert u.reliable(shipped) == (n_shown >= 3 and gap <= 8.0)  # the path's gap decides, not the offset
        assert u.reliable(DEFAULT_RULE) == clip_hr_reliable(shown, n_judged, clip, "chrom", gap)
        assert u.reliable(DEFAULT_RULE) == clip_hr_reliable(shown, n_judged, clip)
    assert not _unit(mod, [80.0] * 20, 30, None, 80.0, gap=0.0).reliable(shipped)
    assert not _unit(mod, [80.0] * 20, 30, 80.0, 80.0).reliable(shipped)  # no path at the readings: not reliable


def test_the_choice_calls_the_most_subjects_reliable_without_a_face_without_a_pulse_or_wrong_calls():
    mod = load_benchmark("reliable_choice")
    # five right subject clips with a fifth of their updates shown, one right clip with 4 shown of
    # 60, one wrong clip (clip HR 20 bpm off, its shown readings agreeing with it) with 6 of 60
    subjects = [_unit(mod, [70.0] * 12, 60, 70.5, 71.0, name=f"s{i}") for i in range(5)]
    few = _unit(mod, [90.0] * 4, 60, 90.0, 91.0, name="few")
    wrong = _unit(mod, [110.0] * 6, 60, 110.0, 90.0, name="wrong")
    # a face without a pulse: 5 shown of 30 that agree with its clip HR
    photo = _unit(mod, [66.0] * 5, 30, 67.0, None, name="photo")
    rule = mod.choose([*subjects, few, wrong, photo])
    called = [u.name for u in [*subjects, few, wrong] if u.reliable(rule)]
    # "few" would need 3 shown at share 0, "wrong" at most 5 shown at share 0.1: both call the photo reliable
    assert called == [f"s{i}" for i in range(5)] and not photo.reliable(rule)
    assert rule == mod.ReliableRule(0.2, 8, 3.0)  # the strictest of the rules with that result
    # with no face without a pulse, a rule calling "few" (4 shown) and "wrong" too keeps 6/7 = 0.86 right: not
    # admissible, so the choice still leaves "wrong" out
    rule2 = mod.choose([*subjects, few, wrong])
    assert not wrong.reliable(rule2) and all(u.reliable(rule2) for u in subjects)
    # nothing admissible calls anything: the strictest rule
    assert mod.choose([wrong, photo]) == max(mod.RULES, key=mod.strictness)


def test_units_are_the_clip_and_its_30_s_segments_with_their_own_updates_and_truth():
    mod = load_benchmark("reliable_choice")
    fs = 30.0
    t = np.arange(0, 70.0, 1.0 / fs)
    bvp = np.sin(2 * np.pi * 1.2 * t)  # 72 bpm
    readings = [(float(s), 72.0 if s % 2 else None, 72.0) for s in range(1, 70)]
    run = {"name": "subjectX", "seed": 1, "fold": 2, "readings": readings, "t_s": t, "bvp": bvp, "fs_hz": fs,
           "lo_bpm": 42.0, "hi_bpm": 200.0, "ref": (t, np.sin(2 * np.pi * 1.25 * t))}
    units = mod.units_of(run)
    assert [u.kind for u in units] == ["clip", "30 s", "30 s"]
    clip, seg1, seg2 = units
    assert abs(clip.clip_hr_bpm - 72.0) < 1.0 and abs(clip.truth_bpm - 75.0) < 1.0 and clip.right()
    assert clip.n_judged == 69 and len(clip.shown_bpm) == 35
    assert seg1.n_judged == 30 and seg2.n_judged == 30 and len(seg1.shown_bpm) == 15
    no_pulse = mod.units_of({**run, "name": "photo", "ref": None, "t_s": t[: int(25 * fs)], "bvp": bvp[: int(25 * fs)]})
    assert [u.kind for u in no_pulse] == ["clip"] and no_pulse[0].no_pulse


def test_agreement_where_the_readings_were_shown_follows_a_rate_that_moves():
    """A clip whose rate climbs from 90 to 115 bpm, its readings shown early (90-92): their median is
    far from the whole-clip HR (the path's median, about 110), but the path agrees with each reading
    where it was shown; a path elsewhere than the readings does not."""
    from model.clip_hr import ClipHr
    from model.reliable_rule import ReliableRule

    t = tuple(float(x) for x in range(10, 61))
    path = tuple(90.0 + 25.0 * (x - 10) / 50 for x in t)
    clip = ClipHr(float(np.median(path)), 4.3, 0.9, "tracked", len(t), rates_t_s=t, rates_bpm=path)
    shown_t, shown = [11.0, 12.0, 13.0, 14.0], [90.4, 91.0, 91.6, 92.1]
    gap = clip.gap_to(shown_t, shown)
    assert gap is not None and gap < 1.0
    by_median = ReliableRule(0.0, 3, 8.0)
    by_readings = ReliableRule(0.0, 3, 8.0, agree_at="readings")
    assert "median" in by_median.why_not(shown, 40, clip.hr_bpm)
    assert by_readings.why_not(shown, 40, clip.hr_bpm, gap) == ""
    wrong = [70.0, 70.5, 71.0, 71.2]  # readings of another rate than the path's
    why = by_readings.why_not(wrong, 40, clip.hr_bpm, clip.gap_to(shown_t, wrong))
    assert "tracked HR is" in why and "more than 8" in why
    assert ClipHr(None, None, 0.9, "tracked", 0).gap_to(shown_t, shown) is None
    assert "of the readings where they were shown" in by_readings.describe()
