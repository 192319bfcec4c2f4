"""Calibration pulses as an anchor for t = 0: found on ink maps drawn here, never taken from a look-alike."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.ecg.digitizer.pulse import (
    LOOSE_FOOT_MM,
    PULSE_HEIGHT_MM,
    PULSE_WIDTH_MM,
    find_pulse,
    find_pulses,
    pulses_x0,
    row_starts,
    sheared_edges,
)

MM = 7.87
BASELINES = (700.0, 980.0, 1260.0, 1540.0)
SHIFT = 4  # drawing in 1/16 px


def _line(ink: np.ndarray, pts: list[tuple[float, float]], thickness: int = 3) -> None:
    fixed = np.round(np.asarray(pts) * (1 << SHIFT)).astype(np.int32)
    cv2.polylines(ink, [fixed], False, 255, thickness, cv2.LINE_AA, SHIFT)


def pulse_edge(ink: np.ndarray, baseline: float, px_per_mm: float) -> float | None:
    """The falling edge's x of the row's pulse, or None."""
    found = find_pulse(ink, baseline, px_per_mm)
    return None if found is None else found.fall_x


def _page(edges: list[float], lead_in_mm: float = 0.0, trace_into: bool = False) -> np.ndarray:
    """An ink map with one pulse per row falling at edges[r], a flat trace after it."""
    ink = np.zeros((1800, 2200), np.uint8)
    h, w = PULSE_HEIGHT_MM * MM, PULSE_WIDTH_MM * MM
    for b, x in zip(BASELINES, edges):
        start = x - w - lead_in_mm * MM
        if trace_into:
            start = 20.0
        _line(ink, [(start, b), (x - w, b), (x - w, b - h), (x, b - h), (x, b), (x + 900, b)])
    return ink.astype(np.float32) / 255.0


def test_the_falling_edge_is_found_to_a_fraction_of_a_pixel():
    edges = [118.3, 118.3, 118.3, 118.3]
    found = [p.fall_x for p in find_pulses(_page(edges), BASELINES, MM)]
    assert np.allclose(found, edges, atol=0.25)
    assert pulses_x0(found, MM) == pytest.approx(118.3, abs=0.25)
    # A short lead-in stroke before the pulse (our renderer's other styles) is still a pulse.
    assert pulse_edge(_page(edges, lead_in_mm=1.25), BASELINES[0], MM) == pytest.approx(118.3, abs=0.25)


def test_the_pulse_top_is_its_rising_edges_even_where_a_trace_runs_on_from_its_falling_edge():
    """A row that starts mid-QRS below the baseline (ecgkit-dev sim005-clean, lead III): the trace runs
    up the falling edge. The top is the rising edge's upper ink edge (the stroke is 3 px wide), not a
    column beside it that the search's widening reached (its ink starts 10 px lower on that page)."""
    x, b = 118.3, BASELINES[2]
    h, w = PULSE_HEIGHT_MM * MM, PULSE_WIDTH_MM * MM
    ink = np.zeros((1800, 2200), np.uint8)
    _line(ink, [(x - w, b), (x - w, b - h), (x, b - h), (x, b)])
    _line(ink, [(x, b + 0.4 * h), (x + 4.0, b - 0.5 * h), (x + 900, b - 0.5 * h)])
    ink[int(b - h) + 12:int(b) + 1, int(round(x - w)) - 2] = 160  # a fainter column beside the rising edge
    found = find_pulse(ink.astype(np.float32) / 255.0, b, MM)
    assert found is not None and found.fall_x == pytest.approx(x, abs=0.5)
    assert found.top_y == pytest.approx(b - h - 1.5, abs=1.0)


def test_a_dashed_pulse_among_specks_is_found():
    """A screen photo's moire breaks the strokes into dashes and sprinkles specks over the paper."""
    ink = _page([150.0] * 4)
    rng = np.random.default_rng(3)
    ink[rng.random(ink.shape) < 0.12] = 0.0  # strokes broken
    dots = rng.random(ink.shape) < 0.02
    ink[dots] = np.maximum(ink[dots], 0.8)
    assert pulse_edge(ink, BASELINES[1], MM) == pytest.approx(150.0, abs=0.6)


