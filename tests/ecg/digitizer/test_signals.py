"""Signals step: pixels to mV and seconds, lead windows, Einthoven repair, safe output."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from pipeline.ecg.digitizer.signals import (
    PulseSpan,
    RowSignal,
    cut_leads,
    einthoven_repair,
    finalize,
    project_constraints,
    row_signal,
    sample_row,
    sample_times,
    smoothing_at,
    vertex_fit,
)
from pipeline.ecg.digitizer.trace import trace_row
from pipeline.ecg.layout import DEFAULT_LAYOUT, LEADS, ROWS, PageLayout, lead_window, n_samples

LAYOUT = PageLayout()


def line_row(row: int, mv_of_t, step: float = 1.0) -> RowSignal:
    """A traced row whose curve is mv_of_t(t) drawn exactly at the layout's positions."""
    xs = np.arange(LAYOUT.x0 - 2, LAYOUT.x1 + 2, step)
    t = (xs - LAYOUT.x0) / LAYOUT.px_per_s
    ys = LAYOUT.y_of_mv(row, mv_of_t(t))
    return row_signal(xs, ys, LAYOUT.baselines[row], LAYOUT.px_per_mv, int(xs[0]), np.ones(len(xs)))


@pytest.mark.parametrize("fs", [250, 500, 1000, 1025])
def test_samples_sit_at_start_plus_i_over_fs(fs):
    rows = [line_row(r, lambda t: 0.1 * t + 0.01 * r) for r in range(4)]
    signals, quality = cut_leads(rows, LAYOUT, fs)
    for lead in LEADS:
        a, b = lead_window(fs, lead)
        assert len(signals[lead]) == n_samples(fs, lead) == b - a
        expected = 0.1 * np.arange(a, b) / fs
        got = signals[lead] - signals[lead].mean() + expected.mean()
        assert np.abs(got - expected).max() < 1e-9  # no half-sample phase error
        assert quality[lead] == pytest.approx(1.0)
    assert len(signals["II_short"]) == n_samples(fs, "I")


def test_leads_ending_the_record_are_read_to_their_last_sample():
    """Nothing follows the page's last samples (no separator), so a trace still rising into the page's
    end is read there; the separators' end guard would hold its last samples at an earlier value."""
    fs = 500
    def rise(t):
        return 400.0 * np.clip(t - 9.95, 0.0, None) ** 2  # 0.92 mV at the last sample

    rows = [line_row(r, rise, step=0.25) for r in range(4)]
    guarded, _ = cut_leads(rows, LAYOUT, fs, smooth=3.0, end_guard=2.0)
    read, _ = cut_leads(rows, LAYOUT, fs, smooth=3.0, end_guard=2.0, last_end_guard=0.0)
    for lead in ("V4", "V5", "V6", "II"):
        start, stop = lead_window(fs, lead)
        expected = rise(np.arange(start, stop) / fs)
        assert np.abs(guarded[lead][-5:] - expected[-5:]).max() > 0.1
        assert np.abs(read[lead] - expected).max() < 0.03
    # Leads that end at a column boundary keep the separators' guard.
    assert np.array_equal(read["aVL"], guarded["aVL"])


def test_window_edges_do_not_leak_the_neighbouring_lead():
    fs = 500
    # Row 0 shows lead I at +1 mV for 2.5 s, then aVR at -1 mV; the boundary column is a gap.
    xs = np.arange(LAYOUT.x0 - 2, LAYOUT.x1 + 2, 1.0)
    t = (xs - LAYOUT.x0) / LAYOUT.px_per_s
    mv = np.where(t < 2.5, 1.0, -1.0)
    keep = np.abs(t - 2.5) > 0.02
    row = row_signal(xs[keep], LAYOUT.y_of_mv(0, mv[keep]), LAYOUT.baselines[0], LAYOUT.px_per_mv)
    values, _ = sample_row(row, LAYOUT.x_of_time(sample_times(fs, "I")))
    assert np.allclose(values, 1.0)
    values, _ = sample_row(row, LAYOUT.x_of_time(sample_times(fs, "aVR")))
    assert np.allclose(values, -1.0)


