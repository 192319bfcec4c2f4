"""Step 2 of the digitizer: find the page's rotation and grid scale, remove the grid.

Everything works on the page as an array (BGR uint8, H x W x 3):
- `load_image` reads a file with clear errors (zero-byte, truncated, not an image).
- `estimate_rotation` finds the small rotation (within +-5 deg) that makes the grid lines (or, without a
  grid, the traces and text) axis-aligned, from the sharpness of shear projections; `deskew` undoes it.
- `estimate_grid_period` reads the 1 mm grid period from the spectrum of the grid's line profiles.
- `ink_map` gives, per pixel, how much dark, unsaturated trace ink it holds (coloured grid suppressed by
  its chroma; grey grids of black-and-white scans by subtracting their periodic pattern).
- `lattice.column_source` (step 2b) says whether the grid's lines stand unevenly along x, and where;
  `lattice.page_shift_field` says the same per place, where cockled or bent paper moved them (on a
  screen photo `lattice.screen_shift_field`, smooth: the perspective its rectification left).
- `calibrate` runs them in order on a flat page (step 1, `rectify.flatten_page`, has already mapped a
  photographed page to the canonical frame) and returns the deskewed page, its ink map and a `Calibration`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from numba import njit

from pipeline.core.errors import PipelineError
from pipeline.core.images import decode_image
from pipeline.ecg.digitizer.flags import Flag
from pipeline.ecg.digitizer.lattice import (
    axis_scales,
    column_source,
    follow_field,
    page_shift_field,
    screen_shift_field,
    straighten_columns,
)
from pipeline.ecg.digitizer.rectify import IDENTITY, Rectification
from pipeline.ecg.layout import DPI, MM_PER_MV, MM_PER_S, PAGE_H, PAGE_MM_W, PAGE_W

FALLBACK_PX_PER_MM = DPI / 25.4
"""px/mm of the competition's 2200 px wide page (200 dpi); scaled by width when no grid is found."""
PAGE_SCALE_TOLERANCE = 0.1
"""A rectified page's grid period may differ this much (relative) from the page's own scale."""
MAX_ROTATION_DEG = 5.0
PRIOR_RANGE = 2.2
"""The grid's 1 mm period may differ from the page-size prior by up to this factor (crops, scans)."""
MIN_COMB_CONTRAST = 10.0


@dataclass(frozen=True)
class Calibration:
    """Scale and orientation of one page (in the deskewed page's pixels)."""

    px_per_mm: float
    rotation_deg: float
    grid_found: bool
    colour: bool
    line_width_px: float = 2.0
    flags: tuple[str, ...] = ()
    grid_strength: float = 0.0
    """Contrast of the grid's spectral comb (see GridPeriod.strength)."""
    grid_axis_periods: tuple[float, ...] = ()
    """px per mm measured on each axis (columns, rows) before they were combined."""

    @property
    def px_per_s(self) -> float:
        return self.px_per_mm * MM_PER_S

    @property
    def px_per_mv(self) -> float:
        return self.px_per_mm * MM_PER_MV


@dataclass(frozen=True)
class GridResult:
    """A calibrated page: the deskewed BGR image, its ink map (float32 in [0, 1]) and the calibration."""

    image: np.ndarray
    ink: np.ndarray
    calibration: Calibration
    rotation_matrix: np.ndarray = field(repr=False)
    """2x3 affine matrix mapping (rectified) page coordinates to deskewed ones."""
    rectification: Rectification = IDENTITY
    """The perspective map applied before the deskew (identity for flat pages)."""
    column_source: np.ndarray | None = field(default=None, repr=False)
    """x in the deskewed page of each column of `image` (None: the same x; see `lattice`)."""
    shift_field: np.ndarray | None = field(default=None, repr=False)
    """Per pixel of `image`, how far right of it (px) the straightened page showed it (None: not
    moved; see `lattice.shift_field`)."""
    grid_lines: np.ndarray | None = field(default=None, repr=False)
    """Bool mask of the ink pixels removed as grid lines (grey and b/w pages; None: none removed)."""
    features: ColourFeatures | None = field(default=None, repr=False)
    """`image`'s colour features, as calibrate computed them (None: not kept; see `page_features`)."""

    @property
    def resampled(self) -> bool:
        """Whether the page's pixels stand elsewhere than in the input: perspective-rectified, columns
        straightened or a warp field followed (the deskew's rotation aside)."""
        return self.rectification.applied or self.column_source is not None or self.shift_field is not None

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """Map (N, 2) page (x, y) points back to the original image's coordinates."""
        inv = cv2.invertAffineTransform(self.rotation_matrix)
        xy = np.array(xy, dtype=np.float64)
        if self.shift_field is not None and len(xy):
            h, w = self.shift_field.shape
            rows = np.clip(np.nan_to_num(np.rint(xy[:, 1])), 0, h - 1).astype(int)
            cols = np.clip(np.nan_to_num(np.rint(xy[:, 0])), 0, w - 1).astype(int)
            xy[:, 0] += self.shift_field[rows, cols]
        if self.column_source is not None:
            cols = np.arange(len(self.column_source), dtype=np.float64)
            xy[:, 0] = np.interp(xy[:, 0], cols, self.column_source)
        xy = xy @ inv[:, :2].T + inv[:, 2]
        return self.rectification.to_original(xy) if self.rectification.applied else xy

    def to_page(self, xy: np.ndarray, iterations: int = 3) -> np.ndarray:
        """Map (N, 2) original image points onto the page (the inverse of to_original; the shift
        field, given per page pixel, is undone by a few fixed-point steps)."""
        xy = np.array(xy, dtype=np.float64)
        if self.rectification.applied:
            xy = self.rectification.to_rectified(xy)
        m = self.rotation_matrix
        xy = xy @ m[:, :2].T + m[:, 2]
        if self.column_source is not None:
            xy[:, 0] = np.interp(xy[:, 0], self.column_source, np.arange(len(self.column_source), dtype=np.float64))
        if self.shift_field is not None and len(xy):
            h, w = self.shift_field.shape
            rows = np.clip(np.nan_to_num(np.rint(xy[:, 1])), 0, h - 1).astype(int)
            moved = xy[:, 0].copy()
            for _ in range(iterations):
                cols = np.clip(np.nan_to_num(np.rint(xy[:, 0])), 0, w - 1).astype(int)
                xy[:, 0] = moved - self.shift_field[rows, cols]
        return xy


