"""Unsupervised losses (training.fcus_losses) on constructed signals."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from training.fcus_losses import (  # noqa: E402
    SpectralPriors,
    bandwidth_loss,
    cross_clip_loss,
    cross_view_loss,
    masked_mean,
    n_fft_for,
    power_spectrum,
    sparsity_loss,
    total_unsupervised_loss,
    variance_loss,
)

FS = 30.0
T = 160


def sines(freqs_hz, phase=0.3, n=T):
    t = torch.arange(n, dtype=torch.float64) / FS
    return torch.stack([torch.sin(2 * math.pi * f * t + phase * (i + 1)) for i, f in enumerate(freqs_hz)])


def noise(b, seed=0, n=T):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, generator=g, dtype=torch.float64)


def test_fft_is_zero_padded_fine_enough():
    n = n_fft_for(T, FS)
    assert n >= 4 * T and FS / n <= 0.05
    power, freqs = power_spectrum(sines([1.5]), FS)
    assert power.shape == (1, n // 2 + 1) and freqs.shape == (n // 2 + 1,)
    assert abs(float(freqs[power[0].argmax()]) - 1.5) < FS / n


def test_bandwidth_and_sparsity_low_for_clean_pulse_high_for_noise():
    clean = sines([1.0, 1.5, 2.0, 2.5])
    white = noise(4)
    assert float(bandwidth_loss(clean, FS).max()) < 0.06
    assert float(bandwidth_loss(white, FS).min()) > 0.6
    assert float(sparsity_loss(clean, FS).max()) < 0.25
    assert float(sparsity_loss(white, FS).min()) > 0.5
    # out-of-band sinusoid: all its power outside the band
    assert float(bandwidth_loss(sines([0.2, 5.0]), FS).min()) > 0.9


def test_losses_are_sign_and_scale_invariant():
    x = sines([1.2, 2.2]) + 0.3 * noise(2)
    for fn in (bandwidth_loss, sparsity_loss):
        a, b, c = fn(x, FS), fn(-x, FS), fn(7.0 * x, FS)
        assert torch.allclose(a, b) and torch.allclose(a, c)
    assert torch.allclose(variance_loss(x, FS), variance_loss(-3 * x, FS))


def test_variance_loss_higher_for_identical_hrs_than_spread():
    same = sines([1.2, 1.2, 1.2, 1.2])
    spread = sines([0.8, 1.4, 2.0, 2.7])
    v_same, v_spread = float(variance_loss(same, FS)), float(variance_loss(spread, FS))
    assert v_same > 5 * v_spread
    assert v_same > 0.05


def test_variance_loss_ignores_zero_weight_samples():
    x = sines([0.8, 1.4, 2.0, 2.7])
    w = torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert torch.allclose(variance_loss(x, FS, weights=w), variance_loss(x[:2], FS))


def test_cross_view_loss():
    a = sines([1.3, 2.1]) + 0.05 * noise(2, 1)
    assert float(cross_view_loss(a, a).max()) < 1e-6
    assert float(cross_view_loss(a, a + 0.05 * noise(2, 2)).max()) < 0.05
    assert float(cross_view_loss(a, -a).min()) > 1.99  # Pearson mode: opposite sign disagrees
    indep = cross_view_loss(noise(64, 3), noise(64, 4))
    assert abs(float(indep.mean()) - 1.0) < 0.1
    # spectral mode tolerates a time shift
    long = sines([1.5], n=T + 15)
    shifted = cross_view_loss(long[:, :T], long[:, 15:], FS, mode="spectral")
    assert float(shifted) < 0.1
    assert float(cross_view_loss(sines([1.0]), sines([2.0]), FS, mode="spectral")) > 0.9


def test_cross_clip_loss_only_between_recordings():
    same_hr = sines([1.5, 1.5, 1.5])
    rec = torch.tensor([0, 0, 1])
    cc = cross_clip_loss(same_hr, FS, rec)
    assert float(cc.min()) > 0.95  # every clip has a partner from another recording with its spectrum
    only_same = cross_clip_loss(same_hr, FS, torch.tensor([0, 0, 0]))
    assert float(only_same.abs().max()) == 0.0  # same recording: no pair counted
    diff = cross_clip_loss(sines([0.8, 1.6, 2.6]), FS, torch.tensor([0, 1, 2]))
    assert float(diff.max()) < 0.1


def test_total_loss_per_sample_and_parts():
    a = sines([1.0, 1.5, 2.0, 2.5]).float()
    b = a + 0.1 * noise(4, 5).float()
    loss, parts = total_unsupervised_loss(a, FS, bvp_b=b, rec_index=torch.tensor([0, 1, 2, 3]))
    assert loss.shape == (4,)
    assert set(parts) == {"bandwidth", "sparsity", "variance", "cross_view", "cross_clip"}
    assert parts["variance"].ndim == 0
    assert torch.all(torch.isfinite(loss))
    bad, _ = total_unsupervised_loss(noise(4, 6).float(), FS, bvp_b=noise(4, 7).float())
    assert float(bad.mean()) > float(loss.mean()) + 0.5
    # weights off: the batch objective is the masked mean
    p = SpectralPriors(w_cross_clip=0.0)
    l1, _ = total_unsupervised_loss(a, FS, p)
    assert torch.allclose(masked_mean(l1), l1.mean())


def test_masked_sample_gets_exactly_zero_gradient():
    x = torch.cat([sines([1.0, 1.7, 2.4]), noise(1, 8)]).float().requires_grad_(True)
    y = torch.cat([sines([1.0, 1.7, 2.4]), noise(1, 9)]).float() + 0.1 * noise(4, 10).float()
    y.requires_grad_(True)
    mask = torch.tensor([True, False, True, True])
    per, _ = total_unsupervised_loss(x, FS, bvp_b=y, rec_index=torch.tensor([0, 1, 2, 3]), weights=mask.float())
    masked_mean(per, mask).backward()
    assert torch.count_nonzero(x.grad[1]) == 0 and torch.count_nonzero(y.grad[1]) == 0
    assert torch.count_nonzero(x.grad[0]) > 0
    # and the objective equals the one without the masked sample
    keep = torch.tensor([0, 2, 3])
    per2, _ = total_unsupervised_loss(x.detach()[keep], FS, bvp_b=y.detach()[keep], rec_index=torch.tensor([0, 2, 3]))
    assert abs(float(masked_mean(per, mask).detach()) - float(per2.mean())) < 1e-6
    # all masked: zero loss, zero gradient
    x.grad = None
    masked_mean(total_unsupervised_loss(x, FS, weights=torch.zeros(4))[0], torch.zeros(4, dtype=torch.bool)).backward()
    assert torch.count_nonzero(x.grad) == 0


def test_degenerate_inputs_give_finite_gradients():
    x = torch.zeros(3, T, requires_grad=True)
    loss, _ = total_unsupervised_loss(x, FS, bvp_b=torch.zeros(3, T), rec_index=torch.tensor([0, 1, 2]))
    loss.sum().backward()
    assert torch.all(torch.isfinite(loss)) and torch.all(torch.isfinite(x.grad))


def test_priors_validation():
    with pytest.raises(ValueError):
        SpectralPriors(lo_hz=3.0, hi_hz=1.0)
    with pytest.raises(ValueError):
        SpectralPriors(cross_view_mode="nope")
