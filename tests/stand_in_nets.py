"""A small stand-in for the FCUS network in trainer and component tests (torch only; import it
after ``pytest.importorskip("torch")``): contract normalisation, the per-frame mean of the crop,
a colour mix and temporal convolutions. No coupling between the samples of a batch."""

from __future__ import annotations

import torch
from torch import nn


class SkinMeanNet(nn.Module):
    """``forward(x (B,3,T,S,S)) -> bvp (B,T)``, standardised per sample. ``skin_weighted``: average
    only the non-zero (skin) pixels, like the real net; else every pixel of the crop."""

    def __init__(self, seed: int = 0, skin_weighted: bool = True) -> None:
        super().__init__()
        self.skin_weighted = skin_weighted
        g = torch.Generator().manual_seed(seed)
        self.mix = nn.Conv1d(3, 6, 1)
        self.t = nn.Conv1d(6, 6, 5, padding=2)
        self.out = nn.Conv1d(6, 1, 1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    @property
    def feature_channels(self) -> int:
        return 6

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = x.mean(2, keepdim=True)
        xn = (x - m) / (m + 1)
        if self.skin_weighted:
            skin = (x.amax(1, keepdim=True) > 0).float()
            r = (xn * skin).sum((3, 4)) / skin.sum((3, 4)).clamp(min=1)
        else:
            r = xn.mean(dim=(3, 4))
        f = torch.tanh(self.t(self.mix(r * 50)))
        y = self.out(f)[:, 0]
        y = y - y.mean(1, keepdim=True)
        return y / y.square().mean(1, keepdim=True).clamp(min=1e-12).sqrt(), f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]