def test_gaps_are_interpolated():
    xs = np.array([100.0, 101.0, 110.0, 111.0])
    row = RowSignal(x=xs, mv=np.array([0.0, 0.0, 0.9, 0.9]), x_first=100, confidence=np.ones(12))
    values, _ = sample_row(row, np.array([100.0, 105.5, 111.0]))
    assert values[1] == pytest.approx(0.45)


def test_empty_row_gives_zeros():
    row = RowSignal(x=np.zeros(0), mv=np.zeros(0), x_first=0, confidence=np.zeros(0))
    values, quality = sample_row(row, np.arange(10.0))
    assert np.all(values == 0.0) and quality == 0.0


def limb_leads(fs: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(fs * 10)) / fs
    lead_i = 0.5 * np.sin(2 * np.pi * 1.1 * t) + 0.1 * rng.standard_normal(len(t)).cumsum() / 30
    lead_ii = 0.8 * np.sin(2 * np.pi * 1.1 * t + 0.4) + 0.2 * np.cos(2 * np.pi * 3 * t)
    full = {"I": lead_i, "II": lead_ii, "III": lead_ii - lead_i, "aVR": -(lead_i + lead_ii) / 2,
            "aVL": lead_i - lead_ii / 2, "aVF": lead_ii - lead_i / 2}
    out = {lead: full[lead][slice(*lead_window(fs, lead))] for lead in full}
    out["II_short"] = lead_ii[slice(*lead_window(fs, "I"))]
    return out


def test_einthoven_rebuilds_a_badly_traced_lead():
    fs = 500
    truth = limb_leads(fs)
    broken = dict(truth)
    broken["III"] = np.zeros_like(truth["III"]) + 0.3  # lost trace
    broken["aVL"] = truth["aVL"] + 0.5 * np.sin(np.arange(len(truth["aVL"])))  # garbage
    quality = {k: 1.0 for k in truth}
    quality["III"] = 0.1
    quality["aVL"] = 0.1
    fixed, notes = einthoven_repair(broken, quality, fs, project=False)
    for lead in ("III", "aVL"):
        err = (fixed[lead] - fixed[lead].mean()) - (truth[lead] - truth[lead].mean())
        assert np.sqrt(np.mean(err ** 2)) < 0.05 * np.std(truth[lead]) + 1e-3
    assert notes


def test_einthoven_projection_reduces_independent_noise():
    fs = 500
    truth = limb_leads(fs)
    rng = np.random.default_rng(1)
    noisy = {k: v + 0.02 * rng.standard_normal(len(v)) for k, v in truth.items()}
    quality = {k: 1.0 for k in truth}
    fixed, _ = einthoven_repair(noisy, quality, fs, project=True)
    for lead in ("I", "III", "aVR", "aVL", "aVF"):
        before = np.std(noisy[lead] - truth[lead])
        after = np.std(fixed[lead] - truth[lead])
        assert after < before
    resid = fixed["I"] + fixed["III"] - fixed["II"][: len(fixed["I"])]
    assert np.std(resid) < 1e-9


def test_project_constraints_is_exact_for_consistent_input():
    a = np.sin(np.arange(50) / 5.0)
    b = np.cos(np.arange(50) / 7.0)
    out = project_constraints([a, b, a + b], [1.0, 1.0, 1.0], np.array([[1.0, 1.0, -1.0]]))
    assert np.allclose(out[0], a) and np.allclose(out[1], b)


def test_finalize_never_emits_nan_and_fixes_lengths():
    fs = 256
    signals = {"I": np.full(n_samples(fs, "I"), np.nan), "II": np.ones(n_samples(fs, "II")), "V1": np.ones(3)}
    out = finalize(signals, fs)
    assert list(out) == list(LEADS)
    for lead, values in out.items():
        assert len(values) == n_samples(fs, lead)
        assert np.isfinite(values).all()
    assert np.all(out["I"] == 0) and np.all(out["V1"] == 0) and np.all(out["II"] == 1)


