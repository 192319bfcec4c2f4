"""The digitizer's orchestrator: an ECG page image in, 12 lead signals out, each step timed.

Steps, numbered the same in every module's docstring:
  (orientation: `orientation.check_page` refuses tiny and blank pages, finds portrait ones)
  1. rectify   photos: page quadrilateral -> canonical frame, even light; every page: levelled paper
               (`rectify.flatten_page`)
  2. grid      deskew, px/mm, grid removal -> ink map (`grid.calibrate`)
  3. rows      the four row baselines and the time axis (`rows.detect_layout`)
  4. ink       per-pixel trace-ink probability (`ink.trace_probability`)
  5. segment   optional learned U-Net: whose ink is it (`segment.row_probabilities`, `ink.row_maps`)
  6. trace     Viterbi per row, sub-pixel y (`trace.trace_row`)
  7. signals   px -> mV, the 12 leads, Einthoven repair (`signals`)
  (orientation: a reading that does not look upright is redone turned by 180 degrees, from step 3)

`digitize_image` works on an array, `digitize_file` on a file (clear errors for bad files), and
`safe_digitize_file` never raises for a bad image: it returns zeros flagged 'failed: <reason>'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.ecg.digitizer.doubt import doubt_score
from pipeline.ecg.digitizer.flags import Flag, low_confidence
from pipeline.ecg.digitizer.grid import (
    Calibration,
    GridResult,
    as_bgr,
    calibrate,
    ink_and_grid_lines,
    load_image,
    page_features,
    row_x_periods,
)
from pipeline.ecg.digitizer.ink import ProbabilityConfig, row_maps, trace_probability
from pipeline.ecg.digitizer.kit_page import place_kit_t0, unmoved_kit_page
from pipeline.ecg.digitizer.orientation import (
    ROTATIONS,
    check_page,
    looks_upright,
    prefer_turned,
    row_breaks,
    turned_grid,
    turned_result,
)
from pipeline.ecg.digitizer.pulse import LOOSE_FOOT_MM, PULSE_HEIGHT_MM, Pulse, find_pulse, find_pulses, pulses_x0
from pipeline.ecg.digitizer.rectify import RectifyConfig, flatten_page
from pipeline.ecg.digitizer.result import Digitized, zero_result
from pipeline.ecg.digitizer.rows import DetectedLayout, detect_layout, scale_from_separators
from pipeline.ecg.digitizer.segment import DEFAULT_CHECKPOINT, N_ROWS, row_probabilities
from pipeline.ecg.digitizer.signals import PulseSpan, RowSignal, cut_leads, einthoven_repair, finalize, row_signal
from pipeline.ecg.digitizer.timebase import place_t0, settle_end, sheared_row_starts
from pipeline.ecg.digitizer.trace import (
    RowTrace,
    TraceConfig,
    breaks_of_row,
    excursion_runs,
    gap_runs,
    page_pen_radius,
    runs_touch_previous,
    shared_ink_runs,
    trace_row,
    without_neighbour_strokes,
)
from pipeline.ecg.layout import DURATION_S, LEADS, MM_PER_S, N_COLUMNS, ROWS, PageLayout

SHIPPED_SEGMENTER = str(DEFAULT_CHECKPOINT) if DEFAULT_CHECKPOINT.is_file() else None
LOW_CONFIDENCE = 0.5
INK_CLASSICAL, INK_NET, INK_DARKNESS = "classical", "net", "darkness"
"""The ink sources a page can be read from (diagnostics["ink_source"])."""
NEIGHBOUR_FAR = 0.25
"""A row is traced again without a neighbour's strokes (trace.without_neighbour_strokes) where their runs
touch and the neighbour's path stands more than this many row spacings from its baseline: its tall wave
has reached into this row. Chosen on own seeds (`ecg synthetic`; 777 / 31337, nine types x 4): off /
0.15 / 0.25 / 0.35 read 23.71 / 23.72 / 23.72 / 23.72 and 23.08 / 23.07 / 23.13 / 23.12 dB."""
CHOICE_MARGIN = 0.002
"""How much less another reading must be doubted than the classical one to replace it. On own seeds
7070, 9090 and 777 (118 colour pages; the darkness reading doubted less on 37), the two pages doubted
0.001 less with it lost 4.9 and 4.0 dB; the closest win was 0.003 apart (+1.4 dB)."""
MAX_REGIONS = 20
"""Doubtful regions kept per kind (the longest ones) in the diagnostics."""
ROW_SCALE_MIN_CHANGE = 0.0005
"""A row's own grid period replaces the page's only when they differ by more than this share (0.05 %,
1 px over 10 s). Where the comb is clear the row period is within 0.015 % of the truth's (own-seed screen
photos, `python -m pipeline ecg time-axis`), but a change of 0.01 % alone moves a page by +-0.1 dB at
random. Own seeds 777 (seven types x 6) / 6006 (0006 x 16): 0.03 % 23.14 / 15.04, 0.05 % 23.14 / 15.02,
0.1 % 23.14 / 14.99 dB, against 23.14 / 14.71 with one scale for the page."""
BAR_REACH_MM = 0.75
"""How far from a lead's start the tracer looks for a separator or pulse edge to mask (mm)."""
PEN_TOLERANCE = 1.25
"""A row whose pen, measured on its flat stretches, is wider than this times the page's pen (measured
on steep strokes) is traced again with the page's (see _trace_rows)."""


