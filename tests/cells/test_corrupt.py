import numpy as np

from pipeline.cells.corrupt import LEVELS, corrupt, multi_cell, off_centre
from tests.cells.fixtures import cell


def test_corruptions_grow_with_level_and_level_zero_is_identity() -> None:
    img = cell(1, 3, 96)
    for kind, levels in LEVELS.items():
        errs = [np.abs(corrupt(img, kind, lv, np.random.default_rng(0)).astype(int) - img).mean() for lv in levels]
        assert errs[0] == 0 and all(b > a for a, b in zip(errs, errs[1:])), (kind, errs)
    a = corrupt(img, "noise", 16, np.random.default_rng(5))
    assert (a == corrupt(img, "noise", 16, np.random.default_rng(5))).all()


def test_crops_move_the_cell_and_tile_several() -> None:
    img = cell(0, 4, 64)
    moved = off_centre(img, 0.4, 0)
    dark = lambda im: np.argwhere(im.mean(2) < 130).mean(0)  # the nucleus centre  # noqa: E731
    assert (dark(moved) - dark(img)).min() > 15
    mosaic = multi_cell([cell(i, i, 64) for i in range(4)])
    assert mosaic.shape == img.shape and mosaic.dtype == np.uint8
    quarters = [mosaic[:32, :32], mosaic[:32, 32:], mosaic[32:, :32], mosaic[32:, 32:]]
    assert all((q.mean(2) < 130).any() for q in quarters)  # a nucleus in each quarter
