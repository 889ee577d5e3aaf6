"""Nested choice: each fold's candidate is chosen without its test subjects, and the reported
score is that candidate's on the held-out subjects only."""

from __future__ import annotations

import pytest

from training.metrics import WindowHr
from training.nested import choose, nested_choice
from training.replay import ClipScore, MethodScore


def _clip(name: str, err_bpm: float) -> ClipScore:
    pairs = tuple(WindowHr(float(i), 70.0 + err_bpm, 70.0) for i in range(3))
    return ClipScore(name=name, pairs={20.0: pairs, 10.0: pairs}, n_updates=10, n_shown=5, shown_err_bpm=(),
                     clip_hr_bpm=70.0 + err_bpm, ref_hr_bpm=70.0, media_s=60.0, compute_s=1.0)


def _score(name: str, errs: dict[str, float]) -> MethodScore:
    return MethodScore(name, clips=[_clip(s, e) for s, e in errs.items()])


SUBJECTS = ("s1", "s2", "s3", "s4")
# "a" is best on s1 and s2, "b" on s3 and s4: a choice made on the test subjects would always win.
SCORES = {
    "a": _score("a", {"s1": 1.0, "s2": 1.0, "s3": 9.0, "s4": 9.0}),
    "b": _score("b", {"s1": 6.0, "s2": 6.0, "s3": 2.0, "s4": 2.0}),
}


def test_choose_picks_the_lowest_objective_on_the_given_subjects():
    assert choose(SCORES, {"s1", "s2"})[0] == "a"
    assert choose(SCORES, {"s3", "s4"})[0] == "b"
    best, values = choose(SCORES, set(SUBJECTS))
    assert best == "b" and values == pytest.approx({"a": 5.0, "b": 4.0})


def test_the_choice_never_sees_the_held_out_subjects():
    result = nested_choice(SCORES, [["s1", "s2"], ["s3", "s4"]])
    # holding out s1,s2 leaves s3,s4, where b wins; b then scores 6 on s1,s2 (and a 9 on s3,s4)
    assert [f.chosen for f in result.folds] == ["b", "a"]
    assert result.held_out.metrics(20.0).mae_bpm == pytest.approx(7.5)
    # the in-sample best (b, 4.0) looks far better than the procedure does on unseen subjects
    assert result.frozen == "b"
    assert {c.name for c in result.held_out.clips} == set(SUBJECTS)


def test_no_finite_candidate_is_an_error():
    empty = {"a": MethodScore("a", clips=[])}
    with pytest.raises(ValueError):
        choose(empty, {"s1"})


def test_shown_within5_and_the_two_window_objective():
    from training.nested import mae_10_20

    clip = _clip("s1", 2.0)
    clip = ClipScore(**{**clip.__dict__, "shown_err_bpm": (1.0, -4.0, 6.0, 12.0)})
    sc = MethodScore("a", clips=[clip])
    assert sc.shown_within5 == pytest.approx(0.5)
    assert mae_10_20(sc) == pytest.approx(2.0)
