"""Pixel effects shared by the image-type recipes: lighting fields, blur kernels, sensor noise, JPEG.

Pure functions, arrays in and arrays out. Slowly varying fields are drawn at low resolution and
upsampled, so a full 2200x1700 page costs a few milliseconds per field.
"""

from __future__ import annotations

import cv2
import numpy as np


def uniform(rng: np.random.Generator, bounds: tuple[float, float], strength: float = 1.0) -> float:
    """A value between bounds[0] and bounds[0] + strength * (bounds[1] - bounds[0])."""
    lo, hi = bounds
    return float(rng.uniform(lo, lo + strength * (hi - lo))) if hi > lo else float(lo)


def paper_colour(img: np.ndarray) -> tuple[float, ...]:
    """The page's background colour: the median of a sparse pixel sample (grid and ink are a minority)."""
    return tuple(float(v) for v in np.median(img[::16, ::16].reshape(-1, img.shape[2]), axis=0))


def upsample(small: np.ndarray, width: int, height: int) -> np.ndarray:
    """A low-resolution float32 field brought to width x height (bicubic: smooth, no blocks)."""
    return cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)


def smooth_noise(height: int, width: int, rng: np.random.Generator, cell_px: float) -> np.ndarray:
    """HxW float32 random field of unit-ish spread, smooth over about cell_px pixels."""
    gh, gw = max(2, int(round(height / cell_px)) + 1), max(2, int(round(width / cell_px)) + 1)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    return upsample(small, width, height)


def light_ramp(height: int, width: int, rng: np.random.Generator, depth: float) -> np.ndarray:
    """HxW float32 illumination falling linearly from 1 to 1 - depth along a random direction."""
    a = rng.uniform(0, 2 * np.pi)
    c, s = np.float32(np.cos(a)), np.float32(np.sin(a))
    span = abs(c) + abs(s)  # the ramp below runs over [-span, span]
    gx = (c * np.linspace(-1, 1, width, dtype=np.float32) - span) * np.float32(depth / (2 * span))
    gy = (s * np.linspace(-1, 1, height, dtype=np.float32)) * np.float32(depth / (2 * span))
    return np.float32(1.0) + np.add.outer(gy, gx)


def vignette(height: int, width: int, rng: np.random.Generator, depth: float) -> np.ndarray:
    """HxW float32 radial falloff, 1 at a point near the centre and 1 - depth in the far corners."""
    small_w, small_h = 64, max(2, int(round(64 * height / width)))
    cx, cy = rng.uniform(0.35, 0.65) * small_w, rng.uniform(0.35, 0.65) * small_h
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / np.float32((small_w**2 + small_h**2) / 4)
    return upsample(1.0 - depth * np.clip(r2, 0, 1.5) ** 1.5 / 1.5**1.5, width, height)


def soft_polygon(height: int, width: int, polygon: np.ndarray, softness_px: float, scale: int = 8) -> np.ndarray:
    """HxW float32 in [0, 1]: a filled polygon (full-resolution (x, y) vertices) with a blurred edge,
    drawn at 1/scale resolution."""
    sh, sw = height // scale + 1, width // scale + 1
    small = np.zeros((sh, sw), np.float32)
    cv2.fillPoly(small, [np.round(polygon / scale).astype(np.int32)], 1.0)
    sigma = max(softness_px / scale, 0.5)
    small = cv2.GaussianBlur(small, (0, 0), sigma)
    return np.clip(upsample(small, width, height), 0.0, 1.0)


