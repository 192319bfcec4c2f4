"""Training pages of the segmenter (pipeline/ecg/training/segmenter_data.py): deterministic, mask on the ink."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.ecg.digitizer.grid import calibrate
from pipeline.ecg.training.segmenter_data import calibrated_mask, load_page, save_page, training_page


def test_training_page_is_deterministic_and_its_mask_sits_on_dark_ink(tmp_path: Path) -> None:
    page = training_page(0, 0)  # type 0001, clean render
    assert page.image_type == "0001" and page.image.shape[:2] == page.mask.shape
    assert page.image.shape[:2] == (850, 1100)  # the 2200 x 1700 page at half resolution
    counts = np.bincount(page.mask.ravel(), minlength=5)
    assert (counts[1:] > 1000).all() and counts.size == 5
    grey = page.image.mean(axis=2)
    assert grey[page.mask > 0].mean() < grey[page.mask == 0].mean() - 60
    # rows are ordered top to bottom
    centres = [np.nonzero(page.mask == r)[0].mean() for r in range(1, 5)]
    assert centres == sorted(centres)
    save_page(page, tmp_path / "p.npz")
    again = load_page(tmp_path / "p.npz")
    assert np.array_equal(again.image, training_page(0, 0).image) and np.array_equal(again.mask, page.mask)
    assert again.key == page.key and again.fs == page.fs


def test_calibrated_mask_follows_the_deskew() -> None:
    """A rotated page: the carried mask lands where calibrate puts the strokes."""
    import cv2

    img = np.full((400, 600, 3), 255, np.uint8)
    for x in range(0, 600, 8):
        img[:, x] = (200, 200, 255)
    for y in range(0, 400, 8):
        img[y, :] = (200, 200, 255)
    mask = np.zeros((400, 600), np.uint8)
    cv2.line(img, (50, 200), (550, 200), (0, 0, 0), 2)
    cv2.line(mask, (50, 200), (550, 200), 1, 2)
    m = cv2.getRotationMatrix2D((300, 200), 2.0, 1.0)
    img = cv2.warpAffine(img, m, (600, 400), borderValue=(255, 255, 255))
    mask = cv2.warpAffine(mask, m, (600, 400), flags=cv2.INTER_NEAREST)
    grid = calibrate(img)
    carried = calibrated_mask(grid, mask)
    grey = grid.image.mean(axis=2)
    assert carried.sum() > 500
    assert grey[carried > 0].mean() < 90 < grey[carried == 0].mean()