@dataclass(frozen=True)
class DigitizeConfig:
    trace: TraceConfig = TraceConfig()
    probability: ProbabilityConfig = ProbabilityConfig()
    einthoven_project: bool = True
    """Also move well-traced limb leads onto Einthoven's relations (not only repair bad ones)."""
    sample_smoothing: float | None = 3.0
    """Step 7: each lead's values are those whose straight segments fit all its traced points, with
    this weight on their second differences at 500 Hz (signals.vertex_fit; other rates scale it by
    signals.smoothing_at); None reads the curve at each sample's x. Chosen on two fresh synthetic
    test sets, never on the dev sets: weights 1, 3 and 10 all lift every image type there; 3 scored
    best overall. Scaling it with the knot spacing's cube (against its square or none) was chosen on
    own seeds 777 / 4242 (0009, 0012) / 4242 (0004): 23.01 / 23.12 / 23.14, 20.84 / 20.90 / 20.91 and
    17.35 / 17.62 / 17.72 dB (none / square / cube)."""
    start_guard_px: float = 2.0
    """Step 7: each lead's values come only from curve points at least this far right of its first
    sample. ecg-image-kit draws the calibration pulse up to t = 0 and the previous lead up to each
    column boundary, so the pulse's falling edge (a stroke 2-3 px wide) stands on the first sample's x;
    its points pulled sample 0 half-way up the pulse (46930936-0001, 250 Hz: leads I / II / III read
    +0.49 / +0.16 / -0.36 mV there). Chosen on own seeds: 0 / 1 / 2 / 3 px read 23.46 / 23.47 / 23.88 /
    23.53 dB (seed 777, seven types x 6) and 19.89 / 19.85 / 19.91 / 19.92 (seed 4242, 0009 and 0012)."""
    pulse_span: bool = True
    """Step 7: at a row's pulse the start guard keeps a trace that starts beyond the pulse's stroke and
    also drops its foot (see signals.sample_row's pulse)."""
    end_guard_px: float = 2.0
    """Step 7: ... and only from points at least this far left of its last sample: the kit's separator
    bar, 6.3 px wide, is centred on the next column boundary, a sample after the last. With the start
    guard at 2 px, chosen on own seeds: end guards -1 (the old 1 px margin) / 0 / 1 / 2 px read 23.88 /
    23.93 / 24.05 / 23.98 dB (seed 777, seven types x 6), 19.91 / 19.85 / 19.98 / 20.43 (4242, 0009 and
    0012), 14.65 / - / 14.82 / 14.80 (4242, 0005 and 0006); 2 px is the best sum over the eleven types
    and the bar's half-width."""
    page_end_guard_px: float = 0.0
    """Step 7: the end guard of the leads that end at t = 10 s (the last column and the rhythm strip):
    no separator follows the page's last samples, and a 2 px guard there cut short a trace still
    rising into the page's end (own page 5195393741, V4-V6 read 0.2-0.4 mV low over their last 5
    samples). Chosen on own seeds (777, nine types x 6): 2 (end_guard_px) / 1 / 0 px read 22.84 /
    22.79 / 22.89 dB, 0001 29.44 / 29.34 / 29.54."""
    rectify: RectifyConfig | None = RectifyConfig()
    """Step 1, perspective rectification of photographed pages (None: off)."""
    darkness_candidate: bool = True
    """On a colour page, also read the rows from its darkness alone (no chroma subtracted, grid lines
    removed as on a grey page) and keep the reading doubted less (`choose_reading`). Subtracting the
    grid's chroma also takes ink from a coloured trace: own screen photo 2321688556 (dark blue ink,
    the screen's raster left as faint dots with colour fringes) kept the trace 0.13 darker than paper
    where the dots were 0.08 darker, and read 4.6 dB; from its darkness 12.7 dB. Measured on own seeds
    (`ecg synthetic`): 7070 (0006 x 32) 15.38 -> 15.99 dB, 9090 (0005 and 0006 x 12 each) 18.35 ->
    18.49, 777 (nine types x 6) 23.74 -> 23.81; 34 of their 118 colour pages read their darkness, 26
    of them better (up to +12.9 dB), 8 worse (down to -7.7). Costs a second tracing on colour pages."""
    own_layout: bool = True
    """The darkness reading finds its rows, ends and pulses on its own ink map where the page's (chroma
    subtracted) map lost every pulse and the darkness map finds some (`reading_layout`). Own screen photo
    4838213346 (dark blue trace on a pink grid): the page's map kept too little of the trace to show its
    pulses or its end, t = 0 stood 10 mm early and it read -1.5 dB; from its darkness alone 10.2. Always
    on, it lifted screen photos more but cost own seed 777's 0003 page 2891900348 23.5 -> 7.2 dB (a
    darkness reading doubted less but worse). Measured with LINE_STROKE_CONTRAST on: own seed 7070
    (0006 x 24) 15.81 -> 15.90 dB (always on: 16.08), seeds 777 / 31337 (nine types x 6) and 4242 (0004,
    0012 x 12) unchanged (always on: 777 23.97 -> 23.89)."""
    segmenter: str | None = None
    """Path of a row-segmentation checkpoint (step 5, segment.py; SHIPPED_SEGMENTER is the one shipped with
    the package); None, the default: the classical ink map for every row. With a segmenter, steps 6-7
    also run on the net's maps and `choose_reading` picks among the readings (diagnostics "ink_source").
    Off by default because it has not paid: after step 1 levels the paper, the classical map of a
    creased page is already clean, and on the 71 pages nobody here drew a net trained with crumpled
    prints left every set unchanged (measured on an older digitizer; rerun
    `python -m pipeline ecg bench --segmenter PATH` to compare on the current one)."""