def test_rows_constant_matches_layout():
    assert len(ROWS) == 4 and ROWS[3] == ("II",)


# ----- lead start

PX_PER_MV, PX_PER_S, SHIFT = 78.74, 196.85, 8


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << SHIFT)).astype(np.int32).reshape(-1, 1, 2)


def _row_with_pulse(fs: int, x0: float, level_mv: float):
    """Ink map of one row: a 1 mV pulse whose falling edge stands at x0, then a trace from x0 at
    about level_mv. Returns (ink, baseline, sample times, true values)."""
    h, w, base = 240, 700, 180.0
    t = np.arange(int(2.5 * fs)) / fs
    values = level_mv + 0.15 * np.sin(2 * np.pi * 1.3 * t)
    img = np.zeros((h, w), np.uint8)
    top = base - PX_PER_MV
    pulse = np.array([[x0 - 0.2 * PX_PER_S, base], [x0 - 0.2 * PX_PER_S, top], [x0, top], [x0, base]])
    trace = np.stack([x0 + t * PX_PER_S, base - values * PX_PER_MV], axis=1)
    for pts in (pulse, trace):
        cv2.polylines(img, [_fixed(pts)], False, 255, 2, cv2.LINE_AA, SHIFT)
    return img.astype(np.float32) / 255.0, base, t, values


@pytest.mark.parametrize("fs", [250, 500, 1025])
@pytest.mark.parametrize("x0_error", [-0.4, 0.0, 0.4])
def test_pulse_touching_the_trace_start_is_not_read_as_signal(fs, x0_error):
    """x0_error: the digitizer's t = 0 is known to within half a pixel (the kit snaps its ticks to pixels)."""
    x0 = 120.3
    ink, base, t, truth = _row_with_pulse(fs, x0, 0.25)
    x0_est = x0 + x0_error
    tr = trace_row(ink, (10, 230), (int(np.floor(x0_est)) - 1, int(x0 + 2.5 * PX_PER_S) + 3), base,
                   bars_near=[x0_est], bar_reach=0.75 * 7.874)
    row = row_signal(tr.points_x, tr.points_y, base, PX_PER_MV, tr.x0)
    x = x0_est + t * PX_PER_S
    head = slice(0, int(0.02 * fs))  # the first 20 ms
    guarded, _ = sample_row(row, x, start_guard=0.0)
    # Compared at the estimated time axis: what the guard must remove is the pulse, not the 0.4 px shift.
    expect = 0.25 + 0.15 * np.sin(2 * np.pi * 1.3 * (t + x0_error / PX_PER_S))
    assert np.abs(guarded[head] - expect[head]).max() < 0.05
    assert np.abs(guarded - expect).max() < 0.05


def test_a_point_of_the_pulse_before_the_first_sample_is_not_used():
    """As traced on a real page (1006427285-0001, row 0): the pulse's top corner gives a point 0.26 px
    left of the first sample's x, its falling edge's columns are masked (a gap), the trace follows.
    Without the guard the first samples interpolate from 1 mV down to the trace."""
    x0, fs = 117.26, 1025
    xs = np.array([117.0, 120.0, 121.0, 122.0, 123.0])
    mv = np.array([1.0, 0.0, 0.02, 0.03, 0.04])
    row = RowSignal(x=xs, mv=mv, x_first=116, confidence=np.ones(8))
    x = x0 + np.arange(20) / fs * PX_PER_S
    unguarded, _ = sample_row(row, x)
    assert unguarded[0] > 0.5
    guarded, _ = sample_row(row, x, start_guard=0.0)
    assert np.abs(guarded).max() < 0.05


