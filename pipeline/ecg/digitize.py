"""The digitizer: an ECG page image in, 12 lead signals out.

rectify (photos: page quadrilateral -> canonical frame, even light) -> grid (deskew, px/mm, grid
removal) -> detect_layout (rows, time axis) -> probability (ink map) -> segment (optional learned
U-Net: whose ink is it, which ink is no trace; probability.row_maps) -> trace (Viterbi per row,
sub-pixel y) -> signals (mV, leads, Einthoven repair).

`digitize_image` works on an array (refusing tiny and blank pages, reading pages turned by 90 or 180
degrees upright), `digitize_file` on a file (clear errors for bad files), and `safe_digitize_file`
never raises for a bad image: it returns zeros flagged 'failed: <reason>'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.ecg.detect_layout import DetectedLayout, detect_layout, scale_from_separators
from pipeline.ecg.grid import GridResult, as_bgr, calibrate, ink_map, load_image
from pipeline.ecg.kit_page import place_kit_t0, unmoved_kit_page
from pipeline.ecg.layout import DURATION_S, LEADS, MM_PER_S, N_COLUMNS, PageLayout, lead_window, n_samples
from pipeline.ecg.rectify import RectifyConfig
from pipeline.ecg.segment import DEFAULT_CHECKPOINT, N_ROWS
from pipeline.ecg.probability import ProbabilityConfig, row_maps, trace_probability
from pipeline.ecg.signals import (RowSignal, cut_leads, einthoven_repair, finalize, row_signal)
from pipeline.ecg.trace import RowTrace, TraceConfig, excursion_runs, gap_runs, shared_ink_runs, trace_row

SHIPPED_SEGMENTER = str(DEFAULT_CHECKPOINT) if DEFAULT_CHECKPOINT.is_file() else None
LOW_CONFIDENCE = 0.5
MAX_REGIONS = 20
"""Doubtful regions kept per kind (the longest ones) in the diagnostics."""
MIN_LONG_SIDE = 550
"""Smallest page read: 550 px across a 280 mm page is 2 px per mm, about the least that shows the grid."""
CHECK_SIDE = 550
BLANK_CONTRAST, BLANK_FRACTION = 48.0, 0.002
"""Blank: fewer than 0.2% of pixels 48 grey levels darker than the paper (pages measured 3% to 80%)."""
PORTRAIT_RATIO, VERTICAL_RATIO = 1.05, 1.3
"""Turned by 90 degrees: taller than wide, and the ink's column profile varies 1.3x as much as its row
profile (13 pages measured: turned scans and renders 1.6x to 2.8x; upright ones 0.99x to 2.8x the other
way; photos, about 1x either way, are not recognised as turned)."""


@dataclass(frozen=True)
class DigitizeConfig:
    trace: TraceConfig = TraceConfig()
    probability: ProbabilityConfig = ProbabilityConfig()
    einthoven_project: bool = True
    """Also move well-traced limb leads onto Einthoven's relations (not only repair bad ones)."""
    rectify: RectifyConfig | None = RectifyConfig()
    """Perspective rectification of photographed pages before the grid step (None: off)."""
    segmenter: str | None = SHIPPED_SEGMENTER
    """Path of a row-segmentation checkpoint (segment.py), by default the one shipped with the package;
    None: the classical ink map for every row."""


@dataclass(frozen=True)
class Digitized:
    """One page's result: each lead's window values (length n_samples(fs, lead)), diagnostics, and the
    per-row pixel paths ((n, 2) x, y in the input image's pixels, NaN in gaps) keyed 'row@<r>'."""

    fs: int
    signals: dict[str, np.ndarray]
    diagnostics: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, np.ndarray] = field(default_factory=dict)

    def to_record(self) -> pd.DataFrame:
        """A train-CSV-like frame: fs*10 rows, 12 lead columns, NaN outside each lead's window."""
        n = int(round(self.fs * DURATION_S))
        out = pd.DataFrame(np.nan, index=range(n), columns=list(LEADS))
        for lead in LEADS:
            a, b = lead_window(self.fs, lead)
            values = self.signals.get(lead)
            if values is not None and len(values) == b - a:
                out.loc[a:b - 1, lead] = np.asarray(values, dtype=np.float64)
        return out

    @property
    def flags(self) -> list[str]:
        return list(self.diagnostics.get("flags", []))


