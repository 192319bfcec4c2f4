"""0005, a phone photo of a printed page: perspective and a slightly curled sheet on a desk, uneven
light and a soft shadow, defocus and hand-shake blur, sensor grain, the phone's tone curve and JPEG."""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    light_ramp,
    soft_polygon,
    surface,
    tone_curve,
    uniform,
    vignette,
)
from pipeline.ecg.synth.degrade.warp import Field, Ripple, Warp, camera_homography, warp_page

DESKS = np.array([[150, 105, 70], [95, 70, 50], [185, 180, 170], [60, 60, 65], [215, 210, 200], [120, 130, 140]],
                 dtype=np.float32)
"""Desk and table colours (RGB): light and dark wood, grey laminate, dark, white, blue-grey."""


@dataclass(frozen=True)
class PhotoConfig:
    """How far a phone photo may go. Angles in degrees, lengths in pixels of the 2200x1700 frame."""

    max_tilt_deg: float = 15.0
    max_roll_deg: float = 6.0
    fill: tuple[float, float] = (0.84, 0.97)
    curl_px: tuple[float, float] = (0.0, 14.0)
    light_depth: tuple[float, float] = (0.05, 0.4)
    vignette: tuple[float, float] = (0.0, 0.3)
    shadow_prob: float = 0.6
    shadow_depth: tuple[float, float] = (0.15, 0.45)
    defocus_px: tuple[float, float] = (0.0, 1.6)
    motion_px: tuple[float, float] = (0.0, 3.5)
    noise_sigma: tuple[float, float] = (0.5, 1.8)
    gamma: tuple[float, float] = (0.8, 1.15)
    jpeg_quality: tuple[int, int] = (45, 88)


PHOTO = PhotoConfig()


def curl_field(width: int, height: int, rng: np.random.Generator, amp_px: float) -> Field:
    """A sheet that does not lie flat: a bow across the page, one edge lifting, a gentle wave."""
    kx, ky = np.pi / width, np.pi / height
    return Field((
        Ripple(1, amp_px * rng.uniform(-1, 1), kx, rng.uniform(-0.5, 0.5)),  # bow: rows sag or arch
        Ripple(0, amp_px * rng.uniform(-0.5, 0.5), 0.0, 0.0, ky, rng.uniform(-0.5, 0.5)),
        Ripple(1, amp_px * rng.uniform(-0.4, 0.4), 2 * kx * rng.uniform(0.8, 1.6), rng.uniform(0, 2 * np.pi),
               ky, rng.uniform(0, 2 * np.pi)),
        Ripple(0, amp_px * rng.uniform(-0.4, 0.4), kx, rng.uniform(0, 2 * np.pi), 2 * ky, rng.uniform(0, 2 * np.pi)),
    ))


def shadow_shape(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Vertices of a shadow (the phone or a hand) reaching in from one side of the frame."""
    side = rng.integers(4)
    along = rng.uniform(0.2, 0.8)
    reach = rng.uniform(0.25, 0.6) * 0.6
    inner = [(along, -0.2 + reach), (1.2 - reach, along), (along, 1.2 - reach), (-0.2 + reach, along)][side]
    centre = (inner[0] * width, inner[1] * height)
    return blob_polygon(rng, centre, rng.uniform(0.3, 0.55) * min(width, height), 0.35)


def phone_photo(page: RenderedPage, rng: np.random.Generator, cfg: PhotoConfig = PHOTO) -> RenderedPage:
    """0005, a phone photo of the printed page."""
    h, w = page.image.shape[:2]
    strength = rng.uniform(0.3, 1.0)
    hom = camera_homography(w, h, rng, cfg.max_tilt_deg * strength, cfg.max_roll_deg, cfg.fill, (w, h))
    curl = uniform(rng, cfg.curl_px, strength)
    warp = Warp(hom, curl_field(w, h, rng, curl) if curl > 1.0 else None)
    shot, cover = warp_page(page, warp, (0, 0, 0))
    desk = DESKS[rng.integers(len(DESKS))] * rng.uniform(0.85, 1.1, 3).astype(np.float32)
    img = composite(shot.image, surface(h, w, rng, desk, rng.uniform(0.02, 0.08)), cover)
    img = blur(img, blur_kernel(uniform(rng, cfg.defocus_px, strength), uniform(rng, cfg.motion_px, strength),
                                rng.uniform(0, np.pi)))
    gain = light_ramp(h, w, rng, uniform(rng, cfg.light_depth, strength))
    gain *= vignette(h, w, rng, uniform(rng, cfg.vignette, strength))
    if rng.random() < cfg.shadow_prob:
        soft = soft_polygon(h, w, shadow_shape(w, h, rng), rng.uniform(20.0, 120.0))
        gain *= 1.0 - uniform(rng, cfg.shadow_depth, strength) * soft
    warm = rng.uniform(-1.0, 1.0) * 0.08  # colour temperature: warm lamp or cool daylight
    tint = np.array([1.0 + warm, 1.0, 1.0 - warm]) * rng.uniform(0.97, 1.03, 3) * rng.uniform(0.95, 1.12)
    noise = grain(h, w, rng, uniform(rng, cfg.noise_sigma, strength))
    out = channel_affine(img, [gain * np.float32(t) for t in tint], [noise] * 3)
    out = tone_curve(out, uniform(rng, cfg.gamma))
    return replace(shot, image=jpeg(out, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1]))))