def choose_reading(doubts: dict[str, float], margin: float = CHOICE_MARGIN) -> str:
    """The per-page choice of ink source from its readings' doubt scores (as the diagnostics round
    them): the classical reading unless another is doubted less by more than `margin`; then the one
    doubted least."""
    best = min(doubts, key=lambda name: (doubts[name], name != INK_CLASSICAL))
    if INK_CLASSICAL in doubts and doubts[best] >= doubts[INK_CLASSICAL] - margin - 1e-9:
        return INK_CLASSICAL
    return best


def reading_layout(ink: np.ndarray, found: DetectedLayout, pulses: list[Pulse | None],
                   cal: Calibration) -> tuple[DetectedLayout, np.ndarray, list[Pulse | None]] | None:
    """(layout, ink, pulses) of a reading's own ink map where the page's ink map lost every calibration
    pulse and this one finds some (as many rows and at least one pulse), else None: a coloured trace that
    the grid's chroma subtraction took ink from loses its pulses and its ends with it, and t = 0 and
    10 s were then placed on what was left (see DigitizeConfig.own_layout)."""
    if any(p is not None for p in pulses):
        return None
    own = detect_layout(ink, cal.px_per_mm, cal.grid_found)
    if len(own.bands) != len(found.bands):
        return None
    own_pulses = find_pulses(ink, own.layout.baselines, own.layout.px_per_mm)
    return (own, ink, own_pulses) if any(p is not None for p in own_pulses) else None


def _trace_rows(maps: list[np.ndarray], found: DetectedLayout, config: DigitizeConfig) -> list[RowTrace]:
    """Trace every row, row r in maps[r], from just before t = 0 to a little past the traces' end.

    Each row first measures its pen on its flat stretches. A row whose measure exceeds the page's pen
    (page_pen_radius) by more than PEN_TOLERANCE is traced again with the page's: mains or muscle noise
    draws a band with no flat column of pen width, and a pen read too wide pulls every steep flank
    point inwards and cuts the peaks. A row whose runs took in a neighbour's tall wave is traced once
    more without it (NEIGHBOUR_FAR, trace.without_neighbour_strokes).
    """
    layout = found.layout
    x_lo = int(np.floor(layout.x0)) - 1
    x_hi = min(maps[0].shape[1], int(np.ceil(max(found.x_end, layout.x1) + 2.0 * layout.px_per_mm)))
    bars = separator_bars(found)

    # A row holding one lead (the rhythm strip) starts at t = 0 only.
    one_lead = [len(found.bands) == len(ROWS) and len(ROWS[r]) == 1 for r in range(len(found.bands))]

    def trace(r: int, line_width: float, prob: np.ndarray | None = None) -> RowTrace:
        return trace_row(maps[r] if prob is None else prob, found.bands[r], (x_lo, x_hi), layout.baselines[r],
                         line_width, config.trace, bars_near=bars, bar_reach=BAR_REACH_MM * layout.px_per_mm,
                         px_per_mm=layout.px_per_mm, starts_near=bars[:1] if one_lead[r] else None)

    traces = [trace(r, 0.0) for r in range(len(found.bands))]
    pen = page_pen_radius(traces)
    widths = [0.0] * len(traces)
    if pen is not None:
        widths = [2.0 * pen if tr.radius > PEN_TOLERANCE * pen else 0.0 for tr in traces]
        traces = [trace(r, w) if w > 0 else tr for r, (tr, w) in enumerate(zip(traces, widths))]
    if len(traces) < 2:
        return traces
    spacing = layout.row_spacing
    out = list(traces)
    for r in range(len(traces)):
        near = [(traces[s], layout.baselines[s]) for s in (r - 1, r + 1) if 0 <= s < len(traces)]
        cleaned = without_neighbour_strokes(maps[r], traces[r], near, NEIGHBOUR_FAR * spacing)
        if cleaned is not None:
            out[r] = trace(r, widths[r], cleaned)
    return out