def zero_result(fs: int, reason: str) -> Digitized:
    """All-zero leads (a valid, flat prediction) flagged with the reason."""
    signals = {lead: np.zeros(n_samples(fs, lead)) for lead in LEADS}
    return Digitized(fs=int(fs), signals=signals, diagnostics={"flags": [reason]}, paths={})


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
        xs = _breaks_of_row(tr, px_per_mm)
        out.append(sum(1 for b in bounds if len(xs) and float(np.abs(xs - b).min()) <= px_per_mm))
    return out


def looks_upright(breaks: list[int]) -> bool:
    """The lead changes stand where an upright page has them: in the three short-lead rows at two or
    more boundaries each, in the rhythm strip at most at one (a page turned by 180 degrees has its
    rhythm strip on top and lead changes at mirrored places)."""
    return len(breaks) == 4 and min(breaks[:3]) >= 2 and breaks[3] <= 1


_ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def _unrotate_points(xy: np.ndarray, degrees: int, shape: tuple[int, int]) -> np.ndarray:
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


def _trace_rows(maps: list[np.ndarray], found: DetectedLayout, config: DigitizeConfig) -> list[RowTrace]:
    """Trace every row, row r in maps[r], from just before t = 0 to a little past the traces' end."""
    layout = found.layout
    x_lo = int(np.floor(layout.x0)) - 1
    x_hi = min(maps[0].shape[1], int(np.ceil(max(found.x_end, layout.x1) + 2.0 * layout.px_per_mm)))
    return [trace_row(maps[r], band, (x_lo, x_hi), layout.baselines[r], 0.0, config.trace,
                      bars_near=_lead_starts(layout), bar_reach=0.75 * layout.px_per_mm)
            for r, band in enumerate(found.bands)]


def _lead_starts(layout: PageLayout) -> list[float]:
    """x of every lead's start: t = 0 and the column boundaries."""
    col_px = DURATION_S / N_COLUMNS * layout.px_per_s
    return [layout.x0 + k * col_px for k in range(N_COLUMNS)]


def _lead_start_columns(layout: PageLayout, width: int, reach_mm: float) -> np.ndarray:
    """Columns within reach_mm of a lead's start."""
    xs = np.arange(width)
    near = np.zeros(width, bool)
    for x in _lead_starts(layout):
        near |= np.abs(xs - x) <= reach_mm * layout.px_per_mm
    return near


def _traced_end(traces: list[RowTrace], run: int = 16) -> float | None:
    """Median over rows of where each trace's continuous ink ends (right edge of the last column of
    the last stretch of `run` columns almost all holding ink along the path)."""
    ends = []
    for tr in traces:
        has = np.isfinite(tr.raw)
        if has.sum() < run:
            continue
        cs = np.concatenate([[0], np.cumsum(has)])
        dense = np.nonzero((cs[run:] - cs[:-run]) >= run - 1)[0]
        if len(dense) == 0:
            continue
        last = int(dense[-1]) + run - 1
        while not has[last]:
            last -= 1
        ends.append(tr.x0 + last + 0.5)
    return float(np.median(ends)) if ends else None


def _breaks_of_row(tr: RowTrace, px_per_mm: float) -> np.ndarray:
    """x of one row's breaks: ink gaps up to 2 mm long, and adjacent columns whose ink runs do not touch."""
    top, bot = tr.top, tr.bottom
    ok = np.isfinite(top)
    xs: list[float] = []
    i = 0
    while i < len(top) - 1:
        if ok[i] and not ok[i + 1]:
            j = i + 1
            while j < len(top) and not ok[j]:
                j += 1
            if j < len(top) and j - i <= 2 * px_per_mm:
                xs.append(tr.x0 + 0.5 * (i + j))
            i = j
            continue
        if ok[i] and ok[i + 1] and (top[i + 1] > bot[i] + 0.5 or bot[i + 1] < top[i] - 0.5):
            xs.append(tr.x0 + i + 0.5)
        i += 1
    return np.asarray(xs)