# ------------------------------------------------------------------------------------------- reading
def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as a BGR uint8 array (H x W x 3); PipelineError naming the file if unusable."""
    path = Path(path)
    image = decode_image(path, cv2.IMREAD_UNCHANGED)
    try:
        return as_bgr(image)
    except ValueError as err:
        raise PipelineError(str(err), path) from err


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Any grey, BGR or BGRA array (uint8, uint16 or float in [0, 1]) as BGR uint8; alpha over white."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] < 32 or image.shape[1] < 32:
        raise ValueError(f"not a page image (shape {image.shape})")
    if image.dtype == np.uint16:
        image = (image / 257.0).round().astype(np.uint8)
    elif image.dtype.kind == "f":
        scale = 255.0 if np.nanmax(image) <= 1.0 else 1.0
        image = np.clip(np.nan_to_num(image * scale, nan=255.0), 0, 255).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        rgb = image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return rgb.round().astype(np.uint8)
    if image.shape[2] == 3:
        return np.ascontiguousarray(image)
    raise ValueError(f"unsupported number of channels ({image.shape[2]})")


# ------------------------------------------------------------------------------------------ colour
@dataclass(frozen=True)
class ColourFeatures:
    """Per-pixel darkness (1 - brightest channel), chroma (channel spread) and non-paper-ness
    (1 - darkest channel), after white balancing against the paper colour; all float32 in [0, 1]."""

    darkness: np.ndarray
    chroma: np.ndarray
    nonpaper: np.ndarray


def page_features(grid: GridResult) -> ColourFeatures:
    """The calibrated page's colour features: those calibrate kept, else computed (a page turned 180)."""
    return grid.features if grid.features is not None else colour_features(grid.image)


def colour_features(image: np.ndarray) -> ColourFeatures:
    sub = image[::4, ::4].reshape(-1, 3)
    # Paper white: a bright percentile per channel (robust to a tinted scan).
    white = np.maximum(np.percentile(sub, 97, axis=0), 32.0)
    chans = []
    for c in range(3):
        lut = np.clip(np.arange(256) * (255.0 / white[c]), 0, 255).round().astype(np.uint8)
        chans.append(cv2.LUT(image[:, :, c], lut))
    hi = cv2.max(cv2.max(chans[0], chans[1]), chans[2])
    lo = cv2.min(cv2.min(chans[0], chans[1]), chans[2])
    scale = np.float32(1.0 / 255.0)
    hi_f = hi.astype(np.float32) * scale
    lo_f = lo.astype(np.float32) * scale
    return ColourFeatures(darkness=1.0 - hi_f, chroma=hi_f - lo_f, nonpaper=1.0 - lo_f)


# ---------------------------------------------------------------------------------------- rotation
@njit(cache=True)
def _projection_scores(xs, ys, ws, tans, n_bins, offset, vertical):
    """Sharpness (sum of squared bin totals) of the weighted projection along each shear slope."""
    scores = np.zeros(tans.shape[0])
    prof = np.zeros(n_bins)
    for k in range(tans.shape[0]):
        t = tans[k]
        prof[:] = 0.0
        for i in range(xs.shape[0]):
            if vertical:
                p = xs[i] - ys[i] * t + offset
            else:
                p = ys[i] + xs[i] * t + offset
            b = int(p + 0.5)
            if 0 <= b < n_bins:
                prof[b] += ws[i]
        s = 0.0
        for b in range(n_bins):
            s += prof[b] * prof[b]
        scores[k] = s
    return scores


def _refine_peak(values: np.ndarray, i: int) -> float:
    """Sub-sample position of a maximum at index i by a parabola through its neighbours."""
    if i <= 0 or i >= len(values) - 1:
        return float(i)
    a, b, c = values[i - 1], values[i], values[i + 1]
    den = a - 2 * b + c
    return float(i) if den >= 0 else float(i + 0.5 * (a - c) / den)


