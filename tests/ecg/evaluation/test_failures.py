"""The failure report: doubts read from digitizer diagnostics, the table and the Markdown summary."""

from __future__ import annotations

import numpy as np

from pipeline.ecg.evaluation.failures import KINDS, doubt_regions, doubts, failure_table, summary_markdown
from pipeline.ecg.evaluation.overlay import draw_regions

CLEAN = {"flags": ["x0_from_separators"], "grid_found": True, "rotation_deg": 0.3, "grid_strength": 150.0,
         "grid_axis_periods": [7.874, 7.875], "confidence": {"I": 0.99}, "crossings": [], "gaps": []}
BAD = {"flags": ["row_fallback", "rotation_at_limit", "row_ends_disagree", "low_confidence: I,aVR"],
       "grid_found": True, "rotation_deg": -4.95, "grid_strength": 40.0, "grid_axis_periods": [4.15, 4.10],
       "confidence": {"I": 0.3, "aVR": 0.45},
       "crossings": [{"rows": [0, 1], "t0": 1.2, "t1": 1.3, "box": [100.0, 200.0, 140.0, 260.0]}],
       "gaps": [{"rows": [3], "t0": 5.0, "t1": 5.1, "box": [500.0, 900.0, 520.0, 910.0]},
                {"rows": [3], "t0": 7.0, "t1": 7.05, "box": [700.0, 900.0, 710.0, 910.0]}],
       "excursions": [{"rows": [2], "t0": 3.0, "t1": 3.5, "box": [300.0, 600.0, 400.0, 800.0]}]}


def test_clean_image_has_no_doubts():
    assert doubts(CLEAN) == []


def test_every_doubt_kind_is_found():
    kinds = {d.kind for d in doubts(BAD)}
    assert kinds == {"grid_unstable", "rotation_large", "row_fallback", "time_fallback", "low_confidence",
                     "crossing_guessed", "gap_filled", "left_row"}
    text = "; ".join(str(d) for d in doubts(BAD))
    assert "row 2 at 3.00-3.50 s" in text and "rows 0/1 at 1.20-1.30 s" in text and "2 gap(s), 150 ms" in text and "lowest 0.30" in text
    no_grid = doubts({"flags": ["grid_not_found", "scale_from_separators"], "grid_found": False})
    assert [d.kind for d in no_grid] == ["no_grid"] and "scale from separators" in no_grid[0].detail
    failed = doubts({"flags": ["failed: blank page"], "crossings": BAD["crossings"]})
    assert [(d.kind, d.detail) for d in failed] == [("failed", "blank page")]
    assert doubts({}) == []  # an old cache without diagnostics


def test_table_summary_and_regions():
    table = failure_table({"a": CLEAN, "b": BAD})
    assert list(table.columns[1:len(KINDS) + 1]) == list(KINDS)
    assert table.set_index("id").loc["b", "doubts"] == 8 and table.set_index("id").loc["a", "doubts"] == 0
    table["snr_db"] = [20.0, -3.0]
    md = summary_markdown(table, {"b": "worst_1_b.png"})
    assert "[overlay](worst_1_b.png)" in md and "| crossing guessed | 1 |" in md and "| a | 20.0 | none |" in md
    regions = doubt_regions(BAD)
    assert [k for k, _ in regions] == ["crossing", "gap", "gap", "left row"]
    image = np.full((1000, 1000, 3), 255, np.uint8)
    drawn = draw_regions(image, regions)
    assert (drawn[200, 120] != 255).any() and (drawn[600, 600] == 255).all()
