"""Step 2b: grids whose lines stand unevenly along x (a scanner's feed slip) are evened out."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.ecg.digitizer.grid import calibrate
from pipeline.ecg.digitizer.lattice import (
    axis_scales,
    column_source,
    field_noise,
    fit_smooth_field,
    follow_field,
    lattice_residual,
    page_shift_field,
    screen_shift_field,
    shift_field,
    smooth_field,
    straighten_columns,
)
from pipeline.ecg.digitizer.orientation import turned_grid
from pipeline.ecg.digitizer.rectify import Rectification

PERIOD = 7.5  # px per mm


def slip(x: np.ndarray, at: float = 1300.0, over: float = 250.0, by: float = 9.0) -> np.ndarray:
    """Where paper at x lands after a feed slip: beyond `at` it is squeezed by `by` px over `over` px."""
    return x - by * np.clip((x - at) / over, 0.0, 1.0)


def line_profile(n: int, warp=lambda x: x, major: float = 1.0, minor: float = 0.0) -> np.ndarray:
    """A column profile of a grid: Gaussian lines every mm, darker every 5 mm, placed by `warp`. By
    default the 1 mm lines are lost, as to the threshold of the real black-and-white scan."""
    x = np.arange(n, dtype=np.float64)
    prof = np.zeros(n)
    for k in range(int(n / PERIOD) + 1):
        pos = warp(np.array([3.0 + k * PERIOD]))[0]
        prof += (major if k % 5 == 0 else minor) * np.exp(-0.5 * ((x - pos) / 0.8) ** 2)
    return prof


def grey_page(warp=lambda x: x, size: tuple[int, int] = (700, 1700)) -> np.ndarray:
    """A black-and-white scan: black 5 mm lines, faint 1 mm lines, one flat trace, columns placed by warp."""
    h, w = size
    img = np.full((h, w, 3), 255, np.uint8)
    for k in range(int(w / PERIOD) + 1):
        x = float(warp(np.array([3.0 + k * PERIOD]))[0])
        if x < w:
            grey, t = ((40, 40, 40), 2) if k % 5 == 0 else ((235, 235, 235), 1)
            cv2.line(img, (int(round(x * 16)), 0), (int(round(x * 16)), (h - 1) * 16), grey, t, cv2.LINE_AA, 4)
    for k, y in enumerate(np.arange(4.0, h, PERIOD)):
        grey, t = ((40, 40, 40), 2) if k % 5 == 0 else ((235, 235, 235), 1)
        cv2.line(img, (0, int(round(y * 16))), ((w - 1) * 16, int(round(y * 16))), grey, t, cv2.LINE_AA, 4)
    cv2.line(img, (100, 352), (w - 100, 352), (0, 0, 0), 3, cv2.LINE_AA)
    return img


def test_residual_follows_a_feed_slip_to_a_pixel():
    n = 1700
    residual, ok = lattice_residual(line_profile(n, slip), 5 * PERIOD, 10 * PERIOD)
    expected = slip(np.arange(n, dtype=np.float64)) - np.arange(n)
    expected -= expected[ok].mean()
    inside = ok & (np.abs(np.arange(n) - 1300) > 100) & (np.abs(np.arange(n) - 1550) > 100)
    assert np.abs(residual - expected)[inside].max() < 1.0


def test_evenly_spaced_lines_are_left_alone():
    assert column_source(line_profile(1700), PERIOD) is None


def test_a_grid_without_darker_5mm_lines_is_left_alone():
    """Without dominant 5 mm lines their phase is noise: no straightening, whatever it would say."""
    assert column_source(line_profile(1700, slip, major=0.3, minor=0.3), PERIOD) is None


def test_straightening_puts_a_slipped_page_back_on_its_lattice():
    source = column_source(line_profile(1700, slip), PERIOD)
    assert source is not None
    # Column u shows where the unslipped lattice would be: the slipped image's x of u's paper position.
    u = np.array([400.0, 1200.0, 1450.0, 1580.0])
    offset = (source - np.arange(1700))[400] - (slip(u[:1]) - u[:1])[0]
    assert np.abs(source[u.astype(int)] - (slip(u) + offset)).max() < 1.0


@pytest.mark.parametrize("turned", [False, True])
def test_calibrate_straightens_a_slipped_scan_and_maps_points_back(turned):
    page = grey_page(slip)
    grid = calibrate(page)
    assert "columns_straightened" in grid.calibration.flags
    if turned:
        grid = turned_grid(grid)
    # A 5 mm line of the slipped scan at x = slip(x_true) is found back where to_original says.
    xs_true = np.array([3.0 + 5 * PERIOD * k for k in (10, 40, 44)])
    xs_scan = slip(xs_true)
    dark = cv2.cvtColor(grid.image, cv2.COLOR_BGR2GRAY)[100] < 128
    cols = np.flatnonzero(dark).astype(np.float64)
    mapped = grid.to_original(np.column_stack([cols, np.full_like(cols, 100.0)]))[:, 0]  # turned or not
    for x in xs_scan:
        assert np.abs(mapped - x).min() < 1.0
    assert calibrate(grey_page()).column_source is None


def test_straighten_columns_reads_each_column_from_its_source():
    img = np.tile(np.arange(50, dtype=np.uint8)[None, :], (3, 1))
    source = np.arange(50, dtype=np.float64) + 2.5
    out = straighten_columns(img, source)
    assert out[1, 10] == pytest.approx(12.5, abs=0.6)
    assert out.shape == img.shape


def test_a_page_narrower_along_x_than_along_y_is_widened_to_one_scale():
    """A screen photo whose screen, not page, was mapped onto the frame: x squeezed by 3 %."""
    page = grey_page(lambda x: 0.97 * x)
    grid = calibrate(page)
    assert "columns_straightened" in grid.calibration.flags
    ppm = grid.calibration.px_per_mm
    assert ppm == pytest.approx(PERIOD, rel=0.005)  # the rows' period, untouched
    assert grid.image.shape[1] == pytest.approx(page.shape[1] / 0.97, abs=2)
    dark = cv2.cvtColor(grid.image, cv2.COLOR_BGR2GRAY)[100] < 128
    starts = np.flatnonzero(np.diff(dark.astype(np.int8)) == 1)
    assert np.median(np.diff(starts)) == pytest.approx(5 * ppm, abs=1.0)
    back = grid.to_original(np.array([[starts[10] + 1.0, 100.0]]))[0, 0]
    assert back == pytest.approx(0.97 * (starts[10] + 1.0), abs=1.5)


def test_column_source_rescales_x_only_beyond_the_anisotropy_tolerance():
    profile = line_profile(1700)
    assert column_source(profile, PERIOD, PERIOD * 1.002) is None
    source = column_source(profile, PERIOD, PERIOD * 0.97, follow_lines=False)
    assert len(source) == round(1700 / 0.97)
    assert np.allclose(np.diff(source), 0.97)


def test_axis_scales_rescale_a_squeeze_but_not_an_axis_read_as_moire():
    # Axes that agree: the overall period, and x needs no rescale.
    assert axis_scales(7.87, (7.87, 7.871)) == (7.87, 7.87)
    # A screen photo 3 % narrower along x: rows scale amplitudes, x is rescaled to them.
    assert axis_scales(7.75, (7.63, 7.87)) == (7.87, 7.63)
    # x read at the screen's raster (4.27 px/mm against 7.87): not a squeeze, x is left alone.
    assert axis_scales(7.87, (4.27, 7.87)) == (7.87, None)
    # One period only (no separate axes measured).
    assert axis_scales(7.5, (7.5,)) == (7.5, None)


def cockle(x: np.ndarray, y: np.ndarray, amp: float = 2.0) -> np.ndarray:
    """How far right (px) paper that cockled when wet moved the point printed at (x, y): waves about
    300 px long that run differently in each row, as in the stained prints (type 0009) we render."""
    return amp * np.sin(2 * np.pi * (x / 310.0 + y / 260.0)) + 0.5 * amp * np.cos(2 * np.pi * (x / 170.0 - y / 400.0))


def cockled_page(amp: float, size: tuple[int, int] = (560, 1400), move=None, minor_moved: bool = True) -> np.ndarray:
    """A colour print: red lines every mm (darker every 5 mm), the vertical ones moved by `cockle` (or
    by `move(x, y)`, px; with minor_moved False only the 5 mm ones), and one black trace across the
    middle."""
    h, w = size
    move = move or (lambda x, y: cockle(x, y, amp))
    img = np.full((h, w, 3), 255, np.uint8)
    ys = np.arange(0.0, h + 4.0, 4.0)
    for k in range(int(w / PERIOD) + 1):
        x0 = 3.0 + k * PERIOD
        colour, t = ((120, 110, 235), 2) if k % 5 == 0 else ((185, 180, 245), 1)
        moved = move(np.full_like(ys, x0), ys) if k % 5 == 0 or minor_moved else np.zeros_like(ys)
        pts = np.column_stack([x0 + moved, ys])
        cv2.polylines(img, [np.rint(pts * 16).astype(np.int32)], False, colour, t, cv2.LINE_AA, 4)
    for k, y in enumerate(np.arange(4.0, h, PERIOD)):
        colour, t = ((120, 110, 235), 2) if k % 5 == 0 else ((185, 180, 245), 1)
        cv2.line(img, (0, int(round(y * 16))), ((w - 1) * 16, int(round(y * 16))), colour, t, cv2.LINE_AA, 4)
    xs = np.arange(100.0, w - 100.0)
    trace = np.column_stack([xs, h / 2 + 30 * np.sin(xs / 40.0)])
    cv2.polylines(img, [np.rint(trace * 16).astype(np.int32)], False, (0, 0, 0), 3, cv2.LINE_AA, 4)
    return img


def red_lines(page: np.ndarray) -> np.ndarray:
    """Where a page's red grid lines are (float map, as `colour_features`' chroma sees them)."""
    return (page.max(axis=2).astype(np.float32) - page.min(axis=2)) / 255.0


def test_shift_field_follows_paper_cockled_differently_in_each_row():
    page = cockled_page(2.0)
    field = shift_field(red_lines(page), PERIOD, 3 * PERIOD)
    ys, xs = np.mgrid[60:500:20, 80:1320:20]
    expected = cockle(xs.astype(float), ys.astype(float), 2.0)
    measured = field[ys, xs]
    error = (measured - measured.mean()) - (expected - expected.mean())
    size = np.percentile(np.abs(expected - expected.mean()), 90)
    assert size > 2.0
    # The 3 mm windows flatten the shorter wave a little (its crests read about 30 % low).
    assert np.corrcoef(measured.ravel(), expected.ravel())[0, 1] > 0.99
    assert np.percentile(np.abs(error), 90) < 0.3 * size


def test_page_shift_field_leaves_an_even_grid_alone_and_follows_a_cockled_one():
    """The trace's ink is left out of the measurement and an even grid's noise is not followed."""
    flat = cockled_page(0.0)
    dark = 1.0 - flat.max(axis=2).astype(np.float32) / 255.0
    assert page_shift_field(red_lines(flat), dark, PERIOD) is None
    wavy = cockled_page(2.0)
    dark = 1.0 - wavy.max(axis=2).astype(np.float32) / 255.0
    assert page_shift_field(red_lines(wavy), dark, PERIOD) is not None


def test_field_noise_tells_a_field_of_pixel_noise_from_a_warp():
    """Colour noise in every pixel makes a field of its own; measured on alternate bands of rows it
    differs from band to band as much as it is large, while a warp's field is the same in both."""
    rng = np.random.default_rng(0)
    for amp, noise, clear in ((0.0, 120.0, False), (2.0, 60.0, True)):
        page = np.clip(cockled_page(amp) + rng.normal(0, noise, (560, 1400, 3)), 0, 255).astype(np.uint8)
        lines = red_lines(page)
        size = np.percentile(np.abs(shift_field(lines, PERIOD, 3 * PERIOD)[::4, ::4]), 90)
        assert bool(size > 5 * field_noise(lines, PERIOD, 3 * PERIOD)) == clear


