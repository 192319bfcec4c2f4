"""Step 6 of the digitizer: follow each row's trace through the ink-probability map and read it to sub-pixel precision.

1. Path: a Viterbi pass over y per column finds the cheapest path through the row's band. Staying on
   ink is free; moving vertically costs little through ink (a steep QRS stroke is a vertical ink run,
   in this column or the previous one) and much through paper, so the path follows steep strokes but
   does not jump to other ink; at lead boundaries it may jump freely (the next lead starts at its own
   height). A soft prior keeps it near its own baseline against a neighbouring row's large QRS.
2. Runs: per column, the ink run around the path, with sub-pixel top and bottom edges. Where the
   path cut a narrow spike short through foreign ink (a label's letter touching both flanks), it is
   moved onto the spike's apex and the runs are read again (complete_apexes).
3. Centreline per column for a round pen of radius r (measured on flat stretches): the mid of the
   edges where the stroke is straight; near narrow peaks (troughs) the morphological closing (opening)
   of the edges, which keeps the apex where the mid would cut it.
4. Curve points: where the stroke is steep, pixel rows cut it as thin horizontal runs, so each row
   gives a point (its edges plus or minus the pen's horizontal half-width), also on both flanks of a
   peak whose strokes have merged; apexes get their cap's sub-pixel x. Flat stretches keep the
   column points. The curve is the x-sorted point set; gaps (no ink) are interpolated, never filled
   with the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit


@dataclass(frozen=True)
class TraceConfig:
    """Costs of the Viterbi tracer (per column, probability in [0, 1])."""

    emission: float = 1.0
    """Cost of a column whose path pixel holds no ink."""
    step_ink: float = 0.004
    """Cost per px of vertical travel through ink."""
    step_paper: float = 0.35
    """Extra cost per px of vertical travel through paper."""
    saturation: float = 0.5
    """Probability from which a pixel counts as full ink (no emission or paper cost)."""
    prior: float = 0.6
    """Cost per column per band-half-height of distance from the baseline beyond `prior_free`."""
    prior_free: float = 0.35
    """Fraction of the band's half-height around the baseline that is free of the prior."""
    run_threshold: float = 0.35
    """Probability above which a pixel belongs to the ink run around the path."""
    search: int = 2
    """How far (px) from the path to look for ink when the path pixel itself holds none."""
    bridge: int = 4
    """Faint gaps up to this many px inside a column's ink run are bridged (merged spike flanks)."""
    bridge_floor: float = 0.15
    """A gap is bridged only if none of its pixels is fainter than this (a seam, not paper)."""
    row_reading: bool = True
    """Read steep strokes along pixel rows (sub-pixel x per row) instead of one y per column."""
    pen_half_quantile: float = 25.0
    """Percentile of the horizontal half-widths of single near-vertical strokes (`flank_points`) taken
    as the pen's horizontal radius when reading steep strokes along rows, on pages whose strokes are not
    crisp (see crisp_pen_spread); a wider radius pulls the two flanks of a narrow QRS together (narrower,
    lower R waves). Chosen on own seeds: with every run counted (merged apex flanks too), percentile
    50 / 35 / 25 / 20 / 10 read seed 777 (nine types x 6) 23.41 / 23.67 / 23.73 / 23.76 / 23.75 dB and seed
    7070 (0006 x 32) 14.72 / 15.13 / 15.29 / 15.31 / 15.24 dB; with lone runs left out (as now) 50 / 35 /
    25: 23.43 / 23.69 / 23.74 and 15.35 / 15.41 / 15.38 dB. It costs thin-pen triangles drawn without
    blur (test_trace) 5 dB at 500 Hz."""
    pen_half_quantile_crisp: float = 10.0
    """The percentile on crisp pages, where the half-widths spread only by the pixel grid. ecg-image-kit's
    pen (matplotlib, 2.08 px, now drawn so by our renderer) merges the flanks of sharp R waves at 500 Hz;
    read with the lower quartile they came out about 1 % low and 0.07 samples late (kitreal clean: best
    fitting gain 1.01). Chosen on own seeds (always on; 25 / 10 / 5 / 2): bench replica 12345 23.59 /
    23.71 / 23.71 / 23.70 dB, seed 777 23.90 / 23.94 / 23.96 / 23.86, seed 4242 (0001 x 30) 28.49 / 28.54 /
    28.53 / 28.54, seed 9090 (0005, 0006 x 32) 18.70 / 18.69 / 18.68 / -."""
    crisp_pen_spread: float = 0.08
    """A row's strokes count as crisp when (median - 10th percentile) of the half-widths is below this
    fraction of the median (about 0.06 on clean kit pages; 0.09-0.23 blurred, JPEG'd or rotated ones).
    Chosen on own seeds (renderer at 8b222ba) among 0 (off) / 0.06 / 0.08 / 0.10 / 0.12 / always: bench
    replica 12345 23.59 / 23.60 / 23.72 / 23.71 / 23.72 / 23.71 dB, seed 777 (nine types x 6) 23.90 /
    23.91 / 23.91 / 23.90 / 24.01 / 23.94 dB; 0.08 is the widest that costs no type more than 0.2 dB
    (0.10 and up: 0006 and 0012 lose 0.1-0.4 dB on the replica, their pages being the least crisp)."""
    apex_width_mm: float = 2.0
    """Widest spike whose apex a shortcut through foreign ink (a label's letter) is undone for."""
    apex_depth_mm: float = 1.0
    """Least depth of such an apex beyond the shortcut (a few pen widths: not a blot on the stroke)."""
    start_width_mm: float = 3.0
    """Farthest from a lead's start that ink above the path may rejoin it (complete_starts): a QRS
    lasts up to 0.12 s, 3 mm at 25 mm/s. Below the path apex_width_mm applies, as the lead's label
    hangs there and a letter rejoins within its own width."""
    start_below_at_t0_only: bool = True
    """complete_starts follows ink below the path at t = 0 only, not at the column boundaries. There the
    path runs on from the separator bar onto the new lead, and what hangs below is its label (whose
    letters touch a first S wave: ecg-image-kit renders of real records read the first 0.1 s of V1-V3
    along the letters, E07500 14.8 dB) or another lead's deep wave. At t = 0 the path comes down the
    pulse's edge onto its foot, and a lead starting deep below is followed (ecgkit-dev sim027-clean
    III at -2.2 mV). Own seeds 777 (nine types x 6) / 12345 (bench replica) / 9090 (0005, 0006 x 32):
    23.74 / 23.93 / 18.50 dB with, 23.93 / 23.96 / 19.28 without ink below at the boundaries."""
    lean_run_pens: float = 4.0
    """Widest (in pen radii) a pixel row's run may be and still be read when it runs out of the window
    that flank_points reads a steep stretch in (the stretch's columns plus a pen). Where a label's bar
    takes the path across a narrow S wave, the tip's columns hold short runs, the stretch splits into
    one zone per flank, and the rows of the flanks' merged tip lie beyond either window: dropped as cut
    by it, the trough was read short (own 0001 page 3083951213, V3 17.4 -> 21.8 dB). Runs reaching a
    separator or pulse edge stay dropped. Chosen on own seeds (`ecg synthetic`) 777 (nine types x 4):
    0 / 3 / 4 / 6 radii read 23.30 / 23.52 / 23.67 / 23.66 dB; 4 is two pen widths."""
    bar_half_width_mm: float = 0.4
    """Half the width of a lead separator bar (ecg-image-kit draws it 6.26 px wide at 200 dpi,
    centred on the column boundary): complete_starts looks for a lead's first stroke from the first
    column right of it, not inside it."""


