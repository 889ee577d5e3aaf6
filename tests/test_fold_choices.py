"""benchmarks/fold_choices.py: every stream candidate is the stream it names on FCUS's shipped
settings (which have the context narrowing on), so "window" and "tracked" really switch it off."""

from dataclasses import replace

from model.estimator import EstimatorConfig
from model.pulse_methods import estimator_config
from tests.benchmark_modules import load_benchmark


def test_stream_candidates_set_every_stream_switch():
    streams = load_benchmark("fold_choices").STREAMS
    from model.estimator import snr_gated

    base = snr_gated(estimator_config("fcus", EstimatorConfig()))  # the study's base, before the posterior
    assert base.context_s is not None and base.hr_posterior is None  # the stream narrowed around the context HR
    cfgs = {k: replace(base, **v) for k, v in streams.items()}
    assert cfgs["window"].context_s is None and not cfgs["window"].hr_tracking
    assert all(cfgs[k].context_s is None and cfgs[k].hr_tracking for k in streams if k.startswith("tracked"))
    assert cfgs["tracked,narrow0.6"].track_half_width_hz == 0.6 and cfgs["tracked"].track_half_width_hz is None
    assert {(c.context_s, c.context_half_width_hz) for k, c in cfgs.items() if k.startswith("context")} == {
        (20.0, 0.4), (20.0, 0.6), (30.0, 0.4), (30.0, 0.6)}
    assert len({repr(c) for c in cfgs.values()}) == len(cfgs)  # no two candidates alike
