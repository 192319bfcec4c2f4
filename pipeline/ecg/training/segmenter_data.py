"""Training pages for the segmenter: rendered, degraded, calibrated exactly as stage2 calibrates them.

Page k of a seed is a fresh record drawn on a fresh layout, degraded as TRAINING_CYCLE[k % 12] (the
nine competition types, and three times in twelve a crumpled kit-style print: creases, facet shading,
grey grids, rotation, crop, noise, the pages the classical ink map reads worst), then passed through
the digitizer's own steps 1-2 (`rectify.flatten_page`, `grid.calibrate`), so the net learns
on the very page stage2 will show it. The row mask follows by mapping every calibrated pixel back into
the degraded image (`GridResult.to_original`) and reading the mask there. Both are stored at the net's
resolution. Pages depend only on (seed, k); the seed space is apart from stage0's and the bench's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.io import atomic_path
from pipeline.core.seeding import derive_seed, rng_for
from pipeline.ecg.digitizer.grid import calibrate
from pipeline.ecg.digitizer.rectify import RectifyConfig, flatten_page
from pipeline.ecg.digitizer.segment import shrink, shrink_mask
from pipeline.ecg.layout import SAMPLING_RATES
from pipeline.ecg.synth.degrade import degrade
from pipeline.ecg.synth.render import ALL_TYPES, clean_page

SEGMENT_SEED_TAG = "segment-train"
TRAINING_CYCLE: tuple[str, ...] = ALL_TYPES + ("crumpled",) * 3
"""The image type of page k is TRAINING_CYCLE[k % len(TRAINING_CYCLE)]."""


@dataclass(frozen=True)
class TrainingPage:
    image: np.ndarray
    """h x w x 3 uint8 BGR calibrated page, shrunk by the net's scale."""
    mask: np.ndarray
    """h x w uint8: 0 background, r + 1 ink of row r."""
    image_type: str
    fs: int
    key: str
    """The (seed, index) name of the page: its record id."""


def calibrated_mask(grid, row_mask: np.ndarray) -> np.ndarray:
    """The degraded image's row mask carried onto the calibrated page (nearest pixel)."""
    h, w = grid.ink.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    pts = np.column_stack([xs.ravel(), ys.ravel()]).astype(np.float64)
    src = grid.to_original(pts).astype(np.float32)
    map_x = src[:, 0].reshape(h, w)
    map_y = src[:, 1].reshape(h, w)
    return cv2.remap(row_mask, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def typed_shot(base: int, key: str, image_type: str):
    """(record, degraded page, fs) of record `key` under seed `base`, degraded as `image_type`."""
    fs = int(rng_for(base, key, "fs").choice(SAMPLING_RATES))
    record, page = clean_page(base, key, fs)
    return record, degrade(page, image_type, rng_for(base, key, image_type)), fs


def degraded_shot(base: int, key: str, index: int):
    """(record, degraded page, fs, image type) of record `key` under seed `base`: TRAINING_CYCLE[index % 12]."""
    image_type = TRAINING_CYCLE[index % len(TRAINING_CYCLE)]
    return (*typed_shot(base, key, image_type), image_type)


def training_page(seed: int, index: int, scale: int = 2) -> TrainingPage:
    """Page `index` of the segmenter's training set for `seed`."""
    key = f"seg{index:06d}"
    _, shot, fs, image_type = degraded_shot(derive_seed(seed, SEGMENT_SEED_TAG), key, index)
    bgr = np.ascontiguousarray(shot.image[..., ::-1])
    grid = calibrate(*flatten_page(bgr, RectifyConfig()))
    mask = calibrated_mask(grid, shot.row_mask)
    return TrainingPage(image=shrink(grid.image, scale), mask=shrink_mask(mask, scale),
                        image_type=image_type, fs=fs, key=key)


def save_page(page: TrainingPage, path: Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, image=page.image, mask=page.mask, image_type=page.image_type, fs=page.fs, key=page.key)


def load_page(path: Path) -> TrainingPage:
    with np.load(path) as z:
        return TrainingPage(image=z["image"], mask=z["mask"], image_type=str(z["image_type"]), fs=int(z["fs"]),
                            key=str(z["key"]))
