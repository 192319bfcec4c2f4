"""0009 stained and soaked, 0010 heavily damaged: what happened to the paper, then a colour scan.

Damage is done to the page in page coordinates (it belongs to the paper), then the page is laid on the
scanner. Stains are transparent (Beer-Lambert: each channel multiplied by exp(-absorbance * density)),
so traces under them stay visible and stay in the mask; where paper is torn away or toner cracked off
a fold, the mask is cleared, while paths keep their geometric positions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.ecg.synth.degrade.base import RenderedPage
from pipeline.ecg.synth.degrade.effects import (
    blob_polygon,
    channel_affine,
    paper_colour,
    smooth_noise,
    uniform,
    upsample,
)
from pipeline.ecg.synth.degrade.scan import MILD_SCAN, SCAN, colour_finish, placement
from pipeline.ecg.synth.degrade.warp import Field, Ripple, Warp, warp_page

COFFEE = np.array([0.35, 0.65, 1.1], np.float32)
"""Absorbance (R, G, B) per unit density of a coffee or tea stain: brown."""
WATER = np.array([0.10, 0.13, 0.25], np.float32)
"""Absorbance of a dried water stain's tide line: faint yellow-grey."""
AGED = np.array([0.05, 0.12, 0.45], np.float32)
"""Absorbance of paper yellowed by age and damp."""
QUARTER = 4
"""Stains and broad shading are drawn at 1/QUARTER resolution: they are smooth."""


@dataclass(frozen=True)
class StainConfig:
    """Coffee and water stains, splashes, ink bleeding where the paper got wet, cockling, yellowing."""

    coffee: tuple[int, int] = (1, 4)
    water: tuple[int, int] = (0, 4)
    radius_px: tuple[float, float] = (40.0, 360.0)
    ring_density: tuple[float, float] = (0.3, 1.0)
    fill_density: tuple[float, float] = (0.05, 0.45)
    drops: tuple[int, int] = (0, 30)
    bleed_sigma_px: tuple[float, float] = (0.8, 2.0)
    bleed_gain: tuple[float, float] = (1.3, 2.2)
    cockle_px: tuple[float, float] = (0.5, 3.0)
    yellowing: tuple[float, float] = (0.0, 0.15)


@dataclass(frozen=True)
class DamageConfig:
    """Folds and crumple creases, toner cracking along folds, tears, missing corners, punch holes, grime."""

    folds: tuple[int, int] = (1, 4)
    creases: tuple[int, int] = (6, 22)
    crease_depth: tuple[float, float] = (0.15, 0.45)
    crack_prob: float = 0.6
    tears: tuple[int, int] = (0, 3)
    corners: tuple[int, int] = (1, 3)
    holes_prob: float = 0.25
    grime: tuple[float, float] = (0.0, 0.08)
    crumple_px: tuple[float, float] = (0.0, 2.0)


STAIN = StainConfig()
DAMAGE = DamageConfig()


