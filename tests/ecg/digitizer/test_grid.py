"""Grid step: reading images with clear errors, rotation, grid period, ink map."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.ecg.digitizer.grid import (
    Calibration,
    GridResult,
    as_bgr,
    calibrate,
    colour_features,
    estimate_grid_period,
    estimate_rotation,
    ink_and_grid_lines,
    ink_map,
    load_image,
    page_features,
    remove_grid_lines,
    rotation_matrix,
    row_x_periods,
)
from pipeline.ecg.digitizer.rectify import Rectification


def grid_page(period: float = 7.874, size: tuple[int, int] = (900, 1200), angle: float = 0.0) -> np.ndarray:
    """A white page with a pink 1 mm / red 5 mm grid and one dark wavy trace, rotated by angle."""
    h, w = size
    img = np.full((h, w, 3), 255, np.uint8)
    for k, x in enumerate(np.arange(3.0, w, period)):
        colour, t = ((120, 110, 235), 2) if k % 5 == 0 else ((185, 185, 245), 1)
        cv2.line(img, (int(round(x * 16)), 0), (int(round(x * 16)), (h - 1) * 16), colour, t, cv2.LINE_AA, 4)
    for k, y in enumerate(np.arange(5.0, h, period)):
        colour, t = ((120, 110, 235), 2) if k % 5 == 0 else ((185, 185, 245), 1)
        cv2.line(img, (0, int(round(y * 16))), ((w - 1) * 16, int(round(y * 16))), colour, t, cv2.LINE_AA, 4)
    xs = np.arange(100, w - 100, 0.5)
    ys = h / 2 + 40 * np.sin(xs / 50.0)
    cv2.polylines(img, [np.round(np.stack([xs, ys], 1) * 16).astype(np.int32)], False, (20, 20, 20), 2,
                  cv2.LINE_AA, 4)
    if angle:
        m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))
    return img


@pytest.mark.parametrize("angle", [-1.7, 0.0, 0.8, 2.0])
def test_rotation_of_a_grid_is_recovered(angle):
    feat = colour_features(grid_page(angle=angle))
    assert estimate_rotation(feat.nonpaper) == pytest.approx(angle, abs=0.2)


def test_dark_bands_along_the_image_edges_do_not_pull_the_rotation_to_zero():
    """A crop after a rotation leaves dark bands along the image's own axes (the kit's aug pages)."""
    faint = 255 - (255 - grid_page(angle=2.0).astype(np.float32)) * 0.4  # a pale pink grid
    img = faint.astype(np.uint8)
    img[:12], img[-12:], img[:, :12], img[:, -12:] = 30, 30, 30, 30
    feat = colour_features(img)
    assert estimate_rotation(feat.nonpaper) == pytest.approx(2.0, abs=0.2)


@pytest.mark.parametrize("period", [7.874, 7.3, 8.2])
def test_grid_period_is_recovered(period):
    page = grid_page(period=period)
    found = estimate_grid_period(colour_features(page).chroma, prior_px_per_mm=7.874)
    assert found.found
    assert found.px_per_mm == pytest.approx(period, rel=0.003)


def test_no_grid_is_flagged():
    img = np.full((600, 800, 3), 255, np.uint8)
    cv2.line(img, (50, 300), (750, 320), (0, 0, 0), 2, cv2.LINE_AA)
    result = calibrate(img)
    assert not result.calibration.grid_found
    assert "grid_not_found" in result.calibration.flags
    assert result.calibration.px_per_mm == pytest.approx(200 / 25.4 * 800 / 2200, rel=1e-6)


def test_ink_map_keeps_the_trace_and_drops_the_coloured_grid():
    page = grid_page()
    ink, colour = ink_map(page)
    assert colour
    assert ink.dtype == np.float32 and ink.min() >= 0.0 and ink.max() <= 1.0
    x = 600
    y = int(round(450 + 40 * np.sin(x / 50.0)))
    assert ink[y - 2:y + 3, x].max() > 0.8          # the trace
    assert np.percentile(ink[:300, :], 99.9) < 0.2  # grid only above the trace


def draw_grid_and_trace(page: np.ndarray, grid_bgr: tuple[int, int, int], trace_bgr: tuple[int, int, int],
                        thickness: int) -> np.ndarray:
    """Draw on `page` a 1 px grid every 7.874 px and a sine trace across its middle; the trace's (x, y)."""
    h, w = page.shape[:2]
    for x in np.arange(3.0, w, 7.874):
        cv2.line(page, (int(round(x)), 0), (int(round(x)), h - 1), grid_bgr, 1)
    for y in np.arange(5.0, h, 7.874):
        cv2.line(page, (0, int(round(y))), (w - 1, int(round(y))), grid_bgr, 1)
    xs = np.arange(60, w - 60, 0.5)
    trace = np.stack([xs, h / 2 + 40 * np.sin(xs / 50.0)], 1)
    cv2.polylines(page, [np.round(trace).astype(np.int32)], False, trace_bgr, thickness)
    return trace