@dataclass(frozen=True)
class RowTrace:
    """One row's trace: per column x (x0 .. x0+n-1) the sub-pixel y (NaN where no ink was found)."""

    x0: int
    y: np.ndarray
    """Sub-pixel y per column, gaps interpolated (NaN only if the row held no ink at all)."""
    raw: np.ndarray
    """Sub-pixel y per column before gap filling (NaN = gap)."""
    path: np.ndarray
    """Integer Viterbi path per column."""
    ink: np.ndarray
    """Probability on the path per column (a confidence)."""
    top: np.ndarray
    """Sub-pixel upper edge of the ink run around the path per column (NaN = none)."""
    bottom: np.ndarray
    """Sub-pixel lower edge of that run."""
    radius: float = 1.0
    """Pen radius (half the stroke's thickness) used for the centreline."""
    points_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """The curve as sub-pixel points sorted by x (columns where flat, pixel rows where steep)."""
    points_y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pen_halves: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Horizontal half-widths (px) of single near-vertical strokes met beside another run in their pixel
    row (flank_points): the pen's radius as noise cannot widen it (a dense mains-noise band has no flat
    column of pen width; its QRS flanks still do)."""

    @property
    def run_length(self) -> np.ndarray:
        """Vertical extent (px) of the ink run per column (NaN = none)."""
        return self.bottom - self.top

    @property
    def xs(self) -> np.ndarray:
        return np.arange(self.x0, self.x0 + len(self.y), dtype=np.float64)

    @property
    def coverage(self) -> float:
        """Fraction of columns where ink was found."""
        return float(np.isfinite(self.raw).mean()) if len(self.raw) else 0.0


@njit(cache=True)
def _viterbi_cols(sat, pri, emission, step_ink, step_paper, free_jump):
    """Viterbi over a column-major band: sat[i, j] in [0, 1] is how inked row j of column i is
    (at most 32767 rows)."""
    n, h = sat.shape
    back = np.empty((n, h), np.int16)
    cost = np.empty(h)
    for j in range(h):
        cost[j] = emission * (1.0 - sat[0, j]) + pri[j]
        back[0, j] = j
    fwd = np.empty(h)
    fwd_o = np.empty(h, np.int16)
    bwd = np.empty(h)
    bwd_o = np.empty(h, np.int16)
    step = np.empty(h)
    for i in range(1, n):
        paper = 0.0 if free_jump[i] else step_paper
        col = sat[i]
        prev = sat[i - 1]
        # Downward sweep: reach j from above through a vertical run.
        fwd[0] = cost[0]
        fwd_o[0] = 0
        step[0] = step_ink + paper * (1.0 - max(col[0], prev[0]))
        for j in range(1, h):
            step[j] = step_ink + paper * (1.0 - max(col[j], prev[j]))
            c = fwd[j - 1] + step[j]
            if c < cost[j]:
                fwd[j] = c
                fwd_o[j] = fwd_o[j - 1]
            else:
                fwd[j] = cost[j]
                fwd_o[j] = j
        # Upward sweep.
        bwd[h - 1] = cost[h - 1]
        bwd_o[h - 1] = h - 1
        for j in range(h - 2, -1, -1):
            c = bwd[j + 1] + step[j]
            if c < cost[j]:
                bwd[j] = c
                bwd_o[j] = bwd_o[j + 1]
            else:
                bwd[j] = cost[j]
                bwd_o[j] = j
        lo = 1e300
        for j in range(h):
            if fwd[j] <= bwd[j]:
                c = fwd[j]
                back[i, j] = fwd_o[j]
            else:
                c = bwd[j]
                back[i, j] = bwd_o[j]
            c += emission * (1.0 - col[j]) + pri[j]
            cost[j] = c
            if c < lo:
                lo = c
        for j in range(h):
            cost[j] -= lo
    path = np.empty(n, np.int64)
    best = 0
    for j in range(1, h):
        if cost[j] < cost[best]:
            best = j
    path[n - 1] = best
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


@njit(cache=True)
def _band_columns(prob, y_lo, y_hi, x_lo, x_hi, inv, pool):
    """Column-major saturated ink of a band: out[i, j] = min(1, prob * inv) of column x_lo + i at
    row y_lo + j (pool = 2: the max of rows y_lo + 2j and y_lo + 2j + 1)."""
    n = x_hi - x_lo
    h = (y_hi - y_lo + pool - 1) // pool
    out = np.zeros((n, h), np.float32)
    block = 32  # transpose in blocks of columns so that both sides stay in cache
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        for y in range(y_lo, y_hi):
            j = (y - y_lo) // pool
            for i in range(i0, i1):
                v = min(prob[y, x_lo + i] * inv, 1.0)
                if v > out[i, j]:
                    out[i, j] = v
    return out


def viterbi_band(prob: np.ndarray, y_lo: int, y_hi: int, x_lo: int, x_hi: int, base: int, emission: float,
                 step_ink: float, step_paper: float, prior: float, prior_free: float, saturation: float,
                 free_jump: np.ndarray) -> np.ndarray:
    """Cheapest path (one y per column) through prob[y_lo:y_hi, x_lo:x_hi]; returns absolute ys.

    Per column the cost is emission * (1 - ink) plus a prior beyond prior_free of the band's
    half-height from the baseline; moving vertically costs step_ink per px plus step_paper * (1 - ink)
    (ink of this or the previous column: a steep stroke is free), computed exactly for every jump by
    two sweeps per column. Ink saturates at `saturation`. free_jump[i]: moving into column x_lo + i
    costs only step_ink even through paper (a lead boundary: the next lead starts at its own height).
    Tall bands are searched at half vertical resolution (pairs of rows, max ink): the path only has
    to land on the right ink run, which the run extraction then measures at full resolution.
    """
    h = y_hi - y_lo
    pool = 1 if h < 64 else 2
    if h > pool * 32767:
        raise ValueError(f"band of {h} rows is too tall to trace")
    sat = _band_columns(prob, y_lo, y_hi, x_lo, x_hi, np.float32(1.0 / saturation), pool)
    half = max(base - y_lo, y_hi - 1 - base, 1)
    ys = np.arange(y_lo, y_lo + sat.shape[1] * pool, pool)
    d = np.abs(ys - base) - prior_free * half
    pri = np.where(d > 0, prior * d / half, 0.0)
    jumps = np.asarray(free_jump, dtype=np.bool_)
    coarse = _viterbi_cols(sat, pri, float(emission), float(pool * step_ink), float(pool * step_paper), jumps)
    if pool == 1:
        return coarse + y_lo
    # Back to full resolution: the more inked row of each chosen pair.
    y = y_lo + 2 * coarse
    xs = np.arange(x_lo, x_hi)
    lower = np.minimum(y + 1, y_hi - 1)
    return np.where(prob[lower, xs] > prob[y, xs], lower, y)


@njit(cache=True)
def _run_end(prob, x, y, step, y_lo, y_hi, thr, bridge, floor):
    """Last ink pixel of column x going from ink pixel y in direction step (-1 up, +1 down), jumping
    faint gaps (every pixel >= floor) of up to `bridge` px when ink resumes beyond them: the two flanks of a QRS spike
    narrower than the pen merge with a lighter seam between them, and stopping at the seam would
    cut the spike's top off."""
    s = y
    while True:
        while y_lo <= s + step < y_hi and prob[s + step, x] > thr:
            s += step
        jumped = False
        for g in range(2, bridge + 2):
            t = s + g * step
            if not (y_lo <= t < y_hi) or prob[t - step, x] < floor:
                break  # paper, not a seam: the run ends here
            if prob[t, x] > thr:
                s = t
                jumped = True
                break
        if not jumped:
            return s


