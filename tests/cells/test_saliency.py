import numpy as np
import torch

from pipeline.cells.saliency import grad_cam
from pipeline.cells.train import ImageSet, TrainConfig, create_model, train_model


def _squares(n: int, seed: int) -> ImageSet:
    """Grey noise with one bright patch at a random place; class = patch colour (red or blue)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(90, 140, (n, 32, 32, 3)).astype(np.uint8)
    labels = np.arange(n) % 2
    for i in range(n):
        y, x = rng.integers(0, 22, 2)
        images[i, y:y + 10, x:x + 10] = (230, 30, 30) if labels[i] == 0 else (30, 30, 230)
    return ImageSet(images, labels.astype(np.int64))


def test_grad_cam_points_at_the_evidence() -> None:
    cfg = TrainConfig(model="test_resnet", image_size=32, epochs=8, batch_size=32, lr=5e-3, threads=1,
                      augment="none")
    model, _, metrics = train_model(_squares(160, 0), _squares(40, 1), ("red", "blue"), cfg, progress=False)
    test = _squares(16, 2)
    cams = grad_cam(model, test.images)
    assert cams.shape == (16, 32, 32) and cams.min() >= 0 and cams.max() <= 1 + 1e-6
    patch = np.abs(test.images.astype(int) - 115).max(3) > 60
    inside = np.array([c[m].mean() for c, m in zip(cams, patch)])
    outside = np.array([c[~m].mean() for c, m in zip(cams, patch)])
    assert metrics["val_acc"] > 0.9
    assert (inside > outside).mean() >= 0.75, (inside, outside)


def test_grad_cam_rejects_models_without_a_feature_map() -> None:
    torch.manual_seed(0)
    model = create_model(TrainConfig(model="test_vit", image_size=32), 2)
    images = np.zeros((1, 32, 32, 3), np.uint8)
    try:
        grad_cam(model, images)
    except (ValueError, RuntimeError):
        return
    raise AssertionError("a ViT has no (N, C, H, W) feature map; Grad-CAM should refuse")
