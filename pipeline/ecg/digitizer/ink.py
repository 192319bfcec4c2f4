"""Step 4 of the digitizer: the non-learned per-pixel probability that a pixel is trace ink (the input of the tracer).

From the grid-free ink map: a light Gaussian blur (joins anti-aliased and scan-broken strokes, keeps
centroids where they are), removal of tiny isolated specks (scan noise, grid-dot residue) and of solid
ink far wider than a stroke (a shadow too dark to level).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ProbabilityConfig:
    sigma_px: float = 0.6
    """Gaussian blur of the ink map (px); 0 disables it."""
    speck_area_px: int = 4
    """Connected ink blobs (ink > 0.5) smaller than this are removed."""
    grid_line_floor: float = 0.3
    """Pixels removed as grid lines (b/w and grey pages) keep this much probability: where a trace runs
    inside a line as black as itself (ecg-image-kit draws every baseline on a major line) it went with
    the line, and the path should follow the line there rather than leap to another row's ink. Below
    `TraceConfig.saturation` and `run_threshold`, so real ink always wins and the line never forms a
    run. Own-seed 0004 (seeds 4242 / 5151 / 6161 x 12): 0 reads 14.31 / 15.78 / 17.64 dB, 0.15
    15.08 / 15.89 / 17.65, 0.3 15.49 / 15.94 / 17.96."""
    solid_px: int = 25
    """Solid ink at least this many px wide and tall (3 mm at 200 dpi; a stroke is under 1 mm) is no
    trace: a crease's or stain's shadow too dark to level. It and a 2 px rim become paper, so the tracer
    crosses it in a straight line instead of wandering through it; 0 keeps it. On ecg-image-kit's
    crumpled sim017-aug 2.92 -> 6.32 dB (25 or 40 px alike); no other dev or synthetic page changed."""
    gate_reach_px: int = 2
    """With a segmenter: a row's own probability is dilated by this many px before it is compared."""
    own_floor: float = 0.05
    """Ink is taken from a row only where that row's (dilated) probability is below this ..."""
    other_level: float = 0.5
    """... and another row's probability is above this: ink the net gives clearly to another row."""
    background_floor: float = 0.0
    """Ink is also dropped where every row's (dilated) probability is below this: what the net sees
    as no trace at all (labels, text, stains, mould), except near lead starts; 0 keeps it. Off by
    default: 0.05 gained 0.1 dB on synthetic pages but lost 1.1 dB on the held-out renderings of
    another tool, whose strokes the net partly misses."""
    lead_start_keep_mm: float = 4.0
    """Around each lead's start (column boundaries, t = 0) that ink is kept within this many mm."""
    net_weight: float = 0.0
    """With a segmenter: the row probability itself, times this, also counts as ink (strokes the ink
    map lost); 0 keeps the ink map's exact strokes only."""


def trace_probability(ink: np.ndarray, config: ProbabilityConfig = ProbabilityConfig(),
                      grid_lines: np.ndarray | None = None) -> np.ndarray:
    """H x W float32 in [0, 1]: how likely each pixel is to be trace ink (grid_lines: the pixels the
    ink map removed as grid lines, given config.grid_line_floor)."""
    prob = np.asarray(ink, dtype=np.float32)
    if config.speck_area_px > 1:
        binary = (prob > 0.5).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        small = np.nonzero(stats[:, cv2.CC_STAT_AREA] < config.speck_area_px)[0]
        small = small[small > 0]
        if len(small):
            prob = prob.copy()
            prob[np.isin(labels, small)] = 0.0
    if config.sigma_px > 0:
        prob = cv2.GaussianBlur(prob, (0, 0), config.sigma_px)
    if config.solid_px > 0:
        solid = solid_ink(prob, config.solid_px)
        if solid.any():
            prob = np.where(solid, np.float32(0.0), prob)
    if grid_lines is not None and config.grid_line_floor > 0:
        prob = np.maximum(prob, np.float32(config.grid_line_floor) * grid_lines.astype(np.float32))
    return np.clip(prob, 0.0, 1.0).astype(np.float32, copy=False)


def solid_ink(prob: np.ndarray, size: int, rim: int = 2) -> np.ndarray:
    """Bool mask of ink (prob > 0.5) that fills a size x size square everywhere it is, with a rim."""
    solid = cv2.morphologyEx((prob > 0.5).astype(np.uint8), cv2.MORPH_OPEN, np.ones((size, size), np.uint8))
    return cv2.dilate(solid, np.ones((2 * rim + 1, 2 * rim + 1), np.uint8)) > 0


def row_maps(prob: np.ndarray, rows: np.ndarray, config: ProbabilityConfig = ProbabilityConfig(),
             keep_columns: np.ndarray | None = None) -> list[np.ndarray]:
    """Per trace row, its own ink map: the ink map without the ink the segmenter clearly gives to
    another row (its own probability below own_floor, another row's above other_level), plus the row
    probability times net_weight.

    prob: H x W ink probability; rows: R x H x W row probabilities (segment.predict_rows). The ink keeps
    the stroke's exact position; the net only decides whose stroke it is where rows cross or overlap,
    so a net that is unsure changes nothing. keep_columns (bool per x): columns where ink the net sees
    as no trace is kept anyway (lead starts, where the net takes a QRS for a separator mark).
    """
    size = 2 * config.gate_reach_px + 1
    kernel = np.ones((size, size), np.uint8)
    own = [cv2.dilate(row, kernel) for row in rows]
    nothing = np.max(own, axis=0) < config.background_floor
    if keep_columns is not None:
        nothing &= ~np.asarray(keep_columns, bool)[None, :]
    out = []
    for r, row in enumerate(rows):
        others = np.max(np.delete(rows, r, axis=0), axis=0) if len(rows) > 1 else np.zeros_like(row)
        foreign = (own[r] < config.own_floor) & (others > config.other_level)
        if config.background_floor > 0:
            foreign |= nothing
        m = np.where(foreign, 0.0, prob)
        if config.net_weight > 0:
            m = np.maximum(m, config.net_weight * row)
        out.append(m.astype(np.float32))
    return out