def separator_bars(found: DetectedLayout) -> list[float]:
    """x of the bars the tracer masks at each lead's start: placed from the separators found when they
    agree, not from the traces' end, whose guess (before the pen is known) can sit px off the bars; on a
    b/w scan their ragged ends were then read as signal at the lead's end."""
    return _lead_starts(found.with_pen(0.0).layout)


def _lead_starts(layout: PageLayout) -> list[float]:
    """x of every lead's start: t = 0 and the column boundaries."""
    col_px = DURATION_S / N_COLUMNS * layout.px_per_s
    return [layout.x0 + k * col_px for k in range(N_COLUMNS)]


PULSE_PEN_MM = 0.4
"""The pulse's pen width on the page (mm): ecg-image-kit draws it 1.5 times the trace's 0.75 pt, 0.4 mm
(our renderer's pens are narrower)."""


def _span_pulses(pulses: list[Pulse | None], ink: np.ndarray, layout: PageLayout) -> list[Pulse | None]:
    """Each row's pulse for its leads' first samples: the t = 0 anchor where one stood on the baseline,
    else one found with LOOSE_FOOT_MM."""
    return [pulse or find_pulse(ink, baseline, layout.px_per_mm, foot_mm=LOOSE_FOOT_MM)
            for pulse, baseline in zip(pulses, layout.baselines)]


PULSE_PLOT_HZ = 500
"""The competition's pages draw the pulse's samples 1/500 s apart whatever the record's rate (see
signals.PulseSpan); ecg-image-kit itself at the record's."""


def _pulse_span(pulse: Pulse, baseline: float, layout: PageLayout, fs: int) -> PulseSpan:
    """A row's pulse on its trace's mV scale (its top_y is the stroke's upper edge)."""
    pen, tall = PULSE_PEN_MM * layout.px_per_mm, PULSE_HEIGHT_MM * layout.px_per_mm
    step = layout.px_per_s / min(fs, PULSE_PLOT_HZ)
    foot = pulse.top_y + tall + 0.5 * pen  # the foot's centre line

    def mv(y: float) -> float:
        return (baseline - y) / layout.px_per_mv

    return PulseSpan(low=mv(foot + 0.5 * pen + 1.0), high=mv(pulse.top_y - 1.0), foot_top=mv(foot - 0.5 * pen - 1.0),
                     foot_end_px=3.0 * step + 0.5 * pen + 1.0)


def _lead_start_columns(layout: PageLayout, width: int, reach_mm: float) -> np.ndarray:
    """Columns within reach_mm of a lead's start."""
    xs = np.arange(width)
    near = np.zeros(width, bool)
    for x in _lead_starts(layout):
        near |= np.abs(xs - x) <= reach_mm * layout.px_per_mm
    return near


def _traced_end(traces: list[RowTrace], run: int = 16, cap: int = 3) -> float | None:
    """Median over rows of where each trace's continuous ink ends (right edge of the last column of
    the last stretch of `run` columns almost all holding ink along the path: a run touching the one
    before it, at least half the row's median ink. A pen stroke is connected and solid, while a path
    hopping over a b/w scan's speckle past the trace's end finds ink in most columns, but faint (specks
    blurred) and in runs that often do not touch). The pen's faint round cap, up to `cap` columns past
    that stretch, still counts."""
    ends = []
    for tr in traces:
        found = np.isfinite(tr.raw)
        if not found.any():
            continue
        joined = found & runs_touch_previous(tr.top, tr.bottom)
        has = joined & (tr.ink >= 0.5 * float(np.median(tr.ink[found])))
        if has.sum() < run:
            continue
        cs = np.concatenate([[0], np.cumsum(has)])
        dense = np.nonzero((cs[run:] - cs[:-run]) >= run - 1)[0]
        if len(dense) == 0:
            continue
        last = int(dense[-1]) + run - 1
        while not has[last]:
            last -= 1
        for _ in range(cap):
            if last + 1 >= len(joined) or not joined[last + 1]:
                break
            last += 1
        ends.append(tr.x0 + last + 0.5)
    return float(np.median(ends)) if ends else None


