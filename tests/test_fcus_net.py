"""FCUS network: shapes, the contract normalisation, shared encoder, determinism, size. Most tests
build the net with its Conv3d learned path (``LEARNED``), which is off by default, to test it too."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model.fcus_contract import DEFAULT_CONTRACT  # noqa: E402
from model.fcus_export import synthetic_clip  # noqa: E402
from model.fcus_net import FcusNet, FcusNetConfig, count_params, estimate_macs, normalise_frames  # noqa: E402

S = DEFAULT_CONTRACT.crop_size
LEARNED = FcusNetConfig(learned_path=True)


def _clip(batch=1, t=160, seed=0) -> torch.Tensor:
    return torch.from_numpy(synthetic_clip(batch, t, S, seed=seed))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.fixture(scope="module")
def net() -> FcusNet:
    """A net with the learned path whose BatchNorm statistics match the input scale (as after
    training), in eval mode."""
    m = FcusNet(LEARNED)
    m.train()
    with torch.no_grad():
        for i in range(3):
            m(_clip(4, 160, seed=100 + i))
    return m.eval()


@pytest.mark.parametrize("batch,t", [(1, DEFAULT_CONTRACT.min_frames), (2, 100), (1, 160), (3, 300)])
def test_output_shape_and_standardised(net, batch, t):
    with torch.no_grad():
        y, feats = net.forward_with_features(_clip(batch, t))
    assert y.shape == (batch, t)
    assert feats.shape == (batch, net.feature_channels, t)
    assert torch.all(torch.isfinite(y))
    assert torch.allclose(y.mean(dim=1), torch.zeros(batch), atol=1e-4)
    assert torch.allclose(y.std(dim=1, unbiased=False), torch.ones(batch), atol=1e-3)
    assert torch.equal(net.features(_clip(batch, t)), feats)


def test_normalisation_is_the_contracts():
    x = _clip(1, 64)
    m = x.mean(dim=2, keepdim=True)
    assert torch.allclose(normalise_frames(x), (x - m) / (m + 1))
    z = normalise_frames(torch.zeros(1, 3, 64, S, S))
    assert torch.count_nonzero(z) == 0  # masked pixels stay 0


def test_brightness_scaling_leaves_output_nearly_unchanged(net):
    x = _clip(2, 160, seed=3)
    with torch.no_grad():
        y1, y2 = net(x), net(1.3 * x)
    assert float((y1 - y2).abs().max()) < 0.01
    assert _corr(y1.numpy(), y2.numpy()) > 0.995


def test_all_zero_input_gives_finite_output(net):
    with torch.no_grad():
        y, feats = net.forward_with_features(torch.zeros(2, 3, 160, S, S))
    assert torch.all(torch.isfinite(y)) and torch.all(torch.isfinite(feats))


def test_more_masked_pixels_change_little(net):
    """Masking a band of skin (fewer skin pixels, same pulse) barely moves the BVP: the spatial
    mean is over skin pixels, not diluted by the masked area."""
    x = _clip(1, 160, seed=5)
    x2 = x.clone()
    x2[..., : S // 3, :] = 0  # top third masked
    with torch.no_grad():
        y1, y2 = net(x), net(x2)
    assert _corr(y1.numpy(), y2.numpy()) > 0.98


def test_shared_encoder_permutes_with_colour_channels(net):
    x = _clip(2, 96, seed=7)
    perm = [2, 0, 1]
    with torch.no_grad():
        f = net.channel_features(x)
        fp = net.channel_features(x[:, perm])
    assert f.shape == (2, 3, FcusNetConfig().enc_widths[-1], 96)
    assert torch.allclose(fp, f[:, perm], atol=1e-5)


def test_deterministic_init_and_rng_untouched():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a, b = FcusNet(FcusNetConfig(seed=1, learned_path=True)), FcusNet(FcusNetConfig(seed=1, learned_path=True))
    after = torch.rand(3)
    assert torch.equal(before, after)  # building nets does not consume the caller's RNG
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    c = FcusNet(FcusNetConfig(seed=2, learned_path=True))
    assert not torch.equal(a.fuse.weight, c.fuse.weight)


def test_flip_sign_negates_output(net):
    x = _clip(1, 128, seed=9)
    m = FcusNet(LEARNED)
    m.load_state_dict(net.state_dict())
    m.eval()
    with torch.no_grad():
        y = m(x)
        m.flip_sign()
        assert torch.allclose(m(x), -y, atol=1e-6)


def test_trains_backward_in_train_mode():
    m = FcusNet(LEARNED).train()
    x = _clip(2, 96, seed=11)
    y, feats = m.forward_with_features(x)
    (y[:, 1:] * y[:, :-1]).mean().backward()
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None and torch.all(torch.isfinite(g)) for g in grads)
    assert m.fuse.weight.grad.abs().sum() > 0 and m.enc1[0].weight.grad.abs().sum() > 0


def test_small_network():
    assert count_params(FcusNet()) < 2_000 and estimate_macs(FcusNet(), 160) < 5e6  # the default: no learned path
    m = FcusNet(LEARNED)
    n_params, macs = count_params(m), estimate_macs(m, 160)
    assert n_params < 50_000
    assert macs < 400e6  # one 160-frame window, all three colour channels
    assert m.fuse.weight.shape == (m.config.rank, 3 * m.config.enc_widths[-1], 1)  # low rank, no bias
    assert m.fuse.bias is None


def test_config_round_trip():
    cfg = FcusNetConfig(enc_widths=(4, 8, 8), rank=3, seed=5)
    assert FcusNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        FcusNet(FcusNetConfig(head_kernel=6))
    for bad in (60, 1):
        with pytest.raises(ValueError, match="envelope_frames"):
            FcusNet(FcusNetConfig(envelope_frames=bad))
    # a checkpoint written before the envelope step existed loads without it
    old = {k: v for k, v in cfg.to_dict().items() if k != "envelope_frames"}
    assert FcusNetConfig.from_dict(old).envelope_frames == 0
    assert FcusNetConfig().envelope_frames == 61


def test_envelope_normalisation_equalises_a_noise_burst():
    """A loud 2 s burst at 2.0 Hz over a quiet 1.2 Hz pulse: before the envelope step the burst
    holds the spectral peak, after it the pulse does; local RMS is about 1 everywhere and the length
    is kept."""
    t = np.arange(300) / 30.0
    y = np.sin(2 * np.pi * 1.2 * t)
    y[:60] += 6.0 * np.sin(2 * np.pi * 2.0 * t[:60])
    net = FcusNet(FcusNetConfig(envelope_frames=61))
    with torch.no_grad():
        out = net.envelope_normalise(torch.tensor(y[None], dtype=torch.float32))[0].double().numpy()
    assert out.shape == y.shape

    def peak_hz(x):
        f = np.fft.rfftfreq(4096, 1 / 30.0)
        return float(f[np.argmax(np.abs(np.fft.rfft(x - x.mean(), 4096)))])

    assert peak_hz(y) == pytest.approx(2.0, abs=0.05)
    assert peak_hz(out) == pytest.approx(1.2, abs=0.05)
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    assert rms(out[:60]) == pytest.approx(rms(out[120:]), rel=0.35)
    assert rms(y[:60]) > 4 * rms(y[120:])


def test_colour_prior_starts_as_pos_and_rises_with_blood_volume():
    """The colour-prior path at initialisation is POS (sliding 1.6 s windows, alpha tuning) on the
    skin mean: it matches model.methods.pos and rises with the blood volume; switched off, the
    untrained net is unrelated to the pulse."""
    import numpy as np

    from model.methods import pos
    from model.signal import bandpass

    rng = np.random.default_rng(0)
    t = np.arange(300) / 30.0
    bv = np.sin(2 * np.pi * 1.3 * t) + 0.3 * np.sin(4 * np.pi * 1.3 * t)
    skin, pbv = np.array([180.0, 130.0, 110.0]), np.array([0.33, 0.77, 0.53])
    light = 1 + 0.02 * np.sin(2 * np.pi * 0.9 * t)  # in-band common-mode flicker
    rgb = skin * light[:, None] * (1 - 0.006 * bv[:, None] * pbv) + rng.normal(0, 0.05, (300, 3))
    crops = np.tile(rgb[:, None, None, :], (1, 36, 36, 1)).astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(crops.transpose(3, 0, 1, 2)[None]))
    mid = slice(30, -30)
    with torch.no_grad():
        prior = FcusNet(FcusNetConfig()).eval()(x)[0].double().numpy()
        plain = FcusNet(FcusNetConfig(colour_prior=False, learned_path=True)).eval()(x)[0].double().numpy()
    prior = bandpass(prior, 30.0, 0.6, 3.6)
    assert np.corrcoef(prior[mid], pos(rgb, 30.0)[mid])[0, 1] > 0.95
    assert np.corrcoef(prior[mid], bv[mid])[0, 1] > 0.9
    assert abs(np.corrcoef(bandpass(plain, 30.0, 0.6, 3.6)[mid], bv[mid])[0, 1]) < 0.9


def test_spatial_weighting_starts_as_the_plain_skin_mean_and_can_favour_a_region():
    import torch

    clip = torch.from_numpy(synthetic_clip(2, 160, DEFAULT_CONTRACT.crop_size, seed=3))
    plain = FcusNet(FcusNetConfig(prior_spatial=False)).eval()
    spatial = FcusNet(FcusNetConfig(prior_spatial=True)).eval()
    state = {k: v for k, v in spatial.state_dict().items() if not k.startswith("prior_spatial_net")}
    plain.load_state_dict(state)
    with torch.no_grad():
        assert torch.equal(spatial(clip), plain(clip))  # its last layer starts at zero: the plain mean
        # a weight map that prefers the left half of the crop: the prior reads another mean
        for conv in spatial.prior_spatial_net[::2]:  # pass the x coordinate (-1..1) through: x + 1
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[0, 0, 1, 1] = 1.0
        spatial.prior_spatial_net[0].bias[0] = 1.0
        spatial.prior_spatial_net[-1].weight[0, 0, 1, 1] = -4.0  # log-weight -4 (x + 1): left 0, right -4
        w = spatial.spatial_weights(clip, FcusNet.skin_mask(clip), clip.mean(dim=2, keepdim=True),
                                    torch.full((2, 1, 1, 36, 36), 160.0), clip.mean(dim=(2, 3, 4)))
        assert w.shape == (2, 1, 1, 36, 36) and bool((w > 0).all())
        assert float(w[..., 0].mean()) > 10 * float(w[..., -1].mean())
        assert not torch.allclose(spatial(clip), plain(clip), atol=1e-3)


def test_without_the_learned_path_the_net_is_the_trained_prior_alone(net):
    """``learned_path=False``: no encoder is built, the output is the colour prior's (the same
    weights give the same BVP as the full net with its output layer zeroed), gradients reach the
    prior's parameters, there are no features, and the sign flips."""
    with pytest.raises(ValueError, match="needs learned_path=True"):
        FcusNet(FcusNetConfig(learned_path=False, colour_prior=False))
    assert FcusNetConfig().learned_path is False  # the default
    # a checkpoint written before the field existed had the learned path
    old = {k: v for k, v in LEARNED.to_dict().items() if k != "learned_path"}
    assert FcusNetConfig.from_dict(old).learned_path is True
    bare = FcusNet(FcusNetConfig(learned_path=False))
    assert not hasattr(bare, "enc1") and not hasattr(bare, "out") and bare.feature_channels is None
    assert count_params(bare) < count_params(net) / 5
    shared = {k: v for k, v in net.state_dict().items() if k in bare.state_dict()}
    bare.load_state_dict(shared)
    zeroed = FcusNet(LEARNED)
    zeroed.load_state_dict(net.state_dict())
    with torch.no_grad():
        zeroed.out.weight.zero_()
    x = _clip(1, 160, seed=21)
    bare.eval(), zeroed.eval()
    with torch.no_grad():
        y, feats = bare.forward_with_features(x)
        assert feats is None
        assert torch.allclose(y, zeroed(x), atol=1e-5)
        bare.flip_sign()
        assert torch.allclose(bare(x), -y, atol=1e-6)
    bare.train()
    (bare(x)[:, 1:] * bare(x)[:, :-1]).mean().backward()
    assert bare.prior_proj.grad.abs().sum() > 0 and bare.prior_spatial_net[0].weight.grad is not None


def test_parts_ablation_switches_off_one_part_per_copy(net):
    """benchmarks/parts_ablation.py: one copy per part, each with only that part off, the net untouched."""
    from tests.benchmark_modules import load_benchmark

    ablated = load_benchmark("parts_ablation").ablated
    copies = ablated(net)
    assert list(copies) == ["as trained", "spatial weighting off (plain skin mean)", "POS plane off",
                            "CHROM plane off", "Conv3d learned path off"]
    assert copies["as trained"] is net and float(net.out.weight.detach().abs().sum()) > 0
    assert float(copies["Conv3d learned path off"].out.weight.detach().abs().sum()) == 0.0
    assert copies["POS plane off"].prior_gain.tolist()[0] == 0.0 and net.prior_gain.tolist()[0] != 0.0
    assert "Conv3d learned path off" not in ablated(FcusNet())  # the default net has none
