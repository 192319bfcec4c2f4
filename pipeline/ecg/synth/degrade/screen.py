"""0006, a phone photo of the page shown on a laptop screen: the page at screen resolution in a viewer
window, the screen's black and white levels, its pixel grid and RGB subpixels aliasing into moire in
the camera, a bezel and a dim room around it, glare, a colour cast, perspective, grain and JPEG.

The moire is not painted on: the subpixel pattern cos(2 pi u) is evaluated at each camera pixel's
screen coordinate u, so the undersampling itself folds it into the slow, curved bands a real camera
records, bending with the perspective.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.ecg.synth.degrade.base import RenderedPage
from pipeline.ecg.synth.degrade.effects import (
    blob_polygon,
    blur,
    blur_kernel,
    channel_affine,
    composite,
    grain,
    jpeg,
    soft_polygon,
    surface,
    tone_curve,
    uniform,
    vignette,
)
from pipeline.ecg.synth.degrade.warp import Warp, camera_homography, warp_truth


@dataclass(frozen=True)
class ScreenConfig:
    """How a laptop-screen photo may look. Lengths in pixels of the 2200x1700 camera frame."""

    camera_per_screen_px: tuple[float, float] = (0.9, 2.2)
    fill: tuple[float, float] = (0.86, 0.98)
    max_tilt_deg: float = 12.0
    max_roll_deg: float = 5.0
    black: tuple[float, float] = (15.0, 60.0)
    white: tuple[float, float] = (185.0, 250.0)
    pixel_grid: tuple[float, float] = (0.15, 0.5)
    subpixel: tuple[float, float] = (0.05, 0.25)
    glare: tuple[float, float] = (0.0, 0.5)
    cast: float = 0.12
    exposure: tuple[float, float] = (0.95, 1.3)
    vignette: tuple[float, float] = (0.05, 0.35)
    defocus_px: tuple[float, float] = (0.3, 1.3)
    noise_sigma: tuple[float, float] = (1.0, 2.5)
    jpeg_quality: tuple[int, int] = (40, 85)


SCREEN = ScreenConfig()


def _scale_map(sx: float, sy: float) -> np.ndarray:
    """3x3 map of cv2.resize by (sx, sy): pixel centres (x + 0.5) scale, so x' = sx (x + 0.5) - 0.5."""
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])


def _shift_map(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]])


def _screen(page: np.ndarray, rng: np.random.Generator, cfg: ScreenConfig, scale: float,
            margins: tuple[float, float, float, float], bezel: int) -> tuple[np.ndarray, np.ndarray]:
    """The laptop's screen and bezel as an image in screen pixels, and the 3x3 map page -> screen
    pixels. The page is shown at `scale` in a viewer window (margins: left, top, right, bottom as
    fractions of the shown page) with a toolbar, in the screen's black and white levels."""
    h, w = page.shape[:2]
    sw, sh = max(8, int(round(w * scale))), max(8, int(round(h * scale)))
    shown = cv2.resize(page, (sw, sh), interpolation=cv2.INTER_AREA)
    left, top, right, bottom = (int(round(m * s)) for m, s in zip(margins, (sw, sh, sw, sh)))
    width, height = sw + left + right, sh + top + bottom
    canvas = np.empty((height + 2 * bezel, width + 2 * bezel, 3), np.uint8)
    canvas[:] = rng.choice([12, 20, 30, 160]) + rng.integers(0, 12, 3)  # bezel: black or silver
    viewer = rng.choice([35.0, 60.0, 205.0, 235.0]) + rng.uniform(-8, 8)
    canvas[bezel:bezel + height, bezel:bezel + width] = int(viewer)
    bar = int(round(top * rng.uniform(0.3, 0.8)))
    canvas[bezel:bezel + bar, bezel:bezel + width] = int(np.clip(viewer + rng.choice([-25, 25]), 0, 255))
    canvas[bezel + top:bezel + top + sh, bezel + left:bezel + left + sw] = shown
    inner = canvas[bezel:bezel + height, bezel:bezel + width]
    inner[:] = tone_curve(inner, rng.uniform(0.85, 1.15), uniform(rng, cfg.black), uniform(rng, cfg.white))
    to_screen = _shift_map(bezel + left, bezel + top) @ _scale_map(sw / w, sh / h)
    return canvas, to_screen


