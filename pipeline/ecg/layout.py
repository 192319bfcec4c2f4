"""The 12-lead paper layout of the competition: leads, rows, paper speed and gain, page geometry.

Three rows of four 2.5 s columns, (I, aVR, V1, V4), (II, aVL, V2, V5), (III, aVF, V3, V6), then a
10 s lead II rhythm strip. 25 mm/s and 10 mm/mV; at 200 dpi, 1 mm = 7.874 px.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
ROWS: tuple[tuple[str, ...], ...] = (
    ("I", "aVR", "V1", "V4"),
    ("II", "aVL", "V2", "V5"),
    ("III", "aVF", "V3", "V6"),
    ("II",),
)
RHYTHM_LEAD = "II"
DURATION_S = 10.0
N_COLUMNS = 4
COLUMN_S = DURATION_S / N_COLUMNS
SAMPLING_RATES: tuple[int, ...] = (250, 256, 500, 512, 1000, 1025)
MM_PER_S = 25.0
MM_PER_MV = 10.0
DPI = 200
PAGE_W, PAGE_H = 2200, 1700
PAGE_MM_W = PAGE_W * 25.4 / DPI
"""The printed page's width in mm (Letter, 279.4 mm)."""


def n_samples(fs: int, lead: str) -> int:
    """Rows a lead has in a submission: fs*10 for the rhythm lead II, its window's length for the others
    (fs*10/4, or at 1025 Hz 2562 or 2563: see lead_window)."""
    start, stop = lead_window(fs, lead)
    return stop - start


def lead_column(lead: str) -> int:
    """Column (0..3) of a lead's 2.5 s window in the 3x4 part of the page."""
    for row in ROWS[:3]:
        if lead in row:
            return row.index(lead)
    raise KeyError(lead)


def lead_window(fs: int, lead: str) -> tuple[int, int]:
    """Sample range [start, stop) of a lead inside the 10 s record (lead II: the whole record). Column c
    holds samples floor(c N / 4) to floor((c + 1) N / 4), as the competition's record CSVs do: at 1025 Hz
    (N = 10250) the windows start at 0, 2562, 5125 and 7687, not at multiples of 2562."""
    if lead == RHYTHM_LEAD:
        return 0, int(round(fs * DURATION_S))
    return column_window(fs, lead_column(lead))


def column_window(fs: int, column: int) -> tuple[int, int]:
    """Sample range [start, stop) of column 0-3 of the 3x4 rows (see lead_window)."""
    total = int(round(fs * DURATION_S))
    return column * total // N_COLUMNS, (column + 1) * total // N_COLUMNS


@dataclass(frozen=True)
class PageLayout:
    """Where the traces sit on a page, in pixels of that page.

    x0: x of t = 0 of every row; baselines: y of 0 mV of each of the four rows.
    A sample i at rate fs is drawn at x = x0 + (i / fs) * px_per_s.
    """

    px_per_mm: float = DPI / 25.4
    x0: float = 15.0 * DPI / 25.4
    baselines: tuple[float, ...] = field(default=(707.0, 991.0, 1273.0, 1533.0))
    width: int = PAGE_W
    height: int = PAGE_H

    @property
    def px_per_s(self) -> float:
        return self.px_per_mm * MM_PER_S

    @property
    def px_per_mv(self) -> float:
        return self.px_per_mm * MM_PER_MV

    @property
    def row_spacing(self) -> float:
        """Median distance between neighbouring baselines (px); 0 with fewer than two rows."""
        return float(np.median(np.diff(self.baselines))) if len(self.baselines) > 1 else 0.0

    @property
    def x1(self) -> float:
        """x of t = 10 s, the right end of every row."""
        return self.x0 + DURATION_S * self.px_per_s

    def x_of_time(self, t: np.ndarray | float) -> np.ndarray | float:
        return self.x0 + np.asarray(t) * self.px_per_s

    def y_of_mv(self, row: int, mv: np.ndarray | float) -> np.ndarray | float:
        return self.baselines[row] - np.asarray(mv) * self.px_per_mv


DEFAULT_LAYOUT = PageLayout()


KIT_LAYOUT = PageLayout(x0=0.6 * DPI / 25.4 * MM_PER_S - 0.5,
                        baselines=(708.33 - 0.5, 991.67 - 0.5, 1275.00 - 0.5, 1534.71 - 0.5))
"""Where ecg-image-kit (the competition's generator) draws on its unmoved 2200 x 1700 page, in our
coordinates (pixel centres at integers; the kit's own, pixel i covering [i, i + 1), are 0.5 more):
t = 0 at 0.6 s of paper from the left edge, 0 mV of the four rows at 708.33, 991.67, 1275.00 and
1534.71 kit px. Measured on the kit's per-sample positions (shared/ecgkit-dev/*.json.gz) by
pipeline.ecg.evaluation.fidelity. DEFAULT_LAYOUT, the digitizer's fallback, is left as it was."""