def test_follow_field_reads_each_pixel_from_its_shifted_place():
    img = np.tile(np.arange(60, dtype=np.uint8)[None, :], (4, 1))
    field = np.zeros((4, 60), np.float32)
    field[2] = 3.0
    out = follow_field(img, field)
    assert out[2, 10] == 13 and out[1, 10] == 10


@pytest.mark.parametrize("turned", [False, True])
def test_calibrate_follows_a_cockled_page_and_maps_points_back(turned):
    page = cockled_page(2.0)
    grid = calibrate(page)
    assert "warp_followed" in grid.calibration.flags
    assert grid.calibration.px_per_mm == pytest.approx(PERIOD, rel=0.005)
    # The vertical lines now stand where the lattice puts them, in every row alike.
    before = shift_field(red_lines(page), PERIOD, 3 * PERIOD)[60:500:20, 80:1320:20]
    left = shift_field(red_lines(grid.image), PERIOD, 3 * PERIOD)[60:500:20, 80:1320:20]
    assert np.percentile(np.abs(left - left.mean()), 90) < 0.25 * np.percentile(np.abs(before - before.mean()), 90)
    if turned:
        grid = turned_grid(grid)
    # A point of the straightened page maps back to where the cockle had moved it.
    h, w = page.shape[:2]
    at = np.array([[500.0, 150.0], [900.0, 400.0]])
    out = grid.to_original(at if not turned else np.column_stack([w - 1 - at[:, 0], h - 1 - at[:, 1]]))
    moved = out[:, 0] - at[:, 0]
    expected = cockle(at[:, 0], at[:, 1], 2.0)
    assert np.abs((moved - moved.mean()) - (expected - expected.mean())).max() < 0.3 * np.abs(expected).max()


