"""The three FCUS optimisation components (docs/ARCHITECTURE.md, "FCUS-rPPG as we build it"), each
usable on its own and switched on or off by the trainer (``training.train_config.TrainConfig``):

1. **Post-verification masking** (gradient level): ``verify_details`` checks each sample's
   predicted BVP against the pulse prior (dominant spectral peak inside the HR band, a prominent
   peak, and, given the input crops, a weak implied colour change: the pulse is well under a few
   percent of skin brightness); the trainer multiplies the failing samples' loss terms by 0, so
   their gradient is exactly zero (``training.fcus_losses.masked_mean``). ``StepVerifier`` then
   re-evaluates the batch after the optimiser step and undoes steps that made it worse
   (weights and optimiser state restored from copies).
2. **Perturbation-based smoothing** (loss-landscape level): ``SamStep`` takes the gradient at
   perturbed weights ``w + e``: SAM (Foret et al. 2021, "Sharpness-aware minimization"),
   ``e = rho g / ||g||``, or a random direction of norm ``rho`` (random weight perturbation);
   the weights are restored bit-exactly before the base optimiser steps with that gradient.
3. **Noise-aware null-space regularisation** (feature level): ``NullSpaceRegulariser`` keeps a
   running covariance of the features of non-pulse references (the model's features on
   background crops, and the out-of-band part of the face features), takes its leading
   eigenvectors as the noise subspace ``U``, and either penalises the share of the in-band face
   features that lies in it (``||U^T f||^2 / ||f||^2``) or removes the noise-subspace component
   from the gradient that reaches the features (a backward hook), so feature updates stay in the
   orthogonal complement.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from training.fcus_losses import DEFAULT_PRIORS, SpectralPriors, power_spectrum

_EPS = 1e-12


# --------------------------------------------------------------------------------------------
# 1. Post-verification masking (gradient level)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """Per-sample verification: ``mask`` (B,) bool (True = passes) and the evidence."""

    mask: torch.Tensor
    peak_hz: torch.Tensor  # (B,) the dominant spectral peak (DC excluded)
    prominence: torch.Tensor  # (B,) power within +-width of the in-band peak / in-band power
    colour_slope: torch.Tensor | None  # (B,) max over RGB of |relative colour change per BVP std|
    peak_in_band: torch.Tensor
    prominent: torch.Tensor
    weak_amplitude: torch.Tensor | None


def skin_mean_rgb(crops: torch.Tensor) -> torch.Tensor:
    """Mean RGB ``(B, 3, T)`` of the skin pixels (nonzero in any channel) of crops (B, 3, T, S, S)."""
    if crops.ndim != 5 or crops.shape[1] != 3:
        raise ValueError(f"crops must be (B, 3, T, S, S), got shape {tuple(crops.shape)}")
    skin = (crops.abs().sum(dim=1, keepdim=True) > 0).to(crops.dtype)  # (B, 1, T, S, S)
    total = (crops * skin).sum(dim=(3, 4))
    count = skin.sum(dim=(3, 4)).clamp(min=1.0)
    return total / count


def implied_colour_slope(bvp: torch.Tensor, crops: torch.Tensor | None = None, *,
                         skin_rgb: torch.Tensor | None = None) -> torch.Tensor:
    """``(B,)``: the largest (over R, G, B) |slope| of the regression of the skin's relative colour
    change ``mean_rgb / mean_t(mean_rgb) - 1`` on the standardised BVP: the colour change the
    prediction implies, as a fraction of skin brightness per BVP standard deviation. A real
    pulse gives well under 0.01; motion or light changes mistaken for a pulse give more.
    ``skin_rgb`` (B, 3, T): the crops' ``skin_mean_rgb``, when already computed (a distributed
    run gathers it instead of the crops)."""
    rgb = skin_mean_rgb(crops.to(torch.float64)) if skin_rgb is None else skin_rgb.to(torch.float64)
    if rgb.shape[2] != bvp.shape[1]:
        raise ValueError(f"crops have {rgb.shape[2]} frames but the BVP has {bvp.shape[1]}")
    dc = rgb.mean(dim=2, keepdim=True)
    rel = torch.where(dc > 1e-6, rgb / dc.clamp(min=1e-6) - 1.0, torch.zeros_like(rgb))
    z = bvp.detach().to(torch.float64)
    z = z - z.mean(dim=1, keepdim=True)
    z = z / (z.std(dim=1, keepdim=True, unbiased=False) + _EPS)
    rel = rel - rel.mean(dim=2, keepdim=True)
    slope = (rel * z[:, None, :]).mean(dim=2)  # cov / var with var(z) = 1
    return slope.abs().amax(dim=1).to(bvp.dtype)


@torch.no_grad()
def verify_details(
    bvp: torch.Tensor,
    fs_hz: float,
    crops: torch.Tensor | None = None,
    *,
    priors: SpectralPriors = DEFAULT_PRIORS,
    min_prominence: float = 0.2,
    peak_width_hz: float | None = None,
    max_colour_slope: float = 0.03,
    skin_rgb: torch.Tensor | None = None,
) -> VerifyResult:
    """Verify each sample's prediction against the pulse prior: ``.mask`` (B,) bool is True where
    the predicted BVP ``(B, T)`` looks like a pulse; the other fields say why not.

    A sample passes when (1) its dominant spectral peak (DC excluded) lies in the HR band
    ``[priors.lo_hz, priors.hi_hz]``; (2) the in-band power within ``peak_width_hz`` (default
    ``priors.sparsity_width_hz`` = 0.1 Hz) of the in-band peak is at least ``min_prominence`` of
    the in-band power (white noise gives about 0.1-0.15 for T = 160 at 30 Hz, a clean pulse
    0.7-0.85); and (3), when the input ``crops`` (B, 3, T, S, S; 0..255, non-skin 0) are given,
    the implied colour change is weak: ``implied_colour_slope < max_colour_slope`` (3 % of skin
    brightness per BVP standard deviation); ``skin_rgb`` may stand for the crops (their
    ``skin_mean_rgb``). No gradient flows through the verification."""
    power, freqs = power_spectrum(bvp.detach().float(), fs_hz, priors)
    power = power.clone()
    power[:, 0] = 0.0  # DC (the BVP is mean-removed anyway)
    peak_hz = freqs[power.argmax(dim=1)]
    peak_in_band = (peak_hz >= priors.lo_hz) & (peak_hz <= priors.hi_hz)
    band = (freqs >= priors.lo_hz) & (freqs <= priors.hi_hz)
    p = power[:, band]
    fb = freqs[band]
    width = priors.sparsity_width_hz if peak_width_hz is None else peak_width_hz
    f_peak = fb[p.argmax(dim=1)]
    near = (fb[None, :] - f_peak[:, None]).abs() <= width + 1e-9
    prominence = (p * near).sum(dim=1) / (p.sum(dim=1) + _EPS)
    prominent = prominence >= min_prominence
    mask = peak_in_band & prominent
    slope = weak = None
    if crops is not None or skin_rgb is not None:
        slope = implied_colour_slope(bvp, crops, skin_rgb=skin_rgb)
        weak = slope < max_colour_slope
        mask = mask & weak
    return VerifyResult(mask, peak_hz, prominence, slope, peak_in_band, prominent, weak)


def keep_at_least(result: VerifyResult, min_keep: int) -> torch.Tensor:
    """The verification mask, topped up to ``min_keep`` samples when too few pass, so that a
    batch never contributes nothing (at initialisation few predictions look like a pulse). The
    top-up ranks samples by (weak amplitude, peak in band, prominence)."""
    mask = result.mask.clone()
    need = min(int(min_keep), mask.numel()) - int(mask.sum())
    if need <= 0:
        return mask
    score = result.prominence.double() + result.peak_in_band.double() * 2.0
    if result.weak_amplitude is not None:
        score = score + result.weak_amplitude.double() * 4.0
    score = torch.where(mask, torch.full_like(score, -math.inf), score)
    order = torch.argsort(score, descending=True, stable=True)
    mask[order[:need]] = True
    return mask


class StepVerifier:
    """Undo optimiser steps that make the batch worse.

    Call ``snapshot()`` before ``optimizer.step()``, then ``verify(loss_before, evaluate)``:
    ``evaluate()`` recomputes the same batch objective at the new weights (run here under
    ``torch.no_grad``; module buffers such as BatchNorm statistics are put back as they were
    after the step, so the re-evaluation leaves no trace). When the loss rose by more than
    ``rel_tolerance * |loss_before| + abs_tolerance``, the pre-step weights, buffers and optimiser
    state are restored from the snapshot and ``verify`` returns True ("undone").
    """

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer,
        rel_tolerance: float = 0.05, abs_tolerance: float = 1e-4,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.rel_tolerance = float(rel_tolerance)
        self.abs_tolerance = float(abs_tolerance)
        self._model_state: dict[str, torch.Tensor] | None = None
        self._opt_state: dict | None = None
        self.undone = 0
        self.checked = 0
        self.last_loss_after: float | None = None

    def snapshot(self) -> None:
        self._model_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self._opt_state = copy.deepcopy(self.optimizer.state_dict())

    def restore(self) -> None:
        if self._model_state is None or self._opt_state is None:
            raise RuntimeError("StepVerifier.restore() before snapshot()")
        self.model.load_state_dict(self._model_state)
        # load_state_dict may keep references to the given tensors: hand it a copy.
        self.optimizer.load_state_dict(copy.deepcopy(self._opt_state))

    def verify(self, loss_before: float, evaluate: Callable[[], torch.Tensor | float]) -> bool:
        if self._model_state is None:
            raise RuntimeError("StepVerifier.verify() before snapshot()")
        buffers = {k: b.detach().clone() for k, b in self.model.named_buffers()}
        with torch.no_grad():
            after = float(evaluate())
        with torch.no_grad():
            for k, b in self.model.named_buffers():
                b.copy_(buffers[k])
        self.checked += 1
        self.last_loss_after = after
        limit = loss_before + self.rel_tolerance * abs(loss_before) + self.abs_tolerance
        worse = (not math.isfinite(after)) or after > limit
        if worse:
            self.restore()
            self.undone += 1
        self._model_state = self._opt_state = None
        return worse


# --------------------------------------------------------------------------------------------
# 2. Perturbation-based smoothing (loss-landscape level)
# --------------------------------------------------------------------------------------------


class SamStep:
    """Gradient at perturbed weights, for flat minima.

    ``mode="sam"`` (Foret et al. 2021): with the gradient ``g`` at ``w`` in ``.grad``,
    ``perturb()`` moves the weights to ``w + e``, ``e = rho g / ||g||`` (one global norm over all
    trainable parameters); ``mode="random"``: ``e`` is a random direction of norm ``rho``
    (random weight perturbation; needs no gradient at ``w``). ``restore()`` copies the saved
    weights back (bit-exact, not ``w + e - e``). ``gradient(closure)`` does the whole
    sequence and leaves in ``.grad`` the gradient at ``w + e`` with the weights back at ``w``,
    ready for the base optimiser's ``step()``. ``closure()`` must zero nothing itself, compute
    the loss, call ``backward()`` and return the loss.
    """

    def __init__(self, model: nn.Module, rho: float = 0.05, mode: str = "sam") -> None:
        if mode not in ("sam", "random"):
            raise ValueError(f"mode must be 'sam' or 'random' (got {mode!r})")
        if rho < 0:
            raise ValueError(f"rho must be >= 0 (got {rho})")
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.rho = float(rho)
        self.mode = mode
        self._backup: list[torch.Tensor] | None = None
        self.last_e_norm = 0.0

    def _zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def perturb(self) -> None:
        if self._backup is not None:
            raise RuntimeError("SamStep.perturb() twice without restore()")
        if self.mode == "sam":
            dirs = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in self.params]
        else:
            dirs = [torch.randn_like(p) for p in self.params]
        zero = torch.zeros((), dtype=torch.float64, device=dirs[0].device if dirs else None)
        norm = torch.sqrt(sum((d.double().square().sum() for d in dirs), zero))
        scale = self.rho / (float(norm) + _EPS)
        self._backup = [p.detach().clone() for p in self.params]
        for p, d in zip(self.params, dirs):
            p.add_(d, alpha=scale)
        self.last_e_norm = float(norm) * scale

    @torch.no_grad()
    def restore(self) -> None:
        if self._backup is None:
            raise RuntimeError("SamStep.restore() without perturb()")
        for p, w in zip(self.params, self._backup):
            p.copy_(w)
        self._backup = None

    def gradient(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Returns the loss at ``w`` (SAM) or at ``w + e`` (random mode), detached."""
        self._zero_grad()
        if self.mode == "sam":
            loss = closure()
            self.perturb()
            self._zero_grad()
            closure()
        else:
            self.perturb()
            loss = closure()
        self.restore()
        return loss.detach()


