"""A classifier that decides by counting: per-location class fractions, averaged over the image.

For tasks whose label is "the class covering the largest area" (the circles of Set 6), a linear head on
globally pooled features has to learn to integrate area to a fraction of a percent, and near-ties are where
it fails. `AreaCounter` builds the integration in: a timm backbone, cut at a shallow stage, gives a feature
map; a 1x1 convolution and a softmax turn every location into fractions of each class plus one "other"
(background) channel; the image's logits are those fractions averaged over the map, times a learned scale.
The fraction maps can be supervised densely (see `dense_loss`) when exact per-pixel labels exist.

It keeps timm's classifier interface (`forward_features`, `forward_head(..., pre_logits=True)`,
`num_classes`), so the shared trainer, evaluation and embeddings work on it unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class AreaCounter(nn.Module):
    """timm features at `stage` (reduction 2**(stage+1) for most backbones) -> class fractions -> logits."""

    def __init__(self, backbone: str, num_classes: int, stage: int = 2, init_scale: float = 50.0,
                 pretrained: bool = False) -> None:
        import timm

        super().__init__()
        self.body = timm.create_model(backbone, features_only=True, out_indices=(stage,), pretrained=pretrained)
        channels = self.body.feature_info.channels()[-1]
        self.reduction = int(self.body.feature_info.reduction()[-1])
        self.num_classes = num_classes
        self.num_features = channels
        self.fractions = nn.Conv2d(channels, num_classes + 1, kernel_size=1)
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)[-1]

    def fraction_maps(self, features: torch.Tensor) -> torch.Tensor:
        """(N, K+1, h, w): per location, the share of each class and of 'other'; sums to 1."""
        return torch.softmax(self.fractions(features).float(), dim=1)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return features.mean(dim=(2, 3))
        return self.logits(self.fraction_maps(features))

    def logits(self, maps: torch.Tensor) -> torch.Tensor:
        return self.log_scale.exp() * maps.mean(dim=(2, 3))[:, : self.num_classes]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def dense_loss(maps: torch.Tensor, targets: torch.Tensor, reduction: int) -> torch.Tensor:
    """Squared error, in percent^2 / 100, between predicted fraction maps and per-pixel target fractions.

    `targets` (N, K+1, S, S) are the true shares at input resolution; they are area-averaged down to the
    map's grid, so the loss asks every location to count exactly what lies under it.
    """
    pooled = F.avg_pool2d(targets, kernel_size=reduction, stride=reduction)
    if pooled.shape[-2:] != maps.shape[-2:]:
        pooled = F.adaptive_avg_pool2d(targets, maps.shape[-2:])
    return F.mse_loss(maps * 10.0, pooled * 10.0)
