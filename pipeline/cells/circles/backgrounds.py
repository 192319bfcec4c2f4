"""Backgrounds for circle images: procedural culture-dish textures (default), real photos, or plain fills.

The procedural kind imitates a crop of a microscope dish photograph as CircleFarmer uses them: a light
warm-grey field with soft uneven lighting, fine grain, small air bubbles (dark rim, bright core), brown
debris specks, pale speckles and the odd faint fibre or scratch. Photos are cropped the way CircleFarmer
crops them: random quarter turn and flips, resized to a random square of 500-900 px, random 256 crop.
Every function takes its numpy Generator, so a background is fixed by (seed, index).
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from pipeline.cells.circles.noise import noise_patch
from pipeline.core.errors import PipelineError

BACKGROUND_KINDS = ("procedural", "photo", "flat", "dark")
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _lighting(rng: np.random.Generator, size: int, amplitude: float) -> np.ndarray:
    """Smooth float32 (size, size) field: a tilt plus coarse random bumps, about +-amplitude grey levels."""
    coarse = rng.normal(0.0, 0.5 * amplitude, (4, 4)).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    gx, gy = (float(v) for v in rng.normal(0.0, 0.6 * amplitude, 2))
    ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    field += ramp[None, :] * np.float32(gx)
    field += ramp[:, None] * np.float32(gy)
    return field


def _shade(base: np.ndarray, delta: tuple[float, float, float] | float) -> tuple[float, float, float]:
    d = np.broadcast_to(np.asarray(delta, dtype=np.float32), (3,))
    return tuple(float(v) for v in base + d)


def _bubbles(rng: np.random.Generator, img: np.ndarray, base: np.ndarray, count: int) -> None:
    """Air bubbles: a dark anti-aliased rim round a bright core."""
    size = img.shape[0]
    for _ in range(count):
        c = tuple(int(v) for v in rng.integers(0, size, 2))
        r = float(rng.uniform(1.5, 7.0))
        cv2.circle(img, c, int(round(r)), _shade(base, -rng.uniform(18, 45)), 1, cv2.LINE_AA)
        cv2.circle(img, c, max(1, int(r * 0.45)), _shade(base, rng.uniform(8, 20)), -1, cv2.LINE_AA)


def _specks(rng: np.random.Generator, img: np.ndarray, base: np.ndarray, count: int) -> None:
    """Brown debris: red drops least, blue most."""
    size = img.shape[0]
    for _ in range(count):
        c = tuple(int(v) for v in rng.integers(0, size, 2))
        dark = float(rng.uniform(40, 110))
        colour = _shade(base, (-dark * 0.75, -dark * 0.9, -dark * 1.1))
        cv2.circle(img, c, int(rng.integers(0, 3)), colour, -1, cv2.LINE_AA)


def _speckles(rng: np.random.Generator, img: np.ndarray, count: int) -> None:
    """Isolated pale pixels (fine crystals / dust)."""
    size = img.shape[0]
    ys, xs = rng.integers(0, size, (2, count))
    img[ys, xs] += rng.uniform(6, 16, (count, 1)).astype(np.float32)


def _fibres(rng: np.random.Generator, img: np.ndarray, base: np.ndarray, count: int) -> None:
    """Faint long curves: fibres, scratches, the dish rim."""
    size = img.shape[0]
    for _ in range(count):
        p0, p1, p2 = rng.uniform(-0.3 * size, 1.3 * size, (3, 2))
        t = np.linspace(0.0, 1.0, 40)[:, None]
        curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        tone = float(rng.choice([-1.0, 1.0]) * rng.uniform(6, 18))
        cv2.polylines(img, [np.round(curve).astype(np.int32)], False, _shade(base, tone), 1, cv2.LINE_AA)


def procedural_dish(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """A dish-photo-like RGB uint8 texture of (size, size, 3)."""
    grey = rng.uniform(188.0, 232.0)
    green = grey - rng.uniform(1, 5)
    base = np.array([grey, green, green - rng.uniform(3, 9)], dtype=np.float32)
    luminance = _lighting(rng, size, float(rng.uniform(2.0, 7.0)))
    luminance += noise_patch(rng, size, size, 1)[:, :, 0] * np.float32(rng.uniform(1.5, 2.8))
    img = luminance[:, :, None] + base
    _bubbles(rng, img, base, int(rng.poisson(6)))
    _specks(rng, img, base, int(rng.poisson(5)))
    _speckles(rng, img, int(rng.poisson(rng.choice([10, 150]))))
    _fibres(rng, img, base, int(rng.poisson(0.6)))
    img += noise_patch(rng, size, size, 3) * np.float32(1.2)
    return np.clip(img, 0, 255).astype(np.uint8)


def flat_background(rng: np.random.Generator, size: int = 256, dark: bool = False) -> np.ndarray:
    """A plain field with mild grain: light grey, or near black (fluorescence-like) when `dark`."""
    level = rng.uniform(15.0, 45.0) if dark else rng.uniform(190.0, 230.0)
    img = np.full((size, size, 3), level, dtype=np.float32)
    img += noise_patch(rng, size, size, 3) * np.float32(1.5)
    return np.clip(img, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def load_photos(folder: str) -> tuple[np.ndarray, ...]:
    """Every image in `folder` as RGB uint8, cached per process (workers load them once)."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    if not paths:
        raise PipelineError("no background photos (png/jpg/tif/bmp) in folder", folder)
    photos = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise PipelineError("unreadable background photo", p)
        photos.append(np.ascontiguousarray(img[:, :, ::-1]))
    return tuple(photos)


def photo_crop(rng: np.random.Generator, photo: np.ndarray, size: int = 256,
               scale_range: tuple[int, int] = (500, 900)) -> np.ndarray:
    """CircleFarmer's crop: quarter turn and flips, resize to a random square, random (size, size) crop.

    The resize is applied to the crop window only (same result, a fraction of the work).
    """
    img = np.rot90(photo, int(rng.integers(0, 4)))
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if rng.random() < 0.5:
        img = img[::-1]
    side = int(rng.integers(scale_range[0], scale_range[1] + 1))
    side = max(side, size)
    h, w = img.shape[:2]
    x0, y0 = (int(v) for v in rng.integers(0, side - size + 1, 2))
    sx, sy = w / side, h / side
    window = img[int(y0 * sy): int(np.ceil((y0 + size) * sy)), int(x0 * sx): int(np.ceil((x0 + size) * sx))]
    return cv2.resize(np.ascontiguousarray(window), (size, size), interpolation=cv2.INTER_AREA)


def make_background(rng: np.random.Generator, kind: str, size: int = 256, photo_dir: str | None = None) -> np.ndarray:
    """One RGB uint8 background of the given kind."""
    if kind == "procedural":
        return procedural_dish(rng, size)
    if kind == "photo":
        if not photo_dir:
            raise PipelineError("background kind 'photo' needs a folder of photos (--backgrounds DIR)")
        photos = load_photos(str(photo_dir))
        return photo_crop(rng, photos[int(rng.integers(0, len(photos)))], size)
    if kind in ("flat", "dark"):
        return flat_background(rng, size, dark=kind == "dark")
    raise PipelineError(f"unknown background kind '{kind}'; choose one of {', '.join(BACKGROUND_KINDS)}")
