"""Image corruptions for robustness curves (blur, JPEG, noise) and the crops a centred-cell classifier
never saw (off-centre, several cells): uint8 RGB in, uint8 RGB out, deterministic for a seed."""

from __future__ import annotations

import cv2
import numpy as np

LEVELS = {"blur": (0.0, 1.0, 2.0, 4.0), "jpeg": (100, 50, 20, 5), "noise": (0.0, 8.0, 16.0, 32.0)}


def corrupt(image: np.ndarray, kind: str, level: float, rng: np.random.Generator) -> np.ndarray:
    """blur: Gaussian sigma in px per 100 px of side; jpeg: quality (100 = untouched); noise: Gaussian sigma
    in grey levels."""
    if kind == "blur":
        sigma = level * max(image.shape[:2]) / 100.0
        return image.copy() if sigma <= 0 else cv2.GaussianBlur(image, (0, 0), sigma)
    if kind == "jpeg":
        if level >= 100:
            return image.copy()
        ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(level)])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()
    if kind == "noise":
        noisy = image.astype(np.float32) + rng.normal(0.0, level, image.shape).astype(np.float32)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    raise ValueError(f"unknown corruption '{kind}'")


def border_colour(image: np.ndarray) -> np.ndarray:
    """Median colour of the outermost pixel ring: the slide background around a centred cell."""
    ring = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return np.median(ring, axis=0)


def off_centre(image: np.ndarray, shift: float = 0.4, direction: int = 0) -> np.ndarray:
    """Move the content by `shift` of the side along a diagonal, filling with the background colour."""
    h, w = image.shape[:2]
    sx, sy = [(1, 1), (-1, 1), (1, -1), (-1, -1)][direction % 4]
    m = np.float32([[1, 0, sx * shift * w], [0, 1, sy * shift * h]])
    fill = tuple(float(v) for v in border_colour(image))
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def multi_cell(images: list[np.ndarray]) -> np.ndarray:
    """A 2x2 mosaic of four cell images at the size of the first: several cells in one field."""
    h, w = images[0].shape[:2]
    tiles = [cv2.resize(im, (w // 2, h // 2), interpolation=cv2.INTER_AREA) for im in images[:4]]
    top, bottom = np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:4], axis=1)
    return cv2.resize(np.concatenate([top, bottom], axis=0), (w, h), interpolation=cv2.INTER_AREA)