def _lead_breaks(traces: list[RowTrace], px_per_mm: float, min_rows: int = 2) -> list[float]:
    """x positions where the traces of rows 0-2 break at the same place (within 1 mm) in at least
    min_rows rows: an ink gap, or adjacent columns whose ink runs do not touch (a pen lifted and put
    down at another height). A QRS stroke is continuous ink and does not count."""
    per_row = [breaks_of_row(tr, px_per_mm) for tr in traces]
    out = []
    if not per_row:
        return out
    for x in per_row[0].tolist() + [x for row in per_row[1:] for x in row]:
        near = [row[np.argmin(np.abs(row - x))] for row in per_row if len(row) and np.abs(row - x).min() <= px_per_mm]
        if len(near) >= min_rows:
            centre = float(np.median(near))
            if not out or all(abs(centre - o) > px_per_mm for o in out):
                out.append(centre)
    return sorted(out)


def _path_in_image(trace: RowTrace, to_original, max_gap_px: float = 3.0) -> np.ndarray:
    """A row's curve points as (n, 2) x, y in the input image, a NaN row wherever ink was missing
    for more than max_gap_px (so that overlays do not bridge gaps)."""
    x, y = trace.points_x, trace.points_y
    if len(x) == 0:
        return np.full((0, 2), np.nan)
    xy = to_original(np.column_stack([x, y]))
    breaks = np.nonzero(np.diff(x) > max_gap_px)[0] + 1
    return np.insert(xy, breaks, np.nan, axis=0)


def _doubt_regions(traces: list[RowTrace], layout, to_original) -> dict[str, list[dict[str, Any]]]:
    """Where the tracer had to guess: 'crossings' (adjacent rows' paths on the same ink, so which
    trace is which was decided by the path costs), 'gaps' (no ink for at least 1 mm, the curve
    interpolated) and 'excursions' (the path more than half a row spacing from its baseline for at
    least 2 mm: no real wave stays that large that long, so it likely followed other ink). Each
    region: the rows, its time span within the row (s) and a box in the input image's pixels."""
    if not traces:
        return {"crossings": [], "gaps": [], "excursions": []}
    pen = 2.0 * float(np.median([tr.radius for tr in traces])) + 2.0

    def region(rows: list[int], a: int, b: int) -> dict[str, Any]:
        x0 = traces[rows[0]].x0
        xs = np.arange(x0 + a, x0 + b, dtype=np.float64)
        pts = np.concatenate([np.column_stack([xs, traces[r].path[a:b].astype(np.float64)]) for r in rows])
        xy = to_original(pts)
        box = [float(xy[:, 0].min() - pen), float(xy[:, 1].min() - pen),
               float(xy[:, 0].max() + pen), float(xy[:, 1].max() + pen)]
        return {"rows": rows, "t0": round((x0 + a - layout.x0) / layout.px_per_s, 3),
                "t1": round((x0 + b - layout.x0) / layout.px_per_s, 3), "box": [round(v, 1) for v in box]}

    crossings, gaps = [], []
    for r in range(len(traces) - 1):
        crossings += [region([r, r + 1], a, b) for a, b in shared_ink_runs(traces[r], traces[r + 1], pen, 2)]
    for r, tr in enumerate(traces):
        gaps += [region([r], a, b) for a, b in gap_runs(tr, int(np.ceil(layout.px_per_mm)))]
    spacing = layout.row_spacing
    excursions = []
    if spacing > 0:
        for r, tr in enumerate(traces):
            excursions += [region([r], a, b) for a, b in
                           excursion_runs(tr, layout.baselines[r], 0.5 * spacing, int(np.ceil(2 * layout.px_per_mm)))]

    def longest(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda g: g["t0"] - g["t1"])[:MAX_REGIONS]
    return {"crossings": longest(crossings), "gaps": longest(gaps), "excursions": longest(excursions)}


def _end_cap(traces: list[RowTrace], x_end: float) -> float:
    """How far the ink reaches past the last sample: a round pen's cap (radius) when the traces' last
    columns taper, none when they end square (butt caps)."""
    votes = []
    for tr in traces:
        ok = np.nonzero(np.isfinite(tr.raw) & (tr.xs <= x_end))[0]
        if len(ok) < 8:
            continue
        last = ok[-1]
        thickness = 2.0 * tr.radius
        votes.append(tr.run_length[last] < 0.75 * thickness)
    radius = float(np.median([tr.radius for tr in traces])) if traces else 0.0
    return radius if votes and np.mean(votes) > 0.5 else 0.0


