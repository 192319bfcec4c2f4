"""Step 7 of the digitizer: pixel paths to mV and seconds, cut into the 12 leads, limb leads repaired by Einthoven.

Coordinates: pixel centres at integer x; a sample i of a lead whose window starts at sample `start`
lies at t = (start + i) / fs, drawn at x = x0 + t * px_per_s; its value is (baseline - y) / px_per_mv
in mV, y the row's curve there. The plotter joined the samples with straight segments, so the values
are those whose polyline fits all the traced points best (`vertex_fit`), not the curve read at the
samples' x alone: on a steep flank a tenth of a pixel of x error moves the point read there by
several pixels of y, while the flank's many points fix where its segment runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solveh_banded

from pipeline.ecg.layout import DEFAULT_LAYOUT, DURATION_S, LEADS, RHYTHM_LEAD, ROWS, PageLayout, lead_window, n_samples

BAD_QUALITY = 0.5

SMOOTHING_STEP_PX = DEFAULT_LAYOUT.px_per_s / 500.0
"""Knot spacing (px) at which a smoothing weight is given: 500 Hz at 25 mm/s on a 200 dpi page, where
DigitizeConfig.sample_smoothing was chosen."""


def smoothing_at(smooth: float, step_px: float) -> float:
    """The second-difference weight for knots step_px apart that penalises a given curvature of the
    polyline (in px) as `smooth` does at SMOOTHING_STEP_PX.

    A knot's second difference grows with the square of its spacing and there are fewer knots, while
    the traced points (the data term) stay as many: the same penalty costs the spacing's cube. Without
    it a weight fit for 500 Hz cut the R waves of 250 Hz records, whose apexes are single knots
    (46930936-0001 read its peaks 5-12 % low), and barely smoothed 1000 Hz ones."""
    return smooth * (SMOOTHING_STEP_PX / step_px) ** 3


@dataclass(frozen=True)
class RowSignal:
    """One traced row as a curve: mV at sorted x positions (px), and a per-column confidence in [0, 1]
    (ink found and its strength) for the columns x_first, x_first + 1, ..."""

    x: np.ndarray
    mv: np.ndarray
    x_first: int
    confidence: np.ndarray


def row_signal(x: np.ndarray, y: np.ndarray, baseline: float, px_per_mv: float, x_first: int = 0,
               confidence: np.ndarray | None = None) -> RowSignal:
    """mV of a traced curve: (baseline - y) / px_per_mv at the points' x (NaN points dropped)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(x[ok], kind="stable")
    conf = np.ones(0) if confidence is None else np.asarray(confidence, dtype=np.float64)
    return RowSignal(x=x[ok][order], mv=((baseline - y[ok]) / px_per_mv)[order], x_first=int(x_first),
                     confidence=conf)


def sample_times(fs: int, lead: str) -> np.ndarray:
    """Times (s) of a lead's samples inside the 10 s record: (start + i) / fs."""
    start, stop = lead_window(fs, lead)
    return np.arange(start, stop, dtype=np.float64) / fs


@dataclass(frozen=True)
class PulseSpan:
    """A row's calibration pulse on its trace's mV scale, for the leads that start on it.

    ecg-image-kit draws the pulse as a polyline through samples one step apart that ends [..., 1, 1,
    0, 0] mV: its falling edge runs from one to two steps right of the first sample's x, and its foot on
    to three, with a pen 1.5 times the trace's. The step is the record's 1/fs on ecgkit-dev's pages and
    1/500 s on the competition's (their pulses stand alike at 250 and 1025 Hz)."""

    low: float
    """Bottom of the pulse's stroke (mV): its foot less the pen."""
    high: float
    """Top of its stroke (mV)."""
    foot_top: float
    """Top of the foot's stroke (mV): from low to here, the foot's ink reaches right of the start guard."""
    foot_end_px: float
    """How far right of the first sample's x the foot's ink reaches (px): three steps, the pen's
    half-width and a margin."""