@njit(cache=True)
def _runs_along_path(prob, path, x_lo, y_lo, y_hi, thr, search, bridge, floor):
    """Per column: ink run [top, bottom] (sub-pixel edges at prob = 0.5 * peak) and centroid.
    Faint gaps (>= floor) of up to `bridge` px inside a run are bridged (see _run_end)."""
    n = path.shape[0]
    top = np.full(n, np.nan)
    bot = np.full(n, np.nan)
    cen = np.full(n, np.nan)
    pk = np.zeros(n)
    for i in range(n):
        x = x_lo + i
        y = path[i]
        # Find ink at or near the path pixel.
        yy = -1
        bestp = thr
        for d in range(search + 1):
            for s in (y - d, y + d):
                if y_lo <= s < y_hi and prob[s, x] > bestp:
                    bestp = prob[s, x]
                    yy = s
            if yy >= 0:
                break
        if yy < 0:
            continue
        a = _run_end(prob, x, yy, -1, y_lo, y_hi, thr, bridge, floor)
        b = _run_end(prob, x, yy, 1, y_lo, y_hi, thr, bridge, floor)
        peak = 0.0
        sw = 0.0
        sy = 0.0
        for s in range(a, b + 1):
            p = prob[s, x]
            if p > peak:
                peak = p
            sw += p
            sy += p * s
        # Include the faint anti-aliased rims just outside the run in the centroid.
        if a - 1 >= y_lo:
            sw += prob[a - 1, x]
            sy += prob[a - 1, x] * (a - 1)
        if b + 1 < y_hi:
            sw += prob[b + 1, x]
            sy += prob[b + 1, x] * (b + 1)
        cen[i] = sy / sw
        pk[i] = peak
        # Sub-pixel edges: where the profile crosses half the run's peak (pixel values at centres).
        half = 0.5 * peak
        j = a
        while prob[j, x] < half:
            j += 1
        t = j - 0.5
        if j - 1 >= y_lo:
            p_out = prob[j - 1, x]
            p_in = prob[j, x]
            if p_in > p_out:
                t = (j - 1) + (half - p_out) / (p_in - p_out)
        top[i] = t
        j = b
        while prob[j, x] < half:
            j -= 1
        e = j + 0.5
        if j + 1 < y_hi:
            p_out = prob[j + 1, x]
            p_in = prob[j, x]
            if p_in > p_out:
                e = (j + 1) - (half - p_out) / (p_in - p_out)
        bot[i] = e
    return top, bot, cen, pk


@njit(cache=True)
def _edge(top, bot, i, direction):
    return bot[i] if direction > 0 else top[i]


@njit(cache=True)
def _steep_end(top, bot, i, j, direction, k=3, rise=3.0):
    """Whether a steep stroke enters the notch i .. j-1 or leaves it: the inner edge of the runs
    moves outward by at least `rise` px over the k columns before i, or inward over the k after j.
    A letter hanging off a flat trace has neither."""
    n = top.shape[0]
    inner = bot if direction < 0 else top
    a, b = i - 1, i - 1 - k
    if b >= 0 and np.isfinite(inner[a]) and np.isfinite(inner[b]) and (inner[a] - inner[b]) * direction >= rise:
        return True
    a, b = j, j + k
    if b < n and np.isfinite(inner[a]) and np.isfinite(inner[b]) and (inner[a] - inner[b]) * direction >= rise:
        return True
    return False


@njit(cache=True)
def _chain_beyond(prob, path, top, bot, i, direction, x_lo, y_lo, y_hi, thr, bridge, floor, max_width, depth):
    """The stroke that leaves column i-1's run beyond column i's run (direction +1 down, -1 up),
    followed column by column while its runs touch, until it meets the path's run again.
    Returns (j, ys): the column where it rejoins and, for columns i .. j-1, the chain's extreme
    ink pixel; j = -1 when it does not rejoin within max_width columns, goes no farther out than
    the runs at both of its ends, or reaches less than `depth` px beyond the path it replaces."""
    # Ink in column i beyond its run and within reach of column i-1's run end.
    cur = int(np.floor(_edge(top, bot, i, direction) + 0.5)) + 2 * direction
    end = int(np.floor(_edge(top, bot, i - 1, direction) + 0.5))
    seed = _first_ink(prob, x_lo + i, cur, end, direction, y_lo, y_hi, thr)
    if seed < 0:
        return -1, np.empty(max_width + 1, np.int64)
    return _follow_stroke(prob, path, top, bot, i, seed, direction, x_lo, y_lo, y_hi, thr, bridge, floor,
                          max_width, depth, True, np.inf)


@njit(cache=True)
def _first_ink(prob, x, y, end, direction, y_lo, y_hi, thr):
    """First y from y towards end (inclusive, stepping by direction) whose pixel in column x is ink; -1
    if none."""
    while (y - end) * direction <= 0 and y_lo <= y < y_hi:
        if prob[y, x] > thr:
            return y
        y += direction
    return -1