def digitize_image(image: np.ndarray, fs: int, config: DigitizeConfig = DigitizeConfig()) -> Digitized:
    """Digitize one page (BGR, RGB-less grey or BGRA array) at sampling rate fs.

    Orientation: a page whose reading does not look upright (`looks_upright`) is read again turned by 180
    degrees (re-using its grid calibration, so at a fraction of the cost), and that reading is kept if it
    does look upright and is doubted no more than the first (flag 'turned_180'; `prefer_turned`). A
    portrait page with vertical traces is read turned clockwise by 270 degrees, then by 90 (flag
    'turned_270' or 'turned_90'), and refused if neither looks upright.
    Paths are always in the input image's pixels.
    """
    fs = int(fs)
    if fs <= 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    image = as_bgr(image)
    portrait = check_page(image)
    first_turn = 270 if portrait else 0
    page = cv2.rotate(image, ROTATIONS[270]) if portrait else image
    t = time.perf_counter()
    flat, rect = flatten_page(page, config.rectify)
    rectify_s = time.perf_counter() - t
    t = time.perf_counter()
    aspect = config.rectify.page_aspect if config.rectify is not None else RectifyConfig().page_aspect
    grid = calibrate(flat, rect, aspect)
    first = _digitize_page(grid, fs, config, {"rectify": rectify_s, "grid": time.perf_counter() - t})
    if portrait:
        first = turned_result(first, 270, 270, image.shape[:2])
    if looks_upright(first.diagnostics["row_breaks"]):
        return first
    try:
        second = _digitize_page(turned_grid(grid), fs, config, {})
    except (PipelineError, ValueError, IndexError, ArithmeticError, cv2.error):
        second = None
    if second is not None:
        second = turned_result(second, (first_turn + 180) % 360, first_turn, image.shape[:2])
        if prefer_turned(first.diagnostics, second.diagnostics, portrait):
            return second
    if not portrait:
        return first  # neither reading looks upright (photos often hide the lead changes): keep as is
    raise PipelineError("page looks rotated by 90 degrees (portrait, traces run vertically) and neither way "
                        "of turning it reads as an upright page; turn it to landscape")


@dataclass(frozen=True)
class _Reading:
    """Steps 6-7 on one set of per-row ink maps: the layout as the traces refined it, the traces, the
    12 leads (traced and Einthoven-repaired) and how much the digitizer doubts them."""

    found: DetectedLayout
    traces: list[RowTrace]
    quality: dict[str, float]
    repaired: dict[str, np.ndarray]
    notes: list[str]
    doubt: float
    doubt_parts: dict[str, float]
    row_px_per_s: list[float]
    row_x0: list[float]