PULSE_ROW_X0 = 117.61
"""x of t = 0 on the rows drawn by the pulse tests (as on the kit's 200 dpi pages)."""
KIT_PULSE = PulseSpan(low=-0.05, high=1.05, foot_top=0.03, foot_end_px=4.9)
"""A 1 mV pulse standing on the row's zero, its foot's ink reaching 4.9 px past t = 0 (256 Hz)."""


def _pulse_row(*pieces: tuple[np.ndarray, np.ndarray]) -> RowSignal:
    """A traced row (its zero at y = 0) from point sets (x px, mV): a pulse's stroke, a trace, ..."""
    xs = np.concatenate([np.atleast_1d(x) for x, _ in pieces])
    mv = np.concatenate([np.atleast_1d(v) for _, v in pieces])
    return row_signal(xs, -mv * PX_PER_MV, 0.0, PX_PER_MV, 116)


def _pulse_row_samples(fs: int) -> np.ndarray:
    """x of the first 100 samples of a lead starting at PULSE_ROW_X0."""
    return PULSE_ROW_X0 + np.arange(100) / fs * PX_PER_S


def _read_start(row: RowSignal, fs: int, pulse: PulseSpan | None = None) -> np.ndarray:
    """The row read at _pulse_row_samples(fs) as the digitizer reads a lead's start: its start guard
    (DigitizeConfig.start_guard_px), sample smoothing 3 and, when given, the pulse's span."""
    from pipeline.ecg.digitizer.digitize import DigitizeConfig

    values, _ = sample_row(row, _pulse_row_samples(fs), start_guard=DigitizeConfig().start_guard_px, smooth=3.0,
                           pulse=pulse)
    return values


def test_the_pulse_edge_read_right_of_the_first_sample_is_not_used():
    """As traced on the real page 46930936-0001 (250 Hz, row 0): the pulse's falling edge, a stroke
    2-3 px wide standing on the first sample's x, is read as points from 1 mV down to the trace up to
    1.7 px right of it. The digitizer's guard (DigitizeConfig.start_guard_px) keeps them out; with none,
    lead I's sample 0 read 0.49 mV above the trace."""
    from pipeline.ecg.digitizer.digitize import DigitizeConfig

    x0, fs = PULSE_ROW_X0, 250
    edge = (x0 + np.linspace(0.1, 1.7, 40), np.linspace(1.0, 0.0, 40))
    trace_x = x0 + np.arange(2.4, 200.0, 1.0)
    row = _pulse_row((x0 - 0.6, 1.0), edge, (trace_x, np.full(len(trace_x), -0.06)))
    x = _pulse_row_samples(fs)
    bare, _ = sample_row(row, x, start_guard=0.0, smooth=3.0)
    assert bare[0] > 0.2
    guarded, _ = sample_row(row, x, start_guard=DigitizeConfig().start_guard_px, smooth=3.0)
    assert np.abs(guarded - (-0.06)).max() < 0.02


def test_the_separator_bar_before_the_next_column_is_not_used():
    """The kit's separator bar (6.3 px wide) is centred on the next column's boundary, one sample after
    a lead's last: its edge is read as points from -0.35 to +0.35 mV within 1.5 px of the last sample.
    The digitizer's end guard (DigitizeConfig.end_guard_px) keeps them out of the lead's end."""
    from pipeline.ecg.digitizer.digitize import DigitizeConfig

    fs = 250
    x = 120.0 + np.arange(100) / fs * PX_PER_S
    last = x[-1]
    trace_x = np.arange(100.0, last - 1.6, 1.0)
    bar_x = last + np.linspace(-1.5, 1.0, 40)
    bar_mv = np.linspace(0.35, -0.35, 40)
    mv = np.r_[np.full(len(trace_x), 0.1), bar_mv]
    row = row_signal(np.r_[trace_x, bar_x], -mv * PX_PER_MV, 0.0, PX_PER_MV, 99)
    bare, _ = sample_row(row, x, start_guard=0.0, smooth=3.0)
    assert np.abs(bare[-3:] - 0.1).max() > 0.05
    guarded, _ = sample_row(row, x, start_guard=0.0, smooth=3.0, end_guard=DigitizeConfig().end_guard_px)
    assert np.abs(guarded - 0.1).max() < 0.02


