"""FCUS-rPPG network: the spectrally shared backbone (torch; training and export only).

Input ``frames`` (B, 3, T, S, S) float32 RGB 0..255, skin-masked face crops (see
:mod:`model.fcus_contract`). Everything below happens inside ``forward``, so the ONNX model
carries it:

1. Contract normalisation: per pixel and channel ``(x - mean_t x) / (mean_t x + 1)``; masked
   pixels (always 0) stay 0, and scaling the brightness leaves the relative change (almost)
   unchanged.

Steps 2-3 are the learned path (``learned_path``; off by default: held out it added nothing the
colour prior with its learned spatial weighting does not give, docs/training.md, "The Conv3d learned path").

2. ONE spatio-temporal encoder shared by the colour channels: the clip becomes three
   single-channel videos (B*3, 1, T, S, S) and passes a small Conv3d stack:
   spatial 3x3 conv, stride 2 (36 -> 18) -> BN -> ReLU -> 2x2 average pooling (-> 9)
   -> (3,3,3) conv -> BN -> ReLU -> 3x3 average pooling (-> 3) -> (3,3,3) conv -> BN -> ReLU
   (temporal padding 1: T is kept), then a skin-weighted spatial mean -> (B, 3, C, T).
   The spatial mean weights each pixel by ``skin_fraction ** 4`` (skin_fraction = share of the
   window's frames in which the pixel is not masked), pooled like the features: the masked area
   does not dilute the features, and pixels on a flickering mask border (whose normalised value
   jumps to about -1 whenever they are masked) count little. An all-masked clip gives 0.
3. Fusion head: (B, 3*C, T) -> learned LOW-RANK colour projection (Conv1d 3C -> r, kernel 1, no
   bias: the learned counterpart of the hand-made POS/CHROM projections) -> temporal Conv1d stack
   (kernel 7, dilations 1, 2; keeps T) -> 1 channel -> (B, T).

4. Colour prior (``colour_prior``, on by default): the skin-mean relative colour change projected on
   the published POS and CHROM planes (learnable), each plane band-passed by a fixed FIR before
   its sliding alpha tuning, standardised and summed with learnable gains; the skin mean is
   weighted per pixel by a small learned 2D conv net (``prior_spatial``); the learned path
   (steps 2-3), when on, is added to it.

5. Envelope normalisation (``envelope_frames``, 61 = 2 s by default): the sum is divided by its
   local RMS, so a burst of motion noise weighs no more in the window's spectrum than the quieter
   pulse around it; then standardised per window (zero mean, unit variance over T).

Sign: the contract's BVP rises with the blood volume, but nothing here fixes the sign of an
untrained (or unsupervisedly trained: spectral losses are sign-blind) net. The trainer orients the
trained model (e.g. by correlating it with POS on training clips) and flips it with
:meth:`FcusNet.flip_sign` before export.

Export: every op passes the torch 2.x dynamo ONNX exporter with B and T symbolic; spatial
reductions are sums over dims (``AdaptiveAvgPool3d((None, 1, 1))`` does not export).
Cost (S=36, per 160-frame window, the conv layers): the default net 1,327 parameters and 1.7 M
multiply-adds; with the learned path 14,359 parameters and 178 M.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from model.fcus_contract import DEFAULT_CONTRACT

_EPS_MEAN = 1e-6  # skin-weight denominator: an all-masked clip gives 0, not NaN
# Per-window standardisation floor (variance): a constant output gives 0, not NaN. Applied with
# clamp, not "+ eps": the exporter's optimiser folds "+ 1e-8" away as "+ 0" (torch 2.13).
_EPS_VAR = 1e-12

SPATIAL_STATS = 9  # per-pixel inputs of the prior's spatial weighting (FcusNet.spatial_weights)

# Colour planes of the prior: (projection rows on normalised R, G, B; sign of alpha; orientation
# of the plane's output so that it rises with the blood volume, i.e. as the skin darkens).
PRIOR_PLANES: dict[str, tuple[list[list[float]], float, float]] = {
    # POS: S1 = G - B, S2 = -2R + G + B, h = S1 + alpha S2 (positive along +PBV: negated)
    "pos": ([[0.0, 1.0, -1.0], [-2.0, 1.0, 1.0]], 1.0, -1.0),
    # CHROM: Xs = 3R - 2G, Ys = 1.5R + G - 1.5B, S = Xf - alpha Yf (rises with blood volume)
    "chrom": ([[3.0, -2.0, 0.0], [1.5, 1.0, -1.5]], -1.0, 1.0),
}


@dataclass(frozen=True)
class FcusNetConfig:
    """Widths and sizes of :class:`FcusNet` (stored in checkpoints and the model card)."""

    enc_widths: tuple[int, int, int] = (8, 16, 16)  # spatial stem, then two (3,3,3) convs
    stem_stride: int = 2  # spatial stride of the stem conv (36 -> 18)
    pool1: int = 2  # spatial average pooling after the stem (18 -> 9)
    pool2: int = 3  # spatial average pooling after the second conv (9 -> 3)
    rank: int = 4  # r: channels of the low-rank colour projection
    head_width: int = 16
    head_kernel: int = 7  # temporal kernel of the head convs (odd: keeps T)
    head_layers: int = 2  # temporal convs after the projection; layer i has dilation 2**i
    skin_weight_power: float = 4.0
    # Colour prior: a second path projects the skin-weighted mean of the normalised colour with a
    # learnable 2x3 projection initialised to POS's plane (Wang et al. 2017) and POS's alpha
    # tuning; the learned path is added on top, its output layer initialised small. At
    # initialisation the net is then close to POS on the skin region; unsupervised training
    # moves both paths. False: the learned path alone (random start).
    colour_prior: bool = True
    prior_window: int = 48  # alpha-tuning window (frames): 1.6 s at 30 Hz, as published
    # The prior's colour planes, each with its published alpha tuning: "pos" (Wang et al. 2017,
    # S1 + alpha S2) and "chrom" (de Haan & Jeanne 2013, Xs - alpha Ys). Each plane's output is
    # standardised and weighted by a learnable gain (equal at initialisation), then summed.
    prior_planes: tuple[str, ...] = ("pos", "chrom")
    # Linear-phase FIR band-pass (taps at 30 Hz, designed for the contract's pulse band) on each
    # plane's two projections over the whole window BEFORE the alpha tuning (CHROM's published
    # order; 0: no band-pass, alpha on raw projections). 31 taps (1 s) cannot hold the 0.6 Hz
    # edge (gain 0.4 at 0.1 Hz, 0.6 at 0.75 Hz): it damps drift and high-frequency noise rather
    # than cutting the band exactly; 61 taps measured worse (docs/fcus_study.md).
    prior_bandpass_taps: int = 31
    # Envelope normalisation of the output: divide by its local RMS over this many frames (odd;
    # 0: off), so that a burst of motion noise does not outweigh the quieter pulse of the rest of
    # the window in the spectrum.
    envelope_frames: int = 61
    # Learned spatial weighting of the prior's skin mean (where on the face the pulse is): a
    # small 2D conv net maps per-pixel statistics of the window (position in the crop, relative
    # skin tone, log temporal deviation per channel, skin share) to a log-weight per pixel; the
    # prior then averages the skin with these weights. Its last layer starts at zero, so the net
    # starts as the plain skin mean. On by default since it was chosen in the held-out study
    # (benchmarks/net_choice.py, docs/training.md, "The learned spatial weighting"); checkpoints without the field load
    # with it off.
    prior_spatial: bool = True
    prior_spatial_width: int = 8
    learned_init_scale: float = 0.1  # with the prior on: the learned path's output layer starts scaled by this
    # The learned path (Conv3d encoder, low-rank projection, temporal head), added to the prior.
    # Off by default: held out (3 seeds x 4 folds, 1 epoch) the net without it read MAE@10s 3.81
    # against 4.30 with it, MAE@20s 2.90 against 2.92, and the rule of benchmarks/net_choice.py
    # froze it off (docs/training.md, "The Conv3d learned path"). False: no encoder is built, the forward
    # pass skips it, and there are no features for the null-space regulariser (nothing learned to
    # regularise); the prior's planes, gains and spatial weighting still train. ``colour_prior=False``
    # needs it True (the learned path alone, from a random start).
    learned_path: bool = False
    norm: str = "batch"  # "batch" (BatchNorm) | "group" (GroupNorm: same in training and eval)
    seed: int = 0  # initial weights depend only on this

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FcusNetConfig":
        d = dict(d)
        if "enc_widths" in d:
            d["enc_widths"] = tuple(int(v) for v in d["enc_widths"])
        if "prior_planes" in d:
            d["prior_planes"] = tuple(str(v) for v in d["prior_planes"])
        d.setdefault("envelope_frames", 0)  # checkpoints from before the envelope step had none
        d.setdefault("prior_spatial", False)  # nor before the spatial weighting
        d.setdefault("learned_path", True)  # and all had the Conv3d learned path
        return cls(**d)


def normalise_frames(frames: torch.Tensor) -> torch.Tensor:
    """The contract's normalisation: ``(x - mean_t x) / (mean_t x + 1)`` over dim 2 (T)."""
    m = frames.mean(dim=2, keepdim=True)
    return (frames - m) / (m + 1.0)


