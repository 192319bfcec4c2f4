"""A lead's first samples when a vertical mark stands on its start (ecg-image-kit's calibration pulse
ends with its falling edge exactly at the first sample's x, and the trace starts right there)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.ecg.signals import RowSignal, row_signal, sample_row
from pipeline.ecg.trace import trace_row

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