def estimate_rotation(weight: np.ndarray, max_deg: float = MAX_ROTATION_DEG,
                      max_points: int = 200_000, border: float = 0.02) -> float:
    """Counter-clockwise page rotation in degrees (as displayed, y down) from a line-strength map.

    Projects the strongest pixels along sheared horizontal and vertical directions and returns the
    angle whose projections are sharpest: coarse on a half-size map, then fine at full size. Pixels
    within `border` (a fraction of the shorter side) of the image's edges do not count: a crop, a
    scanner's lid or a rotation's corner wedges leave dark bands there that run along the image's
    axes, not the page's, and outweigh a faint grid.
    """
    h, w = weight.shape
    thr = max(float(np.percentile(weight[::3, ::3], 80)), 0.15)
    m = int(border * min(h, w))
    inner = np.zeros(weight.shape, bool)
    inner[m:h - m, m:w - m] = True
    ys, xs = np.nonzero((weight > thr) & inner)
    if len(xs) < 200:
        return 0.0
    rng = np.random.default_rng(0)
    if len(xs) > max_points:
        pick = rng.choice(len(xs), max_points, replace=False)
        ys, xs = ys[pick], xs[pick]
    wts = weight[ys, xs].astype(np.float64)
    xs = xs.astype(np.float64) - w / 2.0
    ys = ys.astype(np.float64) - h / 2.0
    n_bins = int(h + w + 8)
    off = n_bins / 2.0

    def score(deg: np.ndarray, scale: float) -> np.ndarray:
        tans = np.tan(np.deg2rad(deg))
        hs = _projection_scores(xs * scale, ys * scale, wts, tans, n_bins, off, False)
        vs = _projection_scores(xs * scale, ys * scale, wts, tans, n_bins, off, True)
        return hs / hs.max() + vs / vs.max()

    coarse = np.arange(-max_deg, max_deg + 1e-9, 0.2)
    s = score(coarse, 0.5)
    best = coarse[int(np.argmax(s))]
    fine = best + np.arange(-0.3, 0.3 + 1e-9, 0.02)
    s = score(fine, 1.0)
    i = int(np.argmax(s))
    return float(best - 0.3 + 0.02 * _refine_peak(s, i))


def rotation_matrix(shape: tuple[int, int], rotation_deg: float) -> np.ndarray:
    """2x3 affine matrix that undoes a counter-clockwise rotation of rotation_deg about the centre."""
    h, w = shape[:2]
    return cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), -rotation_deg, 1.0)


