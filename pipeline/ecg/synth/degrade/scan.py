"""Flatbed scans: 0001 the clean render, 0003 a colour print scanned in colour, 0004 printed and scanned
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


@dataclass(frozen=True)
class GreyPrintConfig:
    """A page printed on a black-and-white printer and scanned black-and-white, as the competition's real
    0004 page (shared/heldout/kaggle-real 46930936-0004) is: the printer turns colour into its grey
    (luminance), so the kit's red major lines print nearly black and its pink minor lines light grey; the
    scanner thresholds a noisy grey, so paper and light grey become a speckle whose density follows the
    grey (on the real page: 10 % of paper pixels dark, 20 % on minor lines, 75 % on major lines)."""

    scale: tuple[float, float] = (0.95, 1.0)
    """The scan's size against the page (the real page is 0.97 of ours)."""
    noise_sigma: tuple[float, float] = (25.0, 45.0)
    """Grey levels of pixel noise before the threshold: what turns paper into speckle."""
    speckle_sigma: tuple[float, float] = (0.2, 0.5)
    """Blur (px) of that noise, so that specks come in small clumps, as scanned."""
    threshold: tuple[float, float] = (180.0, 200.0)
    """Grey below which the scanner prints black."""
    finish_blur: tuple[float, float] = (0.3, 0.6)
    """Blur (px) of the black-and-white result: the real page was resampled after scanning (13 greys)."""


SCAN = ScanConfig()
MILD_SCAN = ScanConfig(cast=(0.95, 1.02), offset=(-6.0, 4.0))
"""The scanner of the stained, damaged and mouldy types: a milder colour cast, so the paper's own
discolouration is what shows."""
BW = BwConfig()
GREY_PRINT = GreyPrintConfig()
GREY_PRINT_SHARE = 0.75
"""Share of 0004 pages printed in grey (the rest: a colour print through a drop-out scanner, grid gone).
The one real 0004 page we have is a grey print."""


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


def grey_print_finish(img: np.ndarray, rng: np.random.Generator, cfg: GreyPrintConfig = GREY_PRINT) -> np.ndarray:
    """uint8 RGB printed in grey and scanned black-and-white: luminance, noise, threshold, a light blur."""
    h, w = img.shape[:2]
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    noise = rng.standard_normal((h, w)).astype(np.float32)
    speckle = uniform(rng, cfg.speckle_sigma)
    noise = cv2.GaussianBlur(noise, (0, 0), speckle)
    noise *= np.float32(uniform(rng, cfg.noise_sigma) / max(float(noise.std()), 1e-6))
    bw = np.where(grey + noise < uniform(rng, cfg.threshold), 0.0, 255.0).astype(np.float32)
    out = np.clip(cv2.GaussianBlur(bw, (0, 0), uniform(rng, cfg.finish_blur)) + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2)


def clean(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """0001: the clean render itself."""
    return page


def scan_colour(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """0003, a colour print scanned in colour."""
    page = place_on_scanner(page, rng)
    return replace(page, image=colour_finish(page.image, rng))


def scan_bw(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """0004, printed in grey and scanned black-and-white (GREY_PRINT_SHARE of pages), or a colour print
    through a drop-out scanner."""
    if rng.random() < GREY_PRINT_SHARE:
        page = place_on_scanner(page, rng, replace(SCAN, scale=GREY_PRINT.scale))
        return replace(page, image=grey_print_finish(page.image, rng))
    page = place_on_scanner(page, rng)
    return replace(page, image=bw_finish(page.image, rng))
