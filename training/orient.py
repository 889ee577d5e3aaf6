"""After training: give the BVP the sign of POS's (the losses are blind to the sign)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from training.fcus_components import skin_mean_rgb
from training.train_step import as_tensor

logger = logging.getLogger(__name__)


def _flip_last_layer(model: nn.Module) -> None:
    if hasattr(model, "flip_sign"):
        model.flip_sign()
        return
    last = None
    for m in model.modules():
        if isinstance(getattr(m, "weight", None), torch.Tensor) and not isinstance(
            m, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
        ):
            last = m
    if last is None:
        raise ValueError("the model has no layer with weights to flip")
    with torch.no_grad():
        last.weight.neg_()
        if getattr(last, "bias", None) is not None:
            last.bias.neg_()


def lagged_r(est: np.ndarray, ref: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Pearson r of ``est`` against ``ref`` at the lag (``|lag| <= max_lag`` samples, positive:
    ``est`` late) where ``|r|`` is largest. The losses are blind to the phase, so a trained model
    may lag POS a little; the sign is read where the two line up best."""
    best, best_lag = 0.0, 0
    n = len(est)
    for lag in range(-max_lag, max_lag + 1):
        a = est[lag:] if lag >= 0 else est[: n + lag]
        b = ref[: n - lag] if lag >= 0 else ref[-lag:]
        if len(a) < 8 or np.std(a) == 0 or np.std(b) == 0:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        if abs(r) > abs(best):
            best, best_lag = r, lag
    return best, best_lag


@torch.no_grad()
def orient_like_pos(model: nn.Module, sampler: Any, *, fs_hz: float = 30.0, max_batches: int = 8,
                    max_lag_s: float = 0.15, device: str | torch.device | None = None) -> dict:
    """Make the model's BVP correlate positively with POS on the same clips.

    POS (``model.methods.pos``) runs on the mean RGB of each clip's skin pixels (the nonzero
    pixels of its face crops); the model runs in eval mode. Both are band-passed and compared at
    the lag within ``max_lag_s`` that aligns them best (``lagged_r``). When the mean r over the
    clips is negative, the last layer is negated (``model.flip_sign()`` when the model has it).
    Returns ``{"flipped", "r_before", "r_after", "clips", "median_lag_s"}``."""
    from model.methods.pos import pos
    from model.signal import PULSE_BAND_HZ, bandpass

    dev = torch.device(device) if device is not None else next(model.parameters()).device
    spe = max(1, len(sampler))
    max_lag = int(round(max_lag_s * fs_hz))
    was = model.training
    model.eval()

    def mean_r() -> tuple[float, int, float]:
        rs, lags = [], []
        for k, batch in enumerate(sampler.iter_epoch(0, fraction=min(1.0, max_batches / spe))):
            if k >= max_batches:
                break
            face = as_tensor(batch.face, dev)
            bvp = model(face).double().cpu().numpy()
            rgb = skin_mean_rgb(face.double()).cpu().numpy()  # (B, 3, T)
            for i in range(face.shape[0]):
                if not np.all(rgb[i] > 0):
                    continue
                ref = np.ascontiguousarray(bandpass(pos(rgb[i].T, fs_hz), fs_hz, *PULSE_BAND_HZ))
                est = np.ascontiguousarray(bandpass(bvp[i] - bvp[i].mean(), fs_hz, *PULSE_BAND_HZ))
                if np.std(ref) > 0 and np.std(est) > 0:
                    r, lag = lagged_r(est, ref, max_lag)
                    rs.append(r)
                    lags.append(lag)
        if not rs:
            return float("nan"), 0, 0.0
        return float(np.mean(rs)), len(rs), float(np.median(lags)) / fs_hz

    try:
        r, n, lag_s = mean_r()
        flipped = False
        r_after = r
        if n and r < 0:
            _flip_last_layer(model)
            flipped = True
            r_after, _, lag_s = mean_r()
            if not r_after > 0:
                logger.warning("flipping the last layer did not make the BVP agree with POS (r %.3f -> %.3f)",
                               r, r_after)
    finally:
        model.train(was)
    return {"flipped": flipped, "r_before": r, "r_after": r_after, "clips": n, "median_lag_s": lag_s}