def add_screen_dots(image: np.ndarray, rng: np.random.Generator) -> None:
    """Darken 15 % of a float image's pixels into faint grey dots with colour fringes (a screen's raster
    left in a photo of it), in place."""
    dots = rng.random(image.shape[:2]) < 0.15
    image[dots] -= rng.uniform(25, 60, (int(dots.sum()), 1)) + rng.uniform(-12, 12, (int(dots.sum()), 3))


def test_a_trace_tinted_by_the_page_is_not_taken_for_the_grid():
    """A dark brown grid needs a strong chroma subtraction; the trace, tinted by the paper's colour
    (JPEG keeps chroma at half resolution), has chroma too and must keep its darkness above the grid's."""
    h = 600
    page = np.full((h, 800, 3), 255, np.uint8)
    draw_grid_and_trace(page, (105, 118, 140), (0, 40, 70), 3)  # dark brown (BGR)
    ink, colour = ink_map(page)
    assert colour
    y = int(round(h / 2 + 40 * np.sin(400 / 50.0)))
    assert ink[y - 2:y + 3, 400].max() > 0.8          # the trace
    assert np.percentile(ink[:200, :], 99.9) < 0.2    # grid only above the trace


def test_darkness_alone_keeps_a_blue_trace_that_chroma_subtraction_sinks_in_the_dots():
    """A grey page with a light green grid, a screen's dots and a dark blue trace. The dots have a little
    chroma for their darkness, so the chroma subtraction is strong; capped by the grid's darkness, it
    still takes most of the blue trace's darkness, leaving it no darker than the dots. Read as grey,
    the trace stands clear of them."""
    page = np.full((600, 800, 3), 226.0)
    add_screen_dots(page, np.random.default_rng(0))
    page = np.clip(page, 0, 255).astype(np.uint8)
    trace = draw_grid_and_trace(page, (190, 215, 185), (135, 110, 92), 2)  # dark blue (BGR)
    columns = range(100, 700, 7)
    rows = [int(round(y)) for y in np.interp(columns, trace[:, 0], trace[:, 1])]

    def contrast(ink: np.ndarray) -> float:
        core = np.median([ink[y - 1:y + 2, x].max() for x, y in zip(columns, rows)])
        return float(core / np.percentile(ink[:200], 99))

    subtracted, colour, _ = ink_and_grid_lines(page, grid_period=7.874)
    dark, grey, _ = ink_and_grid_lines(page, grid_period=7.874, subtract_chroma=False)
    assert colour and not grey
    assert contrast(subtracted) < 1.0
    assert contrast(dark) > 1.3


def test_calibrate_deskews_and_measures():
    result = calibrate(grid_page(period=7.6, angle=1.2))
    assert result.calibration.rotation_deg == pytest.approx(1.2, abs=0.2)
    assert result.calibration.px_per_mm == pytest.approx(7.6, rel=0.005)
    back = result.to_original(np.array([[600.0, 450.0]]))
    assert back.shape == (1, 2)


def test_the_calibrated_pages_colour_features_are_kept_and_a_turned_page_computes_its_own():
    """Steps 4 and 7 read the calibrated page's colour features again (the darkness reading, the rows'
    time scales): calibrate keeps them, and a page turned 180 computes its own."""
    from pipeline.ecg.digitizer.orientation import turned_grid

    result = calibrate(grid_page(period=7.6, angle=1.2))
    again = colour_features(result.image)
    kept = page_features(result)
    assert all(np.array_equal(getattr(kept, k), getattr(again, k)) for k in ("darkness", "chroma", "nonpaper"))
    turned = turned_grid(result)
    assert turned.features is None
    assert np.array_equal(page_features(turned).darkness, colour_features(turned.image).darkness)


def test_as_bgr_accepts_grey_rgba_and_16_bit():
    grey = np.full((64, 80), 200, np.uint8)
    assert as_bgr(grey).shape == (64, 80, 3)
    rgba = np.zeros((64, 80, 4), np.uint8)  # fully transparent: white
    assert as_bgr(rgba).min() == 255
    deep = np.full((64, 80, 3), 65535, np.uint16)
    assert as_bgr(deep).dtype == np.uint8 and as_bgr(deep).min() == 255
    with pytest.raises(ValueError):
        as_bgr(np.zeros((5, 5), np.uint8))


