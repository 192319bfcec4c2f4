"""Flatbed scans: 0001 the clean render, 0003 a colour print scanned in colour, 0004 scanned
black-and-white; and the scanner's placement and finish that the stained, damaged and mouldy types share."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.ecg.synth.degrade.base import RenderedPage
from pipeline.ecg.synth.degrade.effects import channel_affine, grain, jpeg, light_ramp, paper_colour, uniform
from pipeline.ecg.synth.degrade.warp import Field, Warp, affine_homography, warp_page


@dataclass(frozen=True)
class ScanConfig:
    """A colour scanner: placement error (rotation, scale, shift), optics blur, uneven lamp, colour
    cast and offset, sensor grain, JPEG quality."""

    max_rotation_deg: float = 2.0
    scale: tuple[float, float] = (0.98, 1.02)
    max_shift_px: float = 15.0
    blur_sigma: tuple[float, float] = (0.4, 1.0)
    light_depth: tuple[float, float] = (0.0, 0.06)
    cast: tuple[float, float] = (0.9, 1.03)
    offset: tuple[float, float] = (-10.0, 6.0)
    noise_sigma: tuple[float, float] = (0.3, 1.0)
    jpeg_quality: tuple[int, int] = (55, 91)


@dataclass(frozen=True)
class BwConfig:
    """A black-and-white scan: mostly the drop-out channel (the colour channel in which the page is
    brightest, so a red grid vanishes in red, a green one in green), a little blur, a global
    threshold, dust specks."""

    red_weight: tuple[float, float] = (0.6, 1.0)
    blur_sigma: tuple[float, float] = (0.3, 0.6)
    threshold: tuple[float, float] = (140.0, 175.0)
    dust: tuple[int, int] = (100, 1500)


SCAN = ScanConfig()
MILD_SCAN = ScanConfig(cast=(0.95, 1.02), offset=(-6.0, 4.0))
"""The scanner of the stained, damaged and mouldy types: a milder colour cast, so the paper's own
discolouration is what shows."""
BW = BwConfig()


def placement(page: RenderedPage, rng: np.random.Generator, cfg: ScanConfig = SCAN) -> np.ndarray:
    """3x3 map of a scanner's placement error: rotation about the centre, scale, shift."""
    h, w = page.image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg),
                                rng.uniform(*cfg.scale))
    m[:, 2] += rng.uniform(-cfg.max_shift_px, cfg.max_shift_px, 2)
    return affine_homography(m)


def place_on_scanner(page: RenderedPage, rng: np.random.Generator, cfg: ScanConfig = SCAN,
                     field: Field | None = None) -> RenderedPage:
    """The page laid on the glass (and, with a field, not quite flat); the bed shows paper colour."""
    warped, _ = warp_page(page, Warp(placement(page, rng, cfg), field), paper_colour(page.image))
    return warped


def colour_finish(img: np.ndarray, rng: np.random.Generator, cfg: ScanConfig = SCAN) -> np.ndarray:
    """uint8 RGB through a colour scanner: blur, uneven lamp, colour cast and offset, grain, JPEG."""
    h, w = img.shape[:2]
    out = cv2.GaussianBlur(img, (0, 0), uniform(rng, cfg.blur_sigma))
    light = light_ramp(h, w, rng, uniform(rng, cfg.light_depth))
    cast, offset = rng.uniform(*cfg.cast, 3), rng.uniform(*cfg.offset, 3)
    noise = grain(h, w, rng, uniform(rng, cfg.noise_sigma))
    out = channel_affine(out, [light * np.float32(c) for c in cast], [noise + np.float32(o) for o in offset])
    return jpeg(out, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1])))


def bw_finish(img: np.ndarray, rng: np.random.Generator, cfg: BwConfig = BW) -> np.ndarray:
    """uint8 RGB through a black-and-white scanner: 0 or 255 on all three channels."""
    chans = [c.astype(np.float32) for c in cv2.split(img)]
    drop = int(np.argmax([c[::8, ::8].mean() for c in chans]))
    others = [c for k, c in enumerate(chans) if k != drop]
    weight = np.float32(uniform(rng, cfg.red_weight))
    mix = weight * chans[drop] + (1 - weight) * np.float32(0.5) * (others[0] + others[1])
    gray = cv2.GaussianBlur(mix, (0, 0), uniform(rng, cfg.blur_sigma))
    bw = np.where(gray < uniform(rng, cfg.threshold), 0, 255).astype(np.uint8)
    h, w = bw.shape
    n = int(rng.integers(*cfg.dust))
    ys, xs = rng.integers(0, h - 1, n), rng.integers(0, w - 1, n)
    big = rng.random(n) < 0.3
    bw[ys, xs] = 0
    bw[ys[big] + 1, xs[big]] = 0
    bw[ys[big], xs[big] + 1] = 0
    return np.repeat(bw[..., None], 3, axis=2)


def clean(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """0001: the clean render itself."""
    return page


def scan_colour(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """0003, a colour print scanned in colour."""
    page = place_on_scanner(page, rng)
    return replace(page, image=colour_finish(page.image, rng))


def scan_bw(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """0004, a colour print scanned black-and-white."""
    page = place_on_scanner(page, rng)
    return replace(page, image=bw_finish(page.image, rng))
