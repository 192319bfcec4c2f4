"""The calibration pulses at the rows' left ends, an anchor for t = 0.

ecg-image-kit (and our renderer after it) draws each row's 1 mV, 0.2 s calibration pulse right up to
t = 0: the pulse's falling edge stands on the first sample's x. Where the traces' right end cannot be
told (a screen photo's moire leaves the trace dashed and fills the paper past its end with specks),
the pulses still stand out: two vertical strokes 10 mm tall, 5 mm apart, joined by a bar at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.ecg.digitizer.rows import INK_THRESHOLD
from pipeline.ecg.layout import MM_PER_S

PULSE_HEIGHT_MM = 10.0
"""1 mV at 10 mm/mV."""
PULSE_WIDTH_MM = 0.2 * MM_PER_S
"""0.2 s at 25 mm/s."""
SEARCH_SHARE = 0.35
"""The pulses are looked for in this left share of the page (the kit draws them in its left margin)."""
FILL = 0.6
"""Least share of the pulse's height an edge's column holds ink over (a screen photo's moire leaves
dashes; the grid's dots fill a quarter or less)."""
WIDTH_SLACK = 0.2
"""The two edges may stand this share nearer or further apart than the pulse is wide."""
TOP_COVER = 0.7
"""Least share of the columns between the edges that hold ink in one row at the pulse's top (a bar;
a b/w scan's specks fill a band of rows in most columns, but no one row)."""
LEFT_CLEAR_MM = (1.75, 4.0)
"""The stretch before a pulse's rising edge (mm) that must be nearly free of ink near the baseline
(our renderer's other styles draw a 1.25 mm lead-in; ecg-image-kit none)."""
LEFT_INKED = 0.3
"""Most share of that stretch's columns holding ink within 2 mm of the baseline."""
FOOT_MM = 3.0
"""Largest distance of the pulse's foot (its top plus its height) from the row's baseline (mm): the
pulse stands on the signal's zero, which the row's densest ink is near (a lead separator, a QRS and a
grid remnant can make the same shape anywhere)."""
LOOSE_FOOT_MM = 6.0
"""FOOT_MM for a pulse that only tells a lead's first samples from the pulse's stroke (not t = 0): the
row's baseline (its densest ink) stands up to 5 mm off the zero line on records with a large offset
or one-sided complexes (ecgkit-dev: 3.1, 3.4 and 4.9 mm on three pages whose pulse FOOT_MM missed)."""
AGREE_MM = 1.0
"""Rows' falling edges within this of their median agree (a rectified photo's residual shear moves
a row's t = 0 by a few px)."""
MIN_ROWS = 2
"""Least number of agreeing rows for the pulses to place t = 0."""


def _column_fill(binary: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the largest share of `height` consecutive rows holding ink, and the first of them.
    A share, not a run: moire breaks a screen photo's strokes into dashes."""
    cs = np.concatenate([np.zeros((1, binary.shape[1]), np.int32), np.cumsum(binary, axis=0, dtype=np.int32)])
    if binary.shape[0] < height:
        return np.zeros(binary.shape[1]), np.zeros(binary.shape[1], np.int64)
    window = cs[height:] - cs[:-height]
    top = np.argmax(window, axis=0)
    return window[top, np.arange(binary.shape[1])] / float(height), top


def _clear_before(binary: np.ndarray, x_rise: int, foot: float, px_per_mm: float) -> bool:
    """Whether little stroke ink lies near the baseline LEFT_CLEAR_MM before a pulse's rising edge: a
    pulse opens its row (at most a short lead-in stroke before it), while a separator, a QRS and grid
    remnants standing in the shape of one have the trace running into them. Only blobs at least
    1 mm wide count: a screen photo's moire leaves specks everywhere."""
    a, b = int(round(x_rise - LEFT_CLEAR_MM[1] * px_per_mm)), int(round(x_rise - LEFT_CLEAR_MM[0] * px_per_mm))
    y_lo, y_hi = int(round(foot - 2.0 * px_per_mm)), int(round(foot + 2.0 * px_per_mm)) + 1
    window = binary[max(0, y_lo):max(0, y_hi), max(0, a):max(0, b)].astype(np.uint8)
    if window.size == 0:
        return True
    n, labels, stats, _ = cv2.connectedComponentsWithStats(window, connectivity=8)
    wide = np.nonzero(stats[:, cv2.CC_STAT_WIDTH] >= px_per_mm)[0]
    strokes = np.isin(labels, wide[wide > 0])
    return float(strokes.any(axis=0).mean()) <= LEFT_INKED


@dataclass(frozen=True)
class Pulse:
    """One row's calibration pulse, in image pixels."""

    fall_x: float
    """Sub-pixel x of the falling edge (pixel centres at integers): t = 0 on the kit's pages."""
    top_y: float
    """Top of the rising edge's stroke (its upper ink edge); the falling edge's may run on upwards
    into a trace that starts above the pulse."""


def find_pulse(ink: np.ndarray, baseline: float, px_per_mm: float, foot_mm: float = FOOT_MM) -> Pulse | None:
    """One row's calibration pulse, or None.

    Within the left SEARCH_SHARE of the page and 15 mm above to 3 mm below the row's baseline: a pair
    of vertical strokes PULSE_HEIGHT_MM tall whose tops agree, PULSE_WIDTH_MM apart, joined by a bar
    at the top, standing on the baseline; of several, the leftmost. The edge's x is the
    ink-weighted mean over its upper part (15-50 % of its height below the top: away from the bar,
    and from a trace that starts above the baseline and runs along the edge's foot).
    """
    h, w = ink.shape
    y0 = max(0, int(round(baseline - 15.0 * px_per_mm)))
    y1 = min(h, int(round(baseline + 3.0 * px_per_mm)) + 1)
    x1 = int(round(SEARCH_SHARE * w))
    band = ink[y0:y1, :x1]
    if band.size == 0:
        return None
    # Widened by a column each side: a stroke 1 px off vertical stays one column's ink.
    binary = cv2.dilate((band > INK_THRESHOLD).astype(np.uint8), np.ones((1, 3), np.uint8)) > 0
    tall = PULSE_HEIGHT_MM * px_per_mm
    fill, run_top = _column_fill(binary, int(round(0.9 * tall)))
    edges = np.nonzero(fill >= FILL)[0]
    if len(edges) < 2:
        return None
    width = PULSE_WIDTH_MM * px_per_mm
    reach = max(2, int(round(px_per_mm)))
    rows_inked = cv2.dilate(binary.astype(np.uint8), np.ones((3, 1), np.uint8)) > 0  # a bar 1 px off level
    foot = baseline - y0

    def is_pulse(xr: int, xf: int) -> bool:
        """Rising edge at xr and falling edge at xf: tops level, a bar joining them, on the baseline."""
        if abs(int(run_top[xf]) - int(run_top[xr])) > reach or xf - xr <= 4:
            return False
        lo = max(0, int(min(run_top[xf], run_top[xr])) - reach)
        hi = int(max(run_top[xf], run_top[xr]) + 0.1 * tall) + reach + 1
        bar = rows_inked[lo:hi, xr + 2:xf - 1].mean(axis=1)
        top = lo + int(np.argmax(bar))
        return (bar.max() >= TOP_COVER and abs(top + tall - foot) <= foot_mm * px_per_mm
                and _clear_before(binary, xr, foot, px_per_mm))

    rises = ((xf, edges[(edges >= xf - (1 + WIDTH_SLACK) * width) & (edges <= xf - (1 - WIDTH_SLACK) * width)])
             for xf in edges)
    best, rise = next(((int(xf), int(xr)) for xf, xrs in rises for xr in xrs if is_pulse(int(xr), int(xf))),
                      (None, None))
    if best is None:
        return None
    lo, hi = best, best  # the falling edge's columns, its stroke widened by the dilation
    while lo - 1 >= 0 and fill[lo - 1] >= FILL:
        lo -= 1
    while hi + 1 < len(fill) and fill[hi + 1] >= FILL:
        hi += 1
    top = int(run_top[best])
    rows = slice(top + int(round(0.15 * tall)), top + int(round(0.5 * tall)))
    cols = np.arange(max(0, lo - 1), min(x1, hi + 2))
    weights = band[rows][:, cols].sum(axis=0)
    if weights.sum() <= 0:
        return None
    # The rising edge's top: the highest of its fullest columns (the dilation reached a partly inked one).
    near = edges[np.abs(edges - rise) <= reach]
    fullest = near[fill[near] >= fill[near].max() - 0.05]
    return Pulse(fall_x=float(np.dot(weights, cols) / weights.sum()), top_y=float(y0 + run_top[fullest].min()))


def find_pulses(ink: np.ndarray, baselines: Sequence[float], px_per_mm: float) -> list[Pulse | None]:
    """Every row's pulse (see find_pulse)."""
    return [find_pulse(ink, y, px_per_mm) for y in baselines]


def pulses_x0(edges: Sequence[float | None], px_per_mm: float) -> float | None:
    """The rows' pulse falling edges' median when at least MIN_ROWS of them agree within AGREE_MM (of
    that median; a sheared page's rows spread further), else None."""
    found = [x for x in edges if x is not None]
    if len(found) < MIN_ROWS:
        return None
    mid = float(np.median(found))
    agree = [x for x in found if abs(x - mid) <= AGREE_MM * px_per_mm]
    return float(np.median(agree)) if len(agree) >= MIN_ROWS else None


SHEAR_MIN_PX = 2.0
"""Least spread of the pulses' fitted x over the rows for the rows to be read each from its own
t = 0: unsheared pages measure up to 1.3 px of noise (one row's edge read 1.5 px off the others)."""
STRONG_SHEAR_MM = 1.0
"""A spread from which the page's one t = 0 is no anchor: it came from row ends and separators that
stand up to 40 px apart, at the page's px/s, which on such a photo differs from the rows' by 1-2 %."""
SHEAR_FIT_MM = 0.25
"""Largest distance of a row's pulse edge from the line through all of them (mm): a shear moves the
rows' t = 0 in proportion to their height, a misread pulse does not."""


def sheared_edges(edges: Sequence[float | None], baselines: Sequence[float], px_per_mm: float) -> np.ndarray | None:
    """Every row's pulse edge on the line through the found ones against the rows' heights, when at
    least three rows have one, all lie within SHEAR_FIT_MM of it and it spreads by at least SHEAR_MIN_PX
    over the rows; else None.

    A photographed page rectified from slightly wrong corners keeps a shear: its rows start up to 40 px
    apart (own-seed screen photos, `python -m pipeline ecg time-axis`), and the pulses, drawn at the
    same x on every row, show it row by row."""
    pairs = [(y, x) for y, x in zip(baselines, edges) if x is not None]
    if len(pairs) < 3:
        return None
    ys, xs = (np.array(v, dtype=np.float64) for v in zip(*pairs))
    slope, intercept = np.polyfit(ys, xs, 1)
    if np.abs(xs - (slope * ys + intercept)).max() > SHEAR_FIT_MM * px_per_mm:
        return None
    fitted = slope * np.asarray(baselines, dtype=np.float64) + intercept
    return fitted if fitted.max() - fitted.min() >= SHEAR_MIN_PX else None


def row_starts(fitted_edges: np.ndarray, page_x0: float, row_x0_from_end: Sequence[float] | None,
               px_per_mm: float, max_lead_px: float) -> list[float] | None:
    """Per row, x of t = 0 from its fitted pulse edge plus one lead common to the page.

    The lead: where the edges spread by less than STRONG_SHEAR_MM, the page's t = 0 less their mean
    (the page's t = 0 stays the rows' mean); beyond it, the median over rows of how far the t = 0 each
    row's end gives (row_x0_from_end: end less the cap and the last sample's time at the row's own
    px/s) stands after its edge, or 0 when row_x0_from_end is None (the ends are not trusted;
    ecg-image-kit draws the falling edge on t = 0). None when that lead falls outside
    [-1 mm, max_lead_px + 1 mm]: the pulses and the ends do not agree."""
    if np.ptp(fitted_edges) < STRONG_SHEAR_MM * px_per_mm:
        return [float(page_x0 + e - fitted_edges.mean()) for e in fitted_edges]
    lead = 0.0 if row_x0_from_end is None else float(np.median(np.asarray(row_x0_from_end) - fitted_edges))
    if not -px_per_mm <= lead <= max_lead_px + px_per_mm:
        return None
    return [float(e + lead) for e in fitted_edges]
