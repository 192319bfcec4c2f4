"""Orientation: the page checks before step 1, and how a page read turned is recognised and mapped back.

`check_page` refuses pages too small or blank to read and says whether a page looks turned by 90 degrees
(portrait with vertical traces); `looks_upright` tells from a reading's lead changes (`row_breaks`) whether
it was read the right way up. `turned_grid` gives the calibrated page turned by 180 degrees (so the
retry skips steps 1-2) and `turned_result` maps a turned reading's paths back and flags it.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.ecg.digitizer.flags import turned
from pipeline.ecg.digitizer.grid import GridResult, ink_map
from pipeline.ecg.digitizer.result import Digitized
from pipeline.ecg.digitizer.trace import RowTrace, breaks_of_row
from pipeline.ecg.layout import DURATION_S, N_COLUMNS, PageLayout

MIN_LONG_SIDE = 550
"""Smallest page read: 550 px across a 280 mm page is 2 px per mm, about the least that shows the grid."""
CHECK_SIDE = 550
BLANK_CONTRAST, BLANK_FRACTION = 48.0, 0.002
"""Blank: fewer than 0.2% of pixels 48 grey levels darker than the paper (pages measured 3% to 80%)."""
PORTRAIT_RATIO, VERTICAL_RATIO = 1.05, 1.3
"""Turned by 90 degrees: taller than wide, and the ink's column profile varies 1.3x as much as its row
profile (13 pages measured: turned scans and renders 1.6x to 2.8x; upright ones 0.99x to 2.8x the other
way; photos, about 1x either way, are not recognised as turned)."""


def _small(image: np.ndarray, long_side: int = CHECK_SIDE) -> np.ndarray:
    h, w = image.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _profile_variation(ink: np.ndarray, axis: int) -> float:
    """Coefficient of variation of the (5-px smoothed) mean ink along `axis`: rows of traces are peaks."""
    profile = np.convolve(ink.mean(axis=axis), np.ones(5) / 5, mode="same")
    return float(profile.std() / max(profile.mean(), 1e-6))


def check_page(image: np.ndarray) -> bool:
    """Reject what cannot be an ECG page worth reading (PipelineError with the reason): too small to hold
    a 1 mm grid or blank (no ink at all). Returns whether the page looks turned by 90 degrees (portrait,
    with the traces running vertically)."""
    h, w = image.shape[:2]
    if max(h, w) < MIN_LONG_SIDE:
        raise PipelineError(f"image too small to digitize ({w}x{h} px; need at least {MIN_LONG_SIDE} px on the "
                            "long side)")
    small = _small(image)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    paper = float(np.percentile(grey, 90))
    if float((grey < paper - BLANK_CONTRAST).mean()) < BLANK_FRACTION:
        raise PipelineError("blank page (no ink or grid found)")
    if h > PORTRAIT_RATIO * w:
        ink, _ = ink_map(small)
        return _profile_variation(ink, 0) > VERTICAL_RATIO * _profile_variation(ink, 1)
    return False


def row_breaks(traces: list[RowTrace], layout: PageLayout, px_per_mm: float) -> list[int]:
    """Per row, at how many of the three column boundaries (2.5, 5, 7.5 s) its trace breaks (a gap, or
    ink runs that do not touch): rows 0-2 change lead there, the rhythm strip (row 3) does not."""
    col_px = DURATION_S / N_COLUMNS * layout.px_per_s
    bounds = [layout.x0 + k * col_px for k in range(1, N_COLUMNS)]
    out = []
    for tr in traces:
        xs = breaks_of_row(tr, px_per_mm)
        out.append(sum(1 for b in bounds if len(xs) and float(np.abs(xs - b).min()) <= px_per_mm))
    return out


def looks_upright(breaks: list[int]) -> bool:
    """The lead changes stand where an upright page has them: in the three short-lead rows at two or
    more boundaries each, in the rhythm strip at most at one (a page turned by 180 degrees has its
    rhythm strip on top and lead changes at mirrored places)."""
    return len(breaks) == 4 and min(breaks[:3]) >= 2 and breaks[3] <= 1


def prefer_turned(first: dict, turned: dict, portrait: bool) -> bool:
    """Whether the reading of the page turned by 180 degrees replaces the first one (diagnostics of
    both): it must look upright and, on a landscape page (upright as far as anyone can tell), be
    doubted no more than the first. Photos can hide the lead changes `looks_upright` counts, while
    an upright page read upside down breaks Einthoven's law and raises the doubt."""
    if not looks_upright(turned["row_breaks"]):
        return False
    return portrait or turned["doubt"] <= first["doubt"]


ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def unrotate_points(xy: np.ndarray, degrees: int, shape: tuple[int, int]) -> np.ndarray:
    """Points (n, 2) of the page turned clockwise by `degrees` back in the original page (shape h, w)."""
    h, w = shape
    x, y = xy[:, 0], xy[:, 1]
    if degrees == 90:
        return np.column_stack([y, h - 1 - x])
    if degrees == 180:
        return np.column_stack([w - 1 - x, h - 1 - y])
    if degrees == 270:
        return np.column_stack([w - 1 - y, x])
    return xy


def turned_grid(grid: GridResult) -> GridResult:
    """The calibrated page turned by 180 degrees; its `to_original` still maps to the page calibrated."""
    h, w = grid.ink.shape[:2]
    flip = np.array([[-1.0, 0.0, w - 1.0], [0.0, -1.0, h - 1.0], [0.0, 0.0, 1.0]])
    matrix = (flip @ np.vstack([grid.rotation_matrix, [0.0, 0.0, 1.0]]))[:2]
    source = None if grid.column_source is None else (w - 1.0) - grid.column_source[::-1]
    shift = None if grid.shift_field is None else -grid.shift_field[::-1, ::-1]
    lines = None if grid.grid_lines is None else np.ascontiguousarray(grid.grid_lines[::-1, ::-1])
    return GridResult(image=cv2.rotate(grid.image, cv2.ROTATE_180), ink=np.ascontiguousarray(grid.ink[::-1, ::-1]),
                      calibration=grid.calibration, rotation_matrix=matrix, rectification=grid.rectification,
                      column_source=source, shift_field=shift, grid_lines=lines)


def turned_result(result: Digitized, degrees: int, paths_turned_by: int, shape: tuple[int, int]) -> Digitized:
    """Flag a reading made `degrees` turned; its paths, given in the page turned by `paths_turned_by`,
    are mapped back to the input page (shape h, w)."""
    if degrees == 0:
        return result
    paths = {k: unrotate_points(v, paths_turned_by, shape) if len(v) else v for k, v in result.paths.items()}
    diagnostics = {**result.diagnostics, "flags": [turned(degrees), *result.diagnostics["flags"]],
                   "page_turned_deg": degrees}
    return Digitized(fs=result.fs, signals=result.signals, diagnostics=diagnostics, paths=paths)
