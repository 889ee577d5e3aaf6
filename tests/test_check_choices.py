"""benchmarks/check_choices.py: the candidate spaces of the reading studies."""

from tests.benchmark_modules import load_benchmark


def test_the_windows_space_pairs_each_gate_setting_with_and_without_the_median_and_finds_the_shipped_one():
    from model.estimator import EstimatorConfig, snr_gated
    from model.pulse_methods import estimator_config

    mod = load_benchmark("check_choices")
    shipped = estimator_config("fcus", EstimatorConfig())
    cands = mod.windows_candidates(shipped)  # a study of the SNR gate (before session 22's posterior)
    assert len(cands) == 24 and mod.current_label(cands, snr_gated(shipped)) == (
        "gate -0.5 dB, no check, 3 steady within 5 bpm")
    assert all(c.hr_posterior is None for c in cands.values())
    with_median = [c for c in cands.values() if c.reading_windows_s == mod.READING_WINDOWS_S]
    assert len(with_median) == 12 and all(c.context_s == shipped.context_s for c in cands.values())


def test_the_posterior_space_reads_by_the_belief_keeps_the_face_checks_and_adds_the_shipped_setting():
    from model.estimator import EstimatorConfig
    from model.pulse_methods import estimator_config

    mod = load_benchmark("check_choices")
    shipped = estimator_config("fcus", EstimatorConfig())
    posterior = list(mod.posterior_candidates(shipped).values())
    grid = len(mod.POSTERIOR_RATE_SD) * len(mod.POSTERIOR_MASS) * len(mod.POSTERIOR_MEDIAN_N)
    assert len(posterior) == grid and all(c.hr_posterior is not None for c in posterior)
    cands, current = mod.with_shipped(mod.posterior_candidates(shipped))
    assert cands[current] == shipped  # the shipped setting is scored beside the candidates
    assert all(c.gate_open == c.gate_close and c.steady_n == 0 for c in posterior)
    assert all(c.coherence_min == shipped.coherence_min and c.pulse_amplitude_min == shipped.pulse_amplitude_min
               and c.still_spread_max == shipped.still_spread_max for c in posterior)
    assert {c.hr_posterior.rate_sd_bpm_per_s for c in posterior} == set(mod.POSTERIOR_RATE_SD)


def test_the_posterior_gate_space_pairs_openings_with_hysteresis_and_an_snr_floor():
    from model.estimator import EstimatorConfig
    from model.pulse_methods import estimator_config

    mod = load_benchmark("check_choices")
    shipped = estimator_config("fcus", EstimatorConfig())
    cands = mod.posterior_gate_candidates(shipped)
    assert len(cands) == 24 and all(c.hr_posterior is not None and c.hr_median_n == 1 for c in cands.values())
    assert {round(c.gate_open - c.gate_close, 3) for c in cands.values()} == {0.0, 0.2}
    assert {c.gate_min_snr_db for c in cands.values()} == {None, -1.0}
    assert mod.current_label(cands, shipped) is None or shipped.hr_posterior is not None


def test_the_posterior_union_space_pairs_each_belief_gate_with_and_without_the_snr_gate():
    from model.estimator import EstimatorConfig
    from model.pulse_methods import estimator_config

    mod = load_benchmark("check_choices")
    shipped = estimator_config("fcus", EstimatorConfig())
    cands = mod.posterior_union_candidates(shipped)
    n = len(mod.UNION_POSTERIOR_GATES)
    _, current = mod.with_shipped(cands)
    assert current != "shipped default"  # the shipped gate is one of them
    assert len(cands) == n * (1 + len(mod.UNION_SNR_GATE_DB))
    union = [c for c in cands.values() if c.posterior_snr_gate is not None]
    assert len(union) == n * len(mod.UNION_SNR_GATE_DB) and all(c.steady_n == 3 for c in union)
    assert all(c.steady_n == 0 for c in cands.values() if c.posterior_snr_gate is None)
