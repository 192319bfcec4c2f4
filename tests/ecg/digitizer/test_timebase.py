"""Where t = 0 stands: the pulses settle the traces' end, kit separators as snapped, sheared rows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline.ecg.digitizer.flags import Flag
from pipeline.ecg.digitizer.rows import DetectedLayout
from pipeline.ecg.digitizer.timebase import place_t0, separators_on_boundaries, settle_end, sheared_row_starts
from pipeline.ecg.layout import PageLayout


def _ended(x_end: float, mm: float = 7.874, row_ends: tuple[float, ...] = (), flags: tuple = ()) -> DetectedLayout:
    layout = PageLayout(px_per_mm=mm, baselines=(700.0, 980.0, 1260.0, 1540.0))
    found = DetectedLayout(layout=layout, bands=(), row_strength=(), row_ends=row_ends, flags=flags)
    return found.with_end(x_end, True, mm)


def test_the_pulses_settle_which_end_of_the_traces_is_right():
    """Own-seed screen photo 1696134429: moire fills the paper past the traces' end with specks (the
    ink-based end runs to the page's edge) and breaks the trace into dashes (the traced end came
    230 px short); the calibration pulses, whose falling edge is on t = 0, tell which end holds."""
    span = 10 * 7.874 * 25
    x0 = 120.0
    specks, early, right = x0 + span + 80, x0 + span - 230, x0 + span
    traced = settle_end(_ended(specks), right, x0, True, 7.874)
    assert Flag.X_END_FROM_TRACE in traced.flags and traced.layout.x0 == pytest.approx(x0)
    ink = _ended(right)
    assert settle_end(ink, early, x0, True, 7.874) is ink  # the ink-based end fits: kept
    pulsed = settle_end(_ended(specks), early, x0, True, 7.874)
    assert Flag.X0_FROM_PULSES in pulsed.flags and pulsed.layout.x0 == pytest.approx(x0)
    # A lead-in of up to 0.1 s after the edge (other printers) still fits; no pulses: the traced end.
    assert settle_end(_ended(specks), right + 15, x0, True, 7.874).layout.x0 == pytest.approx(x0 + 15)
    assert Flag.X_END_FROM_TRACE in settle_end(_ended(specks), early, None, True, 7.874).flags


def test_a_scanned_kit_page_reads_its_separators_as_the_kit_snapped_them():
    """Own-seed kit pages that were scanned or photographed read t = 0 0.34 px early on average (0.45
    of a sample at 250 Hz): their separators stand where matplotlib snapped them. Their pulses mark
    them as the kit's; a page whose pulses end 0.05 s before t = 0 (our other styles) keeps its
    separators on the boundaries."""
    pps, x0 = 7.874 * 25, 150.3
    seps = tuple(x0 + k * 2.5 * pps + o for k, o in zip((1, 2, 3), (-0.236, -0.362, -0.488)))
    found = replace(_ended(x0 + 10 * pps), separators=seps)
    kit = place_t0(found, 0.0, 500, pulse_x0=x0 + 1.5)
    assert Flag.KIT_SEPARATORS in kit.flags and kit.layout.x0 == pytest.approx(x0, abs=0.01)
    other = place_t0(found, 0.0, 500, pulse_x0=x0 - 0.05 * pps)
    assert Flag.KIT_SEPARATORS not in other.flags and other.layout.x0 == pytest.approx(x0 - 0.362, abs=0.01)
    assert place_t0(found, 0.0, 500, pulse_x0=None).layout.x0 == pytest.approx(x0 - 0.362, abs=0.01)


def test_qrs_strokes_taken_for_separators_do_not_move_t0_off_the_pulses():
    """Own-seed screen photo 9717103274: a regular rhythm (RR 0.5 s) put QRS strokes at three exactly
    spaced x 18 px past the column boundaries, whose own separators were lost behind QRS; read as the
    separators, they put t = 0 0.15 s after the pulses' edge (0.1 s late). The traces' end puts it
    0.05 s after the edge, as our renderer draws it: that t = 0 is kept."""
    pps, x0 = 7.874 * 25, 116.5
    qrs = tuple(x0 + k * 2.5 * pps + 20.0 for k in (1, 2, 3))
    found = replace(_ended(x0 + 10 * pps), separators=qrs)
    kept = place_t0(found, 0.0, 500, pulse_x0=x0 - 0.05 * pps)
    assert Flag.SEPARATORS_OFF_PULSES in kept.flags and Flag.X0_FROM_SEPARATORS not in kept.flags
    assert kept.layout.x0 == pytest.approx(x0 + 1 / 500 * pps)  # the end less the last sample's time
    # Without pulses, or with separators that fit them, the separators place t = 0.
    assert place_t0(found, 0.0, 500, pulse_x0=None).layout.x0 == pytest.approx(x0 + 20.0)
    assert Flag.X0_FROM_SEPARATORS in place_t0(found, 0.0, 500, pulse_x0=x0 + 20.0 - 0.05 * pps).flags


def test_without_a_grid_a_kit_page_reads_px_per_s_and_t0_from_its_separators_moved_back():
    """No grid: px/s comes from the separators' spacing, which the kit's snapping offsets (their trend
    0.13 px a column) made 0.03 % short. Moved back onto the boundaries, both come out right."""
    pps, x0 = 7.874 * 25, 150.3
    offsets = (-0.236, -0.362, -0.488)
    seps = tuple(x0 + k * 2.5 * pps + o for k, o in zip((1, 2, 3), offsets)) + (x0 + 700.0,)  # + a QRS
    layout = PageLayout(px_per_mm=7.874, x0=x0 - 0.3)
    moved = separators_on_boundaries(seps, layout, offsets)
    assert moved[:3] == pytest.approx([x0 + k * 2.5 * pps for k in (1, 2, 3)]) and moved[3] == seps[3]
    found = DetectedLayout(layout=PageLayout(px_per_mm=7.9, baselines=(700.0, 980.0, 1260.0, 1540.0)), bands=(),
                           row_strength=(), row_ends=(), separators=seps).with_end(x0 + 10 * pps, False)
    kit = place_t0(found, 0.0, 500, pulse_x0=x0 + 1.0)
    assert Flag.KIT_SEPARATORS in kit.flags and Flag.SCALE_FROM_SEPARATORS in kit.flags
    assert kit.layout.px_per_s == pytest.approx(pps, rel=2e-5) and kit.layout.x0 == pytest.approx(x0, abs=0.05)


def test_sheared_rows_start_on_their_pulses():
    """Own-seed screen photo 6129735260, rectified from slightly wrong corners: its rows start 30 px
    apart, their px/s 1-2 % below the page's, and one t = 0 for the page was 12-42 px off every row."""
    edges = [95.0, 105.0, 115.0, 125.0]
    pps = [192.9, 192.4, 191.9, 191.5]
    t_last = 10.0 - 1 / 500
    ends = tuple(e + 4.5 + t_last * p for e, p in zip(edges, pps))  # t = 0 4.5 px after each edge
    found = _ended(float(np.median(ends)), row_ends=ends)
    assert sheared_row_starts(found, edges, 0.0, pps, 500) == pytest.approx([e + 4.5 for e in edges], abs=0.01)
    # Where t = 0 came from the pulses, on their edges; unsheared rows keep the page's t = 0.
    pulsed = replace(found, flags=found.flags + (Flag.X0_FROM_PULSES,))
    assert sheared_row_starts(pulsed, edges, 0.0, pps, 500) == pytest.approx(edges)
    flat = [110.0, 110.3, 109.9, 110.2]
    assert sheared_row_starts(found, flat, 0.0, pps, 500) is None  # the layout's t = 0 for every row
