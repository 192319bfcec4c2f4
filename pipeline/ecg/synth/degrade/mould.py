"""0011 / 0012, a mouldy print scanned in colour / black-and-white.

Each colony is a diffuse discoloured halo (transparent, like a stain) with clusters of opaque fuzzy
spots; spots hide what is under them, so the mask is cleared where they are opaque. Colonies are drawn
on their own bounding boxes, so a page with a dozen of them costs little.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.ecg.synth.degrade.base import RenderedPage
from pipeline.ecg.synth.degrade.effects import blob_polygon, uniform
from pipeline.ecg.synth.degrade.scan import MILD_SCAN, bw_finish, colour_finish, place_on_scanner

SPOT_COLOURS = np.array([[35, 40, 25], [20, 20, 20], [85, 95, 70], [90, 65, 40], [60, 70, 80], [230, 228, 215],
                         [200, 150, 160]], np.float32)
"""Mould spot colours (RGB): olive black, black, grey-green, brown, blue-grey, white fuzz, pink."""
SPOT_P = np.array([0.25, 0.2, 0.2, 0.15, 0.1, 0.06, 0.04])
HALO_ABSORBANCE = np.array([[0.15, 0.3, 0.7], [0.3, 0.3, 0.45], [0.35, 0.25, 0.5]], np.float32)
"""Halo absorbance (R, G, B) per unit density: yellow-brown, grey-green, brown."""
OPAQUE = 0.6
"""A spot this opaque hides the trace under it: mask cleared."""


@dataclass(frozen=True)
class MouldConfig:
    """Colonies per page, colony radius, spots per colony and their radii, halo density."""

    colonies: tuple[int, int] = (2, 12)
    radius_px: tuple[float, float] = (25.0, 230.0)
    spots: tuple[int, int] = (30, 350)
    spot_radius_px: tuple[float, float] = (0.7, 5.0)
    halo_density: tuple[float, float] = (0.05, 0.5)
    opacity: tuple[float, float] = (0.5, 1.0)


MOULD = MouldConfig()


def _colony(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, cfg: MouldConfig, strength: float) -> None:
    """Draw one colony in place on img (HxWx3 uint8) and clear the mask under its opaque spots."""
    h, w = img.shape[:2]
    radius = uniform(rng, cfg.radius_px, strength)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    pad = int(radius * 2.2) + 8
    x0, y0, x1, y1 = max(int(cx) - pad, 0), max(int(cy) - pad, 0), min(int(cx) + pad, w), min(int(cy) + pad, h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return
    bw_, bh = x1 - x0, y1 - y0
    halo = np.zeros((bh, bw_), np.float32)
    cv2.fillPoly(halo, [np.round(blob_polygon(rng, (cx - x0, cy - y0), radius * rng.uniform(1.0, 1.8), 0.4)
                                 ).astype(np.int32)], uniform(rng, cfg.halo_density, strength))
    halo = cv2.GaussianBlur(halo, (0, 0), radius * 0.25 + 1.0)
    spots = np.zeros((bh, bw_), np.uint8)
    n = int(uniform(rng, cfg.spots, strength))
    sub = rng.normal(0, radius * 0.35, (int(rng.integers(1, 5)), 2))  # sub-clusters
    centres = sub[rng.integers(len(sub), size=n)] + rng.normal(0, radius * 0.3, (n, 2)) + [cx - x0, cy - y0]
    radii = np.clip(rng.lognormal(np.log(np.mean(cfg.spot_radius_px) / 2), 0.6, n), *cfg.spot_radius_px)
    shade_ = rng.integers(110, 256, n)
    for (x, y), r, v in zip(centres, radii, shade_):
        cv2.circle(spots, (int(round(x * 16)), int(round(y * 16))), int(round(r * 16)), int(v), -1, cv2.LINE_AA, 4)
    alpha = cv2.GaussianBlur(spots, (0, 0), rng.uniform(0.6, 1.5)).astype(np.float32) * np.float32(
        uniform(rng, cfg.opacity) / 255)
    colour = SPOT_COLOURS[rng.choice(len(SPOT_COLOURS), p=SPOT_P)] * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    trans = np.exp(-halo[..., None] * HALO_ABSORBANCE[rng.integers(len(HALO_ABSORBANCE))][None, None, :])
    crop = img[y0:y1, x0:x1].astype(np.float32) * trans
    crop = crop * (1 - alpha[..., None]) + colour[None, None, :] * alpha[..., None]
    img[y0:y1, x0:x1] = np.clip(np.rint(crop), 0, 255).astype(np.uint8)
    mask[y0:y1, x0:x1][alpha > OPAQUE] = 0


def mouldy(page: RenderedPage, rng: np.random.Generator, cfg: MouldConfig = MOULD) -> RenderedPage:
    """The page with mould colonies on the paper (before any scan)."""
    strength = rng.uniform(0.4, 1.0)
    img, mask = page.image.copy(), page.row_mask.copy()
    for _ in range(int(rng.integers(*cfg.colonies))):
        _colony(img, mask, rng, cfg, strength)
    return replace(page, image=img, row_mask=mask)


def mould_colour(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """0011, a mouldy print scanned in colour."""
    page = place_on_scanner(mouldy(page, rng), rng)
    return replace(page, image=colour_finish(page.image, rng, MILD_SCAN))


def mould_bw(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """0012, a mouldy print scanned black-and-white."""
    page = place_on_scanner(mouldy(page, rng), rng)
    return replace(page, image=bw_finish(page.image, rng))
