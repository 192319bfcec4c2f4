import numpy as np
import torch

from pipeline.cells.area_head import AreaCounter, dense_loss
from pipeline.cells.evaluate import predict
from pipeline.cells.train import ImageSet, TrainConfig, augmented_batch, create_model, train_model


def test_logits_are_scaled_mean_fractions_and_embeddings_are_pooled_features() -> None:
    torch.manual_seed(0)
    model = AreaCounter("test_efficientnet", 3, stage=2).eval()
    x = torch.randn(2, 3, 32, 32)
    features = model.forward_features(x)
    maps = model.fraction_maps(features)
    assert model.reduction == 8 and maps.shape == (2, 4, 4, 4)
    torch.testing.assert_close(maps.sum(1), torch.ones(2, 4, 4))
    torch.testing.assert_close(model(x), model.log_scale.exp() * maps.mean((2, 3))[:, :3])
    assert model.forward_head(features, pre_logits=True).shape == (2, model.num_features)


def test_dense_loss_pools_targets_to_the_map_grid() -> None:
    targets = torch.zeros(1, 2, 8, 8)
    targets[:, 0, :4] = 1.0  # top half class 0, bottom half 'other'
    targets[:, 1, 4:] = 1.0
    exact = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]]]])
    assert float(dense_loss(exact, targets, reduction=4)) == 0.0
    assert float(dense_loss(exact.flip(2), targets, reduction=4)) > 1.0


def test_maps_get_the_same_flips_as_their_images() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (6, 8, 8, 3)).astype(np.uint8)
    maps = np.zeros((6, 8, 8, 2), np.uint8)
    maps[..., 0] = images[..., 0]  # a map channel that copies the red channel
    data = ImageSet(images, np.zeros(6, np.int64), maps)
    x, m = augmented_batch(data, np.arange(6), "dihedral", torch.Generator().manual_seed(1))
    red = x[:, 0] * 0.229 + 0.485  # undo the normalisation of the red channel
    torch.testing.assert_close(red, m[:, 0], atol=1e-5, rtol=0)


def _largest_area_toy(n: int, seed: int) -> ImageSet:
    """Red or blue blocks on grey; the label is the colour with more pixels, the maps say where each is."""
    rng = np.random.default_rng(seed)
    images = np.full((n, 32, 32, 3), 128, np.uint8)
    maps = np.zeros((n, 32, 32, 3), np.uint8)
    maps[..., 2] = 255
    labels = np.zeros(n, np.int64)
    for i in range(n):
        sides = rng.integers(6, 14, 2)
        for c, (side, (y, x)) in enumerate(zip(sides, ((2, 2), (17, 17)))):
            images[i, y:y + side, x:x + side] = (220, 30, 30) if c == 0 else (30, 30, 220)
            maps[i, y:y + side, x:x + side] = 0
            maps[i, y:y + side, x:x + side, c] = 255
        labels[i] = int(sides[1] > sides[0])
        if sides[0] == sides[1]:
            images[i, 17:17 + sides[1], 17] = 128
            maps[i, 17:17 + sides[1], 17] = (0, 0, 255)
    return ImageSet(images, labels, maps)


def test_area_head_trains_with_dense_maps_through_the_shared_trainer() -> None:
    cfg = TrainConfig(model="test_efficientnet", image_size=32, epochs=8, batch_size=32, lr=5e-3, patience=8,
                      threads=1, head="area", head_stage=2)
    assert isinstance(create_model(cfg, 2), AreaCounter)
    train, val = _largest_area_toy(256, 0), _largest_area_toy(96, 1)
    model, history, metrics = train_model(train, val, ("Red", "Blue"), cfg, progress=False)
    proba, emb = predict(model, val.images, threads=1, with_embeddings=True)
    assert metrics["val_acc"] >= 0.9 and (proba.argmax(1) == val.labels).mean() >= 0.9
    assert emb.shape == (96, model.num_features)
