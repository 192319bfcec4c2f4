from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.cells.circles.backgrounds import load_photos, make_background, photo_crop, procedural_dish
from pipeline.cells.circles.noise import noise_patch
from pipeline.core.errors import PipelineError
from pipeline.core.seeding import rng_for


def test_procedural_dish_is_deterministic_and_dish_like(farmer_dir: Path) -> None:
    a, b = procedural_dish(rng_for(0, 1)), procedural_dish(rng_for(0, 1))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (256, 256, 3) and a.dtype == np.uint8
    # brightness, warm tint and texture in the range of the real dish photos
    photos = load_photos(str(farmer_dir / "backgrounds"))
    real_means = [p.reshape(-1, 3).mean(0) for p in photos]
    lo, hi = min(m.mean() for m in real_means) - 15, max(m.mean() for m in real_means) + 15
    for i in range(10):
        img = procedural_dish(rng_for(5, i)).astype(float)
        mean = img.reshape(-1, 3).mean(0)
        assert lo < mean.mean() < hi
        assert mean[0] >= mean[2]  # red >= blue: warm grey like the photos
        assert 1.0 < img.std(axis=(0, 1)).mean() < 15.0


def test_photo_crop_follows_circlefarmer(farmer_dir: Path) -> None:
    photo = load_photos(str(farmer_dir / "backgrounds"))[0]
    crop = photo_crop(rng_for(0, 0), photo)
    assert crop.shape == (256, 256, 3)
    np.testing.assert_array_equal(crop, photo_crop(rng_for(0, 0), photo))
    img = make_background(rng_for(0, 1), "photo", photo_dir=str(farmer_dir / "backgrounds"))
    assert img.shape == (256, 256, 3)


def test_flat_and_dark() -> None:
    assert make_background(rng_for(0, 0), "dark").mean() < 60
    assert make_background(rng_for(0, 0), "flat").mean() > 180


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no background photos"):
        load_photos(str(tmp_path))
    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "bad.jpg").write_bytes(b"xx")
    with pytest.raises(PipelineError, match="unreadable background photo"):
        load_photos(str(tmp_path))
    with pytest.raises(PipelineError, match="needs a folder"):
        make_background(rng_for(0, 0), "photo")
    with pytest.raises(PipelineError, match="unknown background kind"):
        make_background(rng_for(0, 0), "stripes")


def test_noise_patches_are_seeded_views() -> None:
    a = noise_patch(rng_for(1, 2), 10, 20, 3, "uniform")
    np.testing.assert_array_equal(a, noise_patch(rng_for(1, 2), 10, 20, 3, "uniform"))
    assert a.shape == (10, 20, 3) and a.min() >= -1 and a.max() <= 1
    assert abs(float(noise_patch(rng_for(0, 0), 200, 200, 1).std()) - 1.0) < 0.05
