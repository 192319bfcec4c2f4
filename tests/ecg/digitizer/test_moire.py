"""Moire removal: a screen's diagonal bands are notched out of a page; strokes, grid lines and pages
without bands are left as they were."""

from __future__ import annotations

import numpy as np

from pipeline.ecg.digitizer.moire import MOIRE, moire_share, peak_gains, remove_moire

H, W = 600, 800


def paper_with_strokes() -> np.ndarray:
    """Light paper (230) with a 2 px grey horizontal stroke at y = 300 and a vertical one at x = 400."""
    img = np.full((H, W), 230.0, np.float32)
    img[299:301, 100:700] = 90.0
    img[100:500, 399:401] = 90.0
    return img


def bands(period: float = 17.0, angle_deg: float = 35.0, depth: float = 0.35) -> np.ndarray:
    """Multiplicative diagonal bands: the screen raster beating with the camera's."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    a = np.radians(angle_deg)
    phase = (xs * np.cos(a) + ys * np.sin(a)) * (2 * np.pi / period)
    return 1.0 - depth * (0.5 + 0.5 * np.cos(phase))


def as_page(grey: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(grey + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def test_bands_are_removed_and_strokes_stay_where_they_were():
    clean = paper_with_strokes()
    seen = as_page(clean * bands())
    out = remove_moire(seen).astype(np.float32)[..., 0]
    paper = np.ones((H, W), bool)
    paper[290:311, :] = False
    paper[:, 390:411] = False
    before = np.std(seen[..., 0].astype(np.float32)[paper])
    after = np.std(out[paper])
    assert after < 0.2 * before
    # The vertical stroke: still the darkest column, its centroid within 0.1 px of x = 400.
    rows = slice(150, 280)
    darkness = (out[rows, 380:420].max() - out[rows, 380:420]).mean(axis=0)
    centre = 380 + float((darkness * np.arange(40)).sum() / darkness.sum())
    assert abs(centre - 399.5) < 0.1
    contrast_before = np.median(clean[rows, 380:420], axis=0).max() - 90.0
    contrast_after = np.median(out[rows, 380:420], axis=0).max() - np.median(out[rows, 399:401])
    assert contrast_after > 0.5 * contrast_before


def test_moire_share_tells_bands_from_a_grid_and_strokes():
    clean = paper_with_strokes()
    gridded = clean.copy()
    gridded[::8, :] *= 0.8  # 1 mm lines along both axes: their energy lies on the spectrum's axes
    gridded[:, ::8] *= 0.8
    assert moire_share(as_page(clean)) < MOIRE.min_share
    assert moire_share(as_page(gridded)) < MOIRE.min_share
    assert moire_share(as_page(clean * bands())) > 10 * MOIRE.min_share


def test_peak_gains_keep_the_axes_and_lower_only_off_axis_peaks():
    n = MOIRE.tile_px
    tile = np.zeros((n, n), np.float32)
    tile[::8, :] = 1.0  # horizontal lines: peaks on the vertical frequency axis
    gains, share = peak_gains(np.fft.rfft2(tile - tile.mean()))
    assert share == 0.0 and np.all(gains == 1.0)
    ys, xs = np.mgrid[0:n, 0:n]
    banded = np.cos(2 * np.pi * (xs + ys) / 16.0).astype(np.float32)  # a 45 degree band, period 11.3 px
    gains, share = peak_gains(np.fft.rfft2(banded * np.outer(np.hanning(n), np.hanning(n))))
    assert share > 0.9 and gains.min() < 0.01