@njit(cache=True)
def _follow_stroke(prob, path, top, bot, i, seed, direction, x_lo, y_lo, y_hi, thr, bridge, floor, max_width,
                   depth, entered, turn_beyond):
    """_chain_beyond's walk from ink pixel `seed` of column i. entered: the stroke comes out of column
    i-1's run (mid-trace), so it must also reach beyond that run and enter or leave steeply; at a
    lead's start there is no column before. turn_beyond: at a lead's start, the y (times direction)
    past which the stroke may turn back towards the path (np.inf: never), see below."""
    n = top.shape[0]
    ys = np.empty(max_width + 1, np.int64)
    c = i
    outmost = -1.0e300  # the farthest out the runs' outer end has reached (y times direction)
    inner_out = -1.0e300  # ... and their inner end
    turned_at = -1
    while True:
        a = _run_end(prob, x_lo + c, seed, -1, y_lo, y_hi, thr, bridge, floor)
        b = _run_end(prob, x_lo + c, seed, 1, y_lo, y_hi, thr, bridge, floor)
        ys[c - i] = b if direction > 0 else a
        outmost = max(outmost, float(ys[c - i] * direction))
        inner = float((a if direction > 0 else b) * direction)
        inner_out = max(inner_out, inner)
        if turned_at >= 0 and c - turned_at > max_width // 2:
            return -1, ys  # a turned first stroke comes straight back down, not along another row's trace
        c += 1
        if c >= n or c - i > max_width:
            return -1, ys
        if np.isfinite(top[c]) and top[c] <= b + 1.0 and bot[c] >= a - 1.0:
            # Rejoined: keep it only when the stroke reaches past the runs at both ends (an apex).
            inner = -1.0e300
            for k in range(i, c):
                inner = max(inner, float(path[k] * direction))
            start_reach = _edge(top, bot, i - 1, direction) * direction
            end_reach = _edge(top, bot, c, direction) * direction
            apex = (not entered or outmost > start_reach + 1.0) and outmost > end_reach + 1.0
            # A thick pen's inverted V: the path kept to the baseline ink inside the V's notch, the
            # runs on both sides are the V's tall flanks, and the stroke beyond the notch reaches as
            # far as the nearer of them (a pulse's edge beside a lead's start has one tall side only).
            near = min(start_reach, end_reach)
            inside = entered and outmost >= near - 1.0 and near - inner >= depth
            if (apex or inside) and outmost - inner >= depth and (not entered or _steep_end(top, bot, i, c, direction)):
                return c, ys
            return -1, ys
        # The next column's ink touching this run, nearest its outer end. Once past a mid-trace apex
        # (this run's outer end back from the farthest reached), nearest its inner end instead: the
        # stroke turns back towards the path, while ink at the outer end is what the apex ran into
        # (another row's trace). At a lead's start the label hangs there, and the rule stays, except
        # for a first R wave that has passed turn_beyond (the baseline): its tip may run into the row
        # above (a letter of its label), and the merged run's inner end moving back towards the path
        # says the stroke turned too. It must then rejoin within half the width allowed.
        seed = -1
        back = outmost - float(ys[c - 1 - i] * direction) >= 2.0
        if entered:
            returning = back
        else:
            returning = outmost > turn_beyond and (back or inner_out - inner >= 2.0)
            if returning and turned_at < 0:
                turned_at = c - 1
        if returning:
            y, step = (a - 1, 1) if direction > 0 else (b + 1, -1)
        else:
            y, step = (b + 1, -1) if direction > 0 else (a - 1, 1)
        while (a - 1 <= y <= b + 1) and y_lo <= y < y_hi:
            if prob[y, x_lo + c] > thr:
                seed = y
                break
            y += step
        if seed < 0:
            return -1, ys


@njit(cache=True)
def complete_apexes(prob, path, top, bot, x_lo, y_lo, y_hi, thr, bridge, floor, max_width, depth):
    """The path moved onto QRS apexes it cut short through foreign ink.

    Staying on ink is free and vertical travel costs a little, so where a label's letter touches
    both flanks of a deep, narrow spike the Viterbi path takes the letter's bar across instead of
    running down to the apex and back. Such a shortcut shows as a notch: the run of column i
    retreats from column i-1's, while the stroke goes on beyond it and, within max_width columns,
    comes back to the path's run, reaching at least `depth` px beyond the path it replaces. In those
    columns the path moves to the stroke's extreme pixel.

    The same notch shows inside an inverted V drawn with a thick pen (a b/w scan's strokes are 3-8 px):
    the flanks merge with the baseline, the path stays on the baseline ink in the V's white wedge, and
    the stroke above the wedge is cut off from the path's run. There the stroke need only reach as far
    as the nearer of the two tall flanks beside the notch.

    A broad apex may run into another row's trace; past it the stroke is followed back along its own
    returning flank (the ink nearest the path), not along that trace.
    """
    out = path.copy()
    n = path.shape[0]
    for direction in (1, -1):
        i = 1
        while i < n - 1:
            if np.isfinite(top[i]) and np.isfinite(top[i - 1]) and \
                    (_edge(top, bot, i - 1, direction) - _edge(top, bot, i, direction)) * direction > 2.0:
                j, ys = _chain_beyond(prob, path, top, bot, i, direction, x_lo, y_lo, y_hi, thr, bridge, floor,
                                      max_width, depth)
                if j > 0:
                    for c in range(i, j):
                        out[c] = ys[c - i]
                    i = j
                    continue
            i += 1
    return out


@njit(cache=True)
def complete_starts(prob, path, top, bot, firsts, starts, x_lo, y_lo, y_hi, thr, bridge, floor, width_down, width_up,
                    depth, base):
    """The path moved onto a lead's first QRS that it skipped through foreign ink.

    Where a separator stands the path may land anywhere, so when a lead starts on a tall, narrow
    spike it lands on the lead's label (drawn just below its start) instead and joins the trace where
    the spike comes back down. At each start column (the first columns right of a separator) the
    nearest ink beyond the path's run, up and down, is followed like a cut apex (complete_apexes); when
    it comes back to the path within width_up columns above it (width_down below, where a letter of
    the label may rejoin within its own width), reaching at least `depth` px beyond it, the path takes
    it, and from the lead's first column (firsts: the first column at or right of each separator) it
    stands where the stroke starts. width_down holds one width per start (0: ink below is not followed).
    base: the row's baseline, past which a first stroke going up may turn back by its inner end
    (_follow_stroke).
    """
    out = path.copy()
    n = path.shape[0]
    for k in range(starts.shape[0]):
        for i in range(starts[k], min(starts[k] + 3, n)):
            if not np.isfinite(top[i]):
                continue
            best_j, best_reach = -1, 0.0
            best_ys = np.empty(max(width_down[k], width_up) + 1, np.int64)
            for direction in (1, -1):
                max_width = width_down[k] if direction > 0 else width_up
                if max_width <= 0:
                    continue
                cur = int(np.floor(_edge(top, bot, i, direction) + 0.5)) + 2 * direction
                seed = _first_ink(prob, x_lo + i, cur, y_hi if direction > 0 else y_lo, direction, y_lo, y_hi, thr)
                if seed < 0:
                    continue
                j, ys = _follow_stroke(prob, out, top, bot, i, seed, direction, x_lo, y_lo, y_hi, thr, bridge,
                                       floor, max_width, depth, False, -base if direction < 0 else np.inf)
                if j > 0:
                    reach = 0.0
                    for c in range(i, j):
                        reach = max(reach, abs(float(ys[c - i]) - out[c]))
                    if reach > best_reach:
                        best_j, best_reach, best_ys = j, reach, ys
            if best_j > 0:
                for c in range(firsts[k], i):
                    out[c] = best_ys[0]
                for c in range(i, best_j):
                    out[c] = best_ys[c - i]
                break
    return out