def test_unreadable_images_raise_pipeline_error_naming_the_file(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image at all")
    ok, buf = cv2.imencode(".png", grid_page(size=(100, 120)))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(buf.tobytes()[: len(buf) // 2])
    ok, jbuf = cv2.imencode(".jpg", grid_page(size=(100, 120)))
    cut_jpeg = tmp_path / "cut.jpg"
    cut_jpeg.write_bytes(jbuf.tobytes()[: len(jbuf) - 200])
    for path in (empty, garbage, truncated, cut_jpeg, tmp_path / "missing.png"):
        with pytest.raises(PipelineError) as err:
            load_image(path)
        assert path.name in str(err.value)
        assert "\n" not in str(err.value)


def test_load_image_reads_rgba_png(tmp_path):
    rgba = np.zeros((60, 70, 4), np.uint8)
    rgba[..., 3] = 255
    path = tmp_path / "page.png"
    cv2.imwrite(str(path), rgba)
    image = load_image(path)
    assert image.shape == (60, 70, 3) and image.max() == 0


@pytest.mark.parametrize("seed", [2, 3])
def test_screen_photo_scale_comes_from_the_page_when_moire_fools_the_grid(seed: int) -> None:
    """On these screen photos, with the screen's raster and moire left in, the grid spectrum locks onto
    moire; the rectified page's own scale (the Letter page mapped onto the frame) is then used instead.
    With the moire notched out (the default) the grid's own period is right and is kept."""
    from pipeline.ecg.digitizer.rectify import RectifyConfig, flatten_page
    from pipeline.ecg.synth import render

    record = render.simulate_record(500, np.random.default_rng(seed))
    page = render.render_page(record, 500, np.random.default_rng(seed + 1))
    shot = cv2.cvtColor(render.degrade(page, "0006", np.random.default_rng(seed + 2)).image, cv2.COLOR_RGB2BGR)
    grid = calibrate(*flatten_page(shot, RectifyConfig(raster_blur_px=0.0, moire=None)))
    assert "scale_from_page" in grid.calibration.flags
    assert abs(grid.calibration.px_per_mm / (200 / 25.4) - 1) < 0.03
    grid = calibrate(*flatten_page(shot, RectifyConfig()))
    assert "moire_removed" in grid.calibration.flags and "scale_from_page" not in grid.calibration.flags
    assert abs(grid.calibration.px_per_mm / (200 / 25.4) - 1) < 0.03


def test_a_grid_found_after_the_moire_was_removed_overrules_the_page_scale() -> None:
    """A screen photo's page quadrilateral may be the viewer's window around the page, so the
    rectified frame's scale is wrong; once the moire is out, a grid found is the paper's own."""
    page = grid_page(period=5.0)  # the frame's own scale: 1163 px for 279.4 mm, 4.16 px/mm
    kept = calibrate(page, Rectification(applied=True, is_page=True, moire_removed=True))
    assert abs(kept.calibration.px_per_mm / 5.0 - 1) < 0.01
    assert "scale_from_page" not in kept.calibration.flags and "moire_removed" in kept.calibration.flags
    overruled = calibrate(page, Rectification(applied=True, is_page=True))
    assert "scale_from_page" in overruled.calibration.flags and overruled.calibration.px_per_mm < 4.2


def test_grid_lines_three_pixels_thick_go_whole_when_the_period_is_slightly_off():
    """A scan's major lines are 3 px thick and the measured period is 0.2 % short (7.51 for 7.525
    px/mm, as on a real rescaled b/w scan): rows of a line whose phase drifted past the tolerance must
    go with the line, or they read as ink continuing beyond it and keep the whole line."""
    ink = np.zeros((1650, 2048), np.float32)
    centres = [10 + int(round(5 * 7.525 * k)) for k in range(43)]
    for c in centres:
        ink[c - 1:c + 2] = 1.0
    ink[180, 100:250] = 1.0  # a flat trace stroke between the lines stays
    out = remove_grid_lines(ink, 7.51)
    assert max(out[c - 1:c + 2].max() for c in centres) == 0.0
    assert out[180, 100:250].min() == 1.0


def test_a_grid_line_under_every_baseline_still_goes_where_the_trace_leaves_it():
    """ecg-image-kit draws each row's baseline on a major line. On a grey print the line is as black as
    the trace, and the trace's flat stretches widen the line's band page-wide, beyond a line's width:
    that band was kept whole, so the path rode the line under every P, QRS and T wave."""
    ink = np.zeros((400, 2048), np.float32)
    period = 7.874
    centres = [20 + int(round(5 * period * k)) for k in range(10)]
    for c in centres:
        ink[c:c + 2] = 1.0
    baseline = centres[5]
    ink[baseline - 3:baseline] = 1.0  # the trace's baseline runs along the line's top ...
    for x0 in range(100, 2000, 200):  # ... and leaves it for a T wave every 200 px
        ink[baseline - 3:baseline, x0:x0 + 60] = 0.0
        ink[baseline - 30:baseline - 27, x0:x0 + 60] = 1.0
    out = remove_grid_lines(ink, period)
    t_waves = np.concatenate([np.arange(x0 + 5, x0 + 55) for x0 in range(100, 2000, 200)])
    assert out[baseline:baseline + 2, t_waves].max() == 0.0  # the line goes under the T waves
    assert out[baseline - 30:baseline - 27, t_waves].min() == 1.0  # the waves stay
    near_waves = np.concatenate([np.arange(x0 - 5, x0 + 65) for x0 in range(100, 2000, 200)])
    flat = np.setdiff1d(np.arange(50, 2000), near_waves)
    assert out[baseline - 3:baseline, flat].min() == 1.0  # and so does the baseline along the line
    assert max(out[c:c + 2].max() for c in centres if c != baseline) == 0.0


def test_a_flat_baseline_between_the_lines_is_no_grid_line():
    """A row's baseline lies in one pixel row across most of a grey page; where it falls within a pixel
    of the grid's phase (between two major lines, on a minor line's place) it was taken for a grid line
    and erased along its flat stretches, so the tracer left it for the lead's label (real b/w scan
    46930936-0004, aVR / aVL / V1 / V6). A grid line covers the page as fully as the other lines do;
    a baseline leaves its row at every wave."""
    ink = np.zeros((400, 2048), np.float32)
    period = 7.874
    centres = [20 + int(round(5 * period * k)) for k in range(10)]
    for c in centres:
        ink[c:c + 2] = 1.0
    baseline = centres[5] + int(round(2 * period))  # where a minor line would be
    ink[baseline:baseline + 3, 150:1900] = 1.0
    for x0 in range(200, 1850, 150):  # a wave every 150 px leaves the baseline's row
        ink[baseline:baseline + 3, x0:x0 + 50] = 0.0
        ink[baseline - 30:baseline - 27, x0:x0 + 50] = 1.0
    out = remove_grid_lines(ink, period)
    assert max(out[c:c + 2].max() for c in centres) == 0.0
    assert out[baseline:baseline + 3, 160:190].min() == 1.0
    assert (out[baseline:baseline + 3] == ink[baseline:baseline + 3]).all()



def test_a_stroke_lying_on_a_lighter_grid_line_stays_and_specks_on_it_go():
    """A QRS stroke running down a vertical grid line, no wider than the line, leaves no ink two px
    beyond the line's band: on a page read from its darkness, where the lines are lighter than the
    trace, it was erased with the line and the spike cut. Ink darker than the line along 4 px of it
    stays; a single dark speck on a line (pixel noise) goes, and so does a stroke on a line as black
    as itself, which nothing tells from the line."""
    period = 7.874
    ink = np.zeros((1200, 900), np.float32)
    centres = [12 + int(round(5 * period * k)) for k in range(22)]
    for c in centres:
        ink[:, c:c + 2] = 0.5  # grey lines
    grey, black = centres[6], centres[12]
    ink[:, black:black + 2] = 1.0  # one line as black as the trace
    ink[400:440, grey:grey + 2] = 1.0  # strokes lying on the lines
    ink[400:440, black:black + 2] = 1.0
    speck = centres[9]
    ink[700, speck:speck + 2] = 1.0
    out = remove_grid_lines(ink, period)
    assert out[400:440, grey:grey + 2].min() == 1.0
    assert out[:390, grey:grey + 2].max() == 0.0 and out[450:, grey:grey + 2].max() == 0.0
    assert out[695:705, speck:speck + 2].max() == 0.0
    assert out[:, black:black + 2].max() == 0.0


def test_tall_strokes_stacked_in_a_few_columns_of_a_faint_grid_are_no_grid_lines():
    """On a page read from its darkness whose grid is too light to count as ink, the columns where the
    rows' tall R waves stand one above the other cover a page-wide line's share, at the grid's phase:
    they were taken for grid lines and the strokes cut where nothing continued beside them. Four
    columns are no grid (a page has hundreds of lines); the strokes stay."""
    period = 7.874
    ink = np.zeros((1700, 2200), np.float32)
    columns = [int(round(period * k)) for k in range(1, 279)]
    for c in columns:
        ink[:, c:c + 2] = 0.25  # the faint grid, below LINE_INK
    for r in range(1, 215):
        ink[int(round(period * r)):int(round(period * r)) + 2] = 0.25
    spikes = [columns[k] for k in (40, 95, 150, 205)]
    for base in (400, 700, 1000, 1300):
        ink[base:base + 2, 100:2100] = 1.0
        for x in spikes:
            ink[base - 200:base, x:x + 2] = 0.55
    out = remove_grid_lines(ink, period)
    for base in (400, 700, 1000, 1300):
        assert min(out[base - 200:base, x:x + 2].min() for x in spikes) == pytest.approx(0.55)


def test_the_grid_lines_removed_from_a_grey_page_are_kept_as_a_mask():
    """The pixels a grey page's grid lines took from the ink map, for the tracer's grid_line_floor: the
    lines away from the trace, not the trace; a colour page removes none."""
    period = 7.874
    img = np.full((600, 900, 3), 255, np.uint8)
    for k in range(25):
        c = 10 + int(round(5 * period * k))
        img[c:c + 2] = 0
        img[:, c:c + 2] = 0
    cv2.line(img, (50, 300 - 80), (850, 300 + 80), (0, 0, 0), 3)  # a trace crossing the lines
    ink, colour, lines = ink_and_grid_lines(img, grid_period=period)
    assert not colour and lines is not None
    assert lines[10, 330:360].all() and not ink[10, 330:360].any()  # between two vertical lines
    on_trace = np.array([[int(round(300 - 80 + 160 * (x - 50) / 800)), x] for x in range(100, 800, 7)])
    assert not lines[on_trace[:, 0], on_trace[:, 1]].any()
    assert (ink[on_trace[:, 0], on_trace[:, 1]] > 0.5).all()
    assert ink_and_grid_lines(grid_page())[2] is None
    assert np.array_equal(ink_map(img, grid_period=period)[0], ink)


def test_to_page_undoes_to_original_through_every_map() -> None:
    """Homography, deskew, straightened columns and a shift field: a page point sent to the original
    image and back lands where it started (to sub-pixel, the shift field being read per pixel)."""
    h, w = 400, 600
    homography = np.array([[1.02, 0.03, -12.0], [-0.01, 0.99, 7.0], [2e-5, -1e-5, 1.0]])
    source = np.arange(w, dtype=np.float64) + 3.0 * np.sin(np.arange(w) / 90.0)  # monotone column map
    shift = np.tile(1.5 * np.cos(np.arange(w) / 70.0), (h, 1)).astype(np.float32)
    grid = GridResult(image=np.zeros((h, w, 3), np.uint8), ink=np.zeros((h, w), np.float32),
                      calibration=Calibration(px_per_mm=7.874, rotation_deg=0.8, grid_found=True, colour=True),
                      rotation_matrix=rotation_matrix((h, w), 0.8),
                      rectification=Rectification(homography=homography, applied=True),
                      column_source=source, shift_field=shift)
    rng = np.random.default_rng(1)
    page = np.stack([rng.uniform(50, w - 50, 200), rng.uniform(50, h - 50, 200)], axis=1)
    back = grid.to_page(grid.to_original(page))
    assert np.abs(back - page).max() < 0.05
    assert np.abs(grid.to_original(page) - page).max() > 5.0  # the maps do move points


def test_row_x_periods_read_each_rows_own_column_period() -> None:
    """A keystoned photo: the grid's columns stand 0.3 % wider apart in the lower half than in the upper
    half. Each row reads its own half's period to within 0.02 %; a row with no grid reads None, and so
    does one whose period is further than max_change from the page's."""
    top, bottom = 7.874, 7.874 * 1.003
    upper = colour_features(grid_page(top, size=(400, 2000))).chroma
    lower = colour_features(grid_page(bottom, size=(400, 2000))).chroma
    blank = np.zeros((200, 2000), np.float32)
    grid = np.vstack([upper, lower, blank])
    periods = row_x_periods(grid, [200.0, 600.0, 900.0], 90.0, 7.874 * 1.0015)
    assert periods[0] == pytest.approx(top, rel=2e-4)
    assert periods[1] == pytest.approx(bottom, rel=2e-4)
    assert periods[2] is None
    assert row_x_periods(grid, [200.0], 90.0, 7.874 * 1.02)[0] == pytest.approx(top, rel=2e-4)  # a 2 % keystone
    assert row_x_periods(grid, [200.0], 90.0, 7.874 * 1.05) == [None]