def blob_polygon(rng: np.random.Generator, centre: tuple[float, float], radius: float, wobble: float,
                 n: int = 48) -> np.ndarray:
    """(n, 2) vertices of an irregular closed blob: a circle whose radius wanders by +-wobble."""
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, 7):
        r += wobble / k * rng.uniform(0.3, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.stack([centre[0] + radius * r * np.cos(theta), centre[1] + radius * r * np.sin(theta)], axis=1)


def blur_kernel(defocus_px: float, motion_px: float, angle_rad: float) -> np.ndarray:
    """A camera's point spread: a disk of radius defocus_px convolved with a motion streak of
    motion_px pixels at angle_rad, centred on the kernel's centre (the ground truth must not move);
    normalised to sum 1 (at least one pixel)."""
    r = int(np.ceil(defocus_px + motion_px / 2)) + 1
    size = 2 * r + 1
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float32)
    disk = np.clip(defocus_px + 0.5 - np.hypot(xx, yy), 0.0, 1.0)
    streak = np.zeros((size, size), np.float32)
    half = motion_px / 2
    dx, dy = np.cos(angle_rad) * half, np.sin(angle_rad) * half
    one = 1 << 4
    cv2.line(streak, (int(round((r - dx) * one)), int(round((r - dy) * one))),
             (int(round((r + dx) * one)), int(round((r + dy) * one))), 1.0, 1, cv2.LINE_AA, 4)
    if streak.sum() == 0:
        streak[r, r] = 1.0
    kernel = cv2.filter2D(disk, -1, streak, borderType=cv2.BORDER_CONSTANT)
    kernel = kernel + kernel[::-1, ::-1]  # point-symmetric, as the streak is: no sub-pixel shift of the image
    return kernel / kernel.sum()


def blur(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """The image after a JPEG round trip at `quality` (RGB or single channel)."""
    colour = img.ndim == 3
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if colour else img,
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB) if colour else out


def grain(height: int, width: int, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """HxW float32 sensor grain of standard deviation ~sigma, correlated over ~2 px (demosaicing):
    drawn at half resolution, so it costs a quarter and compresses better than white noise."""
    small = rng.standard_normal((height // 2 + 1, width // 2 + 1), dtype=np.float32) * np.float32(sigma * 1.3)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def channel_affine(img: np.ndarray, scale: list[np.ndarray | float], add: list[np.ndarray | float]) -> np.ndarray:
    """uint8 RGB out[..., k] = img[..., k] * scale[k] + add[k], rounded and saturated; scale and add
    are HxW float32 maps or numbers. One pass per channel (OpenCV), no HxWx3 float temporaries:
    lighting, colour cast, glare and grain in one step."""
    out = []
    for k, chan in enumerate(cv2.split(img)):
        sk, ak = scale[k], add[k]
        f = cv2.multiply(chan, sk, dtype=cv2.CV_32F) if isinstance(sk, np.ndarray) else \
            cv2.multiply(chan, float(sk), dtype=cv2.CV_32F)
        out.append(cv2.add(f, ak if isinstance(ak, np.ndarray) else float(ak), dtype=cv2.CV_8U))
    return cv2.merge(out)


def tone_curve(img: np.ndarray, gamma: float, black: float = 0.0, white: float = 255.0) -> np.ndarray:
    """uint8 image through out = black + (white - black) * (in / 255) ** gamma (a lookup table)."""
    lut = black + (white - black) * (np.arange(256) / 255.0) ** gamma
    return cv2.LUT(img, np.clip(np.rint(lut), 0, 255).astype(np.uint8))


def composite(front: np.ndarray, back: np.ndarray, alpha_u8: np.ndarray) -> np.ndarray:
    """uint8 front where alpha is 255, back where 0, blended between."""
    a = alpha_u8.astype(np.float32) * np.float32(1 / 255)
    return cv2.blendLinear(front, back, a, 1.0 - a)


def surface(height: int, width: int, rng: np.random.Generator, colour: np.ndarray, texture: float) -> np.ndarray:
    """uint8 HxWx3 background (desk, room): a colour with slow light variation and a fine texture,
    drawn at quarter resolution."""
    sh, sw = height // 4 + 1, width // 4 + 1
    light = 1.0 + 0.07 * smooth_noise(sh, sw, rng, 80.0) + texture * smooth_noise(sh, sw, rng, 1.5)
    small = np.clip(light[..., None] * colour.astype(np.float32)[None, None, :], 0, 255).astype(np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
