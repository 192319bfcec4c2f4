"""t = 0 on pages that ecg-image-kit (the competition's generator) rendered and nobody moved.

Measured on the kit's own per-sample pixel positions (shared/ecgkit-dev/*.json.gz, all five sampling
rates 250-1000 Hz): sample k of column c is drawn at x = 118.11 + 492.13 c + k * 196.85 / fs in the
kit's continuous pixel coordinates (pixel i covers [i, i + 1)), i.e. at 0.6 s of paper (0.4 s margin
+ 0.2 s calibration pulse) from the page's left edge, with no sub-sample offset at any rate. In the
digitizer's coordinates (pixel centres at integers) that is x0 = 0.6 s * px_per_s - 0.5 px.

The digitizer finds t = 0 from the lead separators (else from the traces' end). But the kit draws
through matplotlib, which snaps purely horizontal and vertical strokes (separators, pulses, grid) to
the pixel grid: a separator stands up to half a pixel from its column boundary (measured: x0 from
the separators 117.26 px on every kit page and on the real 0001 pages, against 117.61 from the
kit's positions: 0.45 of a sample late at 250 Hz, the rate where the metric's whole-sample
alignment cannot absorb it). On an unmoved kit page (its native size and resolution, not turned,
not warped) whose separators stand exactly where that snapping puts them, the page itself places
t = 0. A scan or photo of a kit page keeps its separators' snapping, scaled: where its calibration
pulses mark it as the kit's (`drawn_by_kit`), t = 0 is read from the separators less their offsets
(`kit_separator_offsets`); pages of other renderers are left as found.
"""

from __future__ import annotations

import math
from dataclasses import replace

from pipeline.ecg.digitizer.flags import Flag
from pipeline.ecg.digitizer.rows import DetectedLayout
from pipeline.ecg.layout import DPI, DURATION_S, MM_PER_S, N_COLUMNS, PAGE_H, PAGE_W

KIT_T0_S = 0.6
"""Paper time from the page's left edge to the first sample (0.4 s margin + 0.2 s pulse)."""
MATCH_PX = 0.15
"""How close a found separator must stand to where the kit's snapping puts it."""
SCALE_TOL, ROTATION_TOL_DEG = 0.003, 0.05
NATIVE_PX_PER_S = DPI / 25.4 * MM_PER_S


def unmoved_kit_page(width: int, height: int, px_per_mm: float, rotation_deg: float, warped: bool) -> bool:
    """The page has the kit's native size and resolution (2200 x 1700 px at 200 dpi), not deskewed
    by more than 0.05 degrees (0.15 px at the page's ends) and not warped: neither perspective-rectified
    nor its columns moved by the grid's straightening or warp field (`GridResult.resampled`), which
    moves t = 0 off the kit's x (own soaked 0009 page 1025555632 read every lead 11 samples early)."""
    return ((width, height) == (PAGE_W, PAGE_H) and abs(px_per_mm / (DPI / 25.4) - 1.0) < SCALE_TOL
            and abs(rotation_deg) < ROTATION_TOL_DEG and not warped)


def kit_x0(px_per_s: float = NATIVE_PX_PER_S) -> float:
    """x of t = 0 on an unmoved kit page, pixel centres at integers."""
    return KIT_T0_S * px_per_s - 0.5


def snapped_separators(px_per_s: float = NATIVE_PX_PER_S) -> list[tuple[float, ...]]:
    """Where matplotlib draws the kit's three separators (pixel centres at integers), for an even and
    an odd stroke width: it moves a vertical stroke's x to floor(x + 0.5) (+ 0.5 when the width in
    whole pixels is odd), in coordinates where pixel i covers [i, i + 1)."""
    xs = [KIT_T0_S * px_per_s + k * DURATION_S / N_COLUMNS * px_per_s for k in range(1, N_COLUMNS)]
    return [tuple(math.floor(x + 0.5) + odd - 0.5 for x in xs) for odd in (0.0, 0.5)]


KIT_PULSE_WINDOW_S = 0.025
"""A page is drawn the kit's way when its calibration pulses fall within this of the t = 0 its
separators give: the kit's falling edge stands on t = 0 (0.6 px after it, snapped), our renderer's
other styles end the pulse 0.05 s before t = 0."""


def kit_separator_offsets(px_per_s: float) -> tuple[float, ...]:
    """How far (px) the kit's three separators stand from their column boundaries on a page read at
    px_per_s: matplotlib snapped them on the kit's own 200 dpi page (-0.24, -0.36 and -0.49 px there,
    the even-width case of snapped_separators), and a scan or photo of that page keeps the offsets,
    scaled. Read as on the boundaries, they put t = 0 0.36 px early on every such page."""
    bounds = [kit_x0() + k * DURATION_S / N_COLUMNS * NATIVE_PX_PER_S for k in range(1, N_COLUMNS)]
    scale = px_per_s / NATIVE_PX_PER_S
    return tuple(scale * (s - b) for s, b in zip(snapped_separators()[0], bounds))


def drawn_by_kit(pulse_x0: float | None, x0: float, px_per_s: float) -> bool:
    """Whether the rows' pulse edges (the median of those found, one will do) stand where the kit
    draws them for a t = 0 at x0 (within KIT_PULSE_WINDOW_S); False without pulses."""
    return pulse_x0 is not None and abs(pulse_x0 - x0) <= KIT_PULSE_WINDOW_S * px_per_s


def place_kit_t0(found: DetectedLayout, unmoved: bool, pulse_x0: float | None = None) -> DetectedLayout:
    """found with x0 at the kit page's t = 0 (flag 'x0_kit_page') when the page is unmoved and either
    its calibration pulses say it is the kit's (`drawn_by_kit` against found's t = 0; a QRS beside a
    separator can pull the separators' centres off) or its separators stand where the kit's pixel
    snapping puts them (at least two, each within MATCH_PX): then the page's own geometry places t = 0
    to within its rounding. Any other page (other renderers draw separators where the boundary is) is
    left as found."""
    if not unmoved:
        return found
    kit = replace(found, layout=replace(found.layout, x0=kit_x0()), flags=found.flags + (Flag.X0_KIT_PAGE,))
    if drawn_by_kit(pulse_x0, found.layout.x0, found.layout.px_per_s):
        return kit
    if len(found.separators) < 2:
        return found
    seps = sorted(found.separators)
    for expected in snapped_separators():
        hits = [min(abs(s - e) for s in seps) <= MATCH_PX for e in expected]
        if sum(hits) >= 2:
            return kit
    return found