# ---------------------------------------------------------------- stains (0009)
def _stain_density(h: int, w: int, rng: np.random.Generator, n: int, cfg: StainConfig, strength: float,
                   ring_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Quarter-resolution density of n stains and their wet interior (0..1): a darker tide line at the
    rim (the coffee-ring effect), a lighter irregular fill."""
    sh, sw = h // QUARTER + 1, w // QUARTER + 1
    density, wet = np.zeros((sh, sw), np.float32), np.zeros((sh, sw), np.float32)
    for _ in range(n):
        r = uniform(rng, cfg.radius_px) / QUARTER
        centre = (rng.uniform(0, sw), rng.uniform(0, sh))
        poly = np.round(blob_polygon(rng, centre, r, rng.uniform(0.1, 0.4), 64)).astype(np.int32)
        one = np.zeros_like(density)
        cv2.fillPoly(one, [poly], 0.0 if ring_only else uniform(rng, cfg.fill_density, strength))
        rim = max(1, int(r * rng.uniform(0.03, 0.1)))
        cv2.polylines(one, [poly], True, uniform(rng, cfg.ring_density, strength), rim, cv2.LINE_AA)
        if rng.random() < 0.5:  # a second, offset ring: the cup was set down twice
            cv2.polylines(one, [poly + rng.integers(-8, 9, 2).astype(np.int32)], True,
                          0.5 * uniform(rng, cfg.ring_density, strength), 1, cv2.LINE_AA)
        density = np.maximum(density, cv2.GaussianBlur(one, (0, 0), rng.uniform(0.6, 2.0)))
        cv2.fillPoly(wet, [poly], 1.0)
    for _ in range(int(rng.integers(*cfg.drops)) if n else 0):
        cv2.circle(density, (int(rng.uniform(0, sw)), int(rng.uniform(0, sh))), int(rng.integers(1, 6)),
                   float(uniform(rng, cfg.ring_density, strength)), -1, cv2.LINE_AA)
    return density, wet


def _bleed(img: np.ndarray, wet: np.ndarray, sigma: float, gain: float) -> np.ndarray:
    """Ink spreading into wet paper: inside `wet` (HxW 0..1) each channel's darkness becomes the
    larger of itself and its blurred, amplified version. Works on the wet bounding box only."""
    ys, xs = np.nonzero(wet > 0.02)
    if len(ys) == 0:
        return img
    pad = int(4 * sigma) + 2
    y0, y1, x0, x1 = max(ys.min() - pad, 0), ys.max() + pad + 1, max(xs.min() - pad, 0), xs.max() + pad + 1
    crop = img[y0:y1, x0:x1].astype(np.float32)
    ink = np.float32(255) - crop
    spread = cv2.GaussianBlur(ink, (0, 0), sigma) * np.float32(gain)
    w = wet[y0:y1, x0:x1, None]
    ink = np.maximum(ink, spread * w)
    out = img.copy()
    out[y0:y1, x0:x1] = np.clip(np.rint(np.float32(255) - ink), 0, 255).astype(np.uint8)
    return out


def _absorb(img: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """uint8 image through stains: channel k times exp(-sum of absorbance[k] * density) over the
    (quarter-resolution density, absorbance) layers, upsampled once."""
    h, w = img.shape[:2]
    optical = sum(d[..., None] * a[None, None, :] for d, a in layers)
    trans = cv2.resize(np.exp(-optical).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.multiply(img, trans, dtype=cv2.CV_8U)


def cockle_field(width: int, height: int, rng: np.random.Generator, amp_px: float, wavelength: float) -> Field:
    """Paper that dried unevenly or was crumpled: two crossing waves per axis of about `wavelength`
    px, amplitude up to amp_px but never steeper than 0.3 per axis (the warp stays invertible)."""
    ripples = []
    for axis in (0, 1, 0, 1):
        k = 2 * np.pi / (wavelength * rng.uniform(0.7, 1.4))
        a = rng.uniform(0, np.pi)
        amp = min(amp_px * rng.uniform(0.3, 1.0), 0.15 / (k * (abs(np.cos(a)) + abs(np.sin(a)))))
        ripples.append(Ripple(axis, amp, k * np.cos(a), rng.uniform(0, 2 * np.pi), k * np.sin(a),
                              rng.uniform(0, 2 * np.pi)))
    return Field(tuple(ripples))


def stained(page: RenderedPage, rng: np.random.Generator, cfg: StainConfig = STAIN) -> RenderedPage:
    """0009, a stained and soaked print, scanned in colour."""
    h, w = page.image.shape[:2]
    strength = rng.uniform(0.4, 1.0)
    img = page.image
    coffee, coffee_wet = _stain_density(h, w, rng, int(rng.integers(*cfg.coffee)), cfg, strength, False)
    water, water_wet = _stain_density(h, w, rng, int(rng.integers(*cfg.water)), cfg, strength, rng.random() < 0.5)
    wet = upsample(cv2.GaussianBlur(np.maximum(coffee_wet, water_wet), (0, 0), 2.0), w, h)
    img = _bleed(img, wet, uniform(rng, cfg.bleed_sigma_px, strength), uniform(rng, cfg.bleed_gain, strength))
    age = uniform(rng, cfg.yellowing, strength) * np.clip(
        1.0 + 0.5 * smooth_noise(h // QUARTER + 1, w // QUARTER + 1, rng, 30.0), 0, None)
    img = _absorb(img, [(coffee, COFFEE), (water, WATER), (age, AGED)])
    field = cockle_field(w, h, rng, uniform(rng, cfg.cockle_px, strength), rng.uniform(150.0, 500.0))
    warped, _ = warp_page(replace(page, image=img), Warp(placement(page, rng, SCAN), field), paper_colour(img))
    return replace(warped, image=colour_finish(warped.image, rng, MILD_SCAN))


# ---------------------------------------------------------------- damage (0010)
def jagged(rng: np.random.Generator, p0: np.ndarray, p1: np.ndarray, roughness: float, n: int = 24) -> np.ndarray:
    """(n, 2) points from p0 to p1 wandering sideways by a random walk of step `roughness` px,
    pinned at both ends."""
    t = np.linspace(0, 1, n)
    d = p1 - p0
    normal = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9)
    walk = np.cumsum(rng.normal(0, roughness, n))
    walk -= t * walk[-1]
    return p0 + t[:, None] * d + walk[:, None] * normal


def _edge_point(w: int, h: int, side: int, along: float) -> np.ndarray:
    """A point just outside side 0 (top), 1 (right), 2 (bottom) or 3 (left), `along` of its length."""
    return np.array([(along * w, -2.0), (w + 1.0, along * h), (along * w, h + 1.0), (-2.0, along * h)][side])


def _missing_paper(h: int, w: int, rng: np.random.Generator, cfg: DamageConfig, strength: float) -> np.ndarray:
    """HxW uint8, 255 where the paper is gone: torn-off corners, tears in from an edge, punch holes."""
    gone = np.zeros((h, w), np.uint8)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    for k in rng.permutation(4)[:int(rng.integers(*cfg.corners))]:
        c = corners[k]
        a, b = corners[(k + 1) % 4] - c, corners[(k - 1) % 4] - c
        p0 = c + a / np.hypot(*a) * rng.uniform(30, 220) * strength
        p1 = c + b / np.hypot(*b) * rng.uniform(30, 220) * strength
        poly = np.vstack([c[None], p0[None], jagged(rng, p0, p1, 2.5), p1[None]])
        cv2.fillPoly(gone, [np.round(poly).astype(np.int32)], 255, cv2.LINE_AA)
    for _ in range(int(rng.integers(*cfg.tears))):
        side = int(rng.integers(4))
        base = _edge_point(w, h, side, rng.uniform(0.1, 0.9))
        inward = np.array([(0, 1), (-1, 0), (0, -1), (1, 0)][side], float)
        angle = rng.uniform(-0.6, 0.6)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        tip = base + rot @ inward * rng.uniform(60, 400) * strength
        side_dir = np.array([-inward[1], inward[0]]) * rng.uniform(4, 25) * strength
        left, right = jagged(rng, base - side_dir, tip, 1.5), jagged(rng, tip, base + side_dir, 1.5)
        cv2.fillPoly(gone, [np.round(np.vstack([left, right])).astype(np.int32)], 255, cv2.LINE_AA)
    if rng.random() < cfg.holes_prob:
        side = int(rng.integers(4))
        for along in (0.25, 0.5, 0.75)[: int(rng.integers(2, 4))]:
            p = _edge_point(w, h, side, along)
            inward = np.array([(0, 1), (-1, 0), (0, -1), (1, 0)][side], float)
            centre = p + inward * rng.uniform(35, 60)
            cv2.circle(gone, (int(centre[0]), int(centre[1])), int(rng.integers(10, 18)), 255, -1, cv2.LINE_AA)
    return gone


def _facet_shading(xx: np.ndarray, yy: np.ndarray, p0: np.ndarray, p1: np.ndarray, dark: float, light: float,
                   reach: float) -> np.ndarray:
    """Shading beside a crease from p0 to p1 at the points (xx, yy): the paper bends there, so one side
    darkens by `dark` and the other brightens by `light` (negative), fading over `reach`."""
    d = (p1 - p0).astype(np.float32)
    rx, ry = xx - np.float32(p0[0]), yy - np.float32(p0[1])
    t = np.clip((rx * d[0] + ry * d[1]) / np.float32(d @ d + 1e-6), 0, 1)
    dist = np.hypot(rx - t * d[0], ry - t * d[1])
    fade = np.exp(-dist / np.float32(reach))
    side = (d[0] * ry - d[1] * rx) > 0
    return np.where(side, np.float32(dark), np.float32(-light)) * fade


def _creases(h: int, w: int, rng: np.random.Generator, cfg: DamageConfig, strength: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Full-resolution dark ridge lines and highlight lines (uint8), quarter-resolution shading of the
    bent paper beside them (float32, darkening > 0), and uint8 toner cracks along folds."""
    dark, light, crack = (np.zeros((h, w), np.uint8) for _ in range(3))
    soft = np.zeros((h // QUARTER + 1, w // QUARTER + 1), np.float32)
    yy, xx = np.mgrid[0:soft.shape[0], 0:soft.shape[1]].astype(np.float32)
    one = 1 << 4
    lines = []
    for _ in range(int(rng.integers(*cfg.folds))):  # folds: straight across, near the halves and thirds
        vertical = rng.random() < 0.5
        pos = rng.choice([0.5, 1 / 3, 2 / 3, 0.25, 0.75]) + rng.normal(0, 0.02)
        tilt = rng.normal(0, 0.015)
        if vertical:
            p0, p1 = np.array([pos * w - tilt * h / 2, -5.0]), np.array([pos * w + tilt * h / 2, h + 5.0])
        else:
            p0, p1 = np.array([-5.0, pos * h - tilt * w / 2]), np.array([w + 5.0, pos * h + tilt * w / 2])
        lines.append((jagged(rng, p0, p1, 0.6, 40), True))
    for _ in range(int(rng.integers(*cfg.creases))):  # crumple creases: short, bent
        start = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        a, length = rng.uniform(0, 2 * np.pi), rng.uniform(100, 900)
        end = start + length * np.array([np.cos(a), np.sin(a)])
        lines.append((jagged(rng, start, end, 1.5, 12), False))
    for pts, fold in lines:
        d = pts[-1] - pts[0]
        normal = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9)
        off = normal * rng.choice([-1.0, 1.0]) * rng.uniform(1.2, 2.2)
        depth = uniform(rng, cfg.crease_depth, strength) * (1.0 if fold else rng.uniform(0.4, 1.0))
        cv2.polylines(dark, [np.round(pts * one).astype(np.int32)], False, int(255 * depth), 1 + int(fold),
                      cv2.LINE_AA, 4)
        cv2.polylines(light, [np.round((pts + off) * one).astype(np.int32)], False, int(200 * depth), 1,
                      cv2.LINE_AA, 4)
        reach = (rng.uniform(40, 160) if fold else rng.uniform(10, 60)) / QUARTER
        soft += _facet_shading(xx, yy, pts[0] / QUARTER, pts[-1] / QUARTER, depth * rng.uniform(0.1, 0.3),
                               depth * rng.uniform(0.0, 0.15), reach)
        if fold and rng.random() < cfg.crack_prob:
            for a, b in zip(pts[:-1], pts[1:]):
                if rng.random() < 0.5:
                    cv2.line(crack, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), 255, 1)
    soft = cv2.GaussianBlur(soft, (0, 0), 1.0)
    return cv2.GaussianBlur(dark, (0, 0), 0.7), cv2.GaussianBlur(light, (0, 0), 0.8), soft, crack


def damaged(page: RenderedPage, rng: np.random.Generator, cfg: DamageConfig = DAMAGE) -> RenderedPage:
    """0010, a heavily damaged print (folded, crumpled, torn, dirty), scanned in colour."""
    h, w = page.image.shape[:2]
    strength = rng.uniform(0.4, 1.0)
    dark, light, soft, crack = _creases(h, w, rng, cfg, strength)
    grime = uniform(rng, cfg.grime, strength) * np.clip(
        smooth_noise(h // QUARTER + 1, w // QUARTER + 1, rng, 60.0), 0, None)
    shade_small = np.float32(1) - soft - grime
    gain = upsample(shade_small, w, h) - dark.astype(np.float32) * np.float32(1 / 255)
    whiten = light.astype(np.float32) * np.float32(1 / 255) * np.float32(0.6)
    whiten[crack > 0] = 0.85
    lid = np.array([rng.choice([238.0, 25.0])] * 3) + rng.uniform(-8, 8, 3)
    gone = _missing_paper(h, w, rng, cfg, strength)
    rim = cv2.dilate(gone, np.ones((3, 3), np.uint8), iterations=2) - gone
    fibre = rim.astype(np.float32) * np.float32(0.5 / 255)
    a = gone.astype(np.float32) * np.float32(1 / 255)
    # creases (x * (gain - whiten) + 255 whiten), then white fibres at torn edges (towards 250), then the
    # scanner lid where paper is gone: one affine map per pixel
    keep = (np.float32(1) - fibre) * (np.float32(1) - a)
    scale = (gain - whiten) * keep
    add = (np.float32(255) * whiten * (np.float32(1) - fibre) + np.float32(250) * fibre) * (np.float32(1) - a)
    img = channel_affine(page.image, [scale] * 3, [add + a * np.float32(v) for v in lid])
    mask = page.row_mask.copy()
    mask[(gone > 127) | (crack > 0)] = 0
    field = cockle_field(w, h, rng, uniform(rng, cfg.crumple_px, strength), rng.uniform(80.0, 250.0))
    warped, _ = warp_page(replace(page, image=img, row_mask=mask), Warp(placement(page, rng, SCAN), field),
                          tuple(float(v) for v in lid))
    return replace(warped, image=colour_finish(warped.image, rng, MILD_SCAN))
