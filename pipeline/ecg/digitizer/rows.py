"""Step 3 of the digitizer: where the traces are on a calibrated page: the four row baselines and the x of t = 0 and t = 10 s.

The page is not assumed to follow our renderer: rows are found as the heights that hold ink in most
columns (a trace spends most of its time near its baseline; text does not span the page) and that are
evenly spaced, as the rows of every 3x4 + rhythm page are (a printed header line is not), and the time
axis from the right end of the traces (every row ends at t = 10 s) and the grid's px/s.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.ecg.digitizer.flags import TIME_FLAGS, Flag
from pipeline.ecg.layout import DEFAULT_LAYOUT, DURATION_S, MM_PER_S, N_COLUMNS, PAGE_H, PAGE_W, ROWS, PageLayout

INK_THRESHOLD = 0.4
MIN_ROW_GAP_MM = 12.0
ROW_CANDIDATES = 8
"""Coverage peaks considered for the four rows (headers, labels and grid remnants make extra peaks)."""
ROW_PITCH_MM = float(np.median(np.diff(DEFAULT_LAYOUT.baselines))) / DEFAULT_LAYOUT.px_per_mm
"""The layout's distance between rows (about 36 mm; the same in ecg-image-kit's pages)."""
PITCH_TOLERANCE = 0.35
"""How far (relative) the gap between two rows' coverage peaks may stray from ROW_PITCH_MM: the peaks sit
where each trace spends its time, not exactly on its baseline (gaps of 31-46 mm on clean pages), while a
printed header line above the first row stands 70 mm or more from it."""
NO_OFFSETS: tuple[float, ...] = (0.0,) * (N_COLUMNS - 1)
"""Separators standing on their column boundaries (see x0_from_separators' offsets)."""
SCALE_SEARCH = 0.15
"""Without a grid, how far (relative) the separators' px/s may stand from the page's assumed scale:
they are searched for, and accepted, that far. (The search once reached only 5 %, so a screen photo
whose rectified frame was the viewer's window, 12.5 % off, kept the wrong scale: own page 3767657770
-0.3 -> 9.9 dB; no other own-seed page changed.)"""
SEPARATOR_FIT_MM = 1.0
"""How far a column boundary's mark may sit off the line through the others' (mm): marks found from
pen lifts stand a few px before the boundary, but all by about the same amount."""
BAND_REACH = 1.1
"""How far (in row spacings) each row's trace band reaches above and below its baseline: a tall R wave
crosses the neighbouring row's baseline (ecg-image-kit renders of simulated records reach 4 mV, the
independent real records 4-8 mV), and a band of 0.95 spacings cut the tip off a first R at a lead's start
(ecgkit-dev sim012-clean, V3 at 3.7 mV above its baseline: 8.7 dB). The tracer's prior keeps the path
near its own row; the band only bounds it. Chosen on own seeds (`ecg synthetic`; 777 / 31337, nine
types x 4): 0.95 / 1.1 / 1.25 read 23.68 / 23.71 / 23.69 and 23.05 / 23.08 / 23.08 dB."""


@dataclass(frozen=True)
class DetectedLayout:
    """A page's layout plus how it was found."""

    layout: PageLayout
    bands: tuple[tuple[int, int], ...]
    """Per row, the y range [top, bottom) its trace may use (wide enough for large QRS)."""
    row_strength: tuple[float, ...]
    """Per row, the fraction of columns with ink near its baseline."""
    row_ends: tuple[float, ...]
    """Per row, the detected right end of its trace (px); the layout uses their median."""
    separators: tuple[float, ...] = ()
    """x of the lead separators found (px), if any."""
    x_end: float = float("nan")
    """Right edge of the traces' ink (px, pixel centres at integers): the last sample plus the pen's
    cap. The layout's x0 assumes a cap of zero; `with_pen` corrects it."""
    flags: tuple[str, ...] = ()

    def with_end(self, x_end: float, scale_known: bool, px_per_mm: float | None = None) -> "DetectedLayout":
        """This layout with the traces' right end at x_end and x0 = x_end - 10 s; when the scale is
        not known (no grid), px/mm from the lead separators' spacing if they are found near where
        x_end puts them (flag 'scale_from_separators', else 'scale_fallback')."""
        px_per_mm = px_per_mm or self.layout.px_per_mm
        flags = [f for f in self.flags if f not in TIME_FLAGS]
        if not scale_known:
            pps = scale_from_separators(list(self.separators), x_end, px_per_mm * MM_PER_S, SCALE_SEARCH)
            if pps is not None and abs(pps / (px_per_mm * MM_PER_S) - 1.0) < SCALE_SEARCH:
                px_per_mm = pps / MM_PER_S
                flags.append(Flag.SCALE_FROM_SEPARATORS)
            else:
                flags.append(Flag.SCALE_FALLBACK)
        x0 = x_end - DURATION_S * px_per_mm * MM_PER_S
        if x0 < 0:
            flags.append(Flag.X0_OUTSIDE_PAGE)
        layout = replace(self.layout, px_per_mm=px_per_mm, x0=x0)
        return replace(self, layout=layout, x_end=float(x_end), flags=tuple(flags))

    def with_pen(self, cap: float, fs: int | None = None,
                 separator_offsets: tuple[float, ...] = NO_OFFSETS) -> "DetectedLayout":
        """This layout with x0 placed exactly: from the lead separators when found (they stand on
        the column boundaries, whatever the pen, or separator_offsets px from them: see
        kit_page.kit_separator_offsets), else from x_end less the pen's cap extension and the last
        sample's time (10 s - 1/fs)."""
        pps = self.layout.px_per_s
        if not np.isfinite(self.x_end):
            return self
        t_last = DURATION_S - (1.0 / fs if fs else 0.0)
        x0_end = self.x_end - cap - t_last * pps
        mm = self.layout.px_per_mm
        x0, n = x0_from_separators(list(self.separators), x0_end, pps, 1.0 * mm, reach_px=4.0 * mm,
                                   tight_px=0.3 * mm, offsets=separator_offsets)
        if x0 is None:
            return replace(self, layout=replace(self.layout, x0=x0_end))
        return replace(self, layout=replace(self.layout, x0=x0), flags=self.flags + (Flag.X0_FROM_SEPARATORS,))


def row_coverage(ink: np.ndarray, px_per_mm: float, x_range: tuple[int, int] | None = None) -> np.ndarray:
    """Per y, the fraction of columns (within x_range) holding ink within +-0.75 mm of y."""
    h, w = ink.shape
    xa, xb = x_range or (int(0.2 * w), int(0.8 * w))
    binary = (ink[:, xa:xb:2] > INK_THRESHOLD).astype(np.uint8)
    r = max(int(round(0.75 * px_per_mm)), 1)
    dil = cv2.dilate(binary, np.ones((2 * r + 1, 1), np.uint8))
    return dil.mean(axis=1)


def find_rows(coverage: np.ndarray, px_per_mm: float, n_rows: int = len(ROWS)) -> tuple[list[int], list[float]]:
    """y of the n_rows strongest coverage peaks at least MIN_ROW_GAP_MM apart (top to bottom)."""
    smooth = np.convolve(coverage, np.ones(3) / 3.0, mode="same")
    gap = int(MIN_ROW_GAP_MM * px_per_mm)
    order = np.argsort(-smooth, kind="stable")
    chosen: list[int] = []
    floor = max(0.12, 0.25 * float(smooth.max()))
    for y in order:
        if smooth[y] < floor or len(chosen) == n_rows:
            break
        if all(abs(int(y) - c) >= gap for c in chosen):
            chosen.append(int(y))
    chosen.sort()
    # Centre each peak on its plateau (the dilation makes flat tops).
    centred = []
    for y in chosen:
        top = smooth[y]
        a = y
        while a > 0 and smooth[a - 1] >= top - 1e-6:
            a -= 1
        b = y
        while b < len(smooth) - 1 and smooth[b + 1] >= top - 1e-6:
            b += 1
        centred.append((a + b) // 2)
    return centred, [float(smooth[y]) for y in centred]


def looks_like_rows(rows: list[int], px_per_mm: float) -> bool:
    """Whether rows (top to bottom) stand about one ROW_PITCH_MM apart, as the layout's rows do."""
    gaps = np.diff(rows) / px_per_mm
    return bool(np.all(np.abs(gaps / ROW_PITCH_MM - 1.0) <= PITCH_TOLERANCE))


def choose_rows(candidates: list[int], coverage: list[float], px_per_mm: float,
                strongest: list[int], n_rows: int = len(ROWS)) -> list[int]:
    """The n_rows of the candidate peaks (top to bottom) spaced as the layout's rows are
    (`looks_like_rows`) with the most coverage in all; without such a set, `strongest` (the n_rows
    strongest peaks)."""
    best: tuple[float, tuple[int, ...]] | None = None
    for subset in itertools.combinations(range(len(candidates)), n_rows):
        if looks_like_rows([candidates[i] for i in subset], px_per_mm):
            total = sum(coverage[i] for i in subset)
            if best is None or total > best[0]:
                best = (total, subset)
    return [candidates[i] for i in best[1]] if best is not None else list(strongest)


def row_end(ink: np.ndarray, band: tuple[int, int], run: int = 12) -> float | None:
    """Right end of the trace in a row band: the right edge (last + 0.5, pixel centres at integers)
    of the rightmost stretch of `run` columns that mostly hold ink."""
    y0, y1 = band
    has = ink[y0:y1].max(axis=0) > 0.5
    w = len(has)
    cs = np.concatenate([[0], np.cumsum(has)])
    dense = (cs[run:] - cs[:-run]) >= 0.8 * run  # dense[i]: columns i .. i+run-1
    idx = np.nonzero(dense)[0]
    if len(idx) == 0:
        return None
    last = int(idx[-1]) + run - 1
    while not has[last]:
        last -= 1
    while last + 1 < w and has[last + 1]:
        last += 1
    return float(last) + 0.5


def default_layout(width: int, height: int, px_per_mm: float) -> PageLayout:
    """The competition layout scaled to this page size (fallback when rows are not found)."""
    sy = height / PAGE_H
    sx = width / PAGE_W
    return PageLayout(px_per_mm=px_per_mm, x0=DEFAULT_LAYOUT.x0 * sx,
                      baselines=tuple(b * sy for b in DEFAULT_LAYOUT.baselines), width=width, height=height)


def _bar_arms(binary: np.ndarray, baseline: int, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column, how many inked pixels continue upwards and downwards from the baseline pixel."""
    h = binary.shape[0]
    a, b = max(baseline - reach, 0), min(baseline + reach + 1, h)
    win = binary[a:b]
    c = baseline - a
    up_part = win[:c + 1][::-1]          # from the baseline upwards
    down_part = win[c:]                  # from the baseline downwards
    up = np.where(up_part.all(axis=0), up_part.shape[0], np.argmin(up_part, axis=0))
    down = np.where(down_part.all(axis=0), down_part.shape[0], np.argmin(down_part, axis=0))
    return up, down


def _vertical_bars(up: np.ndarray, down: np.ndarray, min_arm: int) -> np.ndarray:
    """Columns where an exactly vertical stroke crosses the baseline with arms of at least min_arm px
    above and below (a lead separator): the same ink run in this column and a neighbouring one."""
    w = len(up)
    cand = (up >= min_arm) & (down >= min_arm)
    same_next = np.zeros(w, bool)
    same_next[:-1] = cand[:-1] & cand[1:] & (np.abs(up[:-1] - up[1:]) <= 1) & (np.abs(down[:-1] - down[1:]) <= 1)
    bars = same_next.copy()
    bars[1:] |= same_next[:-1]
    return bars


def _bar_centre(ink: np.ndarray, baseline: int, cols: np.ndarray, up: int, down: int) -> float | None:
    """Sub-pixel x of a vertical bar: the median over its arms' pixel rows (away from the trace at
    the baseline) of the ink-weighted x centroid."""
    rows = [y for y in range(baseline - up + 1, baseline + down)
            if 0.4 * up <= baseline - y <= up - 1.5 or 0.4 * down <= y - baseline <= down - 1.5]
    if not rows:
        return None
    block = ink[np.asarray(rows)][:, cols]
    mass = block.sum(axis=1)
    ok = mass > 0.5
    if not ok.any():
        return None
    centres = (block[ok] * cols[None, :]).sum(axis=1) / mass[ok]
    return float(np.median(centres))


def _bars_near_line(binary: np.ndarray, line_y: int, reach: int, arm: int,
                    drift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per column (y, up, down, is_bar): vertical bars (see _vertical_bars) centred anywhere within
    `drift` px of a row's line, probed every `arm` px; for each column the probe y whose arms are
    longest. The row's line is where its ink is densest, not the signal's zero: a record with a
    large offset or wander moves it by half a millivolt, and the separators stand on the zero."""
    w = binary.shape[1]
    best = np.full(w, -1)
    ys, ups, downs = np.full(w, line_y), np.zeros(w, int), np.zeros(w, int)
    for y in range(line_y - drift, line_y + drift + 1, max(arm, 1)):
        if not 0 <= y < binary.shape[0]:
            continue
        up, down = _bar_arms(binary, y, reach)
        score = np.where(_vertical_bars(up, down, arm), np.minimum(up, down), -1)
        better = score > best
        best[better], ys[better], ups[better], downs[better] = score[better], y, up[better], down[better]
    return ys, ups, downs, best >= 0


def find_separators(ink: np.ndarray, baselines: list[int], px_per_mm: float, near_line: bool = False) -> list[float]:
    """Sub-pixel x centres of lead separators: vertical bars found at the same x in at least two of
    the three 3x4 rows, crossing a row's line or, with near_line, centred anywhere within 0.6 mV of it.

    A row's line is where its ink is densest, not the signal's zero that the bars stand on: a record
    with a large offset or wander moves it by half a millivolt. The wider search also finds steep QRS
    strokes standing at the same x in two rows, so it is for pages whose scale the grid gave, where
    only bars near the column boundaries are used; a page without a grid takes its scale from the
    separators' spacing and keeps the strict search."""
    drift = int(round(6.0 * px_per_mm)) if near_line else 0
    return _separators(ink, baselines, px_per_mm, drift)


def _separators(ink: np.ndarray, baselines: list[int], px_per_mm: float, drift: int) -> list[float]:
    binary = ink > INK_THRESHOLD
    w = ink.shape[1]
    px_per_mv = 10.0 * px_per_mm
    reach, arm = int(round(0.6 * px_per_mv)), max(int(round(0.1 * px_per_mv)), 3)
    votes = np.zeros(w, np.int32)
    per_row = []
    for y in baselines[:3]:
        ys, up, down, bars = _bars_near_line(binary, int(y), reach, arm, drift)
        per_row.append((ys, up, down, bars))
        near = bars.copy()
        near[1:] |= bars[:-1]
        near[:-1] |= bars[1:]
        votes += near
    hit = votes >= 2
    out = []
    x = 0
    while x < w:
        if not hit[x]:
            x += 1
            continue
        a = x
        while x < w and hit[x]:
            x += 1
        if x - a > 3 * px_per_mm:
            continue
        centres = []
        for ys, up, down, bars in per_row:
            idx = np.nonzero(bars[max(a - 1, 0):x + 1])[0] + max(a - 1, 0)
            if len(idx) == 0:
                continue
            idx = idx[ys[idx] == ys[idx[np.argmax(np.minimum(up[idx], down[idx]))]]]  # one probe y
            cols = np.arange(max(idx[0] - 2, 0), min(idx[-1] + 3, w))
            c = _bar_centre(ink, int(ys[idx[0]]), cols, int(up[idx].min()), int(down[idx].min()))
            if c is not None:
                centres.append(c)
        if centres:
            out.append(float(np.median(centres)))
    return out


def x0_from_separators(separators: list[float], x0_guess: float, px_per_s: float, tol_px: float,
                       reach_px: float = 0.0, tight_px: float = 0.0,
                       offsets: Sequence[float] = NO_OFFSETS) -> tuple[float | None, int]:
    """(x of t = 0 from separators at the 2.5, 5 and 7.5 s column boundaries, or offsets[k - 1] px from
    boundary k, how many were used).

    Every boundary holding a separator within tol_px of where x0_guess puts it votes for x0; when all
    of them vote, that places it. Otherwise a full set, one separator on every boundary within
    tight_px of their exact spacing, found with x0 within reach_px of the guess, places it: x0_guess
    comes from the traces' end, which a scan can lose on a grid line or a screen photo 1 mm short,
    and then a lone QRS stroke or grid remnant near a boundary outvotes the real bars, whereas such
    marks seldom stand at three exactly spaced x. Failing both, the partial vote stands."""
    col_px = DURATION_S / N_COLUMNS * px_per_s
    votes = []
    for k in range(1, N_COLUMNS):
        expect = x0_guess + k * col_px + offsets[k - 1]
        near = [x for x in separators if abs(x - expect) <= tol_px]
        if near:
            votes.append(min(near, key=lambda x: abs(x - expect)) - k * col_px - offsets[k - 1])
    if len(votes) == N_COLUMNS - 1:
        return float(np.median(votes)), len(votes)
    full = _full_separator_set(separators, x0_guess, col_px, reach_px, tight_px, offsets)
    if full is not None:
        return full, N_COLUMNS - 1
    return (float(np.median(votes)), len(votes)) if votes else (None, 0)


def _full_separator_set(separators: list[float], x0_guess: float, col_px: float, reach_px: float,
                        tight_px: float, offsets: Sequence[float] = NO_OFFSETS) -> float | None:
    """x0 of the exactly spaced full set of separators (see x0_from_separators) nearest x0_guess."""
    if reach_px <= 0 or not separators:
        return None
    seps = np.asarray(separators, dtype=np.float64)
    at = [j * col_px + offsets[j - 1] for j in range(1, N_COLUMNS)]  # boundary j's separator, from x0
    best: tuple[float, float] | None = None  # (distance from the guess, x0)
    for x in seps:
        for k in range(1, N_COLUMNS):
            x0 = x - at[k - 1]
            if abs(x0 - x0_guess) > reach_px:
                continue
            full = [seps[np.argmin(np.abs(seps - x0 - a))] - a for a in at]
            if max(abs(f - x0) for f in full) <= tight_px:
                x0 = float(np.median(full))
                if best is None or abs(x0 - x0_guess) < best[0]:
                    best = (abs(x0 - x0_guess), x0)
    return None if best is None else best[1]


def scale_from_separators(separators: list[float], x_end: float, px_per_s: float,
                          rel_tol: float = 0.05) -> float | None:
    """px/s from separators at the 2.5, 5 and 7.5 s column boundaries (at least two of them), found
    near where the approximate px_per_s puts them relative to the trace end.

    Of the candidates near each boundary, the set on one line (within SEPARATOR_FIT_MM) that holds the
    most boundaries wins, then the one closest to a line, then the one nearest to where they were
    expected: a speck or a pen lift beside a boundary, nearer to a guess that is itself off, cannot
    bend the slope."""
    col_s = DURATION_S / N_COLUMNS
    fit_px = SEPARATOR_FIT_MM * px_per_s / MM_PER_S
    options = []
    for k in range(1, N_COLUMNS):
        expect = x_end - (N_COLUMNS - k) * col_s * px_per_s
        tol = rel_tol * (N_COLUMNS - k) * col_s * px_per_s + 4.0
        options.append([(k, x, abs(x - expect)) for x in separators if abs(x - expect) <= tol] + [None])
    best: tuple[tuple[int, float, float], float] | None = None
    for combo in itertools.product(*options):
        points = [p for p in combo if p is not None]
        if len(points) < 2:
            continue
        ks, xs, off = (np.array(v, dtype=float) for v in zip(*points))
        slope, intercept = np.polyfit(ks, xs, 1)
        misfit = float(np.abs(xs - slope * ks - intercept).max())
        if misfit > fit_px:
            continue
        key = (-len(points), misfit, float(off.sum()))
        if best is None or key < best[0]:
            best = (key, float(slope))
    return None if best is None else best[1] / col_s


def detect_layout(ink: np.ndarray, px_per_mm: float, scale_known: bool = True) -> DetectedLayout:
    """Rows, bands and time axis of a calibrated page's ink map.

    scale_known: px_per_mm was measured (grid found); when not, it is re-measured from the lead
    separators' spacing when they can be found (flag 'scale_from_separators', else 'scale_fallback').
    """
    h, w = ink.shape
    flags: list[str] = []
    n_rows = len(ROWS)
    profile = row_coverage(ink, px_per_mm)
    strongest, strength = find_rows(profile, px_per_mm, n_rows)
    candidates, coverage = find_rows(profile, px_per_mm, ROW_CANDIDATES)
    rows = choose_rows(candidates, coverage, px_per_mm, strongest, n_rows)
    if rows != strongest:
        strength = [coverage[candidates.index(y)] for y in rows]
    if len(rows) != n_rows:
        flags.append(Flag.ROW_FALLBACK)
        fallback = default_layout(w, h, px_per_mm)
        rows = [int(round(b)) for b in fallback.baselines]
        strength = [0.0] * n_rows
    gaps = np.diff(rows)
    spacing = float(np.median(gaps)) if len(gaps) else 36.0 * px_per_mm
    bands = []
    for y in rows:
        reach = int(round(BAND_REACH * spacing))
        bands.append((max(0, y - reach), min(h, y + reach + 1)))
    # Time axis: every row ends at t = 10 s.
    half = int(round(0.45 * spacing))
    ends = [row_end(ink, (max(0, y - half), min(h, y + half + 1))) for y in rows]
    found = [e for e in ends if e is not None]
    if found:
        x_end = float(np.median(found))
        if max(found) - min(found) > 2.0 * px_per_mm:
            flags.append(Flag.ROW_ENDS_DISAGREE)
    else:
        flags.append(Flag.X_FALLBACK)
        x_end = default_layout(w, h, px_per_mm).x1
    separators = find_separators(ink, rows, px_per_mm, near_line=scale_known)
    layout = PageLayout(px_per_mm=px_per_mm, x0=0.0, baselines=tuple(float(y) for y in rows),
                        width=w, height=h)
    found = DetectedLayout(layout=layout, bands=tuple(bands), row_strength=tuple(strength),
                           row_ends=tuple(float("nan") if e is None else e for e in ends),
                           separators=tuple(separators), flags=tuple(flags))
    return found.with_end(x_end, scale_known)