@njit(cache=True)
def centreline(top, bot, radius, tol):
    """Sub-pixel centre of a pen stroke of the given radius from its per-column top and bottom edges.

    A round pen of radius r draws the set of points within r of the curve, so the top edge is the
    curve's morphological dilation (in height) and the bottom edge its erosion. Eroding the top edge
    back gives the curve's closing, exact everywhere except in troughs narrower than the pen; dilating
    the bottom edge gives its opening, exact except at narrow peaks. Where the two agree their mean
    is taken; where they differ the curve has a narrow extremum, and the concavity of the edges'
    midline says which: a peak (y minimum) takes the closing, a trough the opening.
    """
    n = top.shape[0]
    reach = int(radius)
    y_c = np.full(n, np.nan)
    y_o = np.full(n, np.nan)
    mid = (top + bot) * 0.5
    n_sub = 8  # sub-pixel shifts per pixel: the edges are linear between columns
    for i in range(n):
        if not np.isfinite(top[i]):
            continue
        hi = -1e300
        lo = 1e300
        for q in range(-reach * n_sub, reach * n_sub + 1):
            u = q / n_sub
            p = i + u
            j = int(np.floor(p))
            f = p - j
            if j < 0 or j >= n or not np.isfinite(top[j]):
                continue
            if f > 0.0:
                if j + 1 >= n or not np.isfinite(top[j + 1]):
                    continue
                t = top[j] * (1.0 - f) + top[j + 1] * f
                b = bot[j] * (1.0 - f) + bot[j + 1] * f
            else:
                t = top[j]
                b = bot[j]
            k = np.sqrt(max(radius * radius - u * u, 0.0))
            if t + k > hi:
                hi = t + k
            if b - k < lo:
                lo = b - k
        y_c[i] = hi
        y_o[i] = lo
    out = np.full(n, np.nan)
    d = reach + 1
    for i in range(n):
        if not np.isfinite(y_c[i]):
            continue
        if abs(y_c[i] - y_o[i]) <= tol:
            out[i] = 0.5 * (y_c[i] + y_o[i])
            continue
        # Nearest finite midline values about d columns away on each side.
        left = np.nan
        for k in range(d, d + 3):
            if i - k >= 0 and np.isfinite(mid[i - k]):
                left = mid[i - k]
                break
        right = np.nan
        for k in range(d, d + 3):
            if i + k < n and np.isfinite(mid[i + k]):
                right = mid[i + k]
                break
        if not np.isfinite(left):
            left = right
        if not np.isfinite(right):
            right = left
        if not np.isfinite(left):
            out[i] = 0.5 * (y_c[i] + y_o[i])
        elif mid[i] <= 0.5 * (left + right):
            out[i] = y_c[i]
        else:
            out[i] = y_o[i]
    return out


def stroke_radius(top: np.ndarray, bot: np.ndarray) -> float:
    """Half the vertical thickness of the stroke where it runs flat (edges' midline level)."""
    mid = 0.5 * (top + bot)
    flat = np.abs(mid[2:] - mid[:-2]) < 0.5
    lengths = (bot - top)[1:-1][flat]
    lengths = lengths[np.isfinite(lengths)]
    if len(lengths) < 20:
        return 1.0
    return float(np.clip(0.5 * np.median(lengths), 0.5, 4.0))


def page_pen_radius(traces: Sequence[RowTrace], min_strokes: int = 50) -> float | None:
    """The page's pen radius: the median horizontal half-width of the single near-vertical strokes
    met on all its rows (RowTrace.pen_halves); None when fewer than min_strokes were met."""
    halves = np.concatenate([np.zeros(0)] + [tr.pen_halves for tr in traces])
    return float(np.median(halves)) if len(halves) >= min_strokes else None


