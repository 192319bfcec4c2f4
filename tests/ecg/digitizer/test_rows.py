"""Step 3: rows are the evenly spaced coverage peaks, not a printed header line above them."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.ecg.digitizer.flags import Flag
from pipeline.ecg.digitizer.rows import (
    ROW_PITCH_MM,
    DetectedLayout,
    choose_rows,
    detect_layout,
    find_separators,
    looks_like_rows,
    scale_from_separators,
    x0_from_separators,
)
from pipeline.ecg.layout import DEFAULT_LAYOUT, PageLayout


def test_looks_like_rows_wants_gaps_near_the_layout_pitch() -> None:
    ppm = 7.874
    pitch = ROW_PITCH_MM * ppm
    assert looks_like_rows([700, int(700 + pitch), int(700 + 2 * pitch), int(700 + 2.9 * pitch)], ppm)
    assert not looks_like_rows([50, 700, int(700 + 2 * pitch), int(700 + 3 * pitch)], ppm)


def test_choose_rows_prefers_evenly_spaced_rows_to_a_stronger_header() -> None:
    candidates = [49, 687, 958, 1227, 1476]
    coverage = [0.94, 0.88, 0.81, 0.92, 0.97]
    strongest = [49, 687, 1227, 1476]
    assert choose_rows(candidates, coverage, 7.51, strongest) == [687, 958, 1227, 1476]
    # nothing spaced like rows: the strongest peaks stay
    assert choose_rows([10, 40, 900, 1600, 1650], [0.5] * 5, 7.51, [10, 900, 1600, 1650]) == [10, 900, 1600, 1650]


def _ink_page(header: bool) -> tuple[np.ndarray, list[float]]:
    """An ink map with the four rows of the default layout, row 1 drawn in dashes (less coverage than
    a solid line), and optionally a solid rule across the page where a printed header would stand."""
    h, w = DEFAULT_LAYOUT.height, DEFAULT_LAYOUT.width
    ink = np.zeros((h, w), np.float32)
    xs = np.arange(w)
    for r, base in enumerate(DEFAULT_LAYOUT.baselines):
        y = np.round(base + 6 * np.sin(xs / 37.0)).astype(int)
        keep = (xs // 40) % 4 != 0 if r == 1 else np.ones(w, bool)
        for dy in (-1, 0, 1):
            ink[y[keep] + dy, xs[keep]] = 1.0
    if header:
        ink[48:51, :] = 1.0
    return ink, list(DEFAULT_LAYOUT.baselines)


def test_detect_layout_skips_a_header_rule_above_the_rows() -> None:
    ppm = DEFAULT_LAYOUT.px_per_mm
    for header in (False, True):
        ink, truth = _ink_page(header)
        found = detect_layout(ink, ppm)
        assert np.allclose(found.layout.baselines, truth, atol=8), (header, found.layout.baselines)


def test_separators_on_the_zero_are_found_when_the_rows_ink_lies_half_a_millivolt_off_it() -> None:
    """A record with a large offset: each row's ink is densest 0.45 mV (35 px) below the zero that
    the kit's separator bars (0.7 mV tall) stand on, so no bar crosses the row's line."""
    ppm, w = 7.874, 2200
    lines = [700, 980, 1260]
    ink = np.zeros((1500, w), np.float32)
    bars = [609.5, 1101.5, 1593.5]
    for line in lines:
        ink[line - 1:line + 2, :] = 1.0  # the trace, flat below its zero
        zero = line - 35
        for x in bars:
            ink[zero - 27:zero + 28, int(x) - 1:int(x) + 2] = 1.0
    assert find_separators(ink, lines, ppm) == []
    found = find_separators(ink, lines, ppm, near_line=True)
    assert len(found) == 3 and np.allclose(found, [x - 0.5 for x in bars], atol=0.6)


def test_x0_from_a_full_set_of_exactly_spaced_separators_when_the_guess_is_off() -> None:
    """A scan lost the traces' last 18 px on a grid line, so x_end put t = 0 18 px early: no separator
    lies within 1 mm of where that guess puts the boundaries, but three stand exactly 2.5 s apart
    among QRS strokes and grid remnants that passed for bars."""
    mm, pps = 7.51, 187.75
    col = 2.5 * pps
    true_x0 = 140.8
    seps = sorted([true_x0 + k * col + d for k, d in ((1, 0.6), (2, -0.4), (3, 0.2))]
                  + [153.4, 278.1, 625.1, 653.5, 945.1, 1111.0, 1325.1, 1609.9, 1886.5])
    guess = true_x0 - 18.0
    assert x0_from_separators(seps, guess, pps, 1.0 * mm) == (None, 0)
    x0, n = x0_from_separators(seps, guess, pps, 1.0 * mm, reach_px=4.0 * mm, tight_px=0.3 * mm)
    assert n == 3 and abs(x0 - true_x0) < 0.5
    # Bars that are not exactly spaced do not place it.
    loose = [s for s in seps if abs(s - (true_x0 + 2 * col)) > 2.0] + [true_x0 + 2 * col + 5.0]
    assert x0_from_separators(loose, guess, pps, 1.0 * mm, reach_px=4.0 * mm, tight_px=0.3 * mm) == (None, 0)


def test_a_full_set_of_separators_outranks_a_lone_mark_near_the_guess() -> None:
    """A screen photo lost the traces' last 8 px, so x_end put t = 0 8 px early. The real bars stand
    8 px right of where that guess puts the boundaries, just beyond 1 mm; a QRS stroke 2 px from the
    7.5 s boundary's guess is the only mark within 1 mm. Measured on an own-seed screen photo
    (611146833): the lone mark placed t = 0 6.4 px left of the truth, the full set 1.9 px right."""
    mm, pps = 7.9, 197.5
    col = 2.5 * pps
    true_x0 = 117.2
    bars = [true_x0 + k * col + d for k, d in ((1, 0.3), (2, -0.2), (3, 0.4))]
    guess = true_x0 - 8.5
    stroke = guess + 3 * col + 2.0
    seps = sorted(bars + [stroke, 387.8, 655.3, 851.5, 1252.3, 1765.2])
    x0, n = x0_from_separators(seps, guess, pps, 1.0 * mm, reach_px=4.0 * mm, tight_px=0.3 * mm)
    assert n == 3 and abs(x0 - true_x0) < 0.5
    # All three boundaries voting still place it by their vote, as before.
    x0, n = x0_from_separators(bars, true_x0 + 1.0, pps, 1.0 * mm, reach_px=4.0 * mm, tight_px=0.3 * mm)
    assert n == 3 and abs(x0 - true_x0) < 0.5
    # Without an exactly spaced set, the lone mark's vote stands.
    x0, n = x0_from_separators([stroke, 655.3], guess, pps, 1.0 * mm, reach_px=4.0 * mm, tight_px=0.3 * mm)
    assert n == 1 and abs(x0 - (stroke - 3 * col)) < 1e-9


def test_without_a_grid_separators_12_percent_off_the_assumed_scale_still_set_it() -> None:
    """Own screen photo 3767657770: the rectified frame was the viewer's window around the page, so
    the frame's scale was 12.5 % too large, and no grid showed; its separators give the scale."""
    true_pps, assumed_mm = 172.2, 7.874
    x0 = 230.0
    found = DetectedLayout(layout=PageLayout(px_per_mm=assumed_mm, baselines=(700.0, 980.0, 1260.0, 1540.0)),
                           bands=(), row_strength=(), row_ends=(),
                           separators=tuple(x0 + k * 2.5 * true_pps for k in (1, 2, 3)))
    read = found.with_end(x0 + 10 * true_pps, scale_known=False)
    assert Flag.SCALE_FROM_SEPARATORS in read.flags
    assert read.layout.px_per_s == pytest.approx(true_pps, rel=1e-3) and read.layout.x0 == pytest.approx(x0, abs=0.5)


