"""benchmarks/speed_choices.py: the raw readings' share within 5 bpm per tracking variant."""

from tests.benchmark_modules import load_benchmark


def test_raw_share_table_orders_subjects_by_number_and_counts_a_missing_reading_as_a_miss():
    mod = load_benchmark("speed_choices")
    rows = {
        "every12-smooth": {"subject10": [0.5, -6.0], "subject3": [1.0, 2.0, None, 4.0]},
        "every16-smooth": {"subject3": [9.0, 0.0, 0.0, 0.0]},
    }
    lines = mod.raw_share_table(rows).splitlines()
    assert lines[0] == "| tracking | subject3 | subject10 | pooled |"
    assert lines[2] == "| every12-smooth | 0.75 | 0.50 | 0.667 |"  # None (no reading) is outside 5 bpm
    # a variant without a subject's readings leaves its cell empty, not a share of zero readings
    assert lines[3] == "| every16-smooth | 0.75 |  | 0.750 |"