# --------------------------------------------------------------------------------------------
# 3. Noise-aware null-space regularisation (feature level)
# --------------------------------------------------------------------------------------------


def split_band(feats: torch.Tensor, fs_hz: float, lo_hz: float, hi_hz: float, keep: str) -> torch.Tensor:
    """Features ``(B, F, T)`` filtered along T by zeroing FFT bins: ``keep="in"`` keeps the band
    ``[lo_hz, hi_hz]``, ``keep="out"`` everything else except DC. Differentiable."""
    t = feats.shape[-1]
    spec = torch.fft.rfft(feats, dim=-1)
    freqs = torch.fft.rfftfreq(t, d=1.0 / fs_hz).to(feats.device)
    band = (freqs >= lo_hz) & (freqs <= hi_hz)
    sel = band if keep == "in" else (~band) & (freqs > 0)
    return torch.fft.irfft(spec * sel.to(spec.dtype), n=t, dim=-1)


class NullSpaceRegulariser:
    """Noise subspace from non-pulse references; penalty or gradient projection on face features.

    ``update(refs)`` folds the features of non-pulse references, ``(B, F, T)`` (each sample and
    channel centred over T) or ``(N, F)`` vectors, into a running covariance ``C <- m C + (1 - m)
    C_batch`` (the first batch initialises it) and recomputes the noise subspace ``U`` (F, k'):
    the leading ``k`` eigenvectors of ``C`` whose eigenvalue is at least ``energy_threshold`` of
    the trace (so weak, isotropic directions are not called noise). ``out_of_band(feats)`` gives
    the part of the face features outside the HR band, a second reference.

    ``penalty(feats)`` (B,): ``||U^T f||^2 / ||f||^2`` summed over time, ``f`` the in-band part of
    each sample's features: the share of its pulse-band feature energy in the noise subspace.
    ``project(v)`` removes the noise-subspace component along the feature axis (dim 1 of
    (B, F, T), last of (N, F)); ``attach_gradient_projection(feats)`` registers it as a backward
    hook on ``feats`` so the gradient reaching the layers below has none.
    """

    def __init__(
        self, feature_dim: int, k: int = 4, momentum: float = 0.99, *,
        energy_threshold: float = 0.05, fs_hz: float = 30.0,
        lo_hz: float = DEFAULT_PRIORS.lo_hz, hi_hz: float = DEFAULT_PRIORS.hi_hz,
    ) -> None:
        if feature_dim < 1 or k < 1 or not 0.0 <= momentum < 1.0:
            raise ValueError("need feature_dim >= 1, k >= 1 and 0 <= momentum < 1")
        self.feature_dim = int(feature_dim)
        self.k = int(min(k, feature_dim))
        self.momentum = float(momentum)
        self.energy_threshold = float(energy_threshold)
        self.fs_hz, self.lo_hz, self.hi_hz = float(fs_hz), float(lo_hz), float(hi_hz)
        self.cov = torch.zeros(feature_dim, feature_dim, dtype=torch.float64)
        self.n_updates = 0
        self.basis = torch.zeros(feature_dim, 0, dtype=torch.float64)
        self.eigenvalues = torch.zeros(0, dtype=torch.float64)

    @property
    def ready(self) -> bool:
        return self.n_updates > 0 and self.basis.shape[1] > 0

    def _vectors(self, refs: torch.Tensor) -> torch.Tensor:
        x = refs.detach().to(torch.float64)
        if x.ndim == 3:
            if x.shape[1] != self.feature_dim:
                raise ValueError(f"features must be (B, {self.feature_dim}, T), got {tuple(x.shape)}")
            x = x - x.mean(dim=2, keepdim=True)
            return x.permute(0, 2, 1).reshape(-1, self.feature_dim)
        if x.ndim == 2 and x.shape[1] == self.feature_dim:
            return x
        raise ValueError(f"references must be (B, F, T) or (N, F) with F = {self.feature_dim}, got {tuple(x.shape)}")

    @torch.no_grad()
    def update(self, refs: torch.Tensor) -> None:
        v = self._vectors(refs).cpu()
        if v.shape[0] == 0:
            return
        batch_cov = v.T @ v / v.shape[0]
        if self.n_updates == 0:
            self.cov = batch_cov
        else:
            self.cov = self.momentum * self.cov + (1.0 - self.momentum) * batch_cov
        self.n_updates += 1
        self._recompute()

    def _recompute(self) -> None:
        evals, evecs = torch.linalg.eigh(self.cov)  # ascending
        evals, evecs = evals.flip(0), evecs.flip(1)
        trace = float(evals.clamp(min=0).sum())
        if trace <= 0:
            self.basis = torch.zeros(self.feature_dim, 0, dtype=torch.float64)
            self.eigenvalues = torch.zeros(0, dtype=torch.float64)
            return
        keep = (evals[: self.k] >= self.energy_threshold * trace).nonzero().flatten()
        n = int(keep.numel())
        self.basis = evecs[:, :n].contiguous()
        self.eigenvalues = evals[:n].clone()

    def out_of_band(self, feats: torch.Tensor) -> torch.Tensor:
        return split_band(feats, self.fs_hz, self.lo_hz, self.hi_hz, keep="out")

    def in_band(self, feats: torch.Tensor) -> torch.Tensor:
        return split_band(feats, self.fs_hz, self.lo_hz, self.hi_hz, keep="in")

    def _u(self, like: torch.Tensor) -> torch.Tensor:
        return self.basis.to(device=like.device, dtype=like.dtype)

    def project(self, v: torch.Tensor) -> torch.Tensor:
        """``v`` minus its component in the noise subspace (along the feature axis)."""
        if not self.ready:
            return v
        u = self._u(v)
        if v.ndim == 3:
            coef = torch.einsum("fk,bft->bkt", u, v)
            return v - torch.einsum("fk,bkt->bft", u, coef)
        return v - (v @ u) @ u.T

    def penalty(self, feats: torch.Tensor, *, in_band: bool = True) -> torch.Tensor:
        """``(B,)`` share of each sample's (in-band) feature energy in the noise subspace; 0
        before the first update."""
        if feats.ndim == 2:
            f = feats
            if not self.ready:
                return f.sum(dim=1) * 0.0
            u = self._u(f)
            return (f @ u).square().sum(dim=1) / (f.square().sum(dim=1) + 1e-12)
        f = self.in_band(feats) if in_band else feats - feats.mean(dim=2, keepdim=True)
        if not self.ready:
            return f.sum(dim=(1, 2)) * 0.0
        coef = torch.einsum("fk,bft->bkt", self._u(f), f)
        return coef.square().sum(dim=(1, 2)) / (f.square().sum(dim=(1, 2)) + 1e-12)

    def attach_gradient_projection(self, feats: torch.Tensor) -> torch.utils.hooks.RemovableHandle | None:
        """Project the gradient flowing back through ``feats`` (B, F, T) out of the noise
        subspace (the subspace at the time of the backward pass)."""
        if not feats.requires_grad:
            return None
        return feats.register_hook(lambda g: self.project(g))

    def state_dict(self) -> dict:
        return {"cov": self.cov.clone(), "n_updates": torch.tensor(self.n_updates)}

    def load_state_dict(self, state: dict) -> None:
        self.cov = state["cov"].to(torch.float64).clone()
        self.n_updates = int(state["n_updates"])
        if self.n_updates > 0:
            self._recompute()
        else:
            self.basis = torch.zeros(self.feature_dim, 0, dtype=torch.float64)
            self.eigenvalues = torch.zeros(0, dtype=torch.float64)