def keystone(x: np.ndarray, y: np.ndarray, size: tuple[int, int] = (560, 1400)) -> np.ndarray:
    """How far right (px) a screen photo rectified from corners a few px off leaves the point at (x, y):
    the time scale changes along each row and from one row to the next (a perspective's quadratic
    terms in x^2 and x y)."""
    h, w = size
    u, v = 2.0 * x / w - 1.0, 2.0 * y / h - 1.0
    return 6.0 * u * u + 3.0 * u * v


def test_fit_smooth_field_reads_through_a_region_whose_phase_wrapped():
    """A region measured a whole period off (its lattice phase wrapped) does not pull the fit."""
    h, w = 400, 1000
    truth = np.array([0.5, 2.0, -1.0, 6.0, 3.0, 0.0])
    inside = (slice(None), slice(100, 900))
    for period in (PERIOD, 5 * PERIOD):
        field = smooth_field(truth, (h, w))
        field[250:, 600:] += period
        assert np.abs(smooth_field(fit_smooth_field(field, period, rounds=1), (h, w))
                      - smooth_field(truth, (h, w)))[inside].max() > 1.0
        coef = fit_smooth_field(field, period)
        assert np.abs(smooth_field(coef, (h, w)) - smooth_field(truth, (h, w)))[inside].max() < 0.05


