"""The result tables of ``fcus-rppg benchmark``, ``fcus-rppg evaluate`` and the benchmark scripts:
one pooled table (a row per method [/ROI], the window metrics at 10 s and 20 s, the HR stream's
coverage and shown error, the speed) and one per-subject table (a row per subject, a column per
method, one chosen value)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from training.replay import WINDOWS_S, MethodScore, subject_key


def fmt(x: float | None, nd: int = 2) -> str:
    """``x`` with ``nd`` decimals; "-" for None and non-finite values."""
    return "-" if x is None or not math.isfinite(x) else f"{x:.{nd}f}"


def text_table(head: Sequence[str], rows: Sequence[Sequence[str]], title: str = "", rule: bool = True) -> str:
    """Left-aligned columns, two spaces apart, under an optional title and header rule."""
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]

    def line(cells) -> str:
        return "  ".join(str(x).ljust(w) for x, w in zip(cells, widths)).rstrip()

    out = [title] if title else []
    out.append(line(head))
    if rule:
        out.append("  ".join("-" * w for w in widths))
    out += [line(r) for r in rows]
    return "\n".join(out)


def pooled_table(scores: Sequence[MethodScore], title: str = "") -> str:
    """One row per score: MAE, RMSE, MAPE, r and share within 5 bpm at each window, the windows
    scored at 20 s (n + missing), coverage, shown error, times real time. A dataset column when
    any score names one."""
    with_dataset = any(s.dataset for s in scores)
    head = (["dataset"] if with_dataset else []) + ["method"]
    for w in WINDOWS_S:
        head += [f"MAE@{w:.0f}s", f"RMSE@{w:.0f}s", f"MAPE@{w:.0f}s", f"r@{w:.0f}s", f"<5bpm@{w:.0f}s"]
    head += [f"n@{WINDOWS_S[-1]:.0f}s", "coverage", "shown_err", "x_realtime"]
    rows = []
    for s in scores:
        row = ([s.dataset] if with_dataset else []) + [s.label]
        for w in WINDOWS_S:
            m = s.metrics(w)
            row += [fmt(m.mae_bpm), fmt(m.rmse_bpm), fmt(m.mape_pct, 1), fmt(m.pearson_r), fmt(m.within5_share)]
        m = s.metrics(WINDOWS_S[-1])
        row += [f"{m.n}+{m.n_missing}miss" if m.n or m.n_missing else "-", fmt(s.coverage), fmt(s.shown_mae_bpm),
                fmt(s.x_real_time, 1)]
        rows.append(row)
    return text_table(head, rows, title)


def _mae(window_s: float) -> Callable[[MethodScore], str]:
    return lambda s: fmt(s.metrics(window_s).mae_bpm)


def _clip_hr(s: MethodScore) -> str:
    hrs = [c.clip_hr_bpm for c in s.clips if c.clip_hr_bpm is not None]
    return fmt(sum(hrs) / len(hrs), 1) if hrs else "-"


def _ref_hr(s: MethodScore) -> str:
    hrs = [c.ref_hr_bpm for c in s.clips if c.ref_hr_bpm is not None]
    return fmt(sum(hrs) / len(hrs), 1) if hrs else "-"


# what a per-subject table can show: column title (method appended) and the value of a subject's score
SUBJECT_VALUES: dict[str, tuple[str, Callable[[MethodScore], str]]] = {
    **{f"mae{w:.0f}": (f"MAE@{w:.0f}s", _mae(w)) for w in WINDOWS_S},
    "clip_hr": ("HR", _clip_hr),
    "coverage": ("coverage", lambda s: fmt(s.coverage)),
}


def per_subject_table(scores: Sequence[MethodScore], value: str = "mae20", title: str = "") -> str:
    """One row per subject (every subject any score has), one column per score, showing
    ``value`` (a key of ``SUBJECT_VALUES``). The whole-clip HR gets the reference's column."""
    if value not in SUBJECT_VALUES:
        raise ValueError(f"unknown per-subject value {value!r}; choose one of {list(SUBJECT_VALUES)}")
    name, get = SUBJECT_VALUES[value]
    subjects = sorted({n for s in scores for n in s.subjects()}, key=subject_key)
    with_ref = value == "clip_hr"
    head = ["subject"] + (["ref"] if with_ref else []) + [f"{s.label} {name}" for s in scores]
    rows = []
    for n in subjects:
        parts = [s.subject(n) for s in scores]
        ref = next((_ref_hr(p) for p in parts if p.clips), "-") if with_ref else None
        rows.append([n] + ([ref] if with_ref else []) + [get(p) if p.clips else "-" for p in parts])
    return text_table(head, rows, title, rule=False)
