"""t = 0 of ecg-image-kit pages, and the sub-sample time phase of a traced row at 250 Hz."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.ecg.digitizer.kit_page import (
    drawn_by_kit,
    kit_separator_offsets,
    kit_x0,
    place_kit_t0,
    snapped_separators,
    unmoved_kit_page,
)
from pipeline.ecg.digitizer.rows import DetectedLayout
from pipeline.ecg.digitizer.signals import row_signal, sample_row
from pipeline.ecg.digitizer.trace import trace_row
from pipeline.ecg.layout import PageLayout

PX_PER_MV, PX_PER_S, SHIFT = 78.74, 196.85, 8


def _found(separators, x0=117.26) -> DetectedLayout:
    layout = PageLayout(x0=x0, baselines=(708.0, 992.0, 1275.0, 1535.0))
    return DetectedLayout(layout=layout, bands=(), row_strength=(), row_ends=(), separators=tuple(separators),
                          x_end=2086.5, flags=("x0_from_separators",))


def test_kit_convention_measured_on_its_json():
    # ecgkit-dev JSON: first sample at x = 118.11 (pixel i covers [i, i + 1)), columns 492.13 px apart.
    assert abs(kit_x0() - (118.11 - 0.5)) < 0.01
    even, odd = snapped_separators()
    assert even == (609.5, 1101.5, 1593.5) and odd == (610.0, 1102.0, 1594.0)


def test_snapped_separators_of_an_unmoved_kit_page_place_t0_exactly():
    found = place_kit_t0(_found([609.52, 1101.5, 1593.5]), unmoved=True)
    assert abs(found.layout.x0 - 117.6102) < 1e-3 and "x0_kit_page" in found.flags
    # Extra vertical marks (pulse edges) and one separator missed still match.
    assert "x0_kit_page" in place_kit_t0(_found([78.9, 118.6, 609.5, 1593.5]), unmoved=True).flags


@pytest.mark.parametrize("separators, unmoved", [
    ([610.24, 1102.36, 1594.49], True),   # drawn where the boundaries are (our renderer): already exact
    ([609.52, 1101.5, 1593.5], False),    # a scan or photo: the page frame says nothing
    ([611.35, 1079.49, 1549.03], True),
    ([609.5], True),
])
def test_other_pages_are_left_as_found(separators, unmoved):
    before = _found(separators)
    after = place_kit_t0(before, unmoved)
    assert after.layout.x0 == before.layout.x0 and "x0_kit_page" not in after.flags


def test_an_unmoved_page_whose_pulses_are_the_kits_is_the_kits_whatever_its_separators():
    """Own-reading of ecgkit-dev sim029-clean: a QRS beside two separators pulled their centres off
    by 0.4 and 1.5 px, so only one matched the kit's snapping; its pulses still say it is the kit's."""
    pulled = _found([609.52, 1101.89, 1595.0], x0=117.64)
    assert "x0_kit_page" not in place_kit_t0(pulled, unmoved=True).flags
    placed = place_kit_t0(pulled, unmoved=True, pulse_x0=119.9)
    assert placed.layout.x0 == pytest.approx(kit_x0()) and "x0_kit_page" in placed.flags
    # Pulses ending 0.05 s before t = 0 (another renderer's) do not make the page the kit's.
    assert "x0_kit_page" not in place_kit_t0(pulled, unmoved=True, pulse_x0=117.64 - 9.8).flags


def test_the_kits_separators_stand_before_their_boundaries_on_a_moved_page_too():
    offsets = kit_separator_offsets(PX_PER_S)
    assert offsets == pytest.approx((-0.236, -0.362, -0.488), abs=1e-3)
    # A scan at 95 % keeps the snapping, scaled.
    assert kit_separator_offsets(0.95 * PX_PER_S) == pytest.approx(tuple(0.95 * o for o in offsets))
    assert drawn_by_kit(118.2, 117.6, PX_PER_S) and drawn_by_kit(120.0, 117.6, PX_PER_S)
    assert not drawn_by_kit(107.8, 117.6, PX_PER_S) and not drawn_by_kit(None, 117.6, PX_PER_S)


def test_unmoved_kit_page():
    assert unmoved_kit_page(2200, 1700, 7.8739, -0.01, False)
    assert not unmoved_kit_page(2132, 1652, 7.51, 0.0, False)
    assert not unmoved_kit_page(2200, 1700, 7.8739, 0.5, False)
    assert not unmoved_kit_page(2200, 1700, 7.8739, 0.0, True)
    assert not unmoved_kit_page(2200, 1700, 7.95, 0.0, False)


def _phase_error(truth: np.ndarray, pred: np.ndarray) -> float:
    """Sub-sample lag (samples, + = prediction late) minimising the squared error."""
    k = np.arange(len(truth))
    best = min(np.arange(-1.0, 1.0001, 0.01),
               key=lambda d: float(np.sum((np.interp(k + d, k, pred) - truth)[5:-5] ** 2)))
    return float(best)


@pytest.mark.parametrize("phase_px", [0.0, 0.25, 0.61, 0.9])
def test_row_at_250_hz_keeps_its_sub_pixel_phase(phase_px):
    """A row drawn with its first sample at a sub-pixel x (as the kit draws, anti-aliased) and read
    with that x as t = 0 comes back without a time shift: the px -> sample resampling has no
    half-pixel or half-sample offset at a low rate."""
    fs, x0, base = 250, 100.0 + phase_px, 120.0
    t = np.arange(int(2.5 * fs)) / fs
    qrs = sum(np.exp(-0.5 * ((t - c) / 0.012) ** 2) for c in (0.3, 1.1, 1.9))
    truth = 1.2 * qrs - 0.4 * np.exp(-0.5 * ((t - 0.55) / 0.06) ** 2) + 0.1 * np.sin(2 * np.pi * 0.7 * t)
    img = np.zeros((240, 660), np.uint8)
    pts = np.stack([x0 + t * PX_PER_S, base - truth * PX_PER_MV], axis=1)
    cv2.polylines(img, [np.round(pts * (1 << SHIFT)).astype(np.int32).reshape(-1, 1, 2)], False, 255, 2,
                  cv2.LINE_AA, SHIFT)
    ink = img.astype(np.float32) / 255.0
    tr = trace_row(ink, (5, 235), (int(np.floor(x0)) - 1, int(x0 + 2.5 * PX_PER_S) + 3), base)
    row = row_signal(tr.points_x, tr.points_y, base, PX_PER_MV, tr.x0)
    values, _ = sample_row(row, x0 + t * PX_PER_S, start_guard=0.0)
    assert abs(_phase_error(truth, values)) < 0.1
    # t = 0 from the kit's snapped separators, 0.35 px early: the prediction runs 0.44 of a sample late.
    early, _ = sample_row(row, x0 - 0.35 + t * PX_PER_S, start_guard=0.0)
    assert abs(_phase_error(truth, early) - 0.35 / PX_PER_S * fs) < 0.1
