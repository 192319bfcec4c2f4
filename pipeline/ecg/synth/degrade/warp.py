"""Geometric warps of a page and its ground truth, resampled once.

A warp is a 3x3 homography H (page pixels -> image pixels: scanner placement, camera perspective)
optionally followed by a smooth displacement field D given in image pixels (page curl, cockled paper):
the image pixel d shows the page point H^-1 (d + D(d)). The image is resampled bilinearly, the row
mask with nearest neighbour (rounded, not floored) through the very same map, and path points go through the forward map
(H, then the fixed point d = e - D(d), exact to 1e-9 px because D is smooth and small).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.ecg.synth.degrade.base import RenderedPage


@dataclass(frozen=True)
class Ripple:
    """One separable term of a displacement field: amp * cos(kx x + px) * cos(ky y + py) pixels along
    `axis` (0: x, 1: y). kx = 0 and px = 0 make it constant in x (likewise y)."""

    axis: int
    amp: float
    kx: float = 0.0
    px: float = 0.0
    ky: float = 0.0
    py: float = 0.0


@dataclass(frozen=True)
class Field:
    """A smooth displacement field, the sum of its ripples, evaluated exactly anywhere."""

    ripples: tuple[Ripple, ...]

    def at(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(dx, dy) at the points (x, y), arrays of one shape."""
        out = [np.zeros_like(x, dtype=np.float64), np.zeros_like(y, dtype=np.float64)]
        for r in self.ripples:
            out[r.axis] = out[r.axis] + r.amp * np.cos(r.kx * x + r.px) * np.cos(r.ky * y + r.py)
        return out[0], out[1]

    def grid(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """(dx, dy), each HxW float32, at every pixel centre: outer products of 1-D cosines."""
        xs, ys = np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
        out = [np.zeros((height, width), np.float32), np.zeros((height, width), np.float32)]
        for r in self.ripples:
            cx = (r.amp * np.cos(r.kx * xs + r.px)).astype(np.float32)
            cy = np.cos(r.ky * ys + r.py).astype(np.float32)
            out[r.axis] += np.multiply.outer(cy, cx)
        return out[0], out[1]

    def max_slope(self) -> float:
        """An upper bound of the field's Lipschitz constant (max over axes of |dD/dx| + |dD/dy|): below
        1 the forward map's fixed-point iteration converges."""
        return float(max(sum(abs(r.amp) * (abs(r.kx) + abs(r.ky)) for r in self.ripples if r.axis == axis)
                         for axis in (0, 1)))


@dataclass(frozen=True, eq=False)
class Warp:
    """Page -> image map: the homography, then (optionally) the displacement field."""

    homography: np.ndarray
    field: Field | None = None

    def forward(self, pts: np.ndarray) -> np.ndarray:
        """(n, 2) page points -> (n, 2) image points."""
        e = apply_homography(self.homography, pts)
        if self.field is None or len(e) == 0:
            return e
        if self.field.max_slope() >= 0.5:
            raise ValueError("displacement field too steep to invert")
        d = e.copy()
        for _ in range(60):  # contraction by max_slope < 0.5: 2^-60 of the displacement
            dx, dy = self.field.at(d[:, 0], d[:, 1])
            new = np.stack([e[:, 0] - dx, e[:, 1] - dy], axis=1)
            if np.max(np.abs(new - d)) < 1e-11:
                return new
            d = new
        return d

    def source_maps(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """For every image pixel (HxW float32 each) the page point it shows."""
        xs, ys = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
        if self.field is None:
            ex, ey = np.broadcast_to(xs, (height, width)), np.broadcast_to(ys[:, None], (height, width))
        else:
            dx, dy = self.field.grid(width, height)
            ex, ey = dx + xs, dy + ys[:, None]
        h = np.linalg.inv(self.homography).astype(np.float32)
        w = h[2, 0] * ex + h[2, 1] * ey + h[2, 2]
        return (h[0, 0] * ex + h[0, 1] * ey + h[0, 2]) / w, (h[1, 0] * ex + h[1, 1] * ey + h[1, 2]) / w


def apply_homography(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(n, 2) points through the 3x3 homography h."""
    p = pts @ h[:2, :2].T + h[:2, 2]
    w = pts @ h[2, :2] + h[2, 2]
    return p / w[:, None]


def warp_image(image: np.ndarray, warp: Warp, size: tuple[int, int], border: tuple[float, ...] | float,
               interpolation: int = cv2.INTER_LINEAR,
               maps: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Any image seen through `warp` in an image of `size` (w, h); outside it: `border`. `maps`: the
    warp's source_maps, when the caller has them already."""
    if warp.field is None and maps is None:
        return cv2.warpPerspective(image, warp.homography, size, flags=interpolation,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    mx, my = maps if maps is not None else warp.source_maps(*size)
    return cv2.remap(image, mx, my, interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def warp_truth(page: RenderedPage, warp: Warp, size: tuple[int, int],
               maps: tuple[np.ndarray, np.ndarray] | None = None) -> RenderedPage:
    """The page's ground truth moved by `warp` (image untouched): mask nearest (rounded, as cv2's
    INTER_NEAREST does with float maps), paths through the forward map, transform composed (None once a
    field is involved)."""
    mask = warp_image(page.row_mask, warp, size, 0, cv2.INTER_NEAREST, maps)
    keys = list(page.paths)
    moved = warp.forward(np.concatenate([page.paths[k] for k in keys])) if keys else np.zeros((0, 2))
    ends = np.cumsum([len(page.paths[k]) for k in keys])[:-1]
    paths = dict(zip(keys, np.split(moved, ends)))
    transform = None
    if warp.field is None and page.transform is not None:
        transform = warp.homography @ page.transform
    return replace(page, row_mask=mask, paths=paths, transform=transform)


def warp_page(page: RenderedPage, warp: Warp, border: tuple[float, ...], size: tuple[int, int] | None = None,
              ) -> tuple[RenderedPage, np.ndarray]:
    """The page and its ground truth seen through `warp` in an image of `size` (w, h; default the page's);
    the image bilinear, outside the page `border`. Also returns the HxW uint8 page coverage (255 on the
    page, a soft edge)."""
    size = size or (page.image.shape[1], page.image.shape[0])
    ones = np.full(page.row_mask.shape, 255, np.uint8)
    if warp.field is None:
        img = warp_image(page.image, warp, size, border)
        cover = warp_image(ones, warp, size, 0)
        return replace(warp_truth(page, warp, size), image=img), cover
    maps = warp.source_maps(*size)
    fx, fy = cv2.convertMaps(*maps, cv2.CV_16SC2)  # fixed point once for the two bilinear remaps
    img = cv2.remap(page.image, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    cover = cv2.remap(ones, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return replace(warp_truth(page, warp, size, maps), image=img), cover


def affine_homography(m: np.ndarray) -> np.ndarray:
    """A 2x3 affine map as a 3x3 homography."""
    return np.vstack([m, [0.0, 0.0, 1.0]])


def camera_homography(width: int, height: int, rng: np.random.Generator, max_tilt_deg: float,
                      max_roll_deg: float, fill: tuple[float, float], out_size: tuple[int, int]) -> np.ndarray:
    """A phone camera looking at a flat width x height sheet: tilt about two axes up to max_tilt_deg,
    roll up to max_roll_deg, the sheet filling `fill` (min, max) of the out_size frame, off-centre a little."""
    ax, ay = np.radians(rng.uniform(-max_tilt_deg, max_tilt_deg, 2))
    roll = np.radians(rng.uniform(-max_roll_deg, max_roll_deg))
    f = 1.2 * max(width, height)
    k = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    h = k @ rz @ ry @ rx @ np.linalg.inv(k)
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], float)
    seen = apply_homography(h, corners)
    lo, hi = seen.min(axis=0), seen.max(axis=0)
    ow, oh = out_size
    scale = rng.uniform(*fill) * min(ow / (hi[0] - lo[0]), oh / (hi[1] - lo[1]))
    free = np.array([ow, oh]) - scale * (hi - lo)
    shift = free * rng.uniform(0.3, 0.7, 2) - scale * lo
    fit = np.array([[scale, 0, shift[0]], [0, scale, shift[1]], [0, 0, 1.0]])
    return fit @ h
