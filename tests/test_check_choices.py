"""benchmarks/check_choices.py: the candidate spaces of the reading studies."""

from tests.benchmark_modules import load_benchmark


def test_the_windows_space_pairs_each_gate_setting_with_and_without_the_median_and_finds_the_shipped_one():
    from model.estimator import EstimatorConfig
    from model.pulse_methods import estimator_config

    mod = load_benchmark("check_choices")
    shipped = estimator_config("fcus", EstimatorConfig())
    cands, current = mod.with_shipped(mod.windows_candidates(shipped))
    assert len(cands) == 24 and current == "gate -0.5 dB, no check, 3 steady within 5 bpm"
    with_median = [c for c in cands.values() if c.reading_windows_s == mod.READING_WINDOWS_S]
    assert len(with_median) == 12 and all(c.context_s == shipped.context_s for c in cands.values())