def _norm3d(kind: str, c: int) -> nn.Module:
    return nn.BatchNorm3d(c) if kind == "batch" else nn.GroupNorm(min(4, c), c)


def _norm1d(kind: str, c: int) -> nn.Module:
    return nn.BatchNorm1d(c) if kind == "batch" else nn.GroupNorm(min(4, c), c)


class FcusNet(nn.Module):
    """Spectrally shared backbone (module docstring). ``forward(frames (B,3,T,S,S)) -> (B, T)``."""

    def __init__(self, config: FcusNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or FcusNetConfig()
        if cfg.envelope_frames and (cfg.envelope_frames % 2 != 1 or cfg.envelope_frames < 3):
            raise ValueError(f"envelope_frames must be 0 or odd and >= 3 (keeps T), got {cfg.envelope_frames}")
        if cfg.head_kernel % 2 != 1:
            raise ValueError(f"head_kernel must be odd (keeps T), got {cfg.head_kernel}")
        if min(cfg.enc_widths) < 1 or cfg.rank < 1 or cfg.head_width < 1:
            raise ValueError(f"widths and rank must be positive: {cfg}")
        if not cfg.learned_path and not cfg.colour_prior:
            raise ValueError("colour_prior=False needs learned_path=True: the net would have no path")
        with torch.random.fork_rng(devices=[]):  # deterministic init; the caller's RNG untouched
            torch.manual_seed(cfg.seed)
            if cfg.learned_path:
                self._build_learned_path(cfg)
            if cfg.colour_prior:
                unknown = [p for p in cfg.prior_planes if p not in PRIOR_PLANES]
                if unknown or not cfg.prior_planes:
                    raise ValueError(f"prior_planes must be a non-empty subset of {sorted(PRIOR_PLANES)}: "
                                     f"{cfg.prior_planes}")
                planes = [PRIOR_PLANES[p] for p in cfg.prior_planes]
                # (K, 2, 3) projections, learnable; alpha's sign and the output's orientation
                # (the BVP rises with the blood volume) per plane, fixed.
                self.prior_proj = nn.Parameter(torch.tensor([pl[0] for pl in planes]))
                self.register_buffer("prior_alpha_sign", torch.tensor([pl[1] for pl in planes]))
                k = len(planes)
                self.prior_gain = nn.Parameter(torch.tensor([pl[2] / k for pl in planes]))
                taps = cfg.prior_bandpass_taps
                if taps:
                    if taps % 2 != 1:
                        raise ValueError(f"prior_bandpass_taps must be odd (linear phase, keeps T): {taps}")
                    from scipy.signal import firwin

                    from model.signal.band import PULSE_BAND_HZ

                    fir = firwin(taps, list(PULSE_BAND_HZ), pass_zero=False, fs=DEFAULT_CONTRACT.fs_hz)
                    self.register_buffer("prior_fir", torch.tensor(fir, dtype=torch.float32).reshape(1, 1, -1))
                if cfg.learned_path:
                    with torch.no_grad():  # the learned path starts small (gradients still flow)
                        self.out.weight.mul_(cfg.learned_init_scale)
                if cfg.prior_spatial:
                    sw = cfg.prior_spatial_width
                    self.prior_spatial_net = nn.Sequential(
                        nn.Conv2d(SPATIAL_STATS, sw, 3, padding=1), nn.ReLU(inplace=True),
                        nn.Conv2d(sw, sw, 3, padding=1), nn.ReLU(inplace=True),
                        nn.Conv2d(sw, 1, 3, padding=1))
                    with torch.no_grad():
                        self.prior_spatial_net[-1].weight.zero_()
                        self.prior_spatial_net[-1].bias.zero_()

    def _build_learned_path(self, cfg: FcusNetConfig) -> None:
        """The encoder (three Conv3d stages), the low-rank colour projection, the temporal head and
        the output layer."""
        c1, c2, c3 = cfg.enc_widths
        st = cfg.stem_stride
        self.enc1 = nn.Sequential(
            nn.Conv3d(1, c1, (1, 3, 3), stride=(1, st, st), padding=(0, 1, 1), bias=False),
            _norm3d(cfg.norm, c1),
            nn.ReLU(inplace=True),
        )
        self.pool1 = nn.AvgPool3d((1, cfg.pool1, cfg.pool1)) if cfg.pool1 > 1 else nn.Identity()
        self.enc2 = nn.Sequential(
            nn.Conv3d(c1, c2, (3, 3, 3), padding=(1, 1, 1), bias=False),
            _norm3d(cfg.norm, c2),
            nn.ReLU(inplace=True),
        )
        self.pool2 = nn.AvgPool3d((1, cfg.pool2, cfg.pool2)) if cfg.pool2 > 1 else nn.Identity()
        self.enc3 = nn.Sequential(
            nn.Conv3d(c2, c3, (3, 3, 3), padding=(1, 1, 1), bias=False),
            _norm3d(cfg.norm, c3),
            nn.ReLU(inplace=True),
        )
        # Low-rank colour projection (B, 3*C, T) -> (B, r, T): linear, no bias.
        self.fuse = nn.Conv1d(3 * c3, cfg.rank, 1, bias=False)
        layers: list[nn.Module] = []
        cin = cfg.rank
        for i in range(cfg.head_layers):
            d = 2**i
            layers += [
                nn.Conv1d(cin, cfg.head_width, cfg.head_kernel, padding=d * (cfg.head_kernel // 2),
                          dilation=d, bias=False),
                _norm1d(cfg.norm, cfg.head_width),
                nn.ReLU(inplace=True),
            ]
            cin = cfg.head_width
        self.head = nn.Sequential(*layers)
        self.out = nn.Conv1d(cin, 1, 1, bias=False)  # a bias would be removed with the mean

    # ---- stages --------------------------------------------------------------------------
    @property
    def feature_channels(self) -> int | None:
        """Channels of :meth:`features` (None without the learned path: no features)."""
        if not self.config.learned_path:
            return None
        return self.config.head_width if self.config.head_layers > 0 else self.config.rank

    @staticmethod
    def skin_mask(frames: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, S, S) float: 1 where a pixel is skin in that frame (any channel non-zero; the
        contract sets pixels off the skin to 0)."""
        return (frames.amax(dim=1, keepdim=True) > 0).to(frames.dtype)

    def channel_features(self, frames: torch.Tensor, skin: torch.Tensor | None = None) -> torch.Tensor:
        """Features of the shared encoder per colour channel: (B, 3, C, T). ``skin``: the
        :meth:`skin_mask` of ``frames`` when the caller has it."""
        b, c, t, h, w = frames.shape
        x = normalise_frames(frames).reshape(b * c, 1, t, h, w)  # three single-channel videos
        x = self.pool1(self.enc1(x))
        x = self.pool2(self.enc2(x))
        x = self.enc3(x)  # (B*3, C, T, S', S')
        # Skin weight per pixel: share of frames in which any channel is non-zero, to a power,
        # brought to the feature grid by the same pooling.
        if skin is None:
            skin = self.skin_mask(frames)
        wgt = skin.mean(dim=2, keepdim=True) ** self.config.skin_weight_power  # (B, 1, 1, S, S)
        st = self.config.stem_stride
        if st > 1:
            wgt = nn.functional.avg_pool3d(wgt, (1, st, st), ceil_mode=True)
        wgt = self.pool2(self.pool1(wgt)).reshape(b, 1, 1, 1, -1)
        x = x.reshape(b, c, x.shape[1], t, -1)  # (B, 3, C, T, S'*S')
        return (x * wgt).sum(dim=4) / (wgt.sum(dim=4) + _EPS_MEAN)

    def colour_prior_bvp(self, frames: torch.Tensor, skin: torch.Tensor | None = None) -> torch.Tensor:
        """The colour-prior path: the published projections (learnable planes) with sliding
        alpha tuning on the skin mean relative colour change of the window, each plane
        standardised, weighted by its gain and summed: (B, T)."""
        b, c, t, h, w = frames.shape
        # Per frame, the mean deviation of that frame's skin pixels (the non-zero ones) from
        # each pixel's own mean over the frames where it is skin: like the classic skin mean,
        # pixels entering or leaving the mask at its edge do not jump the trace, and taking the
        # per-pixel means out before summing keeps float32 precise (torch/ONNX parity). Divided
        # by the mean skin colour: the relative colour change of the skin.
        if skin is None:
            skin = self.skin_mask(frames)  # (B, 1, T, S, S)
        n_t = torch.clamp(skin.sum(dim=2, keepdim=True), min=1.0)  # frames each pixel is skin
        mu = (frames * skin).sum(dim=2, keepdim=True) / n_t  # (B, 3, 1, S, S)
        level = (mu * (n_t > 0.5)).sum(dim=(3, 4)) / torch.clamp((n_t > 0.5).sum(dim=(3, 4)), min=1.0)
        weighted = skin
        if self.config.prior_spatial:
            weighted = skin * self.spatial_weights(frames, skin, mu, n_t, level)
        count = torch.clamp(weighted.sum(dim=(3, 4)), min=_EPS_MEAN)  # (B, 1, T): skin weight per frame
        dev = ((frames - mu) * weighted).sum(dim=(3, 4)) / count  # (B, 3, T)
        m = dev / (level + 1.0)  # (B, 3, T), the contract's normalisation on the skin mean
        k = self.prior_proj.shape[0]
        u = torch.einsum("kpc,bct->bkpt", self.prior_proj, m).reshape(b, 2 * k, t)  # (B, 2K, T)
        if self.config.prior_bandpass_taps:
            u = u - u.mean(dim=2, keepdim=True)
            taps = self.config.prior_bandpass_taps
            u = nn.functional.conv1d(u.reshape(b * 2 * k, 1, t), self.prior_fir, padding=taps // 2)
            u = u.reshape(b, 2 * k, t)
        # Alpha tuning per window of L frames, overlap-added, written with pooling and a
        # ones-convolution so it exports to ONNX and runs for any T >= L: out(t) = sum over
        # windows j covering t of (u1(t) - mu1_j) + sign alpha_j (u2(t) - mu2_j).
        L = self.config.prior_window  # fixed (export): the contract's min_frames is larger
        mean = nn.functional.avg_pool1d(u, L, stride=1)  # (B, 2K, J): window means
        var = nn.functional.avg_pool1d(u * u, L, stride=1) - mean * mean
        sd = torch.sqrt(torch.clamp(var, min=_EPS_VAR)).reshape(b, k, 2, -1)
        mean = mean.reshape(b, k, 2, -1)
        alpha = self.prior_alpha_sign.reshape(1, k, 1) * sd[:, :, 0] / sd[:, :, 1]  # (B, K, J)
        per_window = torch.stack([torch.ones_like(alpha), alpha, mean[:, :, 0] + alpha * mean[:, :, 1]], dim=2)
        ones = torch.ones(1, 1, L, dtype=u.dtype, device=u.device)
        sums = nn.functional.conv1d(per_window.reshape(-1, 1, per_window.shape[3]), ones, padding=L - 1)
        sums = sums.reshape(b, k, 3, t)  # windows covering t: count, sum alpha, sum (mu1 + alpha mu2)
        u = u.reshape(b, k, 2, t)
        hk = (sums[:, :, 0] * u[:, :, 0] + sums[:, :, 1] * u[:, :, 1] - sums[:, :, 2]) / sums[:, :, 0]
        hk = hk - hk.mean(dim=2, keepdim=True)
        hk = hk / torch.sqrt(torch.clamp((hk * hk).mean(dim=2, keepdim=True), min=_EPS_VAR))
        return (self.prior_gain.reshape(1, k, 1) * hk).sum(dim=1)

    def spatial_weights(self, frames: torch.Tensor, skin: torch.Tensor, mu: torch.Tensor, n_t: torch.Tensor,
                        level: torch.Tensor) -> torch.Tensor:
        """The prior's learned weight per pixel, (B, 1, 1, S, S), positive (``exp`` of the
        small net's output, clamped to e^-4..e^4), from :data:`SPATIAL_STATS` statistics per
        pixel: x and y in the crop (-1..1), the pixel's mean colour relative to the skin mean
        (3), its log temporal deviation per channel (3) and its skin share over the window."""
        b, c, t, h, w = frames.shape
        share = skin.mean(dim=2)  # (B, 1, S, S)
        tone = mu[:, :, 0] / (level.reshape(b, c, 1, 1) + 1.0) - 1.0  # (B, 3, S, S)
        rel = (frames - mu) * skin / (mu + 1.0)
        dev = torch.log(torch.sqrt(torch.clamp((rel * rel).sum(dim=2) / n_t[:, :, 0], min=_EPS_VAR)) + 1e-3)
        ys = torch.linspace(-1.0, 1.0, h, dtype=frames.dtype, device=frames.device).reshape(1, 1, h, 1)
        xs = torch.linspace(-1.0, 1.0, w, dtype=frames.dtype, device=frames.device).reshape(1, 1, 1, w)
        zeros = torch.zeros_like(share)
        stats = torch.cat([xs + zeros, ys + zeros, tone * share, (dev + 3.0) * share, share], dim=1)
        logit = torch.clamp(self.prior_spatial_net(stats), min=-4.0, max=4.0)
        return torch.exp(logit)[:, :, None]

    def fused(self, frames: torch.Tensor, skin: torch.Tensor | None = None) -> torch.Tensor:
        """Low-rank colour projection of the per-channel features: (B, r, T)."""
        f = self.channel_features(frames, skin)
        b, c, k, t = f.shape
        return self.fuse(f.reshape(b, c * k, t))

    def forward_with_features(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(bvp (B, T), feats (B, feature_channels, T))``. ``feats`` are the head's last hidden
        activations; the learned path's output is a linear function of them (1x1 conv), so a
        feature-level regulariser (the null-space projection) acts directly on what the learned
        path adds (before the envelope step, which rescales the sum over time). None without the
        learned path."""
        skin = self.skin_mask(frames)  # once for both paths
        feats, y = None, None
        if self.config.learned_path:
            feats = self.head(self.fused(frames, skin))
            # Remove the temporal mean before the output conv (same result, as the conv is linear):
            # the raw output can be a small swing on a large offset, and subtracting the offset
            # after the conv would cost float32 precision (torch/ONNX parity).
            y = self.out(feats - feats.mean(dim=2, keepdim=True))[:, 0, :]
        if self.config.colour_prior:
            prior = self.colour_prior_bvp(frames, skin)
            y = prior if y is None else y + prior
        y = y - y.mean(dim=1, keepdim=True)
        if self.config.envelope_frames:
            y = self.envelope_normalise(y)
            y = y - y.mean(dim=1, keepdim=True)
        y = y / torch.sqrt(torch.clamp((y * y).mean(dim=1, keepdim=True), min=_EPS_VAR))
        return y, feats

    def envelope_normalise(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` (B, T) divided by its local RMS over ``envelope_frames`` (centred; shorter at
        the ends)."""
        n = self.config.envelope_frames
        power = nn.functional.avg_pool1d((y * y)[:, None, :], n, stride=1, padding=n // 2,
                                         count_include_pad=False)[:, 0, :]
        return y / torch.sqrt(torch.clamp(power, min=_EPS_VAR))

    def features(self, frames: torch.Tensor) -> torch.Tensor | None:
        """The fused features before the output layer: (B, feature_channels, T); None without the
        learned path."""
        return self.forward_with_features(frames)[1]

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(frames)[0]

    # ---- utilities -----------------------------------------------------------------------
    @torch.no_grad()
    def flip_sign(self) -> None:
        """Negate the BVP (the trainer's orientation step)."""
        if self.config.learned_path:
            self.out.weight.neg_()  # (no bias: built with bias=False)
        if self.config.colour_prior:
            self.prior_gain.neg_()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def estimate_macs(model: nn.Module, n_frames: int = 160, crop_size: int | None = None, batch: int = 1) -> int:
    """Multiply-accumulates of the conv modules (1D, 2D, 3D) for one forward pass (the prior's
    functional FIR and alpha tuning are not counted)."""
    s = crop_size or DEFAULT_CONTRACT.crop_size
    macs = 0

    def hook(mod, _inp, out):
        nonlocal macs
        k = 1
        for v in mod.kernel_size:
            k *= v
        macs += out.numel() * k * (mod.in_channels // mod.groups)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(batch, 3, n_frames, s, s))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return macs