def vertex_fit(x: np.ndarray, v: np.ndarray, knots: np.ndarray, smooth: float, ridge: float = 1e-3,
               reach: float = np.inf) -> np.ndarray:
    """Values at evenly spaced knots whose straight-line interpolation fits the points (x, v) best.

    Least squares over all points (each lies on the segment between its two knots), plus `smooth`
    times the sum of squared second differences of the values (pixel noise on flat stretches, where a
    knot may hold a single point) and a small `ridge` pull towards the curve read at the knots (knots
    in a gap, between no points).
    Knots up to `reach` px beyond the first or last point carry the end's slope on in a straight line
    (a separator masked at a lead's start leaves a short gap on a steep stroke); further ones hold
    the value there, as np.interp does, rather than run on for a trace lost over a whole stretch.
    Solved as a symmetric banded system: O(len(knots)).
    """
    read = np.interp(knots, x, v)
    a = max(int(np.searchsorted(knots, x.min() - reach, side="left")) - 1, 0)
    b = min(int(np.searchsorted(knots, x.max() + reach, side="right")), len(knots) - 1)
    if b - a < 2:
        return read
    out = read.copy()
    out[a:b + 1] = _fit_knots(x, v, knots[a:b + 1], read[a:b + 1], smooth, ridge)
    out[:a], out[b + 1:] = out[a], out[b]
    return np.clip(out, v.min(), v.max())  # a straight continuation never leaves the traced values


def _fit_knots(x: np.ndarray, v: np.ndarray, knots: np.ndarray, read: np.ndarray, smooth: float,
               ridge: float) -> np.ndarray:
    """vertex_fit's banded least-squares solve on knots spanning the points."""
    n = len(knots)
    step = float(knots[1] - knots[0])
    pos = (x - knots[0]) / step
    k = np.clip(np.floor(pos).astype(np.int64), 0, n - 2)
    u = pos - k
    # Normal equations of the data term: tridiagonal.
    diag = np.bincount(k, (1.0 - u) ** 2, n) + np.bincount(k + 1, u ** 2, n) + ridge
    upper1 = np.bincount(k, (1.0 - u) * u, n - 1)
    rhs = np.bincount(k, (1.0 - u) * v, n) + np.bincount(k + 1, u * v, n) + ridge * read
    # Second differences (1, -2, 1) on knots r, r + 1, r + 2: each r adds its outer product.
    diag[:-2] += smooth
    diag[1:-1] += 4.0 * smooth
    diag[2:] += smooth
    upper1[:-1] -= 2.0 * smooth
    upper1[1:] -= 2.0 * smooth
    upper2 = np.full(n - 2, smooth)
    bands = np.zeros((3, n))
    bands[0, 2:], bands[1, 1:], bands[2] = upper2, upper1, diag
    return solveh_banded(bands, rhs)


def sample_row(row: RowSignal, x_of_t: np.ndarray, start_guard: float | None = None,
               smooth: float | None = None, reach: float = np.inf,
               end_guard: float | None = None,
               pulse: PulseSpan | None = None) -> tuple[np.ndarray, float]:
    """(values at the given x positions, mean confidence there); zeros when nothing was traced.

    Only the curve's points within this window (one pixel of margin, so that the end samples
    interpolate rather than extrapolate) are used, so a neighbouring lead's values do not leak in
    across a column boundary; gaps are linearly interpolated and the window's ends held constant
    beyond its first and last points.

    start_guard (px): when given, the window's left end uses only points at least this far right of
    its first sample (0: none left of it). Around a lead's first sample lies other ink: ecg-image-kit
    draws the calibration pulse's falling edge one to two samples after t = 0 (see PulseSpan) and the
    previous lead up to each column boundary, so the 1 px margin reads the pulse's top as signal.
    pulse: the calibration pulse when the window starts on it. The start guard then also keeps a trace
    that starts above or below the pulse and runs towards it (mid-QRS at t = 0: a steep stroke from
    above the pulse's top, whose first samples the guard's straight continuation read up to 2 mV off),
    and drops the pulse's foot where it reaches past the guard (at 256 Hz its ink ends 3.4 px right of
    the first sample: points there read the start of a lead drawn 0.9 mV higher as the foot's level).
    end_guard (px): likewise, the right end uses only points at least this far left of its last
    sample (the separator bar on the next column boundary stands 3 px either side of it).

    smooth: when given, the values are fitted to all points (see vertex_fit) instead of read off the
    curve at x_of_t (evenly spaced), with this weight at SMOOTHING_STEP_PX (see smoothing_at); reach
    (px): how far beyond the window's first and last points the fit carries their slope on (vertex_fit).
    """
    if len(x_of_t) == 0:
        return np.zeros(0), 0.0
    first = float(x_of_t.min())
    lo = first - 1.0 if start_guard is None else first + float(start_guard)
    hi = float(x_of_t.max()) + 1.0 if end_guard is None else float(x_of_t.max()) - float(end_guard)
    sel = (row.x >= lo) & (row.x <= hi)
    if start_guard is not None and pulse is not None:
        sel |= _beyond_the_pulse(row, first - 1.0, min(lo, hi), pulse)
        sel &= ~((row.x < first + pulse.foot_end_px) & (row.mv >= pulse.low) & (row.mv <= pulse.foot_top))
    if sel.sum() < 2:
        return np.zeros(len(x_of_t)), 0.0
    if smooth is None or len(x_of_t) < 3:
        values = np.interp(x_of_t, row.x[sel], row.mv[sel])
    else:
        step = float(x_of_t[1] - x_of_t[0])
        values = vertex_fit(row.x[sel], row.mv[sel], x_of_t, smoothing_at(smooth, step), reach=reach)
    if len(row.confidence):
        cols = row.x_first + np.arange(len(row.confidence), dtype=np.float64)
        conf = np.interp(x_of_t, cols, row.confidence, left=0.0, right=0.0)
        quality = float(np.mean(conf))
    else:
        quality = 1.0
    return values, quality


