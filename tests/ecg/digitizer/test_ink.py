"""Ink probability and per-row maps (pipeline/ecg/digitizer/ink.py)."""

from __future__ import annotations

import numpy as np

from pipeline.ecg.digitizer.ink import ProbabilityConfig, row_maps, trace_probability
from pipeline.ecg.digitizer.trace import trace_row


def test_specks_removed_strokes_kept() -> None:
    ink = np.zeros((20, 20), np.float32)
    ink[10, 2:18] = 1.0
    ink[3, 3] = 1.0
    prob = trace_probability(ink)
    assert prob[3, 3] < 0.05 and prob[10, 10] > 0.5


def test_a_solid_shadow_becomes_paper_and_strokes_beside_and_through_it_stay() -> None:
    ink = np.zeros((120, 200), np.float32)
    ink[60, :] = 1.0  # a flat trace running into a dark shadow
    ink[30:100, 80:130] = 1.0  # the shadow: solid, far wider than a stroke
    ink[20:100, 20:24] = 1.0  # a tall QRS flank, 4 px wide
    ink[20:100, 28:31] = 1.0  # and its other flank close beside it
    prob = trace_probability(ink)
    assert prob[40:90, 85:125].max() == 0.0  # the shadow and its rim are paper
    assert prob[60, 10] > 0.5 and prob[60, 160] > 0.5  # the trace outside it is kept
    assert prob[50, 21] > 0.5 and prob[50, 29] > 0.5  # a steep, dense QRS is no shadow
    assert trace_probability(ink, ProbabilityConfig(solid_px=0))[60, 100] > 0.5


def test_row_maps_give_shared_ink_to_the_row_the_net_sees() -> None:
    """Two strokes meet at one place: each row's map keeps only its own stroke, at the ink's exact pixels."""
    ink = np.zeros((30, 40), np.float32)
    ink[10, :] = 1.0  # row 0's stroke
    ink[5:25, 20] = 1.0  # row 1's QRS crossing it
    rows = np.zeros((2, 30, 40), np.float32)
    rows[0, 9:12, :] = 0.9
    rows[1, 4:26, 19:22] = 0.9
    rows[0, 9:12, 19:22] = 0.4  # at the crossing both rows are plausible
    a, b = row_maps(ink, rows, ProbabilityConfig(gate_reach_px=1, net_weight=0.0))
    assert a[10, 5] == 1.0 and a[20, 20] == 0.0  # row 0 keeps its stroke, not the far end of the QRS
    assert b[20, 20] == 1.0 and b[10, 5] == 0.0
    assert a[10, 20] > 0.9 and b[10, 20] > 0.9  # the crossing pixel may belong to both
    assert a[15, 5] == 0.0 and b[15, 5] == 0.0  # no ink, no map without net_weight


def test_row_maps_fill_lost_strokes_from_the_net() -> None:
    ink = np.zeros((10, 10), np.float32)
    rows = np.zeros((1, 10, 10), np.float32)
    rows[0, 5, :] = 0.8
    (m,) = row_maps(ink, rows, ProbabilityConfig(net_weight=0.5))
    assert np.isclose(m[5, 3], 0.4) and m[2, 3] == 0.0


def test_row_maps_drop_what_the_net_sees_as_no_trace_only_with_the_background_rule() -> None:
    ink = np.zeros((20, 20), np.float32)
    ink[10, :] = 1.0
    ink[3, 2:6] = 1.0  # a label's stroke
    rows = np.zeros((2, 20, 20), np.float32)
    rows[0, 10, 8:] = 0.9  # the net misses the stroke's left part
    (keep, _) = row_maps(ink, rows, ProbabilityConfig(background_floor=0.0))
    assert keep[10, 2] == 1.0 and keep[3, 3] == 1.0  # no background rule: the ink map stands
    (drop, _) = row_maps(ink, rows, ProbabilityConfig(background_floor=0.05, gate_reach_px=1))
    assert drop[3, 3] == 0.0 and drop[10, 12] == 1.0


def test_row_maps_keep_ink_at_lead_starts_even_where_the_net_sees_none() -> None:
    ink = np.zeros((10, 30), np.float32)
    ink[5, :] = 1.0
    rows = np.zeros((1, 10, 30), np.float32)  # the net sees nothing at all
    keep = np.zeros(30, bool)
    keep[10:14] = True
    (m,) = row_maps(ink, rows, ProbabilityConfig(background_floor=0.05), keep_columns=keep)
    assert (m[5, 10:14] == 1.0).all() and (m[5, :10] == 0.0).all() and (m[5, 14:] == 0.0).all()


def test_a_trace_gone_with_its_grid_line_is_followed_along_the_line() -> None:
    """Where a b/w scan's trace ran inside a grid line as black as itself, it went with the line. The
    line's pixels keep grid_line_floor: never a run (below run_threshold), but the path follows them
    instead of leaping to another row's trace within reach."""
    h, w = 240, 400
    ink = np.zeros((h, w), np.float32)
    ink[99:102, 10:390] = 1.0  # the row's trace on its baseline ...
    ink[99:102, 150:210] = 0.0  # ... gone with the grid line it ran inside
    ink[150:153, 101:320] = 1.0  # another row's trace
    lines = np.zeros((h, w), bool)
    lines[99:102, :] = True
    prob = trace_probability(ink, ProbabilityConfig(), lines)
    assert prob[100, 180] == np.float32(ProbabilityConfig().grid_line_floor) and prob[100, 50] > 0.9
    assert prob[20, 180] == 0.0
    followed = trace_row(prob, (40, 230), (10, 390), 100.0)
    assert np.abs(followed.path - 100).max() <= 2
    assert np.isnan(followed.raw[160 - followed.x0:200 - followed.x0]).all()  # a gap, read across
    bare = trace_probability(ink, ProbabilityConfig(grid_line_floor=0.0), lines)
    leapt = trace_row(bare, (40, 230), (10, 390), 100.0)
    assert np.abs(leapt.path - 100).max() > 40