def test_scale_from_separators_takes_the_boundaries_that_lie_on_one_line() -> None:
    """A page with no grid, read at the 200 dpi guess while it was printed 1.3 % smaller: a pen lift
    found 6 px before the guessed 2.5 s boundary is nearer to the guess than the true one 17 px after
    it, but only the true one lies on a line with the 5 s and 7.5 s boundaries (a page of own seed
    5151 read 2 % too wide this way: 3 dB instead of 13 dB)."""
    true_pps, guess_pps = 194.3, 196.85
    x_end = 131.4 + 10.0 * true_pps
    boundaries = [131.4 + k * 2.5 * true_pps for k in (1, 2, 3)]
    speck = x_end - 7.5 * guess_pps - 5.6
    pps = scale_from_separators(sorted([speck, *boundaries]), x_end, guess_pps, rel_tol=0.025)
    assert pps is not None and abs(pps / true_pps - 1.0) < 0.001
    # Two boundaries give the slope on their own; one does not.
    assert abs(scale_from_separators(boundaries[1:], x_end, guess_pps) / true_pps - 1.0) < 0.001
    assert scale_from_separators(boundaries[:1], x_end, guess_pps) is None


def test_separators_off_their_boundaries_by_known_offsets_place_t0_exactly():
    """A scanned kit page: matplotlib snapped its separators 0.24, 0.36 and 0.49 px before the column
    boundaries; read with those offsets, t = 0 comes out where it is, not 0.36 px early."""
    pps, mm, true_x0 = 196.85, 7.874, 150.3
    offsets = (-0.236, -0.362, -0.488)
    seps = [true_x0 + k * 2.5 * pps + offsets[k - 1] for k in (1, 2, 3)]
    plain, _ = x0_from_separators(seps, true_x0 + 2.0, pps, 1.0 * mm)
    assert plain == pytest.approx(true_x0 - 0.362, abs=1e-6)
    x0, n = x0_from_separators(seps, true_x0 + 2.0, pps, 1.0 * mm, offsets=offsets)
    assert n == 3 and x0 == pytest.approx(true_x0, abs=1e-6)
    # The full-set search (the end's guess 20 px off) uses them too.
    x0, n = x0_from_separators(seps[:3], true_x0 + 20.0, pps, 1.0 * mm, reach_px=4.0 * mm, tight_px=0.3 * mm,
                               offsets=offsets)
    assert n == 3 and x0 == pytest.approx(true_x0, abs=1e-6)
