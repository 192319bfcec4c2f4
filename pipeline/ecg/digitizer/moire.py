"""Step 1b of the digitizer: a screen's moire taken out of a photographed page.

A phone photo of a page shown on a screen records the screen's pixel raster beating with the camera's
own as broad diagonal bands (moire) all over the page. A trace drawn thin and grey on the screen is no
darker than the bands, so the ink map breaks its steep strokes into dashes along them and the tracer
cuts every tall QRS short. In a small tile the bands are a few narrow peaks of the 2-D spectrum, away
from the two axes where the grid's lines and the trace's flat runs and steep strokes put their energy
(and off the lattice of the axes' peaks, where a grid's crossings put theirs), while a stroke spreads
its energy over all frequencies. So each tile's peaks off the axes are lowered
to the spectrum's local level there (a notch filter, as in descreening a halftone print): the bands go
and the strokes stay where they were.

Tiles overlap by half under a Hann window and are blended by their windows' weights; the page is
padded by reflection first, so that its edges are covered like its middle. The peaks are found on the
grey page (the mean of the channels) and the same gains are applied to every channel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.fft


@dataclass(frozen=True)
class MoireConfig:
    """How moire peaks are found in a tile's spectrum and when a page is treated."""

    tile_px: int = 256
    """Side of the square tiles (px): long enough to hold a few periods of the bands (10-50 px on our
    screen photos), short enough that their curvature under the camera's perspective stays small."""
    peak_excess: float = 6.0
    """A spectral bin is a peak where its magnitude exceeds the local level (a Gaussian of the log
    magnitude, `level_sigma_bins` wide) by this factor."""
    level_sigma_bins: float = 3.0
    """Width (bins) of the Gaussian that gives the spectrum's local level around a bin."""
    period_px: tuple[float, float] = (2.2, 48.0)
    """Only bands with a period in this range (px) are peaks: slower ones are the light's shading,
    which the page's levelling already took."""
    axis_guard_deg: float = 10.0
    """Bins within this angle of either axis are never peaks: the grid's lines, flat runs and steep
    strokes (and a page still rotated by a few degrees) put their energy there."""
    axis_guard_bins: int = 3
    """Nor are bins this close to either axis (the slow wander of a row's baseline)."""
    min_share: float = 0.01
    """A rectified photo is treated when its raster was seen (`rectify.raster_texture`) or when off-axis
    peaks hold at least this share of its spectrum's energy in the band (median over a 3 x 3 sample of
    tiles). Own-seed screen photos (seeds 777, 6006, 9090; 46 pages) read 0.001-0.83, median 0.14; own
    photos of paper (29 pages) at most 0.003, own unrectified pages (42) at most 0.006."""


MOIRE = MoireConfig()