def _read_rows(maps: list[np.ndarray], found: DetectedLayout, grid: GridResult, fs: int, config: DigitizeConfig,
               pulses: list[Pulse | None], span_pulses: list[Pulse | None] | None) -> _Reading:
    """Trace every row in its map, refine the time axis from the traces, cut and repair the leads.
    pulses: each row's t = 0 anchor; span_pulses: each row's pulse for its leads' first samples (None:
    the start guard alone), both found on the page's ink for `found`'s rows (see _digitize_page)."""
    cal = grid.calibration
    layout = found.layout
    traces = _trace_rows(maps, found, config)
    # Where the traces really end: the ink-based end can run on along grid remnants or text.
    traced_end = _traced_end(traces)
    edges = [None if p is None else p.fall_x for p in pulses]
    if traced_end is not None and abs(traced_end - found.x_end) > 2.0 * layout.px_per_mm:
        settled = settle_end(found, traced_end, pulses_x0(edges, layout.px_per_mm), cal.grid_found, cal.px_per_mm)
        if settled is not found:
            found = settled
            traces = _trace_rows(maps, found, config)
    if Flag.SCALE_FALLBACK in found.flags:
        # No grid and no separators: the lead changes of rows 0-2 (where one lead's pen stroke ends
        # and the next one's starts) stand at 2.5, 5 and 7.5 s.
        breaks = _lead_breaks(traces[:N_COLUMNS - 1], found.layout.px_per_mm, min_rows=1)
        pps = scale_from_separators(breaks, found.x_end, found.layout.px_per_s, rel_tol=0.025)
        if pps is not None and abs(pps / found.layout.px_per_s - 1.0) < 0.1:
            found = found.with_end(found.x_end, True, pps / MM_PER_S)
            found = replace(found, separators=tuple(breaks),
                            flags=tuple(f for f in found.flags if f != Flag.SCALE_FALLBACK)
                            + (Flag.SCALE_FROM_LEAD_BREAKS,))
            traces = _trace_rows(maps, found, config)
    # The pen is now known: place t = 0 exactly (the trace end is the last sample plus the cap).
    cap = _end_cap(traces, found.x_end)
    # Which renderer drew the page: one pulse found will do, the kit's stands within 0.025 s of t = 0.
    found_edges = [e for e in edges if e is not None]
    pulse_x0 = float(np.median(found_edges)) if found_edges else None
    found = place_t0(found, cap, fs, pulse_x0)
    h, w = grid.ink.shape[:2]
    found = place_kit_t0(found, unmoved_kit_page(w, h, layout.px_per_mm, cal.rotation_deg, grid.resampled),
                         pulse_x0)
    layout = found.layout
    rows: list[RowSignal] = []
    for r, tr in enumerate(traces):
        conf = np.isfinite(tr.raw) * np.clip(tr.ink / 0.5, 0.0, 1.0)
        rows.append(row_signal(tr.points_x, tr.points_y, layout.baselines[r], layout.px_per_mv, tr.x0, conf))
    # Nothing at or left of a lead's first sample is that lead (see DigitizeConfig.start_guard_px).
    # The fit carries a lead's end slope on over the separator the tracer masked there, no further.
    # A photo rectified from slightly wrong corners keeps a keystone: each row reads its own time scale
    # off the grid (not where the grid was not found, or was moire and the page's size gave the scale).
    row_pps = _row_time_scales(grid, layout) if cal.grid_found and Flag.SCALE_FROM_PAGE not in cal.flags else None
    speeds = row_pps or [layout.px_per_s] * len(traces)
    # A sheared page's rows start at different x, which their calibration pulses show.
    sheared = sheared_row_starts(found, edges, cap, speeds, fs)
    if sheared is not None:
        found = replace(found, flags=found.flags + (Flag.ROWS_SHEARED,))
    row_x0 = sheared or [layout.x0] * len(traces)
    signals, quality = cut_leads(rows, layout, fs, start_guard=config.start_guard_px, smooth=config.sample_smoothing,
                                 reach=BAR_REACH_MM * layout.px_per_mm, end_guard=config.end_guard_px,
                                 row_px_per_s=row_pps, row_x0=row_x0, last_end_guard=config.page_end_guard_px,
                                 row_pulses=None if span_pulses is None else
                                 [None if p is None else _pulse_span(p, y, layout, fs)
                                  for p, y in zip(span_pulses, layout.baselines)])
    repaired, notes = einthoven_repair(signals, quality, fs, project=config.einthoven_project)
    doubt, doubt_parts = doubt_score(signals, quality, [tr.coverage for tr in traces], cal.grid_found,
                                     cal.grid_axis_periods, fs)
    return _Reading(found=found, traces=traces, quality=quality, repaired=repaired, notes=notes,
                    doubt=doubt, doubt_parts=doubt_parts,
                    row_px_per_s=speeds, row_x0=row_x0)


def _row_time_scales(grid: GridResult, layout: PageLayout) -> list[float]:
    """Each row's px per s: the grid's column period in the band of the page around its baseline (half
    way to the next rows) where it is clear and differs from the page's by more than ROW_SCALE_MIN_CHANGE
    (grid.row_x_periods), else the page's."""
    baselines = list(layout.baselines)
    half = 0.5 * layout.row_spacing if len(baselines) > 1 else 18.0 * layout.px_per_mm
    feat = page_features(grid)
    periods = row_x_periods(feat.chroma if grid.calibration.colour else feat.nonpaper, baselines, half,
                            layout.px_per_mm)
    return [MM_PER_S * (p if p is not None and abs(p / layout.px_per_mm - 1.0) > ROW_SCALE_MIN_CHANGE
                        else layout.px_per_mm) for p in periods]


