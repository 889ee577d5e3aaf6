"""Unsupervised losses for FCUS-rPPG (docs/ARCHITECTURE.md, "FCUS-rPPG as we build it", "Unsupervised losses").

All losses act on the predicted BVP ``(B, T)`` sampled at ``fs_hz``; none needs a label. They are
built on the power spectrum from a zero-padded ``torch.fft.rfft`` (padding only refines the
frequency grid, so peaks 0.1 Hz apart are resolved for T = 160 at 30 Hz):

- ``bandwidth_loss``: share of the power outside the pulse band ``[lo_hz, hi_hz]`` (SiNC's
  bandwidth loss, Speth et al. 2023, "Non-contrastive unsupervised learning of physiological
  signals from video", CVPR).
- ``sparsity_loss``: share of the in-band power farther than ``width_hz`` from the in-band peak
  (SiNC's sparsity loss; the argmax only selects bins, the gradient flows through the powers).
- ``variance_loss``: SiNC's variance loss: the batch's mean normalised in-band spectrum should be
  spread over the band; measured as the squared distance between its cumulative distribution
  and a uniform one (a 1-D earth mover's distance). Stops the collapse onto one frequency.
- ``cross_view_loss``: agreement of two views of the same clips (``1 - Pearson r`` per sample, or
  the distance between their normalised spectra).
- ``cross_clip_loss``: disagreement across clips: the cosine similarity of normalised in-band
  spectra between clips of *different* recordings (pairs from the same recording are ignored).
  Small weight by default: two people may well share a heart rate.

Every loss is scale invariant and sign invariant (except ``cross_view`` in Pearson mode, which
compares two outputs of the same model). ``total_unsupervised_loss`` returns per-sample losses
so that the post-verification masking (``training.fcus_components``) can zero a sample's terms;
its batch-level terms (variance, cross-clip) take ``weights`` so that a masked sample does not
enter them either, and its gradient is exactly zero.

Speed augmentation (the sampler resamples clips in time) moves the HR across the band; the losses
need nothing but the band for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_EPS = 1e-8


@dataclass(frozen=True)
class SpectralPriors:
    """The pulse prior and the loss weights.

    ``lo_hz``/``hi_hz``: the HR band (0.66-3 Hz = 40-180 bpm, SiNC's; 0.6-3.6 Hz is the classic
    methods' pass band). ``sparsity_width_hz``: half width around the peak counted as "the peak"
    (SiNC: 6 bpm = 0.1 Hz). ``min_freq_resolution_hz``: the zero-padded FFT's bin spacing is at
    most this (and the FFT is at least ``pad_factor * T`` long).
    """

    lo_hz: float = 0.66
    hi_hz: float = 3.0
    sparsity_width_hz: float = 0.1
    pad_factor: int = 4
    min_freq_resolution_hz: float = 0.05
    w_bandwidth: float = 1.0
    w_sparsity: float = 1.0
    w_variance: float = 1.0
    w_cross_view: float = 1.0
    w_cross_clip: float = 0.05
    cross_view_mode: str = "pearson"  # "pearson" | "spectral"

    def __post_init__(self) -> None:
        if not 0 < self.lo_hz < self.hi_hz:
            raise ValueError(f"need 0 < lo_hz < hi_hz (got {self.lo_hz}, {self.hi_hz})")
        if self.cross_view_mode not in ("pearson", "spectral"):
            raise ValueError(f"cross_view_mode must be 'pearson' or 'spectral' (got {self.cross_view_mode!r})")
        if self.pad_factor < 1 or self.sparsity_width_hz <= 0 or self.min_freq_resolution_hz <= 0:
            raise ValueError("pad_factor must be >= 1, sparsity_width_hz and min_freq_resolution_hz > 0")


DEFAULT_PRIORS = SpectralPriors()


def n_fft_for(n_frames: int, fs_hz: float, priors: SpectralPriors = DEFAULT_PRIORS) -> int:
    """FFT length: at least ``pad_factor * T`` and fine enough for ``min_freq_resolution_hz``."""
    n = max(n_frames * priors.pad_factor, int(math.ceil(fs_hz / priors.min_freq_resolution_hz)))
    return int(2 ** math.ceil(math.log2(max(n, 2))))


def power_spectrum(
    bvp: torch.Tensor, fs_hz: float, priors: SpectralPriors = DEFAULT_PRIORS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Power spectrum ``(B, n_fft // 2 + 1)`` of the mean-removed ``bvp`` (B, T), and its
    frequencies in Hz. Differentiable."""
    if bvp.ndim != 2:
        raise ValueError(f"bvp must be (B, T), got shape {tuple(bvp.shape)}")
    x = bvp - bvp.mean(dim=1, keepdim=True)
    n_fft = n_fft_for(bvp.shape[1], fs_hz, priors)
    spec = torch.fft.rfft(x, n=n_fft, dim=1)
    power = spec.real.square() + spec.imag.square()
    freqs = torch.fft.rfftfreq(n_fft, d=1.0 / fs_hz).to(device=bvp.device, dtype=power.dtype)
    return power, freqs


def band_mask(freqs: torch.Tensor, priors: SpectralPriors = DEFAULT_PRIORS) -> torch.Tensor:
    return (freqs >= priors.lo_hz) & (freqs <= priors.hi_hz)


def _in_band(power: torch.Tensor, freqs: torch.Tensor, priors: SpectralPriors) -> torch.Tensor:
    return power[:, band_mask(freqs, priors)]


def _normalised_in_band(power: torch.Tensor, freqs: torch.Tensor, priors: SpectralPriors) -> torch.Tensor:
    p = _in_band(power, freqs, priors)
    return p / (p.sum(dim=1, keepdim=True) + _EPS)


def bandwidth_loss(bvp: torch.Tensor, fs_hz: float, priors: SpectralPriors = DEFAULT_PRIORS) -> torch.Tensor:
    """Per sample ``(B,)``: the share of power outside ``[lo_hz, hi_hz]`` (0 = all in band)."""
    power, freqs = power_spectrum(bvp, fs_hz, priors)
    out = power[:, ~band_mask(freqs, priors)].sum(dim=1)
    return out / (power.sum(dim=1) + _EPS)


def peak_window_mask(power_in_band: torch.Tensor, freqs_in_band: torch.Tensor, width_hz: float) -> torch.Tensor:
    """Bool ``(B, K)``: the in-band bins within ``width_hz`` of each sample's in-band peak."""
    peak = power_in_band.detach().argmax(dim=1)
    f_peak = freqs_in_band[peak]  # (B,)
    return (freqs_in_band[None, :] - f_peak[:, None]).abs() <= width_hz + 1e-9


def sparsity_loss(bvp: torch.Tensor, fs_hz: float, priors: SpectralPriors = DEFAULT_PRIORS) -> torch.Tensor:
    """Per sample ``(B,)``: SiNC's sparsity: in-band power farther than ``sparsity_width_hz`` from
    the in-band peak over the in-band power (0 = a single sharp in-band peak)."""
    power, freqs = power_spectrum(bvp, fs_hz, priors)
    band = band_mask(freqs, priors)
    p = power[:, band]
    near = peak_window_mask(p, freqs[band], priors.sparsity_width_hz)
    far = (p * (~near)).sum(dim=1)
    return far / (p.sum(dim=1) + _EPS)


def _weights_for(n: int, weights: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    if weights is None:
        return torch.ones(n, device=like.device, dtype=like.dtype)
    w = weights.to(device=like.device, dtype=like.dtype).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"weights must have {n} entries, got {w.shape[0]}")
    return w


def variance_from_spectra(p_norm: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """SiNC's variance loss from normalised in-band spectra ``(B, K)``: squared distance between
    the CDF of their (weighted) mean and the uniform CDF, averaged over the K bins. 0 when the
    batch's peaks cover the band evenly; about 1/3 when they all sit at one end."""
    w = _weights_for(p_norm.shape[0], weights, p_norm)
    if float(w.sum().detach()) <= 0:
        return p_norm.sum() * 0.0
    mean = (w[:, None] * p_norm).sum(dim=0) / w.sum()
    k = p_norm.shape[1]
    cdf = torch.cumsum(mean, dim=0)
    uniform = torch.arange(1, k + 1, device=p_norm.device, dtype=p_norm.dtype) / k
    return (cdf - uniform).square().mean()


def variance_loss(
    bvp: torch.Tensor, fs_hz: float, priors: SpectralPriors = DEFAULT_PRIORS, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Scalar: diversity of the peaks across the batch (see ``variance_from_spectra``); samples
    with weight 0 do not enter it."""
    power, freqs = power_spectrum(bvp, fs_hz, priors)
    return variance_from_spectra(_normalised_in_band(power, freqs, priors), weights)


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-row Pearson correlation of ``(B, T)`` tensors."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + _EPS)


def cross_view_loss(
    bvp_a: torch.Tensor, bvp_b: torch.Tensor, fs_hz: float | None = None,
    priors: SpectralPriors = DEFAULT_PRIORS, mode: str | None = None,
) -> torch.Tensor:
    """Per sample ``(B,)``: disagreement between two views of the same clips. ``"pearson"``:
    ``1 - r`` (0..2); ``"spectral"``: half the L1 distance between the normalised in-band
    spectra (0..1; tolerant of time shifts between the views, needs ``fs_hz``)."""
    if bvp_a.shape != bvp_b.shape:
        raise ValueError(f"views must have the same shape, got {tuple(bvp_a.shape)} and {tuple(bvp_b.shape)}")
    mode = mode or priors.cross_view_mode
    if mode == "pearson":
        return 1.0 - pearson(bvp_a, bvp_b)
    if fs_hz is None:
        raise ValueError("the spectral cross-view loss needs fs_hz")
    pa, freqs = power_spectrum(bvp_a, fs_hz, priors)
    pb, _ = power_spectrum(bvp_b, fs_hz, priors)
    na, nb = _normalised_in_band(pa, freqs, priors), _normalised_in_band(pb, freqs, priors)
    return 0.5 * (na - nb).abs().sum(dim=1)


def cross_clip_from_spectra(
    p_norm: torch.Tensor, rec_index: torch.Tensor | None, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Per sample ``(B,)``: mean cosine similarity of a sample's normalised spectrum with those of
    the (weighted) samples from other recordings; 0 for a sample with no such partner."""
    b = p_norm.shape[0]
    w = _weights_for(b, weights, p_norm)
    if rec_index is None:
        rec_index = torch.arange(b, device=p_norm.device)
    else:
        rec_index = torch.as_tensor(rec_index, device=p_norm.device).reshape(-1)
    u = F.normalize(p_norm, dim=1, eps=_EPS)
    sim = u @ u.T  # (B, B)
    pair = (rec_index[:, None] != rec_index[None, :]).to(p_norm.dtype) * w[None, :]
    n = pair.sum(dim=1)
    return (sim * pair).sum(dim=1) / n.clamp(min=1.0)


def cross_clip_loss(
    bvp: torch.Tensor, fs_hz: float, rec_index: torch.Tensor | None = None,
    priors: SpectralPriors = DEFAULT_PRIORS, weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per sample ``(B,)``: spectral similarity to clips of other recordings (lower is better)."""
    power, freqs = power_spectrum(bvp, fs_hz, priors)
    return cross_clip_from_spectra(_normalised_in_band(power, freqs, priors), rec_index, weights)


def total_unsupervised_loss(
    bvp: torch.Tensor,
    fs_hz: float,
    priors: SpectralPriors = DEFAULT_PRIORS,
    *,
    bvp_b: torch.Tensor | None = None,
    rec_index: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The weighted sum of the unsupervised losses, per sample.

    ``bvp`` (B, T) is view A; ``bvp_b`` (B, T), when given, is view B of the same clips: the
    spectral terms then average over both views and the cross-view term compares them.
    ``weights`` (B,) (e.g. the verification mask as float) decide which samples enter the
    batch-level terms (variance, cross-clip); a sample with weight 0 does not influence any other
    sample's loss. The batch-level variance value is added to every sample's loss, so the batch
    objective is ``(loss_per_sample * w).sum() / w.sum()`` (see ``masked_mean``).

    Returns ``(loss_per_sample (B,), parts)`` where ``parts`` maps each term's name to its
    per-sample values (``variance`` to the scalar batch value) before weighting.
    """
    b = bvp.shape[0]
    views = [bvp] if bvp_b is None else [bvp, bvp_b]
    w = _weights_for(b, weights, bvp)
    w_all = w.repeat(len(views))
    power, freqs = power_spectrum(torch.cat(views, dim=0), fs_hz, priors)
    band = band_mask(freqs, priors)
    p_in = power[:, band]
    total = power.sum(dim=1) + _EPS
    bw = power[:, ~band].sum(dim=1) / total
    near = peak_window_mask(p_in, freqs[band], priors.sparsity_width_hz)
    sp = (p_in * (~near)).sum(dim=1) / (p_in.sum(dim=1) + _EPS)
    p_norm = p_in / (p_in.sum(dim=1, keepdim=True) + _EPS)
    var = variance_from_spectra(p_norm, w_all)
    parts: dict[str, torch.Tensor] = {
        "bandwidth": bw.reshape(len(views), b).mean(dim=0),
        "sparsity": sp.reshape(len(views), b).mean(dim=0),
        "variance": var,
    }
    loss = priors.w_bandwidth * parts["bandwidth"] + priors.w_sparsity * parts["sparsity"] + priors.w_variance * var
    if bvp_b is not None and priors.w_cross_view > 0:
        parts["cross_view"] = cross_view_loss(bvp, bvp_b, fs_hz, priors)
        loss = loss + priors.w_cross_view * parts["cross_view"]
    if priors.w_cross_clip > 0 and b > 1:
        if rec_index is not None:
            rec_index = torch.as_tensor(rec_index, device=bvp.device).reshape(-1)
        cc = cross_clip_from_spectra(p_norm[:b], rec_index, w)
        if bvp_b is not None:
            cc = 0.5 * (cc + cross_clip_from_spectra(p_norm[b:], rec_index, w))
        parts["cross_clip"] = cc
        loss = loss + priors.w_cross_clip * cc
    return loss, parts


def masked_mean(loss_per_sample: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The batch objective: the mean of the per-sample losses over the samples that pass. The
    masked samples' terms are multiplied by exactly 0, so their gradient is exactly 0 (not
    merely small); with every sample masked the result is 0 with a zero gradient."""
    if mask is None:
        return loss_per_sample.mean()
    m = mask.to(device=loss_per_sample.device, dtype=loss_per_sample.dtype).reshape(-1)
    return (loss_per_sample * m).sum() / m.sum().clamp(min=1.0)