def _lead_breaks(traces: list[RowTrace], px_per_mm: float, min_rows: int = 2) -> list[float]:
    """x positions where the traces of rows 0-2 break at the same place (within 1 mm) in at least
    min_rows rows: an ink gap, or adjacent columns whose ink runs do not touch (a pen lifted and put
    down at another height). A QRS stroke is continuous ink and does not count."""
    per_row = [_breaks_of_row(tr, px_per_mm) for tr in traces]
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
    spacing = float(np.median(np.diff(layout.baselines))) if len(layout.baselines) > 1 else 0.0
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
    does look upright (flag 'turned_180'). A portrait page with vertical traces is read turned clockwise
    by 270 degrees, then by 90 (flag 'turned_270' or 'turned_90'), and refused if neither looks upright.
    Paths are always in the input image's pixels.
    """
    fs = int(fs)
    if fs <= 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    image = as_bgr(image)
    portrait = check_page(image)
    first_turn = 270 if portrait else 0
    page = cv2.rotate(image, _ROTATIONS[270]) if portrait else image
    t = time.perf_counter()
    grid = calibrate(page, config.rectify)
    grid_s = time.perf_counter() - t
    first = _digitize_page(grid, fs, config, grid_s)
    if portrait:
        first = _turned(first, 270, 270, image.shape[:2])
    if looks_upright(first.diagnostics["row_breaks"]):
        return first
    try:
        second = _digitize_page(turned_grid(grid), fs, config, 0.0)
    except (PipelineError, ValueError, IndexError, ArithmeticError, cv2.error):
        second = None
    if second is not None:
        second = _turned(second, (first_turn + 180) % 360, first_turn, image.shape[:2])
        if looks_upright(second.diagnostics["row_breaks"]):
            return second
    if not portrait:
        return first  # neither reading looks upright (photos often hide the lead changes): keep as is
    raise PipelineError("page looks rotated by 90 degrees (portrait, traces run vertically) and neither way "
                        "of turning it reads as an upright page; turn it to landscape")


def turned_grid(grid: GridResult) -> GridResult:
    """The calibrated page turned by 180 degrees; its `to_original` still maps to the page calibrated."""
    h, w = grid.ink.shape[:2]
    flip = np.array([[-1.0, 0.0, w - 1.0], [0.0, -1.0, h - 1.0], [0.0, 0.0, 1.0]])
    matrix = (flip @ np.vstack([grid.rotation_matrix, [0.0, 0.0, 1.0]]))[:2]
    return GridResult(image=cv2.rotate(grid.image, cv2.ROTATE_180), ink=np.ascontiguousarray(grid.ink[::-1, ::-1]),
                      calibration=grid.calibration, rotation_matrix=matrix,
                      rectification=grid.rectification)


def _turned(result: Digitized, degrees: int, paths_turned_by: int, shape: tuple[int, int]) -> Digitized:
    """Flag a reading made `degrees` turned; its paths, given in the page turned by `paths_turned_by`,
    are mapped back to the input page (shape h, w)."""
    if degrees == 0:
        return result
    paths = {k: _unrotate_points(v, paths_turned_by, shape) if len(v) else v for k, v in result.paths.items()}
    diagnostics = {**result.diagnostics, "flags": [f"turned_{degrees}", *result.diagnostics["flags"]],
                   "page_turned_deg": degrees}
    return Digitized(fs=result.fs, signals=result.signals, diagnostics=diagnostics, paths=paths)


def _digitize_page(grid: GridResult, fs: int, config: DigitizeConfig, grid_s: float) -> Digitized:
    """Digitize one calibrated page read as upright (see digitize_image); grid_s: the calibration's time."""
    timings: dict[str, float] = {"grid": grid_s}
    cal = grid.calibration

    t = time.perf_counter()
    found: DetectedLayout = detect_layout(grid.ink, cal.px_per_mm, cal.grid_found)
    layout = found.layout
    timings["layout"] = time.perf_counter() - t

    t = time.perf_counter()
    prob = trace_probability(grid.ink, config.probability)
    timings["probability"] = time.perf_counter() - t
    if config.segmenter is not None and len(found.bands) == N_ROWS:
        from pipeline.ecg.segment import row_probabilities  # torch loads only when a segmenter is used

        t = time.perf_counter()
        maps = row_maps(prob, row_probabilities(grid.image, config.segmenter), config.probability,
                        keep_columns=_lead_start_columns(found.layout, prob.shape[1],
                                                         config.probability.lead_start_keep_mm))
        timings["segment"] = time.perf_counter() - t
    else:
        maps = [prob] * len(found.bands)

    t = time.perf_counter()
    traces = _trace_rows(maps, found, config)
    # Where the traces really end: the ink-based end can run on along grid remnants or text.
    traced_end = _traced_end(traces)
    if traced_end is not None and abs(traced_end - found.x_end) > 2.0 * layout.px_per_mm:
        found = found.with_end(traced_end, cal.grid_found, cal.px_per_mm)
        found = replace(found, flags=found.flags + ("x_end_from_trace",))
        traces = _trace_rows(maps, found, config)
    if "scale_fallback" in found.flags:
        # No grid and no separators: the lead changes of rows 0-2 (where one lead's pen stroke ends
        # and the next one's starts) stand at 2.5, 5 and 7.5 s.
        breaks = _lead_breaks(traces[:N_COLUMNS - 1], found.layout.px_per_mm, min_rows=1)
        pps = scale_from_separators(breaks, found.x_end, found.layout.px_per_s, rel_tol=0.025)
        if pps is not None and abs(pps / found.layout.px_per_s - 1.0) < 0.1:
            found = found.with_end(found.x_end, True, pps / MM_PER_S)
            found = replace(found, separators=tuple(breaks),
                            flags=tuple(f for f in found.flags if f != "scale_fallback")
                            + ("scale_from_lead_breaks",))
            traces = _trace_rows(maps, found, config)
    # The pen is now known: place t = 0 exactly (the trace end is the last sample plus the cap).
    found = found.with_pen(_end_cap(traces, found.x_end), fs)
    h, w = grid.ink.shape[:2]
    found = place_kit_t0(found, unmoved_kit_page(w, h, layout.px_per_mm, cal.rotation_deg,
                                                 grid.rectification.applied))
    layout = found.layout
    timings["trace"] = time.perf_counter() - t

    t = time.perf_counter()
    rows: list[RowSignal] = []
    for r, tr in enumerate(traces):
        conf = np.isfinite(tr.raw) * np.clip(tr.ink / 0.5, 0.0, 1.0)
        rows.append(row_signal(tr.points_x, tr.points_y, layout.baselines[r], layout.px_per_mv, tr.x0, conf))
    # Nothing left of a lead's first sample is that lead: ecg-image-kit draws the calibration pulse
    # up to t = 0 (its top's corner would be read as the first samples) and the previous lead up to
    # a column boundary; the vertical mark on the boundary itself is masked by the tracer.
    signals, quality = cut_leads(rows, layout, fs, start_guard=0.0)
    repaired, notes = einthoven_repair(signals, quality, fs, project=config.einthoven_project)
    final = finalize(repaired, fs)
    timings["signals"] = time.perf_counter() - t

    flags = list(cal.flags) + list(found.flags)
    low = [lead for lead in LEADS if quality.get(lead, 0.0) < LOW_CONFIDENCE]
    if low:
        flags.append("low_confidence: " + ",".join(low))
    paths = {f"row@{r}": _path_in_image(tr, grid.to_original) for r, tr in enumerate(traces)}
    diagnostics = {
        "flags": flags,
        "rotation_deg": round(cal.rotation_deg, 4),
        "px_per_mm": round(layout.px_per_mm, 5),
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
        "repairs": notes,
        "grid_strength": round(cal.grid_strength, 3),
        "grid_axis_periods": list(cal.grid_axis_periods),
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
        return zero_result(fs, f"failed: {err}")