def _polyline_points(values: np.ndarray, knots: np.ndarray, per_px: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Points along the straight segments joining (knots, values): per_px points per pixel of the
    segment's length, as a trace read along pixel rows gives many points on a steep flank."""
    xs, vs = [], []
    for a in range(len(knots) - 1):
        length = np.hypot(knots[a + 1] - knots[a], 80.0 * (values[a + 1] - values[a]))
        s = np.linspace(0.0, 1.0, max(2, int(per_px * length)), endpoint=False)
        xs.append(knots[a] + s * (knots[a + 1] - knots[a]))
        vs.append(values[a] + s * (values[a + 1] - values[a]))
    return np.concatenate(xs + [knots[-1:]]), np.concatenate(vs + [values[-1:]])


def test_vertex_fit_recovers_the_samples_of_a_drawn_polyline():
    rng = np.random.default_rng(0)
    knots = 100.0 + 0.7874 * np.arange(60)  # 250 Hz at 200 dpi
    values = np.zeros(60)
    values[20:23] = [0.6, 1.8, 0.4]  # a narrow R wave
    values += 0.02 * rng.standard_normal(60)
    x, v = _polyline_points(values, knots)
    assert np.abs(vertex_fit(x, v, knots, smooth=0.0) - values).max() < 1e-3


def test_vertex_fit_averages_the_scatter_that_reading_at_the_samples_keeps():
    """Traced points scatter by about a pixel; the curve read at a sample's x rests on the
    two points beside it, the fit on all the points of the segments around it."""
    knots = 100.0 + 0.7874 * np.arange(80)
    i = np.arange(80)
    values = 1.5 * np.exp(-0.5 * ((i - 30) / 1.5) ** 2) + 0.3 * np.exp(-0.5 * ((i - 60) / 6.0) ** 2)
    x, v = _polyline_points(values, knots)
    rng = np.random.default_rng(1)
    v = v + rng.normal(0.0, 1.0 / 80.0, len(v))  # 1 px of scatter at 80 px/mV
    read = np.interp(knots, x, v)
    fitted = vertex_fit(x, v, knots, smooth=3.0)
    assert np.sqrt(np.mean((fitted - values) ** 2)) < 0.5 * np.sqrt(np.mean((read - values) ** 2))


def test_vertex_fit_carries_the_end_slope_only_within_reach():
    """Points stop before the lead's last samples while the curve falls: within `reach` px the fit
    runs on along the slope (a masked separator's short gap), further it holds (a trace lost over a
    stretch), and it never leaves the values traced."""
    knots = 100.0 + 0.3937 * np.arange(60)  # 500 Hz at 200 dpi, last knot at 123.2
    x = np.arange(101.0, 114.0, 0.5)
    v = np.where(x < 110, 0.05, 0.05 - 0.1 * (x - 109))
    v[(x >= 104) & (x <= 105)] = -0.6  # an S wave: the lead's values reach -0.6 mV
    slope = 0.1  # mV per px
    free = vertex_fit(x, v, knots, smooth=3.0)
    held = vertex_fit(x, v, knots, smooth=3.0, reach=2.0)
    near = (knots > x[-1]) & (knots <= x[-1] + 1.5)
    np.testing.assert_allclose(held[near], v[-1] - slope * (knots[near] - x[-1]), atol=0.02)
    far = knots > x[-1] + 3.0
    assert np.ptp(held[far]) < 1e-9 and held[far][0] > v[-1] - slope * 3.0
    assert free.min() >= v.min() - 1e-12  # clipped to the traced values, not run on to -1.3 mV


def test_sample_row_fits_vertices_only_when_asked():
    row = line_row(0, lambda t: np.sin(2 * np.pi * t))
    xs = LAYOUT.x_of_time(sample_times(500, "I"))
    plain, _ = sample_row(row, xs)
    fitted, _ = sample_row(row, xs, smooth=3.0)
    assert np.array_equal(plain, np.interp(xs, row.x, row.mv))
    assert np.abs(fitted - plain).max() < 1e-3  # a smooth curve is its own best polyline


@pytest.mark.parametrize("fs", [250, 256])
def test_the_smoothing_weight_keeps_a_narrow_r_wave_at_low_rates(fs):
    """An R wave of 1.8 mV, 12 ms to its apex, sampled at 250/256 Hz, whose apex is a single knot:
    the weight chosen at 500 Hz, unscaled, cut it by 0.11-0.14 mV (real 46930936-0001 read its
    peaks 5-12 % low); scaled with the knot spacing's cube it keeps it within 0.05 mV."""
    t = np.arange(int(0.4 * fs)) / fs
    values = np.interp(t, [0.0, 0.188, 0.2, 0.212, 0.4], [0.0, 0.0, 1.8, -0.3, 0.0])
    knots = LAYOUT.x_of_time(t)
    x, v = _polyline_points(values, knots, per_px=1)  # about one traced point per px of stroke
    v = v + np.random.default_rng(fs).normal(0.0, 0.5 / 80.0, len(v))  # half a pixel of scatter
    row = RowSignal(x=x, mv=v, x_first=0, confidence=np.ones(0))
    fitted, _ = sample_row(row, knots, smooth=3.0)
    assert fitted.max() == pytest.approx(values.max(), abs=0.05)
    assert smoothing_at(3.0, knots[1] - knots[0]) == pytest.approx(3.0 * (fs / 500) ** 3, rel=0.01)


def test_cut_leads_reads_each_row_on_its_own_time_scale() -> None:
    """Row 3 of a keystoned photo runs 0.3 % slower than the page's scale: 5.9 px short at 10 s. Read
    with its own px/s, a sharp spike at 9 s lands on its sample; read with the page's it lands 5 samples
    (at 500 Hz) early."""
    fs, pps = 500, 196.85
    layout = replace(DEFAULT_LAYOUT, x0=120.0)
    slow = pps * 0.997
    rows = []
    for r in range(4):
        scale = slow if r == 3 else pps
        x = layout.x0 + np.arange(0, 10.0, 0.5 / scale) * scale
        t = (x - layout.x0) / scale
        mv = np.exp(-0.5 * ((t - 9.0) / 0.004) ** 2)
        rows.append(RowSignal(x=x, mv=mv, x_first=0, confidence=np.ones(0)))
    page = replace(layout, px_per_mm=pps / 25.0)
    own, _ = cut_leads(rows, page, fs, row_px_per_s=[pps, pps, pps, slow])
    one, _ = cut_leads(rows, page, fs)
    assert int(np.argmax(own["II"])) == 9 * fs
    assert abs(int(np.argmax(one["II"])) - 9 * fs) >= 4


def test_cut_leads_reads_each_row_from_its_own_start() -> None:
    """Row 3 of a sheared photo starts 6 px right of the page's t = 0: a spike at 9 s lands on its
    sample when the row is read from its own start, 8 samples (500 Hz) late from the page's."""
    fs, pps = 500, 196.85
    layout = replace(DEFAULT_LAYOUT, x0=120.0, px_per_mm=pps / 25.0)
    starts = [120.0, 120.0, 120.0, 126.0]
    rows = []
    for x0 in starts:
        x = x0 + np.arange(0, 10.0, 0.5 / pps) * pps
        mv = np.exp(-0.5 * (((x - x0) / pps - 9.0) / 0.004) ** 2)
        rows.append(RowSignal(x=x, mv=mv, x_first=0, confidence=np.ones(0)))
    own, _ = cut_leads(rows, layout, fs, row_x0=starts)
    one, _ = cut_leads(rows, layout, fs)
    assert int(np.argmax(own["II"])) == 9 * fs
    assert int(np.argmax(one["II"])) - 9 * fs >= 7


def test_a_trace_starting_above_the_pulse_is_read_from_its_first_sample():
    """A row that starts mid-QRS (ecgkit-dev sim038-clean, 250 Hz: lead I falls from 1.2 mV to the S
    wave over its first 6 samples): the stroke starts above the pulse's top and runs down its falling
    edge. The start guard alone dropped those points, and the slope carried back from beyond it read
    sample 0 up to 2 mV off; with the pulse's span known, only the points within it are dropped."""
    x0, fs = PULSE_ROW_X0, 250
    edge = (x0 + np.linspace(0.1, 1.7, 40), np.linspace(1.0, 0.0, 40))
    knots = x0 + np.array([0.0, 4.0, 6.0, 200.0])
    shape = np.array([1.8, -0.4, -0.3, -0.3])
    row = _pulse_row((x0 - 0.6, 1.0), edge, _polyline_points(shape, knots))
    truth = np.interp(_pulse_row_samples(fs), knots, shape)
    guarded = _read_start(row, fs)
    assert np.abs(guarded[:2] - truth[:2]).max() > 0.5
    spanned = _read_start(row, fs, KIT_PULSE)
    assert np.abs(spanned - truth).max() < 0.15


def test_another_rows_lead_reaching_past_the_pulse_top_is_not_read():
    """ecgkit-dev sim006-clean, rhythm strip: lead III of the row above starts far below its baseline
    and rises away steeply, so its first pen stroke stands above this row's pulse, right of the falling
    edge. Those points are above the pulse's span like a trace that starts there, but rise away from it:
    they are dropped, and the strip reads its own flat start."""
    x0, fs = PULSE_ROW_X0, 512
    edge = (x0 + np.linspace(0.1, 1.7, 40), np.linspace(1.0, 0.0, 40))
    foreign = (x0 + np.linspace(0.9, 1.8, 30), np.linspace(1.1, 1.5, 30))
    trace_x = x0 + np.arange(2.4, 200.0, 1.0)
    row = _pulse_row(edge, foreign, (trace_x, np.full(len(trace_x), 0.4)))
    values = _read_start(row, fs, KIT_PULSE)
    assert np.abs(values - 0.4).max() < 0.02


def test_the_pulses_foot_past_the_start_guard_is_not_read_as_the_lead():
    """ecg-image-kit's pulse ends [.., 1, 1, 0, 0] mV one sample apart: its foot runs on three samples
    right of the first sample's x, and with its pen its ink reaches past the 2 px start guard (at 256 Hz
    to 3.4 px; ecgkit-dev sim035-clean, lead II starting at 0.7 mV read -0.7 mV over its first 4
    samples). A lead that starts within the pulse's span is read from its own points beyond the foot."""
    x0, fs = PULSE_ROW_X0, 256
    step = PX_PER_S / fs
    edge = (x0 + step + np.linspace(0.0, step, 30), np.linspace(1.0, 0.0, 30))
    foot = (x0 + np.linspace(2.0, 3.4, 8), np.zeros(8))
    knots, shape = x0 + np.array([0.0, 4.0, 200.0]), np.array([0.7, 0.45, 0.45])
    trace_x, trace_mv = _polyline_points(shape, knots)
    beyond = trace_x > x0 + 3.6
    row = _pulse_row(edge, foot, (trace_x[beyond], trace_mv[beyond]))
    truth = np.interp(_pulse_row_samples(fs), knots, shape)
    guarded = _read_start(row, fs)
    assert np.abs(guarded[:6] - truth[:6]).max() > 0.3
    footless = _read_start(row, fs, KIT_PULSE)
    # Within the pulse's stroke the lead is hidden: its first samples hold its first own point.
    assert np.abs(footless[:6] - truth[:6]).max() < 0.25
    assert np.abs(footless[6:] - truth[6:]).max() < 0.02
