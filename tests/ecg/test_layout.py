"""The paper layout's lead windows follow the competition's record CSVs at every sampling rate."""

from __future__ import annotations

import pytest

from pipeline.ecg.layout import LEADS, RHYTHM_LEAD, ROWS, column_window, lead_window, n_samples


@pytest.mark.parametrize("fs", [250, 256, 500, 512, 1000, 1025])
def test_windows_tile_the_record(fs: int) -> None:
    spans = [column_window(fs, c) for c in range(4)]
    assert spans[0][0] == 0 and spans[-1][1] == 10 * fs
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    for row in ROWS[:3]:
        assert all(lead_window(fs, lead) == spans[c] for c, lead in enumerate(row) if lead != RHYTHM_LEAD)
    assert lead_window(fs, RHYTHM_LEAD) == (0, 10 * fs)
    assert all(n_samples(fs, lead) == lead_window(fs, lead)[1] - lead_window(fs, lead)[0] for lead in LEADS)


def test_1025_hz_windows_are_those_of_the_competition_csvs() -> None:
    """The real 1025 Hz truth CSV holds I on rows 0-2561, aVR on 2562-5124, V1 on 5125-7686, V4 on 7687-10249."""
    assert [lead_window(1025, lead) for lead in ("I", "aVR", "V1", "V4")] == [
        (0, 2562), (2562, 5125), (5125, 7687), (7687, 10250)]
    assert [n_samples(1025, lead) for lead in ("I", "aVR", "V1", "V4")] == [2562, 2563, 2562, 2563]