def test_look_alikes_are_not_pulses():
    """The trace running into the shape (a separator beside a QRS, grid remnants), a shape not standing
    on the baseline, or one far too wide are not the row's pulse."""
    assert pulse_edge(_page([400.0] * 4, trace_into=True), BASELINES[0], MM) is None
    ink = _page([400.0] * 4)
    lifted = np.zeros_like(ink)
    lifted[:-32] = ink[32:]  # the shape 4 mm above where the row's ink is densest
    assert pulse_edge(lifted, BASELINES[0], MM) is None
    wide = np.zeros((1800, 2200), np.uint8)
    b = BASELINES[0]
    _line(wide, [(100, b), (100, b - 10 * MM), (100 + 12 * MM, b - 10 * MM), (100 + 12 * MM, b)])
    assert pulse_edge(wide.astype(np.float32) / 255.0, b, MM) is None
    assert pulses_x0([None, 120.0, None, None], MM) is None  # one row is no agreement


def test_a_shear_shows_in_the_rows_pulses_and_noise_does_not():
    ys = np.asarray(BASELINES)
    sheared = list(100.0 + 0.02 * (ys - ys[0]))  # 16.8 px over the rows
    fitted = sheared_edges(sheared, BASELINES, MM)
    assert fitted is not None and np.allclose(fitted, sheared, atol=1e-6)
    assert sheared_edges([100.0, 100.4, 99.8, 101.0], BASELINES, MM) is None  # under SHEAR_MIN_PX
    assert sheared_edges([100.0, 105.0, None, None], BASELINES, MM) is None  # two rows: no line
    assert sheared_edges([100.0, 106.0, 104.0, 118.0], BASELINES, MM) is None  # a misread edge off the line


def test_each_row_starts_on_its_own_pulse():
    fitted = np.array([100.0, 102.0, 104.0, 106.0])
    # A mild shear keeps the page's t = 0 as the rows' mean.
    assert row_starts(fitted, 113.0, None, MM, 20.0) == pytest.approx([110.0, 112.0, 114.0, 116.0])
    strong = np.array([95.0, 105.0, 115.0, 125.0])
    # A strong one takes the lead over the pulses from the rows' own ends ...
    ends = [104.8, 114.5, 124.6, 134.9]
    assert row_starts(strong, 80.0, ends, MM, 20.0) == pytest.approx(list(strong + 9.7))
    # ... or none where t = 0 came from the pulses ...
    assert row_starts(strong, 80.0, None, MM, 20.0) == pytest.approx(list(strong))
    # ... and gives up where the ends put t = 0 well away from the pulses.
    assert row_starts(strong, 80.0, [e + 60.0 for e in ends], MM, 20.0) is None


def test_a_pulse_off_the_rows_baseline_is_found_only_with_the_loose_foot():
    """The row's baseline (its densest ink) can stand 5 mm off the zero line the pulse stands on: such a
    pulse is no t = 0 anchor (FOOT_MM), but still marks the pulse's stroke for the leads' first samples."""
    x, b = 118.3, BASELINES[1]
    h, w = PULSE_HEIGHT_MM * MM, PULSE_WIDTH_MM * MM
    ink = np.zeros((1800, 2200), np.uint8)
    _line(ink, [(x - w, b), (x - w, b - h), (x, b - h), (x, b), (x + 900, b)])
    ink = ink.astype(np.float32) / 255.0
    off = b + 4.5 * MM
    assert find_pulse(ink, off, MM) is None
    found = find_pulse(ink, off, MM, foot_mm=LOOSE_FOOT_MM)
    assert found is not None and found.top_y == pytest.approx(b - h - 1.5, abs=1.0)