@functools.lru_cache(maxsize=4)
def _spectrum_masks(n: int, cfg: MoireConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Hann window n x n, band mask, off-axis peak candidates) for an rfft2 of an n x n tile."""
    window = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    radius = np.hypot(fy, fx)
    band = (radius > 1.0 / cfg.period_px[1]) & (radius < 1.0 / cfg.period_px[0])
    angle = np.degrees(np.arctan2(np.abs(fy), fx))
    off_axis = (angle > cfg.axis_guard_deg) & (angle < 90.0 - cfg.axis_guard_deg)
    off_axis &= (np.abs(fy) * n >= cfg.axis_guard_bins) & (fx * n >= cfg.axis_guard_bins)
    return window, band, band & off_axis


def peak_gains(spectrum: np.ndarray, cfg: MoireConfig = MOIRE) -> tuple[np.ndarray, float]:
    """(gain per bin, share of the band's energy in peaks) of one tile's rfft2 (n x n/2+1): 1 everywhere
    but on the off-axis peaks (and their 8 neighbours), where the gain takes the bin down to the local level."""
    n = spectrum.shape[0]
    _, band, candidates = _spectrum_masks(n, cfg)
    magnitude = np.abs(spectrum).astype(np.float32)
    log_mag = np.log(magnitude + np.float32(1e-3))
    # The local level, blurred with the zero frequency in the middle so that the blur stays local.
    centred = np.fft.fftshift(log_mag, axes=0)
    level = np.fft.ifftshift(cv2.GaussianBlur(centred, (0, 0), cfg.level_sigma_bins,
                                              borderType=cv2.BORDER_REFLECT), axes=0)
    power = magnitude * magnitude
    band_power = float(power[band].sum())
    # A peak rises above its surroundings and above the band's average bin (not noise on noise).
    floor = np.float32(0.5 * np.log(band_power / max(int(band.sum()), 1) + 1e-12))
    excess = (log_mag - level > np.log(cfg.peak_excess)) & (log_mag > floor)
    peaks = candidates & excess & ~_grid_lattice(log_mag, cfg, floor)
    share = float(power[peaks].sum() / max(band_power, 1e-9))
    peaks = cv2.dilate(peaks.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    gains = np.ones_like(log_mag)
    gains[peaks] = np.exp(np.minimum(level[peaks] - log_mag[peaks], 0.0))
    return gains, share


def _axis_peaks(profile: np.ndarray, sigma: float, excess: float, floor: float) -> np.ndarray:
    """Bins of a log-magnitude profile along one axis that stand above its own local level (a comb's
    teeth, not the smooth ridge of a single line) and above `floor`."""
    level = cv2.GaussianBlur(profile.reshape(1, -1), (0, 0), sigma, borderType=cv2.BORDER_REFLECT).ravel()
    return (profile - level > np.log(excess)) & (profile > floor)


def _grid_lattice(log_mag: np.ndarray, cfg: MoireConfig, floor: float) -> np.ndarray:
    """Bins where a grid's crossings put their energy: (fy, fx) with a peak at fx along the horizontal
    axis and one at fy along the vertical axis (within `axis_guard_bins` of them: the grid a little
    rotated), and weaker than both. Where lines cross, the pixel is not darkened twice, so the page
    holds a product of the two line sets as well as their sum, and that product has its peaks on the
    lattice of the two axes' peaks, below them. (A band's own peak stands above the leakage it puts
    near the axes.)"""
    near = cfg.axis_guard_bins
    width = np.ones(2 * near + 1, np.uint8)
    along_x = log_mag[np.r_[0:near + 1, -near:0]].max(axis=0)  # near fy = 0
    along_y = np.fft.fftshift(log_mag[:, :near + 1].max(axis=1))  # near fx = 0, zero frequency centred
    peaks_x = _axis_peaks(along_x, cfg.level_sigma_bins, cfg.peak_excess, floor)
    peaks_y = np.fft.ifftshift(_axis_peaks(along_y, cfg.level_sigma_bins, cfg.peak_excess, floor))
    lattice = cv2.dilate(np.outer(peaks_y, peaks_x).astype(np.uint8), np.outer(width, width)) > 0
    reach_x = cv2.dilate(along_x.reshape(1, -1), width.reshape(1, -1)).ravel()
    reach_y = np.fft.ifftshift(cv2.dilate(along_y.reshape(-1, 1), width.reshape(-1, 1)).ravel())
    return lattice & (log_mag < np.minimum.outer(reach_y, reach_x))


def _grey(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32).mean(axis=2) if image.ndim == 3 else image.astype(np.float32)


def moire_share(image: np.ndarray, cfg: MoireConfig = MOIRE, grid: int = 3) -> float:
    """Median over a grid x grid sample of tiles of the share of the band's energy in off-axis peaks:
    how much of the page's fine texture is moire (0 on a page without it)."""
    grey = _grey(image)
    n = cfg.tile_px
    h, w = grey.shape
    if h < n or w < n:
        return 0.0
    window, _, _ = _spectrum_masks(n, cfg)
    shares = []
    for gy in range(grid):
        for gx in range(grid):
            y, x = int((h - n) * (gy + 0.5) / grid), int((w - n) * (gx + 0.5) / grid)
            tile = grey[y:y + n, x:x + n]
            shares.append(peak_gains(scipy.fft.rfft2((tile - tile.mean()) * window), cfg)[1])
    return float(np.median(shares))


def _starts(length: int, n: int) -> list[int]:
    """Tile origins every n/2 px covering [0, length) (length >= n), the last one flush with the end."""
    starts = list(range(0, length - n + 1, n // 2))
    if starts[-1] != length - n:
        starts.append(length - n)
    return starts


def remove_moire(image: np.ndarray, cfg: MoireConfig = MOIRE) -> np.ndarray:
    """The page (H x W x 3 uint8) with every tile's off-axis spectral peaks lowered to the local level."""
    n = cfg.tile_px
    pad = n // 2
    h, w = image.shape[:2]
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    planes = np.ascontiguousarray(np.moveaxis(padded.reshape(*padded.shape[:2], -1), -1, 0), np.float32)
    window, _, _ = _spectrum_masks(n, cfg)
    total = np.zeros(planes.shape, np.float32)
    weight = np.zeros(planes.shape[1:], np.float32)
    for y in _starts(planes.shape[1], n):
        for x in _starts(planes.shape[2], n):
            tile = planes[:, y:y + n, x:x + n]
            means = tile.reshape(len(tile), -1).mean(axis=1)[:, None, None]
            spectra = scipy.fft.rfft2((tile - means) * window)
            gains, _ = peak_gains(spectra.mean(axis=0), cfg)
            filtered = scipy.fft.irfft2(spectra * gains, s=(n, n))
            total[:, y:y + n, x:x + n] += filtered + means * window
            weight[y:y + n, x:x + n] += window
    total /= np.maximum(weight, np.float32(1e-6))
    out = np.moveaxis(total[:, pad:pad + h, pad:pad + w], 0, -1)
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return out if image.ndim == 3 else out[..., 0]