def fill_gaps(y: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN runs (constant beyond the ends); all-NaN stays all-NaN."""
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    if ok.all() or not ok.any():
        return y.copy()
    idx = np.arange(len(y))
    return np.interp(idx, idx[ok], y[ok])


@njit(cache=True)
def _row_centre(prob, y, x, reach, thr):
    """(x centroid, width) of the horizontal ink run through pixel (y, x), (nan, 0) if none or if it
    reaches `reach` px either side (too wide to be one stroke)."""
    w = prob.shape[1]
    if prob[y, x] < thr:
        return np.nan, 0.0
    a = x
    while a - 1 >= 0 and a - 1 >= x - reach and prob[y, a - 1] >= thr:
        a -= 1
    b = x
    while b + 1 < w and b + 1 <= x + reach and prob[y, b + 1] >= thr:
        b += 1
    if a <= x - reach or b >= x + reach:
        return np.nan, 0.0
    # Isolated: paper just beyond the run's rims (no second stroke's halo pulling the centroid).
    if (a - 2 >= 0 and prob[y, a - 2] >= 0.5 * thr) or (b + 2 < w and prob[y, b + 2] >= 0.5 * thr):
        return np.nan, 0.0
    sw = 0.0
    sx = 0.0
    for xx in range(max(a - 1, 0), min(b + 2, w)):
        sw += prob[y, xx]
        sx += prob[y, xx] * xx
    return sx / sw, float(b - a + 1)


@njit(cache=True)
def apex_x(prob, top, bot, extreme, x_lo, radius, thr):
    """Sub-pixel x of each peak (extreme = -1) or trough (+1) column: the x centroid of the pen's
    cap, i.e. of the horizontal ink runs within one radius of the column's top (bottom) edge.
    Returns (x, column index) per extreme column."""
    n = top.shape[0]
    k_out = 0
    for i in range(n):
        if extreme[i] != 0:
            k_out += 1
    out_x = np.empty(k_out)
    out_c = np.empty(k_out, np.int64)
    m = 0
    reach = int(2.0 * radius + 3.0)
    for i in range(n):
        if extreme[i] == 0:
            continue
        x = x_lo + i
        if extreme[i] < 0:
            ya, yb = int(np.ceil(top[i])), int(np.floor(top[i] + radius))
        else:
            ya, yb = int(np.ceil(bot[i] - radius)), int(np.floor(bot[i]))
        sx = 0.0
        k = 0
        for y in range(ya, yb + 1):
            if y < 0 or y >= prob.shape[0]:
                continue
            xc, width = _row_centre(prob, y, x, reach, thr)
            if np.isfinite(xc) and abs(xc - x) <= 1.0:
                sx += xc
                k += 1
        out_x[m] = sx / k if k > 0 else float(x)
        out_c[m] = i
        m += 1
    return out_x, out_c


@njit(cache=True)
def _half_edges(prob, y, a, b):
    """Sub-pixel left and right edges of the horizontal run prob[y, a..b] where the profile crosses
    half the run's peak (pixel values at pixel centres)."""
    w = prob.shape[1]
    peak = 0.0
    for x in range(a, b + 1):
        if prob[y, x] > peak:
            peak = prob[y, x]
    half = 0.5 * peak
    j = a
    while prob[y, j] < half:
        j += 1
    left = j - 0.5
    if j - 1 >= 0 and prob[y, j] > prob[y, j - 1]:
        left = (j - 1) + (half - prob[y, j - 1]) / (prob[y, j] - prob[y, j - 1])
    j = b
    while prob[y, j] < half:
        j -= 1
    right = j + 0.5
    if j + 1 < w and prob[y, j] > prob[y, j + 1]:
        right = (j + 1) - (half - prob[y, j + 1]) / (prob[y, j] - prob[y, j + 1])
    return left, right


@njit(cache=True)
def _in_column_run(top, bot, x_lo, x, y):
    """Whether point (x, y) lies within the traced ink run of its column (1 px tolerance): row
    readings of foreign ink (a label's letter beside a QRS stroke) do not."""
    c = int(np.floor(x + 0.5)) - x_lo
    if c < 0 or c >= top.shape[0] or not np.isfinite(top[c]):
        return False
    return top[c] - 1.0 <= y <= bot[c] + 1.0


@njit(cache=True)
def flank_points(prob, top, bot, zone, n_zones, x_lo, radius, h_radius, thr, stop, lean_width):
    """Curve points of steep strokes read along pixel rows, zone by zone.

    A zone is a stretch of columns where the stroke is steep or turns (a QRS). Each pixel row through
    it cuts the strokes as horizontal ink runs. A round pen of radius r makes a stroke of horizontal
    half-width r * sqrt(1 + (dx/dy)^2), so a run's left edge plus that half-width is a point of the
    stroke it belongs to, and likewise its right edge minus it: one point when the run is a single
    stroke, two when the two flanks of a narrow peak have merged into one run. Rows within a radius of
    the zone's top and bottom (the pen's caps at the apexes) and shallow edges (|dx/dy| > 1) give
    nothing. A row's run cut by the zone's window whose ink ends within lean_width px is read whole (a
    tall stroke leaning out of it), unless it reaches a `stop` column (a lead separator or pulse
    edge). h_radius is the pen's horizontal radius (0: use radius). Returns (x, y) of the points
    and the half-widths of single near-vertical strokes (to measure h_radius), taken only in rows that
    cut two or more runs: a row's lone run may be a narrow apex's two flanks merged, wider than the pen.
    """
    if h_radius <= 0.0:
        h_radius = radius
    h, w = prob.shape
    n = top.shape[0]
    max_runs = 6
    cap = 0
    for i in range(n):
        if zone[i] >= 0:
            cap += int(bot[i] - top[i]) + 8
    out_x = np.empty(2 * max_runs * cap + 1)
    out_y = np.empty(2 * max_runs * cap + 1)
    halves = np.empty(max_runs * cap + 1)
    nh = 0
    m = 0
    reach = int(radius) + 2
    i = 0
    while i < n:
        if zone[i] < 0:
            i += 1
            continue
        ia = i
        while i < n and zone[i] == zone[ia]:
            i += 1
        ib = i - 1
        ya = 1e300
        yb = -1e300
        for k in range(ia, ib + 1):
            ya = min(ya, top[k])
            yb = max(yb, bot[k])
        y0 = max(int(np.floor(ya)), 0)
        y1 = min(int(np.ceil(yb)), h - 1)
        xa = max(x_lo + ia - reach, 0)
        xb = min(x_lo + ib + reach, w - 1)
        nr = y1 - y0 + 1
        lefts = np.full((nr, max_runs), np.nan)
        rights = np.full((nr, max_runs), np.nan)
        row_runs = np.zeros(nr, np.int64)
        for y in range(y0, y1 + 1):
            k = 0
            x = xa
            while x <= xb and k < max_runs:
                if prob[y, x] < thr:
                    x += 1
                    continue
                a = x
                while x + 1 <= xb and prob[y, x + 1] >= thr:
                    x += 1
                b = x
                x += 1
                cut = a == xa or b == xb
                if cut and ((b == xb and b + 1 < w and prob[y, b + 1] >= thr)
                            or (a == xa and a > 0 and prob[y, a - 1] >= thr)):
                    # A steep stroke leaning out of the window: follow its run a little beyond, unless
                    # it ends further out or reaches a lead separator.
                    while b + 1 < w and b - a < lean_width and prob[y, b + 1] >= thr:
                        b += 1
                    while a - 1 >= 0 and b - a < lean_width and prob[y, a - 1] >= thr:
                        a -= 1
                    x = max(x, b + 1)
                    cut = (a == 0 or prob[y, a - 1] >= thr) or (b + 1 >= w or prob[y, b + 1] >= thr)
                    for xx in range(a, b + 1):
                        if 0 <= xx - x_lo < n and stop[xx - x_lo]:
                            cut = True
                if cut:
                    continue  # runs cut by the window are not whole strokes
                # Part of this row's trace: overlaps the traced run of one of the zone's columns.
                hit = False
                for xx in range(a, b + 1):
                    c = xx - x_lo
                    if ia <= c <= ib and top[c] - 1.0 <= y <= bot[c] + 1.0:
                        hit = True
                        break
                if not hit:
                    continue
                left, right = _half_edges(prob, y, a, b)
                lefts[y - y0, k] = left
                rights[y - y0, k] = right
                k += 1
            row_runs[y - y0] = k
        for r in range(nr):
            y = y0 + r
            if y < ya + radius or y > yb - radius:
                continue
            for k in range(max_runs):
                left = lefts[r, k]
                if not np.isfinite(left):
                    continue
                right = rights[r, k]
                # Edge slopes dx/dy from the nearest edges one row up and down.
                slopes = np.full(2, np.nan)
                for side in range(2):
                    edge = left if side == 0 else right
                    arr = lefts if side == 0 else rights
                    found_up = np.nan
                    found_dn = np.nan
                    if r - 1 >= 0:
                        best = 3.0
                        for kk in range(max_runs):
                            v = arr[r - 1, kk]
                            if np.isfinite(v) and abs(v - edge) < best:
                                best = abs(v - edge)
                                found_up = v
                    if r + 1 < nr:
                        best = 3.0
                        for kk in range(max_runs):
                            v = arr[r + 1, kk]
                            if np.isfinite(v) and abs(v - edge) < best:
                                best = abs(v - edge)
                                found_dn = v
                    if np.isfinite(found_up) and np.isfinite(found_dn):
                        slopes[side] = 0.5 * (found_dn - found_up)
                    elif np.isfinite(found_up):
                        slopes[side] = edge - found_up
                    elif np.isfinite(found_dn):
                        slopes[side] = found_dn - edge
                ok_l = np.isfinite(slopes[0]) and abs(slopes[0]) <= 1.0
                ok_r = np.isfinite(slopes[1]) and abs(slopes[1]) <= 1.0
                rh_l = h_radius * np.sqrt(1.0 + slopes[0] ** 2) if ok_l else h_radius
                rh_r = h_radius * np.sqrt(1.0 + slopes[1] ** 2) if ok_r else h_radius
                # The two flanks of a narrow peak merged into one run: its edges part in opposite
                # directions (a single steep stroke's edges run parallel); each edge is its flank.
                # Not where the run reaches a column the trace left out (a masked separator or pulse
                # edge standing on a lead's start: there the edges are two different marks).
                diverging = ok_l and ok_r and slopes[0] * slopes[1] < 0.0 and right - left > rh_l + rh_r
                if diverging:
                    for xx in range(int(np.floor(left + 0.5)), int(np.floor(right + 0.5)) + 1):
                        c = xx - x_lo
                        if c < 0 or c >= n or not np.isfinite(top[c]):
                            diverging = False
                            break
                if right - left <= rh_l + rh_r + 1.0 and not diverging:
                    # A row's lone run may be a narrow apex's two flanks merged (wider than the pen).
                    if ok_l and ok_r and abs(slopes[0]) < 0.25 and abs(slopes[1]) < 0.25 and row_runs[r] >= 2:
                        halves[nh] = 0.5 * (right - left)
                        nh += 1
                    if ok_l and ok_r and _in_column_run(top, bot, x_lo, 0.5 * (left + right), y):
                        out_x[m] = 0.5 * (left + right)
                        out_y[m] = y
                        m += 1
                else:
                    if ok_l and _in_column_run(top, bot, x_lo, left + rh_l, y):
                        out_x[m] = left + rh_l
                        out_y[m] = y
                        m += 1
                    if ok_r and _in_column_run(top, bot, x_lo, right - rh_r, y):
                        out_x[m] = right - rh_r
                        out_y[m] = y
                        m += 1
    return out_x[:m], out_y[:m], halves[:nh]


def mask_vertical_bars(top: np.ndarray, bot: np.ndarray, xs: np.ndarray, near_x: Sequence[float],
                       reach: float, min_length: float) -> np.ndarray:
    """Columns (mask) within `reach` px of the given x positions that hold an exactly vertical stroke
    (lead separator, calibration pulse edge): a run at least min_length long repeated unchanged in a
    neighbouring column. A QRS stroke moves from column to column and is not taken."""
    out = np.zeros(len(top), bool)
    length = bot - top
    for xb in near_x:
        for i in np.nonzero(np.abs(xs - xb) <= reach)[0]:
            if not np.isfinite(length[i]) or length[i] < min_length:
                continue
            for j in (i - 1, i + 1):
                if 0 <= j < len(top) and abs(top[j] - top[i]) < 1.0 and abs(bot[j] - bot[i]) < 1.0:
                    out[i] = True
                    break
    return out


def trace_row(prob: np.ndarray, band: tuple[int, int], x_range: tuple[int, int], baseline: float,
              line_width: float = 0.0, config: TraceConfig = TraceConfig(),
              bars_near: Sequence[float] = (), bar_reach: float = 6.0, px_per_mm: float = 0.0,
              starts_near: Sequence[float] | None = None) -> RowTrace:
    """Trace one row between columns x_range [x_lo, x_hi) inside rows band [y_lo, y_hi).

    line_width: the pen's width in px, or 0 to measure it from this row's flat stretches.
    bars_near: x positions (column boundaries) where exactly vertical strokes within bar_reach px are
    separators or pulse edges, not signal: those columns become gaps before the centreline is fitted;
    the path may also jump there freely (the next lead starts at its own height).
    px_per_mm: the page's scale, for completing apexes the path cut short through foreign ink (see
    complete_apexes); 0 leaves the path as the Viterbi pass found it.
    starts_near: the x of this row's lead starts, where a first stroke the path skipped is looked for
    (complete_starts); None: every one of bars_near. The rhythm strip's only start is t = 0: its trace
    runs on through the column boundaries, and a stroke found there is another row's wave or a shadow.
    """
    h, w = prob.shape
    y_lo, y_hi = max(0, int(band[0])), min(h, int(band[1]))
    x_lo, x_hi = max(0, int(x_range[0])), min(w, int(x_range[1]))
    if y_hi - y_lo < 3 or x_hi - x_lo < 2:
        raise ValueError(f"empty trace region y {band}, x {x_range} on a {w}x{h} page")
    prob = np.ascontiguousarray(prob, dtype=np.float32)
    base = int(round(min(max(baseline, y_lo), y_hi - 1)))
    c = config
    xs = np.arange(x_lo, x_hi, dtype=np.float64)
    free_jump = np.zeros(len(xs), np.bool_)
    for xb in bars_near:
        free_jump |= np.abs(xs - xb) <= 1.5
    path = viterbi_band(prob, y_lo, y_hi, x_lo, x_hi, base, c.emission, c.step_ink, c.step_paper,
                        c.prior, c.prior_free, c.saturation, free_jump)
    top, bot, _, _ = _runs_along_path(prob, path, x_lo, y_lo, y_hi, c.run_threshold, c.search, c.bridge,
                                      c.bridge_floor)
    if px_per_mm > 0 and c.apex_width_mm > 0:
        completed = complete_apexes(prob, path, top, bot, x_lo, y_lo, y_hi, c.run_threshold, c.bridge,
                                    c.bridge_floor, int(round(c.apex_width_mm * px_per_mm)),
                                    c.apex_depth_mm * px_per_mm)
        if np.any(completed != path):
            path = completed
            top, bot, _, _ = _runs_along_path(prob, path, x_lo, y_lo, y_hi, c.run_threshold, c.search, c.bridge,
                                              c.bridge_floor)
        starts_at = bars_near if starts_near is None else starts_near
        if len(starts_at):
            at = np.asarray(starts_at, dtype=np.float64)
            past_bar = np.searchsorted(xs, at + c.bar_half_width_mm * px_per_mm)
            keep = past_bar < len(xs)
            firsts = np.searchsorted(xs, at[keep]).astype(np.int64)
            starts = past_bar[keep].astype(np.int64)
            down = np.full(len(starts), int(round(c.apex_width_mm * px_per_mm)), np.int64)
            if c.start_below_at_t0_only:
                down[at[keep] > at.min() + 1.0] = 0  # the column boundaries (the first start is t = 0)
            started = complete_starts(prob, path, top, bot, firsts, starts, x_lo, y_lo, y_hi,
                                      c.run_threshold, c.bridge, c.bridge_floor, down,
                                      int(round(c.start_width_mm * px_per_mm)), c.apex_depth_mm * px_per_mm,
                                      float(baseline))
            if np.any(started != path):
                path = started
                top, bot, _, _ = _runs_along_path(prob, path, x_lo, y_lo, y_hi, c.run_threshold, c.search,
                                                  c.bridge, c.bridge_floor)
    flat_radius = stroke_radius(top, bot)  # a noisy record's band is thicker than the pen
    radius = flat_radius if line_width <= 0 else 0.5 * float(line_width)
    if len(bars_near):
        # A bar stands out of the row's flat stretches (the band, when noise thickens it).
        bars = mask_vertical_bars(top, bot, xs, bars_near, bar_reach, 4.0 * max(radius, flat_radius) + 3.0)
        top = np.where(bars, np.nan, top)
        bot = np.where(bars, np.nan, bot)
    raw = centreline(top, bot, radius, 0.75)
    points_x, points_y, halves = curve_points(prob, xs, raw, top, bot, radius, c.run_threshold, c.row_reading,
                                              c.pen_half_quantile, c.pen_half_quantile_crisp, c.crisp_pen_spread,
                                              c.lean_run_pens, free_jump)
    on_path = prob[path, np.arange(x_lo, x_hi)]
    return RowTrace(x0=x_lo, y=fill_gaps(raw), raw=raw, path=path, ink=on_path.astype(np.float32),
                    top=top, bottom=bot, radius=radius, points_x=points_x, points_y=points_y, pen_halves=halves)


def pen_half_width(halves: np.ndarray, radius: float, quantile: float = TraceConfig.pen_half_quantile,
                   crisp_quantile: float = TraceConfig.pen_half_quantile_crisp,
                   crisp_spread: float = TraceConfig.crisp_pen_spread) -> float:
    """The pen's horizontal radius from the half-widths of single near-vertical strokes: their
    `crisp_quantile` percentile when they are crisp ((median - 10th percentile) < crisp_spread * median),
    else their `quantile` percentile; within 0.7-1.5 times the pen's (vertical) radius."""
    p10, p50 = np.percentile(halves, [10, 50])
    q = crisp_quantile if p50 - p10 < crisp_spread * p50 else quantile
    return float(np.clip(np.percentile(halves, q), 0.7 * radius, 1.5 * radius))


def curve_points(prob: np.ndarray, xs: np.ndarray, y: np.ndarray, top: np.ndarray, bot: np.ndarray,
                 radius: float, thr: float, row_reading: bool = True,
                 pen_quantile: float = TraceConfig.pen_half_quantile,
                 crisp_quantile: float = TraceConfig.pen_half_quantile_crisp,
                 crisp_spread: float = TraceConfig.crisp_pen_spread, lean_pens: float = TraceConfig.lean_run_pens,
                 stop: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The traced curve as points (x, y) sorted by x: the column centreline where the stroke is flat,
    points read along pixel rows where it is steep (see flank_points), and each peak or trough at its
    cap's sub-pixel x with the centreline's height; and the half-widths of the single near-vertical
    strokes met (empty without row reading). lean_pens: TraceConfig.lean_run_pens; stop: per column,
    whether a separator or pulse edge stands there (no leaning stroke's run may reach it)."""
    ok = np.isfinite(y)
    if not row_reading or not ok.any():
        return xs[ok].copy(), y[ok].copy(), np.zeros(0)
    mid = 0.5 * (top + bot)
    extreme = np.zeros(len(y), np.int64)
    turned = ok & (np.abs(y - mid) > 1.0)
    # The apex of each peak (trough): the turned column whose y is the local extreme.
    yf = np.where(ok, y, np.nan)
    left = np.concatenate([[np.inf], yf[:-1]])
    right = np.concatenate([yf[1:], [np.inf]])
    with np.errstate(invalid="ignore"):
        is_min = turned & (y < mid) & ~(left < y) & ~(right <= y)
        is_max = turned & (y > mid) & ~(left > y) & ~(right >= y)
    extreme[is_min] = -1  # peak (up on the page)
    extreme[is_max] = 1   # trough
    # Zones: consecutive columns whose run is longer than a flat stroke (steep or turning).
    long_run = ok & ((bot - top) > 2.0 * radius + 2.0)
    zone = np.full(len(y), -1, np.int64)
    starts = np.flatnonzero(long_run & ~np.concatenate([[False], long_run[:-1]]))
    ids = np.cumsum(np.isin(np.arange(len(y)), starts)) - 1
    zone[long_run] = ids[long_run]
    args = (prob, top, bot, zone, len(starts), int(xs[0]), float(radius))
    stop = np.zeros(len(y), np.bool_) if stop is None else stop
    lean_width = int(round(lean_pens * radius))
    fx, fy, halves = flank_points(*args, 0.0, float(thr), stop, lean_width)
    if len(halves) >= 20:
        h_radius = pen_half_width(halves, radius, pen_quantile, crisp_quantile, crisp_spread)
        fx, fy, _ = flank_points(*args, h_radius, float(thr), stop, lean_width)
    # Each peak or trough at its cap's sub-pixel x, with the centreline's height.
    ax, ac = apex_x(prob, top, bot, extreme, int(xs[0]), float(radius), float(thr))
    ay = y[ac]
    # Columns keep their own point unless flank points cover them (or they are apexes / turned).
    covered = np.zeros(len(y), bool)
    if len(fx):
        near = np.clip(np.round(fx - xs[0]).astype(np.int64), 0, len(y) - 1)
        covered[near] = True
    keep = ok & (extreme == 0) & ~(long_run & covered) & ~(turned & covered)
    all_x = np.concatenate([xs[keep], fx, ax])
    all_y = np.concatenate([y[keep], fy, ay])
    order = np.argsort(all_x, kind="stable")
    return all_x[order], all_y[order], halves


def without_neighbour_strokes(prob: np.ndarray, own: RowTrace, neighbours: Sequence[tuple[RowTrace, float]],
                              far_px: float) -> np.ndarray | None:
    """prob without the ink of the neighbouring rows' strokes that this row's runs took in, or None when
    there is none.

    Where another row's tall wave touches this row's trace, both rows' runs are one vertical run of ink,
    and this row read the other's flank as its own steep stroke (a dip 1.2 mV deep at each of V2's R
    waves in V1: ecgkit-dev sim028-clean). In the columns where a neighbour's path stands more than
    far_px from its baseline and its run overlaps this row's, the run's pixels nearer to its path than
    to this row's are the neighbour's. A neighbour at home (its path near its baseline) keeps nothing
    from this row: there this row's own deep wave crosses the neighbour's flat trace.
    neighbours: (trace, baseline) of the rows traced over the same columns.
    """
    out = None
    for other, base in neighbours:
        far = np.abs(other.path - base) > far_px
        overlap = (np.isfinite(other.top) & np.isfinite(own.top) & far & (other.top <= own.bottom)
                   & (other.bottom >= own.top))
        for i in np.nonzero(overlap)[0]:
            ys = np.arange(int(np.floor(other.top[i])), int(np.ceil(other.bottom[i])) + 1)
            theirs = ys[np.abs(ys - other.path[i]) < np.abs(ys - own.path[i])]
            theirs = theirs[(theirs >= 0) & (theirs < prob.shape[0])]
            if len(theirs):
                if out is None:
                    out = prob.copy()
                out[theirs, own.x0 + i] = 0.0
    return out


# ------------------------------------------------------------------------------- doubt measures
def runs(mask: np.ndarray, min_length: int = 1) -> list[tuple[int, int]]:
    """[start, stop) index ranges of the True runs of a boolean array at least min_length long."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_length]


def shared_ink_runs(a: RowTrace, b: RowTrace, min_sep: float, min_length: int = 1) -> list[tuple[int, int]]:
    """Column ranges (indices from a.x0) where two rows' Viterbi paths come within min_sep px of each
    other: both rows claim the same ink there, so which trace is which was the tracer's guess."""
    lo, hi = max(a.x0, b.x0), min(a.x0 + len(a.path), b.x0 + len(b.path))
    if hi <= lo:
        return []
    pa = a.path[lo - a.x0:hi - a.x0].astype(np.float64)
    pb = b.path[lo - b.x0:hi - b.x0].astype(np.float64)
    return [(s + lo - a.x0, e + lo - a.x0) for s, e in runs(np.abs(pa - pb) < min_sep, min_length)]


def gap_runs(trace: RowTrace, min_length: int = 1) -> list[tuple[int, int]]:
    """Column ranges (indices from trace.x0) between the first and last ink where no ink was found
    (the curve was interpolated across them)."""
    ok = np.isfinite(trace.raw)
    if not ok.any():
        return []
    first, last = int(np.argmax(ok)), len(ok) - 1 - int(np.argmax(ok[::-1]))
    return [(s + first, e + first) for s, e in runs(~ok[first:last + 1], min_length)]


def excursion_runs(trace: RowTrace, baseline: float, reach: float, min_length: int = 1) -> list[tuple[int, int]]:
    """Column ranges (indices from trace.x0) where the path stays farther than `reach` px from its
    row's baseline (half-way to a neighbouring row): the trace has likely left its own row."""
    far = np.abs(trace.path.astype(np.float64) - baseline) > reach
    return runs(far, min_length)


def runs_touch_previous(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Per column, whether its ink run and the previous column's overlap (within half a pixel); False
    for the first column and wherever either has no run."""
    out = np.zeros(len(top), bool)
    with np.errstate(invalid="ignore"):
        out[1:] = (top[1:] <= bottom[:-1] + 0.5) & (bottom[1:] >= top[:-1] - 0.5)
    return out


def breaks_of_row(tr: RowTrace, px_per_mm: float) -> np.ndarray:
    """x of one row's breaks: ink gaps up to 2 mm long, and adjacent columns whose ink runs do not touch."""
    top = tr.top
    ok = np.isfinite(top)
    touch = runs_touch_previous(tr.top, tr.bottom)
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
        if ok[i] and ok[i + 1] and not touch[i + 1]:
            xs.append(tr.x0 + i + 0.5)
        i += 1
    return np.asarray(xs)