def _subpixel_moire(u: np.ndarray, v: np.ndarray, weight: np.ndarray, grid: float, sub: float,
                    bgr_order: bool) -> list[np.ndarray]:
    """Per-channel HxW gains of the screen's pixel grid seen at screen coordinates (u, v), where
    `weight` (0..1) says the camera sees the screen: narrow dark gaps between pixel rows and columns
    (((1 - cos) / 2)^3, rich in harmonics, so near 1 or 2 camera px per screen px they beat into
    broad bands), and R, G, B stripes a third of a pixel apart."""
    tau = np.float32(2 * np.pi)
    cu, su = cv2.polarToCart(None, tau * u)
    gx = (np.float32(1) - cu) * np.float32(0.5)
    gy = (np.float32(1) - cv2.polarToCart(None, tau * v)[0]) * np.float32(0.5)
    gaps = gx * gx * gx + gy * gy * gy
    lum = np.float32(1.0) - np.float32(grid) * weight * gaps
    cu *= weight
    su *= weight
    offsets = (-1 / 3, 0.0, 1 / 3) if not bgr_order else (1 / 3, 0.0, -1 / 3)
    out = []
    for off in offsets:
        a, b = np.float32(sub * np.cos(2 * np.pi * off)), np.float32(sub * np.sin(2 * np.pi * off))
        out.append(lum * (np.float32(1) + a * cu + b * su))
    return out


def screen_photo(page: RenderedPage, rng: np.random.Generator, cfg: ScreenConfig = SCREEN) -> RenderedPage:
    """0006, a phone photo of the page on a laptop screen."""
    h, w = page.image.shape[:2]
    strength = rng.uniform(0.3, 1.0)
    c = uniform(rng, cfg.camera_per_screen_px)
    margins = (rng.uniform(0.01, 0.12), rng.uniform(0.04, 0.12), rng.uniform(0.01, 0.12), rng.uniform(0.0, 0.05))
    bezel_frac = rng.uniform(0.015, 0.04)
    fill = uniform(rng, cfg.fill)
    span = max(1 + margins[0] + margins[2] + 2 * bezel_frac * h / w, 1 + margins[1] + margins[3] + 2 * bezel_frac)
    scale = fill / (c * span)
    canvas, to_screen = _screen(page.image, rng, cfg, scale, margins, int(round(bezel_frac * h * scale)))
    ch, cw = canvas.shape[:2]
    cam = camera_homography(cw, ch, rng, cfg.max_tilt_deg * strength, cfg.max_roll_deg, (fill, fill), (w, h))
    warp = Warp(cam)
    u, v = warp.source_maps(w, h)
    shot = cv2.remap(canvas, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cover = cv2.remap(np.full((ch, cw), 255, np.uint8), u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                      borderValue=0)
    room = np.array([40.0, 38.0, 36.0]) * rng.uniform(0.5, 1.6) * rng.uniform(0.85, 1.15, 3)
    img = composite(shot, surface(h, w, rng, room, 0.05), cover)
    img = blur(img, blur_kernel(uniform(rng, cfg.defocus_px, strength), rng.uniform(0, 1.5), rng.uniform(0, np.pi)))

    gains = _subpixel_moire(u, v, cover.astype(np.float32) * np.float32(1 / 255),
                            uniform(rng, cfg.pixel_grid, strength), uniform(rng, cfg.subpixel, strength),
                            bool(rng.random() < 0.3))
    light = vignette(h, w, rng, uniform(rng, cfg.vignette, strength))
    glare = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        centre = (rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h)
        spot = blob_polygon(rng, centre, rng.uniform(0.08, 0.3) * h, 0.3)
        glare += uniform(rng, cfg.glare, strength) * soft_polygon(h, w, spot, rng.uniform(60.0, 250.0))
    glare = np.minimum(glare, np.float32(0.85))
    cast = (1.0 + rng.uniform(-cfg.cast, cfg.cast, 3)) * rng.uniform(*cfg.exposure)
    cast[2] += rng.uniform(0.0, cfg.cast)  # screens photograph bluish
    keep = light * (np.float32(1) - glare)
    add = np.float32(255) * glare + grain(h, w, rng, uniform(rng, cfg.noise_sigma, strength))
    out = channel_affine(img, [gains[k] * keep * np.float32(cast[k]) for k in range(3)], [add] * 3)
    out = jpeg(out, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1])))
    truth = warp_truth(page, Warp(cam @ to_screen), (w, h))
    return replace(truth, image=out)
