"""Grad-CAM (Selvaraju et al. 2017) for any timm CNN: gradients of the class score at the last feature map."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.cells.train import to_tensor


def grad_cam(model: torch.nn.Module, images: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
    """Heat maps in [0, 1], (N, S, S), for uint8 images (N, S, S, 3); target class = predicted if None."""
    model = model.cpu().eval()
    x = to_tensor(images).requires_grad_(False)
    with torch.enable_grad():
        feats = model.forward_features(x)
        if feats.dim() != 4:
            raise ValueError("Grad-CAM needs a CNN whose forward_features returns (N, C, H, W)")
        feats.retain_grad()
        logits = model.forward_head(feats)
        tgt = logits.argmax(1) if targets is None else torch.as_tensor(targets)
        model.zero_grad(set_to_none=True)
        logits.gather(1, tgt.view(-1, 1)).sum().backward()
    weights = feats.grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * feats).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=images.shape[1:3], mode="bilinear", align_corners=False)[:, 0]
    flat = cam.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1), flat.max(1).values.view(-1, 1, 1)
    return ((cam - lo) / torch.clamp(hi - lo, min=1e-12)).numpy()
