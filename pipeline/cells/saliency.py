"""Grad-CAM (Selvaraju et al. 2017) for timm CNNs: class-score gradients at a feature map, weighted sum.

The classic choice is the last feature map, but at the reduced resolutions we train on it is 1x1 or 2x2
(a 64 px input through a stride-32 network), which says nothing about where. So the layer is the
deepest timm feature stage whose map is still at least `min_side` cells across.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.cells.train import to_tensor


def cam_layer(model: torch.nn.Module, size: int, min_side: int = 4) -> torch.nn.Module:
    """The deepest feature stage (timm's feature_info) with a map of >= min_side cells for a size-px input."""
    info = list(getattr(model, "feature_info", []) or [])
    usable = [f for f in info if isinstance(f, dict) and f.get("module") and size // int(f["reduction"]) >= min_side]
    if not usable:
        raise ValueError("Grad-CAM needs a CNN with timm feature_info stages (N, C, H, W)")
    return model.get_submodule(usable[-1]["module"])


def grad_cam(model: torch.nn.Module, images: np.ndarray, targets: np.ndarray | None = None,
             min_side: int = 4) -> np.ndarray:
    """Heat maps in [0, 1], (N, S, S), for uint8 images (N, S, S, 3); target class = predicted if None."""
    model = model.cpu().eval()
    layer = cam_layer(model, images.shape[1], min_side)
    store: dict[str, torch.Tensor] = {}

    def hook(_m: torch.nn.Module, _i: object, out: torch.Tensor) -> None:
        out.retain_grad()
        store["feats"] = out

    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(to_tensor(images))
            feats = store.get("feats")
            if feats is None or feats.dim() != 4:
                raise ValueError("Grad-CAM layer did not give an (N, C, H, W) map")
            tgt = logits.argmax(1) if targets is None else torch.as_tensor(targets)
            model.zero_grad(set_to_none=True)
            logits.gather(1, tgt.view(-1, 1)).sum().backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    weights = feats.grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * feats).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=images.shape[1:3], mode="bilinear", align_corners=False)[:, 0]
    flat = cam.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1), flat.max(1).values.view(-1, 1, 1)
    return ((cam - lo) / torch.clamp(hi - lo, min=1e-12)).numpy()
