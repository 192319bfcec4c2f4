"""Row time axes: fitted exactly on known lines, and straight on a clean page we drew."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.ecg.evaluation.time_axis import fit_row_axes, sample_times, time_axis_table
from pipeline.ecg.layout import ROWS
from pipeline.ecg.synth.render import make_competition, segments


def test_sample_times_start_each_kit_column_on_its_boundary() -> None:
    # 1025 Hz: column 1 holds samples 2562.. but the kit draws its first one at 2.5 s, not 2562 / 1025 s.
    assert sample_times("aVR@0", 1025, kit=True)[0] == pytest.approx(2.5)
    assert sample_times("aVR@0", 1025, kit=False)[0] == pytest.approx(2562 / 1025)
    assert np.allclose(sample_times("II@3", 500, kit=True)[:4], np.arange(4) / 500)


def test_fit_row_axes_recovers_each_rows_own_line() -> None:
    """A sheared, keystoned page: row r starts 10 r px later and runs 0.5 % slower per row."""
    fs = 500
    points, times = {}, {}
    for row, lead, start, stop in segments(fs, kit=True):
        t = sample_times(f"{lead}@{row}", fs, kit=True)
        x = 120.0 + 10.0 * row + t * 197.0 * (1 - 0.005 * row)
        points[f"{lead}@{row}"] = np.stack([x, np.full_like(x, 700.0 + 280 * row)], axis=1)
        times[f"{lead}@{row}"] = t
    axes = fit_row_axes(points, times)
    assert len(axes) == len(ROWS)
    for row, axis in enumerate(axes):
        assert axis.x0 == pytest.approx(120.0 + 10.0 * row, abs=1e-6)
        assert axis.px_per_s == pytest.approx(197.0 * (1 - 0.005 * row), rel=1e-9)
        assert axis.residual_px < 1e-6


def test_a_clean_page_has_one_straight_time_axis(tmp_path: Path) -> None:
    make_competition(tmp_path, n_train=0, n_test=1, seed=3, types=("0001",))
    table = time_axis_table(tmp_path)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["x0_spread_px"] < 0.5 and row["px_per_s_spread_pct"] < 0.05
    assert max(abs(e) for e in row["x0_error_px"]) < 1.5
    assert max(abs(e) for e in row["px_per_s_error_pct"]) < 0.2


def test_a_folder_without_truth_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no hidden"):
        time_axis_table(tmp_path)
