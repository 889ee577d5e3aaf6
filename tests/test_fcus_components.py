"""The three FCUS components (training.fcus_components) on constructed cases."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from tests.stand_in_nets import SkinMeanNet  # noqa: E402
from training.fcus_components import (  # noqa: E402
    NullSpaceRegulariser,
    SamStep,
    StepVerifier,
    implied_colour_slope,
    keep_at_least,
    split_band,
    verify_details,
)
from training.fcus_losses import masked_mean, total_unsupervised_loss  # noqa: E402

FS = 30.0
T = 128


def sine(f_hz, n=T, phase=0.0):
    t = torch.arange(n, dtype=torch.float32) / FS
    return torch.sin(2 * math.pi * f_hz * t + phase)


def skin_crops(bvp: torch.Tensor, rel_amplitude: float, s: int = 6, seed: int = 0) -> torch.Tensor:
    """(B, 3, T, s, s) crops whose skin colour changes by ``rel_amplitude`` (relative) per unit of
    ``bvp`` (darker as it rises), corners masked to 0."""
    g = torch.Generator().manual_seed(seed)
    b, n = bvp.shape
    texture = 0.9 + 0.2 * torch.rand(b, 1, 1, s, s, generator=g)
    base = torch.tensor([180.0, 120.0, 100.0]).view(1, 3, 1, 1, 1) * texture
    z = (bvp - bvp.mean(1, keepdim=True)) / bvp.std(1, keepdim=True)
    x = base * (1 - rel_amplitude * z.view(b, 1, n, 1, 1))
    mask = torch.ones(s, s)
    mask[0, 0] = mask[0, -1] = mask[-1, 0] = mask[-1, -1] = 0
    return x * mask


# ---- 1. masking -------------------------------------------------------------------------------
def test_verify_passes_clean_pulse_and_rejects_noise_and_out_of_band():
    g = torch.Generator().manual_seed(1)
    bvp = torch.stack([sine(1.2), sine(2.3), torch.randn(T, generator=g), sine(0.3), sine(4.5)])
    bvp = bvp + 0.05 * torch.randn(bvp.shape, generator=g)
    res = verify_details(bvp, FS)
    assert res.mask.tolist() == [True, True, False, False, False]
    assert float(res.prominence[0]) > 0.6 and float(res.prominence[2]) < 0.2
    assert abs(float(res.peak_hz[0]) - 1.2) < 0.05
    assert not bool(res.peak_in_band[3]) and not bool(res.peak_in_band[4])


def test_verify_rejects_strong_implied_colour_change():
    bvp = torch.stack([sine(1.2), sine(1.5), sine(1.8)])
    crops = torch.cat([skin_crops(bvp[:1], 0.005), skin_crops(bvp[1:2], 0.10), skin_crops(bvp[2:], 0.02)])
    slope = implied_colour_slope(bvp, crops)
    assert abs(float(slope[0]) - 0.005) < 1e-3 and abs(float(slope[1]) - 0.10) < 1e-2
    assert verify_details(bvp, FS, crops).mask.tolist() == [True, False, True]
    assert verify_details(bvp, FS, crops, max_colour_slope=0.01).mask.tolist() == [True, False, False]
    assert verify_details(bvp, FS).mask.tolist() == [True, True, True]  # no crops: no amplitude check


def test_keep_at_least_tops_up_with_best_samples():
    g = torch.Generator().manual_seed(2)
    bvp = torch.stack([torch.randn(T, generator=g), sine(1.4) + 0.9 * torch.randn(T, generator=g),
                       torch.randn(T, generator=g)])
    res = verify_details(bvp, FS, min_prominence=0.9)
    assert int(res.mask.sum()) == 0
    kept = keep_at_least(res, 1)
    assert int(kept.sum()) == 1 and bool(kept[1])
    assert keep_at_least(res, 0).tolist() == res.mask.tolist()


def _masked_objective(model, x, mask):
    bvp = model(x)
    per, _ = total_unsupervised_loss(bvp, FS, weights=mask.float(), rec_index=torch.arange(x.shape[0]))
    return masked_mean(per, mask)


def test_masked_sample_has_zero_gradient_wrt_params_and_input():
    model = SkinMeanNet(skin_weighted=False)  # the plain crop mean: no cross-sample coupling
    g = torch.Generator().manual_seed(3)
    pulses = torch.stack([sine(1.1), sine(1.6), sine(2.2), sine(1.9)])
    x = skin_crops(pulses, 0.01, seed=4) + torch.randn(4, 3, T, 6, 6, generator=g)
    x = x.clamp(min=0).requires_grad_(True)
    mask = torch.tensor([True, False, True, True])
    _masked_objective(model, x, mask).backward()
    assert torch.count_nonzero(x.grad[1]) == 0  # the masked sample's input gets exactly nothing
    assert torch.count_nonzero(x.grad[0]) > 0
    grads_masked = [p.grad.clone() for p in model.parameters()]
    # the parameter gradient is the one of the batch without the masked sample
    model.zero_grad()
    keep = torch.tensor([0, 2, 3])
    _masked_objective(model, x.detach()[keep], torch.ones(3, dtype=torch.bool)).backward()
    for a, p in zip(grads_masked, model.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6, rtol=1e-5)
    # a batch of masked samples only: every parameter gradient is exactly zero
    model.zero_grad()
    _masked_objective(model, x.detach()[1:2], torch.zeros(1, dtype=torch.bool)).backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in model.parameters())


def test_masked_sample_zero_input_gradient_with_fcus_net():
    fcus_net = pytest.importorskip("model.fcus_net")
    model = fcus_net.FcusNet(fcus_net.FcusNetConfig(enc_widths=(2, 4, 4), rank=2, head_width=4, pool1=1, pool2=1))
    model.eval()  # BatchNorm with running statistics: samples independent (in train mode they share batch statistics)
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(2, 3, T, 8, 8, generator=g)
    x = (skin_crops(torch.stack([sine(1.2), sine(1.7)]), 0.01, s=8) + noise).clamp(min=0)
    x.requires_grad_(True)
    mask = torch.tensor([False, True])
    _masked_objective(model, x, mask).backward()
    assert torch.count_nonzero(x.grad[0]) == 0 and torch.count_nonzero(x.grad[1]) > 0
    model.zero_grad()
    _masked_objective(model, x.detach()[:1], torch.zeros(1, dtype=torch.bool)).backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in model.parameters())


def test_step_verifier_undoes_a_step_that_makes_it_worse():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    x, y = torch.randn(32, 4), torch.randn(32, 1)

    def loss_fn():
        return (model(x) - y).square().mean()

    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    ver = StepVerifier(model, opt)
    for _ in range(3):  # a few good steps: Adam has state to restore
        opt.zero_grad()
        before = loss_fn()
        before.backward()
        ver.snapshot()
        opt.step()
        assert not ver.verify(float(before.detach()), loss_fn)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    adam = {k: v.clone() for k, v in opt.state[next(model.parameters())].items()}
    for grp in opt.param_groups:
        grp["lr"] = 1e3  # a huge step
    opt.zero_grad()
    before = loss_fn()
    before.backward()
    ver.snapshot()
    opt.step()
    assert float(loss_fn().detach()) > float(before.detach())  # the step did make it worse
    assert ver.verify(float(before.detach()), loss_fn)
    assert ver.undone == 1 and ver.checked == 4
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k])
    for k, v in opt.state[next(model.parameters())].items():
        assert torch.equal(v, adam[k])
    assert float(loss_fn().detach()) == pytest.approx(float(before.detach()), abs=0)


# ---- 2. smoothing ------------------------------------------------------------------------------
def _sam_setup():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    return model, (lambda m: (m(x) - y).square().mean())


def test_sam_perturb_and_restore_are_exact():
    model, loss = _sam_setup()
    w0 = [p.detach().clone() for p in model.parameters()]
    sam = SamStep(model, rho=0.05)
    loss(model).backward()
    sam.perturb()
    assert any(not torch.equal(p, w) for p, w in zip(model.parameters(), w0))
    assert sam.last_e_norm == pytest.approx(0.05, rel=1e-5)
    sam.restore()
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), w0))
    with pytest.raises(RuntimeError):
        sam.restore()


def test_sam_gradient_is_the_gradient_at_the_perturbed_point():
    model, loss = _sam_setup()
    w0 = [p.detach().clone() for p in model.parameters()]
    sam = SamStep(model, rho=0.05)

    def closure():
        v = loss(model)
        v.backward()
        return v

    l0 = sam.gradient(closure)
    got = [p.grad.clone() for p in model.parameters()]
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), w0))  # weights back at w
    # manual: g at w, e = rho g / ||g||, gradient at w + e
    ref = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))
    ref.load_state_dict(model.state_dict())
    g = torch.autograd.grad(loss(ref), list(ref.parameters()))
    norm = torch.sqrt(sum((gi.double() ** 2).sum() for gi in g))
    with torch.no_grad():
        for p, gi in zip(ref.parameters(), g):
            p.add_(gi * (0.05 / norm).float())
    g_pert = torch.autograd.grad(loss(ref), list(ref.parameters()))
    for a, b in zip(got, g_pert):
        assert torch.allclose(a, b, atol=1e-7, rtol=1e-5)
    assert any(not torch.allclose(a, b) for a, b in zip(got, g))  # and not the plain gradient
    assert float(l0) == pytest.approx(float(loss(model).detach()))


def test_random_perturbation_has_norm_rho():
    model, loss = _sam_setup()
    w0 = [p.detach().clone() for p in model.parameters()]
    sam = SamStep(model, rho=0.1, mode="random")
    sam.perturb()
    d = torch.sqrt(sum(((p.detach() - w).double() ** 2).sum() for p, w in zip(model.parameters(), w0)))
    assert float(d) == pytest.approx(0.1, rel=1e-4)
    sam.restore()
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), w0))


# ---- 3. null space -----------------------------------------------------------------------------
def _directions(f=8, seed=0):
    q, _ = torch.linalg.qr(torch.randn(f, f, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q[:, 0].float(), q[:, 1].float()  # pulse, noise: orthonormal


def test_null_space_projection_removes_the_noise_direction():
    f = 8
    pulse, noise_dir = _directions(f)
    g = torch.Generator().manual_seed(1)
    n_t = torch.randn(6, 1, T, generator=g)  # noise signal
    refs = noise_dir.view(1, f, 1) * n_t + 0.01 * torch.randn(6, f, T, generator=g)
    reg = NullSpaceRegulariser(f, k=4, momentum=0.9, fs_hz=FS)
    assert not reg.ready and float(reg.penalty(refs).abs().max()) == 0.0
    reg.update(refs)
    assert reg.ready and reg.basis.shape[1] == 1  # weak isotropic directions are not noise
    v = 2.0 * pulse + 3.0 * noise_dir
    pv = reg.project(v[None])[0]
    assert abs(float(pv @ noise_dir)) < 1e-3
    assert float(pv @ pulse) == pytest.approx(2.0, abs=1e-3)
    # (B, F, T) features: the feature axis is dim 1
    feats = (2.0 * pulse.view(1, f, 1) + 3.0 * noise_dir.view(1, f, 1)) * sine(1.5).view(1, 1, T)
    pf = reg.project(feats)
    assert float(torch.einsum("f,bft->", noise_dir, pf).abs()) < 1e-2
    # penalty: high along the noise direction, ~0 orthogonal to it (in-band features)
    along = noise_dir.view(1, f, 1) * sine(1.5).view(1, 1, T)
    ortho = pulse.view(1, f, 1) * sine(1.5).view(1, 1, T)
    assert float(reg.penalty(along)) > 0.99
    assert float(reg.penalty(ortho)) < 1e-3


def test_null_space_gradient_projection_hook():
    f = 8
    pulse, noise_dir = _directions(f, seed=2)
    reg = NullSpaceRegulariser(f, k=2, fs_hz=FS)
    reg.update(noise_dir.view(1, f, 1) * torch.randn(4, 1, T, generator=torch.Generator().manual_seed(3)))
    leaf = torch.randn(2, f, T, requires_grad=True)
    feats = leaf * 1.0
    reg.attach_gradient_projection(feats)
    c = (pulse + noise_dir).view(1, f, 1)
    (feats * c).sum().backward()
    assert float(torch.einsum("f,bft->", noise_dir, leaf.grad).abs()) < 1e-3
    assert float(torch.einsum("f,bft->", pulse, leaf.grad)) == pytest.approx(2 * T, rel=1e-4)


def test_null_space_running_covariance_and_state_dict():
    f = 6
    pulse, noise_dir = _directions(f, seed=4)
    reg = NullSpaceRegulariser(f, k=1, momentum=0.5, fs_hz=FS)
    g = torch.Generator().manual_seed(5)
    reg.update(noise_dir.view(1, f, 1) * torch.randn(4, 1, T, generator=g))
    for _ in range(6):  # the noise moves to the pulse direction: the running estimate follows
        reg.update(pulse.view(1, f, 1) * torch.randn(4, 1, T, generator=g))
    assert abs(float(reg.basis[:, 0].float() @ pulse)) > 0.99
    other = NullSpaceRegulariser(f, k=1, momentum=0.5, fs_hz=FS)
    other.load_state_dict(reg.state_dict())
    assert torch.allclose(other.basis.abs(), reg.basis.abs()) and other.n_updates == reg.n_updates


def test_split_band_separates_in_and_out_of_band():
    x = (sine(1.5) + sine(0.2) + sine(6.0)).view(1, 1, T).repeat(1, 2, 1)
    n = 8 * T  # zero-padded FFT for a fine frequency grid
    inb = split_band(x, FS, 0.66, 3.0, keep="in")
    out = split_band(x, FS, 0.66, 3.0, keep="out")
    assert torch.allclose(inb + out, x - x.mean(-1, keepdim=True), atol=1e-5)
    f = torch.fft.rfftfreq(n, 1 / FS)
    p_in = torch.fft.rfft(inb[0, 0], n).abs() ** 2
    assert abs(float(f[p_in.argmax()]) - 1.5) < 0.1
    p_out = torch.fft.rfft(out[0, 0], n).abs() ** 2
    band = (f >= 0.66) & (f <= 3.0)
    assert float(p_out[band].sum() / p_out.sum()) < 0.1
