"""Step 2b of the digitizer: even out a page whose grid lines are unevenly spaced along x.

A scanner whose paper slips in the feed squeezes or stretches parts of the page: on the real
black-and-white scan of `kaggle-real` the 5 mm lines stand 34-36 px apart over the last 50 mm where
they stand 37.5 px apart elsewhere, so the traces there end 10 px (10 samples at 250 Hz) early. The
grid was printed with the traces, so where its lines stand says where each time lies.

- `lattice_residual` measures, along a line profile, how far the lines stand from an evenly spaced
  lattice of the grid's period: the local phase of the profile at the lattice frequency (a Gaussian
  window several lines wide), unwrapped. Straightened to that lattice, the page's x scale is the
  grid period that every later step uses, even where the scanner stretched the page as a whole.
- `column_source` turns that into the x of the deskewed page to read for each output column, or None
  when the lines already stand evenly (pages drawn by software) or the 5 mm lines cannot be followed.
  It also rescales x when the grid's period along x differs from the page's: a screen photo whose
  screen rather than page was mapped onto the frame comes out 1-4 % narrower along x than along y.
- `straighten_columns` resamples the page by it.
- `shift_field` measures the same in small windows all over the page, from the 1 mm lines: paper that
  cockled when wet (or bends in front of a camera) moves the lines by a few px in waves that differ from
  one row to the next, which no single column map can follow. `page_shift_field` keeps it where it
  stands clear of its noise (`field_noise`), and `follow_field` resamples the page by it along x.
- `screen_shift_field` does so on a screen photo with a smooth (quadratic) field, the perspective that
  rectifying it from slightly wrong corners leaves, which the moire on a screen cannot pass for.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d


@dataclass(frozen=True)
class LatticeConfig:
    window_mm: float = 10.0
    """Gaussian sigma of the window the local phase is measured over (two 5 mm lines each side)."""
    major_dominance: float = 1.0
    """Least ratio of the 5 mm lattice's amplitude to the 1 mm one's for the 5 mm lines to be followed
    (0.02-0.8 where they wandered on the synthetic bench; 1.2-2.4 on its pages with darker 5 mm lines)."""
    min_shift_px: float = 3.0
    """Largest residual (px) left alone: twice the most measured on an unwarped synthetic bench page."""
    reliable: float = 0.3
    """Fraction of the median lattice amplitude below which the phase is not measured (no grid)."""
    max_anisotropy: float = 0.005
    """Largest relative difference between the x axis's grid period and the page's left alone
    (drawn and scanned pages agree within 0.3 %; a screen photo whose screen, not its page, was
    mapped onto the frame is 1-4 % narrower along x than along y)."""
    max_squeeze: float = 0.1
    """Largest relative difference between the two axes' grid periods that is read as the page being
    squeezed along x; beyond it one axis measured moire or a screen's pixel raster (a 0006 screen
    photo read x at 4.27 px/mm and y at 7.87), and x is not rescaled."""
    field_window_mm: float = 3.0
    """Gaussian sigma of the windows in which `shift_field` measures where the 1 mm lines stand: paper
    that cockled when wet moves them in waves 20-60 mm long (2, 3 and 4 mm came within 0.5 dB of each
    other on own-seed stained prints)."""
    field_min_px: float = 0.5
    """Least 90th percentile of the field's |shift| for the page to be resampled by it. Unwarped
    own-seed pages measure 0.02-0.4 px of noise, and resampling by it costs up to 0.5 dB on a 30 dB
    page; cockled and photographed ones 0.8-4 px."""
    field_snr: float = 5.0
    """Least ratio of that percentile to the field's own noise (`field_noise`). Own-seed cockled and
    photographed prints measure 6-22; pixel noise and JPEG (ecg-image-kit's augmented pages) make
    fields of 0.5-0.6 px whose noise is a third to half of that."""
    ink_contrast: float = 0.2
    """Darkness above the paper around it (a 2 mm blur) that marks trace ink, left out of the grid map
    the field is measured on: a QRS stroke shows at every frequency and pulls the lines' phase."""
    screen_min_px: float = 2.0
    """Least 90th percentile of a screen photo's smooth field (`screen_shift_field`, about its median)
    for the page to be resampled by it: below it the field is the measurement's own error (JPEG, moire
    and its notch move the measured lines by about a px). Chosen on own-seed screen photos (seeds 6006,
    7070, 9090: 72 pages) with a prototype of the fit: 0.5 / 1 / 1.5 / 2 px changed them by +0.28 /
    +0.26 / +0.31 / +0.32 dB a page on average, the worst page losing 2.2 / 2.2 / 0.5 / 0.4 dB."""
    screen_agree_px: float = 2.0
    """Largest 90th percentile of the difference between the smooth fields fitted to the 1 mm and to
    the 5 mm lines for a screen photo to be resampled: a perspective moves both alike, while a wrong
    lattice (moire read as lines, a phase that wrapped over a whole region) moves one. On the same
    pages 1 / 2 px / no limit: +0.15 / +0.32 / +0.33 dB a page, the worst page -0.4 / -0.4 / -4.8 dB.
    As landed (both 2 px): 15 of the 72 pages change, by -0.4 to +8.3 dB, +0.37 dB on average."""


def axis_scales(px_per_mm: float, axis_periods: tuple[float, ...],
                config: LatticeConfig = LatticeConfig()) -> tuple[float, float | None]:
    """(px per mm that scales amplitudes, the x axis's own period for `column_source`, or None) from the
    grid's overall period and its (columns, rows) periods. Where the two axes differ by more than
    `max_anisotropy` (and at most `max_squeeze`) the rows' period scales amplitudes and x is rescaled
    to it; where they differ by more, one axis is moire and the overall period stands alone."""
    if len(axis_periods) != 2:
        return px_per_mm, None
    x_period, y_period = axis_periods
    squeeze = abs(x_period / y_period - 1.0)
    if squeeze > config.max_squeeze:
        return px_per_mm, None
    if squeeze > config.max_anisotropy:
        return y_period, x_period
    return px_per_mm, x_period


def local_lattice(profile: np.ndarray, period: float, sigma: float) -> np.ndarray:
    """Complex local Fourier coefficient of the profile at the lattice frequency 1/period, per position
    (a Gaussian window of sigma px): its amplitude says how strongly lines of that spacing show, its
    phase where they stand."""
    x = np.arange(len(profile), dtype=np.float64)
    detrended = profile - gaussian_filter1d(profile.astype(np.float64), period)
    z = detrended * np.exp(-2j * np.pi * x / period)
    return gaussian_filter1d(z.real, sigma) + 1j * gaussian_filter1d(z.imag, sigma)


def lattice_residual(profile: np.ndarray, period: float, sigma: float,
                     reliable: float = LatticeConfig.reliable) -> tuple[np.ndarray, np.ndarray]:
    """(px by which the lines near each position stand off an evenly spaced lattice of `period`,
    where that was measured). Positive: the lines stand right of where the lattice puts them. Within
    sigma of the image's ends, and where the lattice's amplitude is below `reliable` times its median
    (margins, labels), the residual is not measured and the nearest measured one holds."""
    n = len(profile)
    local = local_lattice(profile, period, sigma)
    amplitude = np.abs(local)
    ok = amplitude > reliable * np.median(amplitude)
    edge = int(np.ceil(sigma))
    ok[:edge] = ok[n - edge:] = False  # the window runs off the image there
    if ok.sum() < 2:
        return np.zeros(n), ok
    return _unwrapped_residual(local, ok, period), ok


def _unwrapped_residual(local: np.ndarray, ok: np.ndarray, period: float) -> np.ndarray:
    """px by which the lines stand off the lattice at each position of the 1-D coefficients `local`,
    measured where `ok` (at least two places) and carried to the others by linear interpolation."""
    idx = np.flatnonzero(ok)
    # Unwrap only across measured positions: a gap without lines says nothing about the phase there.
    shift = -np.unwrap(np.angle(local[idx])) * period / (2 * np.pi)
    residual = shift - np.mean(shift)  # the lattice's phase is arbitrary, its period is not
    return np.interp(np.arange(len(local), dtype=np.float64), idx, residual)


def column_source(profile: np.ndarray, px_per_mm: float, x_px_per_mm: float | None = None,
                  follow_lines: bool = True, config: LatticeConfig = LatticeConfig()) -> np.ndarray | None:
    """For each column of the straightened page, the x of the deskewed page it shows (it may have more
    or fewer columns than the page); None when nothing needs straightening. `profile` is the grid's
    strength summed down each column, `x_px_per_mm` the grid period measured along x alone.

    Two corrections, each applied only when it is clearly needed:
    - the whole x axis is rescaled to `px_per_mm` when its own period differs by more than
      `max_anisotropy` (one scale then serves time and amplitude);
    - with `follow_lines`, the 5 mm lines are followed: a drift of a few px between two of them cannot
      be mistaken for the next line, as it could between 1 mm lines. Their phase is only measurable
      where they dominate the grid's comb (the 5 mm coefficient at least `major_dominance` times the
      1 mm one); where they do not, it wanders by up to 60 px on the synthetic bench's unwarped pages.
    """
    n = len(profile)
    scale = 1.0  # deskewed px per straightened px
    if x_px_per_mm and abs(x_px_per_mm / px_per_mm - 1.0) > config.max_anisotropy:
        scale = x_px_per_mm / px_per_mm
    cols = np.arange(int(round(n / scale)), dtype=np.float64)
    if scale != 1.0:
        profile = np.interp(cols * scale, np.arange(n, dtype=np.float64), profile)
    residual = np.zeros(len(cols))
    if follow_lines:
        sigma = config.window_mm * px_per_mm
        major = np.median(np.abs(local_lattice(profile, 5.0 * px_per_mm, sigma)))
        minor = np.median(np.abs(local_lattice(profile, px_per_mm, sigma)))
        if major >= config.major_dominance * minor:
            shift, ok = lattice_residual(profile, 5.0 * px_per_mm, sigma, config.reliable)
            if ok.any() and np.abs(shift[ok]).max() > config.min_shift_px:
                residual = shift
    if scale == 1.0 and not residual.any():
        return None
    return (cols + residual) * scale


def straighten_columns(image: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The image with column u read from x = source[u] (linear interpolation; rows unchanged)."""
    h, w = image.shape[0], len(source)
    return _remap_x(image, np.broadcast_to(source.astype(np.float32)[None, :], (h, w)).copy())


def _remap_x(image: np.ndarray, map_x: np.ndarray) -> np.ndarray:
    """The image with pixel (x, y) read from (map_x[y, x], y) (linear interpolation, white outside)."""
    h, w = map_x.shape
    map_y = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w)).copy()
    border = (255, 255, 255) if image.ndim == 3 else 0
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)


FIELD_STEP = 4
"""Pixels averaged together along each axis once the lattice is demodulated: the field varies over
tens of px, so `shift_field` measures it on a grid 4 times coarser each way."""


def _lattice_field(grid: np.ndarray, period: float, sigma: float) -> np.ndarray:
    """Complex local Fourier coefficient at 1/period along x (`local_lattice` in two dimensions) in
    Gaussian windows of sigma px, on blocks of FIELD_STEP x FIELD_STEP px. (A window several periods
    wide already drops the map's slow variations, so the map is not detrended first.)"""
    h, w = grid.shape
    blocks = (w // FIELD_STEP, h // FIELD_STEP)
    phase = 2 * np.pi * np.arange(w) / period
    grid = grid.astype(np.float32, copy=False)
    real = cv2.resize(grid * np.cos(phase).astype(np.float32), blocks, interpolation=cv2.INTER_AREA)
    imag = cv2.resize(grid * -np.sin(phase).astype(np.float32), blocks, interpolation=cv2.INTER_AREA)
    window = sigma / FIELD_STEP
    return cv2.GaussianBlur(real, (0, 0), window) + 1j * cv2.GaussianBlur(imag, (0, 0), window)


def shift_field(grid: np.ndarray, period: float, sigma: float,
                reliable: float = LatticeConfig.reliable) -> np.ndarray:
    """Per pixel of `grid` (H, W), px by which the vertical lines of `period` near it stand right of an
    evenly spaced lattice: its column's residual (`lattice_residual`'s unwrapped phase, of the lines
    down the whole column) plus how the window around the pixel differs from its column (less than
    half a period on paper that cockled, so that phase needs no unwrapping). Where the lines are too
    faint to be measured (margins, labels, traces), the field is spread in from around (a 4 sigma
    Gaussian of the measured values)."""
    h, w = grid.shape
    local = _lattice_field(grid, period, sigma)
    bw = local.shape[1]
    amplitude = np.abs(local)
    ok = amplitude > reliable * np.median(amplitude)
    edge = int(np.ceil(2 * sigma / FIELD_STEP))
    ok[:, :edge] = ok[:, bw - edge:] = False  # the window runs off the image there
    column = (local * ok).sum(axis=0)
    column_ok = np.abs(column) > reliable * np.median(np.abs(column))
    column_ok[:edge] = column_ok[bw - edge:] = False
    if column_ok.sum() < 2 or ok.sum() < 2:
        return np.zeros((h, w), np.float32)
    along = _unwrapped_residual(column, column_ok, period)
    off_column = -np.angle(local * np.conj(column)[None, :]) * period / (2 * np.pi)
    weight = ok.astype(np.float32)
    spread = 4 * sigma / FIELD_STEP
    filled = (cv2.GaussianBlur((off_column * weight).astype(np.float32), (0, 0), spread)
              / np.maximum(cv2.GaussianBlur(weight, (0, 0), spread), 1e-6))
    blocks = (along[None, :] + np.where(ok, off_column, filled)).astype(np.float32)
    # Block centres sit at FIELD_STEP * i + (FIELD_STEP - 1) / 2: resize maps them there.
    return cv2.resize(blocks, (w, h), interpolation=cv2.INTER_LINEAR) if blocks.shape != (h, w) else blocks


def field_noise(grid: np.ndarray, period: float, sigma: float, reliable: float = LatticeConfig.reliable,
                band: int = 8) -> float:
    """How much of `shift_field` is noise: half the 90th percentile of the difference between the
    fields measured on alternate bands of `band` rows (each band blanked to the map's median in the
    other). Pixel noise and JPEG blocks differ from one band to the next; a warp does not."""
    blank = np.float32(np.median(grid[::4, ::4]))
    even = ((np.arange(grid.shape[0]) // band) % 2 == 0)[:, None]
    a = shift_field(np.where(even, grid, blank), period, sigma, reliable)
    b = shift_field(np.where(even, blank, grid), period, sigma, reliable)
    return float(np.percentile(np.abs(a - b)[::FIELD_STEP, ::FIELD_STEP], 90)) / 2.0


def _without_ink(grid: np.ndarray, darkness: np.ndarray, px_per_mm: float, contrast: float) -> np.ndarray:
    """The grid map with trace ink (darker than the paper around it by `contrast`) set to its median."""
    h, w = darkness.shape
    small = cv2.resize(darkness, (w // FIELD_STEP, h // FIELD_STEP), interpolation=cv2.INTER_AREA)
    around = cv2.resize(cv2.GaussianBlur(small, (0, 0), 2.0 * px_per_mm / FIELD_STEP), (w, h),
                        interpolation=cv2.INTER_LINEAR)
    return np.where(darkness - around > contrast, np.float32(np.median(grid[::4, ::4])), grid)


def page_shift_field(grid: np.ndarray, darkness: np.ndarray, px_per_mm: float,
                     config: LatticeConfig = LatticeConfig()) -> np.ndarray | None:
    """`shift_field` of a page's grid map along its 1 mm lines with the trace ink left out (set to the
    map's median), or None when the page's grid stands evenly enough (`field_min_px`) or the field
    does not stand clear of its own noise (`field_snr`)."""
    grid = _without_ink(grid, darkness, px_per_mm, config.ink_contrast)
    sigma = config.field_window_mm * px_per_mm
    field = shift_field(grid, px_per_mm, sigma, config.reliable)
    size = float(np.percentile(np.abs(field[::FIELD_STEP, ::FIELD_STEP]), 90))
    if size <= config.field_min_px:
        return None
    if size <= config.field_snr * field_noise(grid, px_per_mm, sigma, config.reliable):
        return None
    return field


SMOOTH_STEP = 16
"""Spacing (px) of the field samples a smooth field is fitted to."""


def _quadratic_terms(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    return [np.ones_like(x), x, y, x * x, x * y, y * y]


def fit_smooth_field(field: np.ndarray, period: float, margin: float = 0.1, rounds: int = 20) -> np.ndarray:
    """Coefficients of the quadratic in (x / w - 0.5, y / h - 0.5) that fits a `shift_field` measured
    along lines `period` px apart. The lattice's phase is only known up to a whole period, so a region
    whose measurement wrapped stands a period off: each round (until the fit settles, at most `rounds`)
    re-reads every sample at the whole period nearest the last fit and drops those still more than a
    quarter period off, so the fit walks off a wrapped region that first pulled it. The left and right
    `margin` (fraction of the width) are left out: there the windows run off the grid."""
    h, w = field.shape
    ys, xs = np.mgrid[0:h:SMOOTH_STEP, 0:w:SMOOTH_STEP]
    design = np.stack(_quadratic_terms((xs / w - 0.5).ravel(), (ys / h - 0.5).ravel()), axis=1)
    values = field[::SMOOTH_STEP, ::SMOOTH_STEP].ravel().astype(np.float64)
    inside = ((xs > margin * w) & (xs < (1.0 - margin) * w)).ravel()
    coef = np.linalg.lstsq(design[inside], values[inside], rcond=None)[0]
    for _ in range(rounds):
        fit = design @ coef
        off = (values - fit + period / 2) % period - period / 2
        keep = inside & (np.abs(off) < period / 4)
        last, coef = coef, np.linalg.lstsq(design[keep], (fit + off)[keep], rcond=None)[0]
        if np.abs(coef - last).max() < 1e-3:
            break
    return coef


def smooth_field(coef: np.ndarray, shape: tuple[int, int], step: int = 1) -> np.ndarray:
    """The quadratic field of `fit_smooth_field`'s coefficients on an image of `shape`, every `step` px."""
    h, w = shape
    ys, xs = np.mgrid[0:h:step, 0:w:step].astype(np.float32)
    terms = _quadratic_terms(xs / np.float32(w) - np.float32(0.5), ys / np.float32(h) - np.float32(0.5))
    return sum(np.float32(c) * t for c, t in zip(coef, terms)).astype(np.float32)


def screen_shift_field(grid: np.ndarray, darkness: np.ndarray, px_per_mm: float,
                       config: LatticeConfig = LatticeConfig()) -> np.ndarray | None:
    """A smooth field (`fit_smooth_field`) of where a screen photo's vertical grid lines stand, or None.

    A screen photo rectified from corners a few px off keeps a perspective: the time scale then
    changes along each row and from row to row, and its beats come out up to 15 ms early or late in a
    bow. The free field (`page_shift_field`) would follow the moire left on a screen, so the field here
    is fitted by a quadratic, once along the 1 mm and once along the 5 mm lines. It is the 5 mm fit (a
    camera blurs the 1 mm lines more), kept when it moves the lines by more than `screen_min_px` and
    the two fits agree within `screen_agree_px`.
    """
    grid = _without_ink(grid, darkness, px_per_mm, config.ink_contrast)
    fits = []
    for period, window_mm in ((px_per_mm, config.field_window_mm), (5.0 * px_per_mm, config.window_mm)):
        coef = fit_smooth_field(shift_field(grid, period, window_mm * px_per_mm, config.reliable), period)
        sampled = smooth_field(coef, grid.shape, SMOOTH_STEP)
        fits.append((coef, sampled - np.median(sampled)))
    (_, minor), (coef, major) = fits
    if np.percentile(np.abs(major), 90) <= config.screen_min_px:
        return None
    if np.percentile(np.abs(major - minor), 90) > config.screen_agree_px:
        return None
    return smooth_field(coef, grid.shape)


def follow_field(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """The image with pixel (x, y) read from (x + field[y, x], y) (linear interpolation)."""
    return _remap_x(image, np.arange(field.shape[1], dtype=np.float32)[None, :] + field)