def _digitize_page(grid: GridResult, fs: int, config: DigitizeConfig, timings: dict[str, float]) -> Digitized:
    """Steps 3-7 on one calibrated page read as upright (see digitize_image); timings: those of steps 1-2."""
    timings = dict(timings)
    cal = grid.calibration

    t = time.perf_counter()
    found: DetectedLayout = detect_layout(grid.ink, cal.px_per_mm, cal.grid_found)
    timings["rows"] = time.perf_counter() - t

    t = time.perf_counter()
    prob = trace_probability(grid.ink, config.probability, grid.grid_lines)
    candidates = {INK_CLASSICAL: [prob] * len(found.bands)}
    own_inks: dict[str, np.ndarray] = {}  # a reading's own ink map, where its rows may be found anew
    if config.darkness_candidate and cal.colour:
        period = cal.px_per_mm if cal.grid_found else None
        dark, _, lines = ink_and_grid_lines(grid.image, page_features(grid), period, subtract_chroma=False)
        own_inks[INK_DARKNESS] = dark
        candidates[INK_DARKNESS] = [trace_probability(dark, config.probability, lines)] * len(found.bands)
    timings["ink"] = time.perf_counter() - t
    if config.segmenter is not None and len(found.bands) == N_ROWS:
        t = time.perf_counter()
        candidates[INK_NET] = row_maps(prob, row_probabilities(grid.image, config.segmenter), config.probability,
                                       keep_columns=_lead_start_columns(found.layout, prob.shape[1],
                                                                        config.probability.lead_start_keep_mm))
        timings["segment"] = time.perf_counter() - t

    t = time.perf_counter()
    # The pulses stand on the page's ink map, whichever map the rows are traced in; only a darkness
    # reading on a page whose map lost them all looks for its own (reading_layout).
    pulses = find_pulses(grid.ink, found.layout.baselines, found.layout.px_per_mm)
    span_pulses = _span_pulses(pulses, grid.ink, found.layout) if config.pulse_span else None

    def read(name: str, maps: list[np.ndarray]) -> _Reading:
        own = reading_layout(own_inks[name], found, pulses, cal) if name in own_inks and config.own_layout else None
        if own is None:
            return _read_rows(maps, found, grid, fs, config, pulses, span_pulses)
        own_found, ink, own_pulses = own
        own_spans = _span_pulses(own_pulses, ink, own_found.layout) if config.pulse_span else None
        return _read_rows(maps, own_found, grid, fs, config, own_pulses, own_spans)

    readings = {name: read(name, maps) for name, maps in candidates.items()}
    source = choose_reading({name: round(r.doubt, 3) for name, r in readings.items()})
    reading = readings[source]
    found, traces, quality = reading.found, reading.traces, reading.quality
    layout = found.layout
    final = finalize(reading.repaired, fs)
    timings["trace"] = time.perf_counter() - t

    flags = list(cal.flags) + list(found.flags)
    low = [lead for lead in LEADS if quality.get(lead, 0.0) < LOW_CONFIDENCE]
    if low:
        flags.append(low_confidence(low))
    paths = {f"row@{r}": _path_in_image(tr, grid.to_original) for r, tr in enumerate(traces)}
    diagnostics = {
        "flags": flags,
        "rotation_deg": round(cal.rotation_deg, 4),
        "px_per_mm": round(layout.px_per_mm, 5),
        "row_px_per_s": [round(v, 3) for v in reading.row_px_per_s],
        "row_x0": [round(v, 2) for v in reading.row_x0],
        "grid_found": cal.grid_found,
        "colour": cal.colour,
        "line_width_px": round(2.0 * float(np.median([tr.radius for tr in traces])), 2),
        "x0": round(layout.x0, 2),
        "x1": round(layout.x1, 2),
        "baselines": [round(b, 1) for b in layout.baselines],
        "row_strength": [round(s, 3) for s in found.row_strength],
        "row_coverage": [round(tr.coverage, 3) for tr in traces],
        "row_breaks": row_breaks(traces, layout, layout.px_per_mm),
        "confidence": {k: round(v, 3) for k, v in quality.items()},
        "repairs": reading.notes,
        "ink_source": source,
        "ink_doubts": {name: round(r.doubt, 3) for name, r in readings.items()},
        "grid_strength": round(cal.grid_strength, 3),
        "grid_axis_periods": list(cal.grid_axis_periods),
        "doubt": round(reading.doubt, 3),
        "doubt_parts": {k: round(v, 3) for k, v in reading.doubt_parts.items()},
        **_doubt_regions(traces, layout, grid.to_original),
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    return Digitized(fs=fs, signals=final, diagnostics=diagnostics, paths=paths)


def digitize_file(path: str | Path, fs: int, config: DigitizeConfig = DigitizeConfig()) -> Digitized:
    """Digitize an image file; PipelineError naming the file if it cannot be read or digitized."""
    path = Path(path)
    image = load_image(path)
    try:
        return digitize_image(image, fs, config)
    except PipelineError as err:
        raise PipelineError(err.problem, err.path or path) from err
    except (ValueError, IndexError, ArithmeticError, cv2.error) as err:
        raise PipelineError(f"digitizing failed ({type(err).__name__}: {err})", path) from err


def safe_digitize_file(path: str | Path, fs: int, config: DigitizeConfig = DigitizeConfig()) -> Digitized:
    """Like digitize_file, but a bad image gives all-zero leads flagged 'failed: <reason>'."""
    try:
        return digitize_file(path, fs, config)
    except (PipelineError, ValueError) as err:
        return zero_result(fs, err)