def test_screen_shift_field_follows_a_keystone_and_leaves_an_even_grid_alone():
    flat = cockled_page(0.0)
    dark = 1.0 - flat.max(axis=2).astype(np.float32) / 255.0
    assert screen_shift_field(red_lines(flat), dark, PERIOD) is None
    page = cockled_page(0.0, move=keystone)
    dark = 1.0 - page.max(axis=2).astype(np.float32) / 255.0
    field = screen_shift_field(red_lines(page), dark, PERIOD)
    assert field is not None
    ys, xs = np.mgrid[40:520:20, 140:1260:20]
    expected = keystone(xs.astype(float), ys.astype(float))
    measured = field[ys, xs]
    error = (measured - measured.mean()) - (expected - expected.mean())
    assert np.percentile(np.abs(expected - expected.mean()), 90) > 2.0
    assert np.percentile(np.abs(error), 90) < 0.3


def test_screen_shift_field_refuses_a_field_the_1mm_and_5mm_lines_disagree_on():
    """The 5 mm lines moved and the 1 mm lines left in place: not a perspective (both would move)."""
    img = cockled_page(0.0, move=keystone, minor_moved=False)
    dark = 1.0 - img.max(axis=2).astype(np.float32) / 255.0
    lines = red_lines(img)
    major = shift_field(lines, 5 * PERIOD, 10 * PERIOD)[::4, 140:1260:4]
    assert np.percentile(np.abs(major - np.median(major)), 90) > 2.0
    assert screen_shift_field(lines, dark, PERIOD) is None


def test_calibrate_follows_a_screen_photos_keystone_with_a_smooth_field():
    page = cockled_page(0.0, move=keystone)
    grid = calibrate(page, Rectification(applied=True, screen=True))
    assert "warp_followed" in grid.calibration.flags
    left = shift_field(red_lines(grid.image), PERIOD, 3 * PERIOD)[40:520:20, 140:1260:20]
    before = shift_field(red_lines(page), PERIOD, 3 * PERIOD)[40:520:20, 140:1260:20]
    assert np.percentile(np.abs(left - left.mean()), 90) < 0.25 * np.percentile(np.abs(before - before.mean()), 90)
