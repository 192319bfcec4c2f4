"""A crumpled print through an ecg-image-kit style augmentation: the pages the competition's generator
makes with `--wrinkles --augment` (training data only, not a competition image type of its own).

- Wrinkles: a crumpled sheet is a patchwork of flat facets, each lit at its own angle, so the shading
  is piecewise even with sharp edges between facets (a Voronoi patchwork drawn at 1/8 size and
  softened a little), multiplied onto the page.
- Creases: straight folds across the page at one angle and its perpendicular; each fold is a thin light
  line with a shadow that falls off on one side.
- Grid and paper: sometimes black-and-white (grey grid, black trace), sometimes a random tint; a
  colour-temperature cast; Gaussian pixel noise; JPEG.
- Geometry: rotation about the centre (black corner wedges) and a crop of up to 2 % per side resized
  back to the full frame, moved with the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.ecg.synth.degrade.base import RenderedPage
from pipeline.ecg.synth.degrade.effects import jpeg, uniform
from pipeline.ecg.synth.degrade.warp import Warp, affine_homography, warp_page


@dataclass(frozen=True)
class CrumpleConfig:
    """How strong each effect may be; every page draws its own strengths."""

    facets: tuple[int, int] = (20, 140)
    """Voronoi facets of the wrinkle shading per page."""
    facet_shade: tuple[float, float] = (0.25, 0.6)
    """The darkest facet's light loss (0: no wrinkle shading)."""
    wrinkle_p: float = 0.7
    creases: tuple[int, int] = (0, 9)
    """Folds per direction."""
    crease_shadow_px: tuple[float, float] = (6.0, 40.0)
    max_rotation_deg: float = 5.0
    max_crop: float = 0.02
    bw_p: float = 0.25
    """Share of pages turned to grey (the kit's `--random_bw`: a grey grid under a black trace)."""
    noise_sigma: tuple[float, float] = (0.0, 30.0)
    kelvin: tuple[tuple[float, float], ...] = ((2000.0, 4000.0), (10000.0, 20000.0))
    jpeg_quality: tuple[int, int] = (50, 95)


CRUMPLE = CrumpleConfig()


def facet_shading(height: int, width: int, rng: np.random.Generator, n: int, depth: float) -> np.ndarray:
    """HxW float32 light factor in [1 - depth, 1]: n flat facets with sharp, slightly softened edges."""
    scale = 8
    sh, sw = height // scale + 1, width // scale + 1
    seeds = np.column_stack([rng.uniform(0, sw, n), rng.uniform(0, sh, n)])
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    d = (xx[..., None] - seeds[:, 0]) ** 2 + (yy[..., None] - seeds[:, 1]) ** 2
    shade = (1.0 - depth * rng.beta(0.8, 2.5, n)).astype(np.float32)
    small = shade[np.argmin(d, axis=2)]
    small = cv2.GaussianBlur(small, (0, 0), rng.uniform(0.4, 1.5))
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def crease_field(height: int, width: int, rng: np.random.Generator, n_each: int, angle_deg: float,
                 shadow_px: float) -> np.ndarray:
    """HxW float32 light factor of straight folds at angle_deg and its perpendicular: a light ridge of
    about 2 px and an exponential shadow on one side of each fold."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light = np.ones((height, width), np.float32)
    for k, angle in enumerate((angle_deg, angle_deg + 90.0)):
        a = np.radians(angle)
        dist = xx * np.float32(np.cos(a)) + yy * np.float32(np.sin(a))
        lo, hi = float(dist.min()), float(dist.max())
        for _ in range(n_each if k == 0 else int(rng.integers(0, n_each + 1))):
            d = dist - np.float32(rng.uniform(lo, hi))
            side = np.float32(rng.choice([-1.0, 1.0]))
            depth = np.float32(rng.uniform(0.05, 0.25))
            shadow = np.where(d * side > 0, depth * np.exp(-np.abs(d) / np.float32(shadow_px)), 0.0)
            ridge = np.float32(rng.uniform(0.03, 0.12)) * np.exp(-(d / np.float32(1.2)) ** 2)
            light *= (1.0 - shadow + ridge).astype(np.float32)
    return light


def kelvin_cast(kelvin: float) -> np.ndarray:
    """RGB gains of a colour-temperature shift (warm below 6500 K, cool above), the brightest gain 1."""
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.7 * (t - 60) ** -0.1332
    g = 99.47 * np.log(t) - 161.1 if t <= 66 else 288.1 * (t - 60) ** -0.0755
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5 * np.log(t - 10) - 305.0)
    rgb = np.clip(np.array([r, g, b], np.float32), 1.0, 255.0)
    return rgb / rgb.max()


def _geometry(page: RenderedPage, rng: np.random.Generator, cfg: CrumpleConfig) -> RenderedPage:
    """Rotate about the centre (black wedges), then crop up to max_crop per side and resize back."""
    h, w = page.image.shape[:2]
    crop = rng.uniform(0.0, cfg.max_crop)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg),
                                1.0 / (1.0 - 2.0 * crop))
    warped, _ = warp_page(page, Warp(affine_homography(m), None), (0.0, 0.0, 0.0))
    return warped


def crumpled_print(page: RenderedPage, rng: np.random.Generator, cfg: CrumpleConfig = CRUMPLE) -> RenderedPage:
    """The clean page as a crumpled, augmented kit page; ground truth moved with the geometry."""
    img = page.image.astype(np.float32)
    h, w = img.shape[:2]
    if rng.random() < cfg.bw_p:
        grey = img.mean(axis=2, keepdims=True)
        img = np.repeat(grey, 3, axis=2)
    light = np.ones((h, w), np.float32)
    if rng.random() < cfg.wrinkle_p:
        light *= facet_shading(h, w, rng, int(rng.integers(*cfg.facets)), uniform(rng, cfg.facet_shade))
        light *= crease_field(h, w, rng, int(rng.integers(*cfg.creases)), rng.uniform(0, 90),
                              uniform(rng, cfg.crease_shadow_px))
    band = cfg.kelvin[int(rng.integers(len(cfg.kelvin)))]
    img = img * light[..., None] * kelvin_cast(rng.uniform(*band))[None, None, :]
    page = replace(page, image=np.clip(img, 0, 255).astype(np.uint8))
    page = _geometry(page, rng, cfg)
    noisy = page.image.astype(np.float32) + rng.normal(0.0, uniform(rng, cfg.noise_sigma), page.image.shape)
    out = jpeg(np.clip(noisy, 0, 255).astype(np.uint8), int(rng.integers(*cfg.jpeg_quality)))
    return replace(page, image=out)