def _beyond_the_pulse(row: RowSignal, x_lo: float, x_hi: float, pulse: PulseSpan) -> np.ndarray:
    """The points in [x_lo, x_hi) above (below) the pulse's span, unless they lie on a stroke that
    rises (falls) further away from it. A trace that starts beyond the pulse runs towards it; a lead
    of the next row, which starts at the same x and reaches across into this one, runs away (ecgkit-dev
    sim006-clean: lead III's first samples reach down past the rhythm strip's pulse top)."""
    near = (row.x >= x_lo) & (row.x < x_hi)
    keep = np.zeros(len(row.x), dtype=bool)
    for part, away in ((near & (row.mv > pulse.high), 1.0), (near & (row.mv < pulse.low), -1.0)):
        if part.sum() >= 2 and np.ptp(row.x[part]) > 0:
            if away * np.polyfit(row.x[part], row.mv[part], 1)[0] > 0:
                continue
        keep |= part
    return keep


def cut_leads(rows: Sequence[RowSignal], layout: PageLayout, fs: int, start_guard: float | None = None,
              smooth: float | None = None, reach: float = np.inf, end_guard: float | None = None,
              row_px_per_s: Sequence[float] | None = None, row_x0: Sequence[float] | None = None,
              last_end_guard: float | None = None,
              row_pulses: Sequence[PulseSpan | None] | None = None,
              ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """(signal by lead, quality by lead) from the four traced rows.

    Rows 0-2 give their four 2.5 s leads, row 3 (the rhythm strip) lead II for the full 10 s. The short
    lead II of row 1 is returned as 'II_short' (used to check and repair the rhythm strip's start).
    start_guard, smooth, reach, end_guard: see sample_row (applied to every lead).
    last_end_guard: the end guard of the leads that end the record (t = 10 s), which no separator
    follows (None: end_guard).
    row_px_per_s: each row's own time scale (x = x0 + t * row_px_per_s[r]; default the layout's).
    row_x0: each row's own x of t = 0 (default the layout's).
    row_pulses: each row's calibration pulse (see sample_row's pulse), for its leads at t = 0.
    """
    signals: dict[str, np.ndarray] = {}
    quality: dict[str, float] = {}
    for r, names in enumerate(ROWS):
        if r >= len(rows):
            break
        for lead in names:
            if r == len(ROWS) - 1:
                t = sample_times(fs, lead)
                key = lead
            elif lead == RHYTHM_LEAD:
                start, stop = lead_window(fs, "I")
                t = np.arange(start, stop, dtype=np.float64) / fs
                key = "II_short"
            else:
                t = sample_times(fs, lead)
                key = lead
            pps = layout.px_per_s if row_px_per_s is None else row_px_per_s[r]
            x0 = layout.x0 if row_x0 is None else row_x0[r]
            ends_record = round(t[-1] * fs) + 1 >= round(fs * DURATION_S)
            guard = last_end_guard if ends_record and last_end_guard is not None else end_guard
            on_pulse = row_pulses[r] if row_pulses is not None and round(t[0] * fs) == 0 else None
            values, q = sample_row(rows[r], x0 + t * pps, start_guard, smooth, reach, guard, on_pulse)
            signals[key] = values
            quality[key] = q
    return signals, quality


# ----------------------------------------------------------------------------------------- Einthoven
def project_constraints(values: list[np.ndarray], variances: list[float],
                        constraints: np.ndarray) -> list[np.ndarray]:
    """Weighted least-squares projection of simultaneous signals onto linear relations.

    values: k signals of one window (each centred here: offsets are free in the metric and kept);
    variances: their noise variances; constraints: (c, k) rows a with sum_j a_j * signal_j = 0.
    Returns the signals moved as little as their variances allow so that every relation holds.
    """
    m = np.stack([v - v.mean() for v in values])               # (k, n)
    cov = np.diag(np.asarray(variances, dtype=np.float64))      # (k, k)
    a = np.asarray(constraints, dtype=np.float64)               # (c, k)
    gain = cov @ a.T @ np.linalg.inv(a @ cov @ a.T)             # (k, c)
    corrected = m - gain @ (a @ m)
    return [corrected[j] + values[j].mean() for j in range(len(values))]


def _variance(quality: float) -> float:
    """Relative noise variance of a traced lead from its quality in [0, 1]."""
    return 1.0 / max(quality, 0.05) ** 2


def einthoven_repair(signals: Mapping[str, np.ndarray], quality: Mapping[str, float], fs: int,
                     project: bool = True) -> tuple[dict[str, np.ndarray], list[str]]:
    """Make the limb leads consistent with I + III = II and aVR + aVL + aVF = 0, aVF - aVR = 1.5 II.

    Lead II is known over the whole 10 s (rhythm strip), so in the first 2.5 s window I, III, II (and
    the row-1 short II) are simultaneous, and in the second window aVR, aVL, aVF and II are. A
    weighted least-squares projection onto the relations repairs a badly traced lead from the others
    (low quality = large variance) and, with project=True, also averages tracing noise away where all
    are good. The rhythm strip's II is refined only in the first window (from I, III and the short II).
    Returns (signals, notes).
    """
    out = {k: np.asarray(v, dtype=np.float64).copy() for k, v in signals.items()}
    notes: list[str] = []
    if RHYTHM_LEAD not in out:
        return out, notes
    q = dict(quality)
    ii_full = out[RHYTHM_LEAD]

    def weak(names: list[str]) -> list[str]:
        return [n for n in names if q.get(n, 0.0) < BAD_QUALITY]

    # Window 1: I + III - II = 0, II_short - II = 0.
    a, b = lead_window(fs, "I")
    names = ["I", "III"]
    if all(n in out and len(out[n]) == b - a for n in names):
        vals = [out["I"], out["III"], ii_full[a:b]]
        var = [_variance(q.get("I", 0.0)), _variance(q.get("III", 0.0)), _variance(q.get(RHYTHM_LEAD, 0.0))]
        rows = [[1.0, 1.0, -1.0]]
        if "II_short" in out and len(out["II_short"]) == b - a:
            vals.append(out["II_short"])
            var.append(_variance(q.get("II_short", 0.0)))
            rows = [[1.0, 1.0, -1.0, 0.0], [0.0, 0.0, 1.0, -1.0]]
        bad = weak(names)
        if project or bad:
            fixed = project_constraints(vals, var, np.asarray(rows))
            out["I"], out["III"] = fixed[0], fixed[1]
            if project:
                ii_full = ii_full.copy()
                ii_full[a:b] = fixed[2]
                out[RHYTHM_LEAD] = ii_full
            notes.append("I, III, II projected" + (f" (repaired {', '.join(bad)})" if bad else ""))

    # Window 2: aVR + aVL + aVF = 0, aVF - aVR - 1.5 II = 0.
    a, b = lead_window(fs, "aVR")
    names = ["aVR", "aVL", "aVF"]
    if all(n in out and len(out[n]) == b - a for n in names):
        vals = [out["aVR"], out["aVL"], out["aVF"], ii_full[a:b]]
        var = [_variance(q.get(n, 0.0)) for n in names] + [_variance(q.get(RHYTHM_LEAD, 0.0))]
        rows = np.asarray([[1.0, 1.0, 1.0, 0.0], [-1.0, 0.0, 1.0, -1.5]])
        bad = weak(names)
        if project or bad:
            fixed = project_constraints(vals, var, rows)
            out["aVR"], out["aVL"], out["aVF"] = fixed[0], fixed[1], fixed[2]
            notes.append("aVR, aVL, aVF projected" + (f" (repaired {', '.join(bad)})" if bad else ""))
    return out, notes


def finalize(signals: Mapping[str, np.ndarray], fs: int) -> dict[str, np.ndarray]:
    """The 12 leads at their required lengths, finite (a missing or broken lead becomes zeros)."""
    out = {}
    for lead in LEADS:
        n = n_samples(fs, lead)
        v = np.asarray(signals.get(lead, np.zeros(n)), dtype=np.float64)
        if len(v) != n or not np.isfinite(v).all():
            v = np.zeros(n)
        out[lead] = v
    return out
