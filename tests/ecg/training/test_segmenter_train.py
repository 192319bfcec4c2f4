"""Segmenter training (pipeline/ecg/training/segmenter_train.py): the loss, batches, and a tiny end-to-end run."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.ecg.digitizer.segment import SegmentConfig, build_model
from pipeline.ecg.training.segmenter_data import TrainingPage
from pipeline.ecg.training.segmenter_train import _batch, _loss

TINY = SegmentConfig(encoder="resnet18", encoder_depth=3, decoder_channels=(16, 8, 8))


def _toy_page(seed: int) -> TrainingPage:
    rng = np.random.default_rng(seed)
    img = np.full((64, 96, 3), 240, np.uint8)
    mask = np.zeros((64, 96), np.uint8)
    for r, y in enumerate((8, 24, 40, 56)):
        yy = (y + 2 * np.sin(np.arange(96) / (3 + r) + rng.uniform(0, 6))).astype(int)
        img[yy, np.arange(96)] = 20
        mask[yy, np.arange(96)] = r + 1
    return TrainingPage(image=img, mask=mask, image_type="toy", fs=500, key=f"toy{seed}")


def test_batches_are_full_height_strips_with_their_masks() -> None:
    pages = [_toy_page(0), _toy_page(1)]
    x, y = _batch(pages, np.random.default_rng(0), 3, 32)
    assert x.shape == (3, 4, 64, 32) and y.shape == (3, 64, 32)
    assert set(np.unique(y)) == {0, 1, 2, 3, 4}
    assert np.allclose(x[:, 3, :, 0], (np.arange(64) + 0.5) / 64)  # height channel of the whole page


def test_loss_is_lower_for_the_right_answer_and_training_lowers_it() -> None:
    torch.manual_seed(0)
    target = torch.from_numpy(_toy_page(0).mask[None].astype(np.int64))
    right = torch.nn.functional.one_hot(target, 5).permute(0, 3, 1, 2).float() * 20
    wrong = torch.roll(right, 1, dims=1)
    assert _loss(right, target, 3.0, 0.5) < 0.05 < _loss(wrong, target, 3.0, 0.5)

    model = build_model(TINY)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    pages = [_toy_page(0), _toy_page(1)]
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(40):
        x, y = _batch(pages, rng, 2, 64)
        loss = _loss(model(torch.from_numpy(x)), torch.from_numpy(y), 3.0, 0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