def deskew(image: np.ndarray, rotation_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(deskewed image, its 2x3 matrix); no resampling when the rotation is negligible."""
    m = rotation_matrix(image.shape, rotation_deg)
    if abs(rotation_deg) < 0.02:
        return image, cv2.getRotationMatrix2D((0.0, 0.0), 0.0, 1.0)
    border = (255, 255, 255) if image.ndim == 3 else 0
    out = cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return out, m


# -------------------------------------------------------------------------------------- grid period
@dataclass(frozen=True)
class GridPeriod:
    px_per_mm: float
    found: bool
    strength: float
    """Spectral peak over the median of its neighbourhood (>= ~8 means a clear grid)."""
    axis_periods: tuple[float, ...] = ()
    """The px-per-mm estimate of each axis profile that gave one (columns, rows)."""


def _profile_spectrum(profile: np.ndarray, pad: int = 16) -> tuple[np.ndarray, np.ndarray]:
    p = profile - profile.mean()
    p = p * np.hanning(len(p))
    n = len(p) * pad
    spec = np.abs(np.fft.rfft(p, n))
    freqs = np.fft.rfftfreq(n)
    return freqs, spec


def _comb_fundamental(freqs: np.ndarray, spec: np.ndarray, f_lo: float, f_hi: float,
                      f_max: float) -> tuple[float, float]:
    """(fundamental frequency, strength) of the strongest harmonic comb k*f (k = 1..f_max/f).

    Every multiple of a comb's spacing scores as well as the spacing itself, so the lowest frequency
    scoring within 80 % of the best is taken (sub-multiples score lower: half their teeth miss).
    """
    df = freqs[1] - freqs[0]
    lo, hi = max(int(f_lo / df), 1), min(int(f_hi / df), len(freqs) - 1)
    cands = np.arange(lo, hi + 1)
    noise = float(np.median(spec[lo:min(int(f_max / df), len(spec) - 1)])) + 1e-12
    # The comb's teeth are a few bins wide after zero padding: take the local max of +-2 bins.
    peaks = spec.copy()
    for d in (1, 2):
        peaks[d:] = np.maximum(peaks[d:], spec[:-d])
        peaks[:-d] = np.maximum(peaks[:-d], spec[d:])
    k_max = max(int(f_max / (cands[0] * df)), 1)
    k = np.arange(1, k_max + 1)[:, None]
    idx = k * cands[None, :]
    valid = (idx * df <= f_max) | (k == 1)
    valid &= idx < len(spec)
    teeth = np.where(valid, peaks[np.minimum(idx, len(spec) - 1)], 0.0)
    scores = teeth.sum(axis=0) / np.maximum(valid.sum(axis=0), 1)
    best = float(scores.max())
    strong = np.nonzero(scores >= 0.8 * best)[0]
    i = int(strong[0])
    # Climb to the local maximum of that first strong candidate.
    while i + 1 < len(scores) and scores[i + 1] > scores[i]:
        i += 1
    return float(cands[i] * df), best / noise


def _refine_comb(freqs: np.ndarray, spec: np.ndarray, f0: float, f_max: float) -> float:
    """Least-squares spacing of the comb's clear teeth (peaks refined to sub-bin position)."""
    df = freqs[1] - freqs[0]
    noise = float(np.median(spec[: int(f_max / df)])) + 1e-12
    num = den = 0.0
    for k in range(1, max(int(f_max / f0), 1) + 1):
        c = int(round(k * f0 / df))
        half = max(int(0.25 * f0 / df), 2)
        a, b = max(c - half, 1), min(c + half, len(spec) - 2)
        if b <= a:
            continue
        j = a + int(np.argmax(spec[a:b + 1]))
        if spec[j] < 4.0 * noise:
            continue
        fk = (j + (_refine_peak(spec, j) - j)) * df
        w = float(spec[j]) ** 2
        num += w * k * fk
        den += w * k * k
    return num / den if den > 0 else f0


def _comb_contrast(freqs: np.ndarray, spec: np.ndarray, f0: float, f_max: float) -> float:
    """Mean spectrum on the comb's teeth over the mean half-way between them."""
    df = freqs[1] - freqs[0]
    k = np.arange(1, max(int(f_max / f0), 1) + 1)
    teeth = np.clip(np.round(k * f0 / df).astype(int), 0, len(spec) - 1)
    gaps = np.clip(np.round((k - 0.5) * f0 / df).astype(int), 0, len(spec) - 1)
    peak = np.maximum.reduce([spec[np.clip(teeth + d, 0, len(spec) - 1)] for d in (-2, -1, 0, 1, 2)])
    return float(peak.mean() / (spec[gaps].mean() + 1e-12))


def profile_period(profile: np.ndarray, prior: float) -> tuple[float, float] | None:
    """(px per mm, comb contrast) of one grid-strength profile, or None: the comb's spacing found by
    harmonic summation, taken as the 1 mm or the 5 mm one by the prior (within PRIOR_RANGE), refined
    over its teeth up to 2.3 per mm (higher ones are unreliable)."""
    if len(profile) < 64:
        return None
    freqs, spec = _profile_spectrum(profile)
    f_max = 2.3 * PRIOR_RANGE / prior
    f0, _ = _comb_fundamental(freqs, spec, 1.0 / (5 * prior * PRIOR_RANGE), PRIOR_RANGE / prior, f_max)
    if not np.isfinite(f0) or f0 <= 0:
        return None
    options = [1.0 / f0, 1.0 / (5.0 * f0)]
    rough = min(options, key=lambda p: abs(np.log(p / prior)))
    f_teeth = 2.3 / rough
    f0 = _refine_comb(freqs, spec, f0, f_teeth)
    if not np.isfinite(f0) or f0 <= 0:
        return None
    period = 1.0 / f0 if rough == options[0] else 1.0 / (5.0 * f0)
    if abs(np.log(period / prior)) > np.log(PRIOR_RANGE):
        return None
    return period, _comb_contrast(freqs, spec, f0, f_teeth)


def estimate_grid_period(grid: np.ndarray, prior_px_per_mm: float | None = None) -> GridPeriod:
    """px per mm from the line profiles of a grid-strength map (columns and rows summed).

    The grid's profile is a comb of spectral peaks: spacing 1/(5 mm) when major lines show, 1/(1 mm)
    when only minor lines do. The comb's spacing is found by harmonic summation; the page-size prior
    (the competition page's scale at this width, within a factor PRIOR_RANGE) says whether it is the
    1 mm or the 5 mm one. The estimate is refined by a least-squares fit over all clear teeth; the
    grid counts as found when the comb's teeth stand clearly above the spectrum between them.
    """
    h, w = grid.shape
    prior = prior_px_per_mm or FALLBACK_PX_PER_MM * w / PAGE_W
    estimates: list[tuple[float, float, int]] = []
    for profile in (grid.mean(axis=0), grid.mean(axis=1)):
        found = profile_period(profile, prior)
        if found is not None:
            estimates.append((*found, len(profile)))
    if not estimates:
        return GridPeriod(prior, False, 0.0)
    axes = tuple(round(float(p), 5) for p, _, _ in estimates)
    best = max(estimates, key=lambda e: e[1])
    good = [(p, n) for p, s, n in estimates if s >= MIN_COMB_CONTRAST and abs(p / best[0] - 1) < 0.01]
    if not good and len(estimates) == 2:
        # A faint grid (thresholded scan): both axes agreeing on the period is evidence enough.
        (p1, s1, n1), (p2, s2, n2) = estimates
        if min(s1, s2) >= 0.5 * MIN_COMB_CONTRAST and abs(p1 / p2 - 1) < 0.01:
            good = [(p1, n1), (p2, n2)]
    if not good and best[1] >= 0.5 * MIN_COMB_CONTRAST and abs(best[0] / prior - 1) < 0.04:
        # A faint comb right where a full page's grid would be (a scanner's scale is within a few %).
        good = [(best[0], best[2])]
    if not good:
        return GridPeriod(prior, False, best[1], axes)
    period = float(np.average([p for p, _ in good], weights=[n for _, n in good]))
    return GridPeriod(period, True, best[1], axes)


ROW_PERIOD_MAX_CHANGE = 0.03
"""Farthest a row's grid period may stand from the page's (a share) and still be the grid's: a screen
photo whose page period read 1 % long (its header and margins carry the moire) had rows at -1.0 to -2.1 %,
read by row_x_periods to within 0.07 % (own seed 6006, 6129735260: 2.30 -> 3.41 dB against a 1 % limit;
no other own-seed page of 777 / 4242 / 5151 / 6006 or crumpled print changed). A scanner's scale is within
a few %; a comb further off is moire."""


def row_x_periods(grid: np.ndarray, baselines: Sequence[float], half_height: float, px_per_mm: float,
                  max_change: float = ROW_PERIOD_MAX_CHANGE) -> list[float | None]:
    """Per trace row, the px per mm of the grid's columns in a band of +-half_height around its
    baseline, or None where its comb is not clear (contrast under MIN_COMB_CONTRAST) or is more than
    max_change from the page's px_per_mm. A photo rectified from slightly wrong corners keeps a
    keystone: its rows' time scales differ by a few tenths of a percent, which drifts a 10 s lead by
    several px."""
    h = grid.shape[0]
    out: list[float | None] = []
    for y in baselines:
        lo, hi = max(0, int(round(y - half_height))), min(h, int(round(y + half_height)) + 1)
        found = profile_period(grid[lo:hi].mean(axis=0), px_per_mm) if hi - lo >= 8 else None
        ok = found is not None and found[1] >= MIN_COMB_CONTRAST and abs(found[0] / px_per_mm - 1) <= max_change
        out.append(float(found[0]) if ok else None)
    return out


# ------------------------------------------------------------------------------------- grid removal
GRID_DARKNESS_QUANTILE = 85.0
"""Percentile of darkness over the grid-like pixels that stands for the grid's darkest lines ..."""
GRID_DARKNESS_MARGIN = 0.15
"""... plus this margin: chroma never explains away more darkness than that. Chosen on 24 crumpled
synthetic prints (own seed, not the bench's): percentile/margin 95/0.3, 95/0.15, 90/0.15, 85/0.15 and
90/0.1 gained +0.1, +2.9, +32.4, +41.1 and +41.5 dB summed over pages, the worst page at most -0.5 dB."""


def _chroma_subtraction(feat: ColourFeatures) -> tuple[float, float]:
    """(beta, cap): darkness minus min(beta * chroma, cap) reads a coloured grid as no ink.

    beta is how strongly chroma must be subtracted from darkness so that the coloured grid reads as no
    ink (0 for a page without colour). cap bounds that subtraction by the grid's own darkness: on a
    tinted JPEG page the thin dark trace takes on the paper's chroma (chroma is stored at half
    resolution), and a dark brown grid needs a large beta, which would otherwise erase the trace.
    """
    d = feat.darkness[::3, ::3].ravel()
    c = feat.chroma[::3, ::3].ravel()
    # Grid-like pixels: clearly coloured for their darkness (a tinted black trace mostly is not).
    colourful = (c > 0.05) & (c > 0.15 * d)
    if colourful.mean() < 0.03:
        return 0.0, 0.0
    ratio = (d[colourful] - 0.1) / c[colourful]
    beta = float(np.clip(np.percentile(ratio, 97), 0.3, 6.0))
    cap = float(np.percentile(d[colourful], GRID_DARKNESS_QUANTILE)) + GRID_DARKNESS_MARGIN
    return beta, cap


@njit(cache=True)
def _unsupported_lines(binary, ink, lines_per_strip, strip, max_band, contrast, run):
    """Pixels on grid-line rows that no ink continues across: True where the line alone is inked.

    lines_per_strip[y, s] marks row y as a grid line within column strip s. A pixel on such a row is
    kept (False) when ink continues for two pixels beyond the line's band above or below it, i.e. a
    trace crosses or runs along the line there, or when it lies on a stroke along the line: ink darker
    than the line's own (its row's median over the strip) by `contrast`, for at least `run` pixels
    along it (`_on_line_strokes`). Bands thicker than max_band are left alone.
    """
    h, w = binary.shape
    out = np.zeros((h, w), np.bool_)
    n_strips = lines_per_strip.shape[1]
    for s in range(n_strips):
        x0 = s * strip
        x1 = min(w, x0 + strip)
        y = 0
        while y < h:
            if not lines_per_strip[y, s]:
                y += 1
                continue
            a = y
            while y < h and lines_per_strip[y, s]:
                y += 1
            b = y  # band [a, b)
            if b - a > max_band:
                continue  # thicker than a grid line: a trace runs along it here, keep everything
            up = a - 1
            down = b
            stroke = _on_line_strokes(ink, a, b, x0, x1, contrast, run)
            for x in range(x0, x1):
                # Support: two inked pixels beyond the band (a line's own ragged fringe is one).
                above = up >= 1 and binary[up, x] and binary[up - 1, x]
                below = down < h - 1 and binary[down, x] and binary[down + 1, x]
                if above or below or stroke[x - x0]:
                    continue
                # The band and its anti-aliased fringe rows.
                for yy in range(max(a - 1, 0), min(b + 1, h)):
                    out[yy, x] = True
    return out


@njit(cache=True)
def _on_line_strokes(ink, a, b, x0, x1, contrast, run):
    """Per x in [x0, x1): whether a stroke lies on the line of rows [a, b) there, i.e. some row of the
    band holds ink darker than that row's median over [x0, x1) by `contrast`, for at least `run`
    consecutive x (a single dark speck of scan noise is none)."""
    darker = np.zeros(x1 - x0, np.bool_)
    if contrast <= 0:
        return darker
    for y in range(a, b):
        usual = np.median(ink[y, x0:x1])
        for x in range(x0, x1):
            if ink[y, x] > usual + contrast:
                darker[x - x0] = True
    stroke = np.zeros(x1 - x0, np.bool_)
    count = 0
    for i in range(len(darker)):
        count = count + 1 if darker[i] else 0
        if count >= run:
            stroke[i - count + 1:i + 1] = True
    return stroke


def _on_grid_phase(flagged: np.ndarray, period: float, tol: float = 1.2) -> np.ndarray:
    """Of the flagged row indices' mask, keep the bands of adjacent flagged rows that reach the
    dominant phase modulo the grid period. Whole bands: a line 3 px thick whose outer rows fell
    outside the tolerance would keep them, and they would read as ink continuing past the line."""
    ys = np.nonzero(flagged)[0]
    if len(ys) == 0:
        return flagged
    phase = ys % period
    bins = np.arange(0.0, period, 0.25)
    dist = np.abs(((phase[None, :] - bins[:, None]) + period / 2) % period - period / 2)
    best = bins[int(np.argmax((dist <= tol).sum(axis=1)))]
    keep = np.abs(((phase - best) + period / 2) % period - period / 2) <= tol
    band = np.concatenate([[0], np.cumsum(np.diff(ys) > 1)])  # band index of each flagged row
    keep = np.isin(band, band[keep])
    out = np.zeros_like(flagged)
    out[ys[keep]] = True
    return out


LINE_INK = 0.35
"""Ink from which a pixel counts as part of a grid line (remove_grid_lines) and, once removed, as a
removed line pixel (ink_and_grid_lines)."""
LINE_STROKE_CONTRAST = 0.3
"""A grid-line pixel this much darker than its line's usual ink (the median along the strip) lies on a
trace stroke and stays (with LINE_STROKE_RUN): on a page read from its darkness, and on grey prints whose
lines are lighter than the trace, a QRS stroke that runs down a vertical line (a few px wide, so no ink
continues two px beyond the line's band) was erased with it, and the path cut the spike (own 0003 page
2891900348 read from its darkness: the R and S strokes of V1-V3 split by white gaps). Chosen on own seeds
(`ecg synthetic`) 777 and 31337 (nine types x 6), 7070 (0006 x 24) and 4242 (0004, 0012 x 12): off / 0.2
/ 0.3 / 0.5 read 23.91 / 23.98 / 23.97 / 23.99, 22.99 / 23.13 / 23.10 / 23.01, 15.55 / 15.81 / 15.81 /
15.68 and 20.48 / 20.44 / 20.60 / 20.58 dB; 0.3 is the one that costs no type (0.2: 0004 18.09 -> 17.98)
and lifts 0004 to 18.23, 0006 16.73 -> 16.94, 0011 25.07 -> 25.56 over the four sets."""
LINE_STROKE_RUN = 4
"""... along at least this many px of the line: a stroke lying on a line runs along it, pixel noise
makes single dark specks (0.3 with runs of 1 / 4 px: 23.97 / 23.97, 23.11 / 23.10, 15.81 / 15.81,
20.58 / 20.60 dB on the same sets)."""
LINE_CORE_DROP = 0.15
"""A thick line band keeps the rows whose page-wide ink coverage is within this of its best row's (a
black major line's rows cover 0.9-0.96 of the page, the rows of a baseline running along it 0.4-0.5).
0.15 and 0.3 read alike on own-seed grey prints; 0.15 is the narrower cut."""


def _bands(rows: np.ndarray) -> list[np.ndarray]:
    """The runs of adjacent True rows of a row mask, each as its row indices (none: an empty list)."""
    ys = np.flatnonzero(rows)
    return [] if len(ys) == 0 else np.split(ys, np.flatnonzero(np.diff(ys) > 1) + 1)


def _line_cores(rows: np.ndarray, coverage: np.ndarray, max_band: int) -> np.ndarray:
    """Of the page-wide line rows, each band wider than max_band cut to its line: the rows covered
    almost as fully as its best one, at most max_band of them. A trace whose baseline runs along a
    grid line (ecg-image-kit draws baselines on major lines) widens that line's band page-wide."""
    out = rows.copy()
    for band in _bands(rows):
        if len(band) <= max_band:
            continue
        cov = coverage[band]
        core = band[cov >= cov.max() - LINE_CORE_DROP]
        core = core[np.argsort(coverage[core])[::-1][:max_band]]
        out[band] = False
        out[core] = True
    return out


LINE_FULL_SHARE = 0.7
"""A band of page-wide line rows is a grid line only if its best row's ink coverage reaches this share
of the median over the page's bands (a real b/w scan's lines cover 0.89-0.99 of the page, its row
baselines 0.41-0.54). Chosen on own-seed grey prints (0004, seeds 4242 / 5151 x 12): 0.5 / 0.7 / 0.85
read 15.83 / 15.86 / 15.93 and 17.21 / 17.31 / 17.31 dB (before: 15.55 / 17.10); 0.7 is mid-range,
leaving room for lines cut by a header box or a stain."""


def _full_lines(rows: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Of the page-wide line rows, the bands whose best row covers the page about as fully as the
    page's other lines do. A trace's flat baseline lies in one row across most of the page and may
    fall near the grid's phase, but it leaves that row at every wave."""
    bands = _bands(rows)
    if not bands:
        return rows
    best = np.array([coverage[b].max() for b in bands])
    floor = LINE_FULL_SHARE * float(np.median(best))
    out = np.zeros_like(rows)
    for band, peak in zip(bands, best):
        if peak >= floor:
            out[band] = True
    return out


LINE_MIN_SHARE = 0.05
"""Lines are removed in a direction only if at least this share of the lines its period implies (a
quarter of the major lines) were found there. On a page read from its darkness whose grid is too light to
count as ink, the "lines" found are the columns where the three rows' tall QRS strokes stand one above
the other (own 0006 page 9368734188: 3 columns of 301; its V4-V6 R waves lost their middles and were read
at a quarter height) or the rows' flat baselines. Own seeds 777 (nine types x 4): such "lines" number
0-13 per direction (at most 0.046 of the implied ones), a grid's 0.12-0.20. With the rule, 0006 at 777
/ 31337 (nine types x 4) / 7070 (0006 x 24) 14.89 / 14.60 / 15.90 -> 16.03 / 15.37 / 16.18 dB; 0010 at
777 16.37 -> 15.99 and 0001 at 31337 28.13 -> 27.88 (one page each now read from its darkness)."""


def remove_grid_lines(ink: np.ndarray, period: float, strip: int = 256, row_cover: float = 0.35,
                      col_cover: float = 0.35, max_band: int = 4) -> np.ndarray:
    """Zero thin straight grid lines left in an ink map (grey or thresholded scans).

    Within strips of the page, rows (columns) that hold ink along much of their length, in many
    strips, at the grid's phase (rows every `period` px) are grid lines; their pixels are removed
    except where ink continues beyond the line (a trace crossing or running along it) or a stroke darker
    than the line lies on it (LINE_STROKE_CONTRAST). Too few lines in a direction are no grid
    (LINE_MIN_SHARE). A line is at
    most max_band rows; a wider band page-wide is cut to its line (_line_cores), a wider band within
    one strip is a trace running along the line there and is kept.
    """
    binary = ink > LINE_INK
    out = ink.copy()
    for transpose, cover, size in ((False, row_cover, strip), (True, col_cover, 2 * strip)):
        b = binary.T if transpose else binary
        hh, ww = b.shape
        n_strips = (ww + size - 1) // size
        lines = np.zeros((hh, n_strips), np.bool_)
        for s in range(n_strips):
            lines[:, s] = b[:, s * size:(s + 1) * size].mean(axis=1) > cover
        if not lines.any():
            continue
        # A grid line crosses the page: keep rows flagged in many strips, so that a trace running
        # flat along a strip (or along a grid line there) is never taken for a line.
        coverage = b.mean(axis=1)
        page_wide = _full_lines(_on_grid_phase(lines.mean(axis=1) >= 0.4, period), coverage)
        cores = _line_cores(page_wide, coverage, max_band)
        if len(_bands(cores)) < LINE_MIN_SHARE * hh / period:
            continue  # a few tall strokes or flat baselines, not a grid
        lines &= cores[:, None]
        if not lines.any():
            continue
        drop = _unsupported_lines(np.ascontiguousarray(b), np.ascontiguousarray(ink.T if transpose else ink), lines,
                                  size, max_band, LINE_STROKE_CONTRAST, LINE_STROKE_RUN)
        out[drop.T if transpose else drop] = 0.0
    return out


def ink_map(image: np.ndarray, feat: ColourFeatures | None = None,
            grid_period: float | None = None) -> tuple[np.ndarray, bool]:
    """(ink strength in [0, 1] per pixel, whether the page has colour): see ink_and_grid_lines."""
    ink, colour, _ = ink_and_grid_lines(image, feat, grid_period)
    return ink, colour


def ink_and_grid_lines(image: np.ndarray, feat: ColourFeatures | None = None, grid_period: float | None = None,
                       subtract_chroma: bool = True) -> tuple[np.ndarray, bool, np.ndarray | None]:
    """(ink strength in [0, 1] per pixel, whether the page has colour, the pixels removed as grid
    lines or None).

    Darkness minus beta * chroma (beta fitted so that a coloured grid's pixels score about zero; 0 on
    a grey page; never more than the grid's own darkness, so a dark trace tinted by the page stays),
    normalised so that the trace core reads about 1; on a grey page with a grid of known period (px per
    mm) its straight lines are removed; page frames are removed. Without `subtract_chroma` every page is
    read as grey: its darkness alone, grid lines removed as on a grey page.
    """
    feat = feat or colour_features(image)
    beta, cap = _chroma_subtraction(feat) if subtract_chroma else (0.0, 0.0)
    colour = beta > 0.0
    ink = feat.darkness - np.minimum(beta * feat.chroma, np.float32(cap)) if colour else feat.darkness.copy()
    np.clip(ink, 0.0, None, out=ink)
    top = float(np.percentile(ink[::2, ::2], 99.7))
    if top < 0.05:
        top = max(float(ink.max()), 1e-3)
    ink = ink * np.float32(1.0 / (0.85 * top))
    np.clip(ink, 0.0, 1.0, out=ink)
    ink = ink.astype(np.float32, copy=False)
    lines = None
    if not colour and grid_period:
        kept = remove_grid_lines(ink, grid_period)
        lines = (ink > LINE_INK) & (kept == 0.0)
        ink = kept
    return remove_frame_lines(ink), colour, lines


def _long_runs(binary: np.ndarray, min_len: int) -> np.ndarray:
    """Mask of the horizontal runs of True at least min_len long (only rows that could hold one)."""
    out = np.zeros_like(binary)
    for y in np.nonzero(binary.sum(axis=1) >= min_len)[0]:
        row = np.concatenate([[0], binary[y].astype(np.int8), [0]])
        d = np.diff(row)
        starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
        for s, e in zip(starts, ends):
            if e - s >= min_len:
                out[y, s:e] = True
    return out


def remove_frame_lines(ink: np.ndarray, min_frac_w: float = 0.35, min_frac_h: float = 0.25) -> np.ndarray:
    """Zero straight ink lines far longer than any trace stroke (page frames, borders, rules)."""
    h, w = ink.shape
    binary = ink > 0.3
    lines = _long_runs(binary, max(int(min_frac_w * w), 3))
    lines |= _long_runs(binary.T, max(int(min_frac_h * h), 3)).T
    out = ink.copy()
    if lines.any():
        lines = cv2.dilate(lines.astype(np.uint8), np.ones((3, 3), np.uint8))
        out[lines > 0] = 0.0
    out[:2] = 0.0
    out[-2:] = 0.0
    out[:, :2] = 0.0
    out[:, -2:] = 0.0
    return out


def estimate_line_width(ink: np.ndarray) -> float:
    """Typical vertical thickness of the trace in px: median length of short ink runs in columns."""
    sub = ink[:, ::7] > 0.5
    d = np.diff(sub.astype(np.int8), axis=0)
    starts = np.nonzero(d.T == 1)
    ends = np.nonzero(d.T == -1)
    if len(starts[0]) == 0 or len(ends[0]) == 0:
        return 2.0
    lengths = []
    # Pair run starts and ends column by column.
    s_cols, s_rows = starts
    e_cols, e_rows = ends
    j = 0
    for c, r in zip(s_cols, s_rows):
        while j < len(e_cols) and (e_cols[j] < c or (e_cols[j] == c and e_rows[j] <= r)):
            j += 1
        if j < len(e_cols) and e_cols[j] == c:
            lengths.append(e_rows[j] - r)
    lengths = np.asarray(lengths)
    lengths = lengths[(lengths >= 1) & (lengths <= 8)]
    if len(lengths) < 20:
        return 2.0
    return float(np.clip(np.median(lengths), 1.0, 6.0))


# -------------------------------------------------------------------------------------------- all
def calibrate(image: np.ndarray, rect: Rectification = IDENTITY, page_aspect: float = PAGE_W / PAGE_H) -> GridResult:
    """Deskew a flat page, measure its grid and remove it: the input of layout detection and tracing.

    `image` is the page as read or, for a photo, as `rectify.flatten_page` left it (`rect`: how it was
    mapped; a page mapped onto the frame at `page_aspect` has a known scale that overrules moire).
    """
    image = as_bgr(image)
    flags: list[str] = []
    if rect.applied:
        flags.append(Flag.RECTIFIED_PAGE if rect.is_page else Flag.RECTIFIED_PLANE)
    if rect.moire_removed:
        flags.append(Flag.MOIRE_REMOVED)
    feat = colour_features(image)
    rotation = estimate_rotation(feat.nonpaper)
    if abs(rotation) >= MAX_ROTATION_DEG - 0.1:
        flags.append(Flag.ROTATION_AT_LIMIT)
    page, matrix = deskew(image, rotation)
    if page is not image:
        feat = colour_features(page)
    # Grid strength: coloured pixels (a coloured grid) or all non-paper pixels (grey grids).
    candidates = [(estimate_grid_period(feat.nonpaper), "nonpaper")]
    if float((feat.chroma[::3, ::3] > 0.05).mean()) > 0.03:
        candidates.append((estimate_grid_period(feat.chroma), "chroma"))
    found = [c for c in candidates if c[0].found]
    period, map_name = max(found, key=lambda c: c[0].strength) if found else candidates[0]
    if not period.found:
        flags.append(Flag.GRID_NOT_FOUND)
    # Once a screen's moire is notched out, a grid found is the paper's, and the quadrilateral taken
    # for the page may be the viewer's window around it. Own-seed screen photos (seeds 9090, 7070)
    # where the two disagreed: all 5 read better with the grid's scale, -10.3..-0.9 -> -9.6..18.4 dB.
    trust_grid = rect.moire_removed and period.found
    if rect.is_page:
        # The page was mapped onto the frame, so its scale is known; a grid period far from it is
        # moire or a screen's pixel raster, not the paper's grid (unless the moire was removed).
        h, w = image.shape[:2]
        page_ppm = min(w - 1.0, (h - 1.0) * page_aspect) / PAGE_MM_W
        if abs(period.px_per_mm / page_ppm - 1.0) > PAGE_SCALE_TOLERANCE and not trust_grid:
            period = GridPeriod(px_per_mm=page_ppm, found=True, strength=period.strength,
                                axis_periods=period.axis_periods)
            flags.append(Flag.SCALE_FROM_PAGE)
    source = shift = None
    if period.found:
        x_period = None
        if Flag.SCALE_FROM_PAGE not in flags:
            # Where the page's scale overruled the grid, both axes' periods are moire.
            px_per_mm, x_period = axis_scales(period.px_per_mm, period.axis_periods)
            period = replace(period, px_per_mm=px_per_mm)
        source = column_source(getattr(feat, map_name).mean(axis=0), period.px_per_mm, x_period,
                               follow_lines=not rect.applied)
        if source is not None:
            page = straighten_columns(page, source)
            feat = colour_features(page)
            flags.append(Flag.COLUMNS_STRAIGHTENED)
        # A screen's moire would pass for the 1 mm lines' wander: a screen photo's field is smooth.
        field_of = screen_shift_field if rect.screen else page_shift_field
        shift = field_of(getattr(feat, map_name), feat.darkness, period.px_per_mm)
        if shift is not None:
            page = follow_field(page, shift)
            feat = colour_features(page)
            flags.append(Flag.WARP_FOLLOWED)
    ink, colour, lines = ink_and_grid_lines(page, feat, period.px_per_mm if period.found else None)
    width = estimate_line_width(ink)
    cal = Calibration(px_per_mm=period.px_per_mm, rotation_deg=rotation, grid_found=period.found,
                      colour=colour, line_width_px=width, flags=tuple(flags),
                      grid_strength=float(period.strength), grid_axis_periods=period.axis_periods)
    return GridResult(image=page, ink=ink, calibration=cal, rotation_matrix=matrix, rectification=rect,
                      column_source=source, shift_field=shift, grid_lines=lines, features=feat)
