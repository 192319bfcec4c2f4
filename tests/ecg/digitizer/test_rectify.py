"""Rectification: a page photographed under perspective is mapped back to the canonical frame; flat
pages pass through untouched."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.ecg.digitizer.grid import calibrate
from pipeline.ecg.digitizer.moire import MOIRE, moire_share
from pipeline.ecg.digitizer.rectify import (
    RectifyConfig,
    apply_homography,
    find_page_quad,
    flatten_illumination,
    flatten_page,
    level_paper,
    order_corners,
    raster_texture,
    rectify,
    similarity_residual,
)

W, H = 880, 680  # the competition page's aspect (2200 x 1700)


def page(w: int = W, h: int = H, period: float = 3.15) -> np.ndarray:
    """A white page with a pink grid (every 5th line darker) and a dark wavy trace."""
    img = np.full((h, w, 3), 255, np.uint8)
    for k, x in enumerate(np.arange(20.0, w - 20, period)):
        cv2.line(img, (int(x), 20), (int(x), h - 21), (120, 110, 235) if k % 5 == 0 else (190, 190, 245), 1)
    for k, y in enumerate(np.arange(20.0, h - 20, period)):
        cv2.line(img, (20, int(y)), (w - 21, int(y)), (120, 110, 235) if k % 5 == 0 else (190, 190, 245), 1)
    xs = np.arange(60, w - 60, 0.5)
    pts = np.stack([xs, h / 2 + 30 * np.sin(xs / 25.0)], 1)
    cv2.polylines(img, [np.round(pts * 16).astype(np.int32)], False, (20, 20, 20), 2, cv2.LINE_AA, 4)
    return img


CORNERS = np.array([[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]], np.float64)
SEEN = np.array([[130, 50], [770, 100], [840, 655], [40, 615]], np.float64)
"""Where a tilted camera sees the page's corners in the photo."""


def photo(truth: np.ndarray) -> np.ndarray:
    """The page seen through the homography `truth` on a dark brown desk."""
    return cv2.warpPerspective(page(), truth, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=(50, 70, 95))


def test_order_corners_starts_top_left_clockwise():
    shuffled = SEEN[[2, 0, 3, 1]]
    assert np.array_equal(order_corners(shuffled), SEEN)


def test_page_corners_are_found_under_perspective():
    truth = cv2.getPerspectiveTransform(CORNERS.astype(np.float32), SEEN.astype(np.float32))
    quad = find_page_quad(photo(truth))
    assert quad is not None
    assert np.abs(quad - SEEN).max() < 2.5


def screen_photo(window_bgr: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo, the page's corners in it, the window's corners in it): the page shown in a viewer window
    (margins of 9 % left and right, 10 % top, 2 % bottom, in `window_bgr`) on a screen, seen under
    perspective against a dark bezel."""
    mx, top, bottom = 0.09 * W, 0.10 * H, 0.02 * H
    sw, sh = W + 2 * mx, H + top + bottom
    screen = np.full((int(round(sh)), int(round(sw)), 3), window_bgr, np.uint8)
    to_screen = np.array([[1.0, 0.0, mx], [0.0, 1.0, top], [0.0, 0.0, 1.0]])
    screen = cv2.warpPerspective(page(), to_screen, screen.shape[1::-1], dst=screen, borderMode=cv2.BORDER_TRANSPARENT)
    window = np.array([[0, 0], [sw - 1, 0], [sw - 1, sh - 1], [0, sh - 1]], np.float64)
    seen = np.array([[90, 60], [800, 95], [845, 620], [45, 600]], np.float64)
    to_photo = cv2.getPerspectiveTransform(window.astype(np.float32), seen.astype(np.float32))
    image = cv2.warpPerspective(screen, to_photo, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=(25, 25, 28))
    page_corners = apply_homography(to_photo @ to_screen, CORNERS)
    return image, page_corners, seen


@pytest.mark.parametrize("window_bgr", [(200, 200, 200), (170, 190, 200)])
def test_a_page_shown_in_a_window_on_a_screen_is_found_inside_the_window(window_bgr):
    image, page_corners, window = screen_photo(window_bgr)
    quad = find_page_quad(image)
    assert quad is not None
    assert np.abs(quad - page_corners).max() < 4.0
    # Without the nested search the whole window is taken (mapped to the frame, its scale would be
    # the window's, about 18 % too small for the page).
    outer = find_page_quad(image, RectifyConfig(nested_area=(0.0, 0.0)))
    assert outer is not None and np.abs(outer - window).max() < 4.0


def test_a_screen_raster_is_told_from_paper_and_blurred_away_on_photos_only():
    # Paper: a blank sheet with a trace, and with pixel noise. (A crisp, dark 1 mm grid reads high as
    # well; the ecg-image-kit's own clean pages read 4.7, just below the threshold.)
    paper = page(period=1000.0)
    noisy = np.clip(paper + np.random.default_rng(0).normal(0, 4, paper.shape), 0, 255).astype(np.uint8)
    screen = paper.copy()
    screen[::3] = (screen[::3] * 0.75).astype(np.uint8)  # the dark gaps between a screen's pixel rows
    screen[:, ::3] = (screen[:, ::3] * 0.75).astype(np.uint8)
    assert raster_texture(paper) < 5.0 and raster_texture(noisy) < 5.0 < raster_texture(screen)
    truth = cv2.getPerspectiveTransform(CORNERS.astype(np.float32), SEEN.astype(np.float32))
    photographed = cv2.warpPerspective(screen, truth, (W, H), borderValue=(50, 70, 95))
    flat, rect = flatten_page(photographed)
    assert rect.applied and rect.screen and raster_texture(flat) < 5.0
    # A photo of paper is not a screen; a scan is not a photo: its texture is left alone.
    assert not flatten_page(cv2.warpPerspective(paper, truth, (W, H), borderValue=(50, 70, 95)))[1].screen
    scanned, rect = flatten_page(screen, RectifyConfig(level_paper_mm=0.0))
    assert not rect.applied and not rect.screen and scanned is screen


def test_a_screen_photos_moire_is_notched_out_and_a_photo_of_paper_is_left_alone():
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    bands = 1.0 - 0.3 * (0.5 + 0.5 * np.cos((xs * 0.82 + ys * 0.57) * (2 * np.pi / 15.0)))  # 35 degrees
    paper = page(period=8.0)  # a 1 mm grid at 200 dpi
    banded = np.clip(paper * bands[..., None], 0, 255).astype(np.uint8)
    truth = cv2.getPerspectiveTransform(CORNERS.astype(np.float32), SEEN.astype(np.float32))
    flat, rect = flatten_page(cv2.warpPerspective(banded, truth, (W, H), borderValue=(50, 70, 95)))
    assert rect.applied and rect.moire_removed
    assert moire_share(flat) < MOIRE.min_share
    assert not flatten_page(cv2.warpPerspective(paper, truth, (W, H), borderValue=(50, 70, 95)))[1].moire_removed
    kept, rect = flatten_page(cv2.warpPerspective(banded, truth, (W, H), borderValue=(50, 70, 95)),
                              RectifyConfig(moire=None))
    assert rect.applied and not rect.moire_removed and moire_share(kept) > MOIRE.min_share


def test_a_page_inside_a_bright_bezel_ring_joined_to_it_is_found():
    # Screen: a light bezel edge (16 px) and a dark border (80 px; 8 px below the page, where the
    # search's closing joins ring and page), so their region fills no quadrilateral and only the
    # ring's outline with its hole does.
    ring, border, below = 16, 80, 8
    sw, sh = W + 2 * (ring + border), H + 2 * ring + border + below
    light = page().reshape(-1, 3).mean(axis=0)  # the page's colour as the downsampled search sees it
    screen = np.empty((sh, sw, 3), np.uint8)
    screen[:] = light
    screen[ring:sh - ring, ring:sw - ring] = 35
    screen[ring + border:ring + border + H, ring + border:ring + border + W] = page()
    outline = np.array([[0, 0], [sw - 1, 0], [sw - 1, sh - 1], [0, sh - 1]], np.float64)
    seen = np.array([[70, 40], [820, 80], [860, 650], [30, 630]], np.float64)
    to_photo = cv2.getPerspectiveTransform(outline.astype(np.float32), seen.astype(np.float32))
    image = cv2.warpPerspective(screen, to_photo, (W, H), borderValue=(25, 25, 28))
    to_screen = np.array([[1.0, 0.0, ring + border], [0.0, 1.0, ring + border], [0.0, 0.0, 1.0]])
    page_corners = apply_homography(to_photo @ to_screen, CORNERS)
    assert find_page_quad(image, RectifyConfig(ring_margin=0.0)) is None
    quad = find_page_quad(image)
    # Within 1 % of the frame (the lower edge, 8 px from the ring, blurs into it at quarter size).
    assert quad is not None and np.abs(quad - page_corners).max() < 8.0


def test_a_sheet_photographed_whole_is_not_cut_down_to_its_grid_area():
    truth = cv2.getPerspectiveTransform(CORNERS.astype(np.float32), SEEN.astype(np.float32))
    image = photo(truth)
    # A light falling off across the sheet: its far part reads darker than its near part.
    image = (image * np.linspace(0.75, 1.0, W)[None, :, None]).astype(np.uint8)
    quad = find_page_quad(image)
    assert quad is not None and np.abs(quad - SEEN).max() < 4.0


def test_homography_is_recovered_and_maps_the_page_to_the_frame():
    truth = cv2.getPerspectiveTransform(CORNERS.astype(np.float32), SEEN.astype(np.float32))
    image = photo(truth)
    out, rect = rectify(image)
    assert rect.applied and rect.is_page
    assert out.shape == image.shape
    # Page points (a lattice over the page) go through the photo and back to where they were.
    gx, gy = np.meshgrid(np.linspace(0, W - 1, 9), np.linspace(0, H - 1, 7))
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    back = rect.to_rectified(apply_homography(truth, pts))
    err = np.linalg.norm(back - pts, axis=1)
    assert err.mean() < 2.5 and err.max() < 6.0
    assert np.allclose(rect.to_original(back), apply_homography(truth, pts), atol=1e-6)
    # The rectified image shows the page: the trace at its place, the desk gone from the interior.
    x = 440
    y = int(round(H / 2 + 30 * np.sin(x / 25.0)))
    assert out[y - 4:y + 5, x].min() < 90
    assert out[30:H - 30, 30:W - 30].min(axis=2).mean() > 200


def test_flat_and_slightly_rotated_pages_are_left_alone():
    flat = page()
    out, rect = rectify(flat)
    assert out is flat and not rect.applied
    m = cv2.getRotationMatrix2D(((W - 1) / 2, (H - 1) / 2), 1.5, 1.0)
    rotated = cv2.warpAffine(flat, m, (W, H), borderValue=(255, 255, 255))
    out, rect = rectify(rotated)
    assert out is rotated and not rect.applied


@pytest.mark.parametrize("image", [np.full((H, W, 3), 255, np.uint8), np.zeros((H, W, 3), np.uint8),
                                   np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)])
def test_no_page_outline_means_no_warp(image):
    out, rect = rectify(image)
    assert out is image and not rect.applied


def test_similarity_residual_is_zero_for_similarities_and_large_for_perspective():
    m = np.vstack([cv2.getRotationMatrix2D((300.0, 200.0), 7.0, 1.3), [0, 0, 1]])
    assert similarity_residual(m, (W, H)) < 1e-3
    truth = cv2.getPerspectiveTransform(CORNERS.astype(np.float32), SEEN.astype(np.float32))
    assert similarity_residual(truth, (W, H)) > 3 * RectifyConfig().min_residual_px


def test_calibrate_maps_rectified_points_back_into_the_photo():
    truth = cv2.getPerspectiveTransform(CORNERS.astype(np.float32), SEEN.astype(np.float32))
    image = photo(truth)
    result = calibrate(*flatten_page(image, RectifyConfig()))
    assert "rectified_page" in result.calibration.flags
    assert result.calibration.rotation_deg == pytest.approx(0.0, abs=0.3)
    pts = np.array([[200.0, 150.0], [700.0, 500.0]])
    expected = apply_homography(truth, pts)
    assert np.linalg.norm(result.to_original(pts) - expected, axis=1).max() < 6.0
    # Without the option the photo is only deskewed.
    plain = calibrate(image)
    assert not plain.rectification.applied


def test_flatten_illumination_evens_out_a_shadow_and_keeps_the_trace():
    lit = page()
    shade = np.linspace(1.0, 0.55, W, dtype=np.float32)[None, :, None]  # darker to the right
    shadowed = (lit.astype(np.float32) * shade).astype(np.uint8)
    flat = flatten_illumination(shadowed)
    paper = flat[60:120, 40:W - 40].max(axis=2)  # above the trace: paper and grid
    left, right = np.percentile(paper[:, :100], 90), np.percentile(paper[:, -100:], 90)
    assert abs(float(left) - float(right)) < 12 and left > 230
    assert np.percentile(shadowed[60:120, -100:].max(axis=2), 90) < 160  # the shadow was deep
    x = W - 100
    y = int(round(H / 2 + 30 * np.sin(x / 25.0)))
    assert flat[y - 4:y + 5, x].max(axis=1).min() < 120  # the trace stays dark


def test_level_paper_turns_a_crease_into_paper_and_keeps_the_trace():
    """A crease: one half of the page in shadow with a sharp edge between; the edge must not become ink."""
    lit = page()
    shade = np.where(np.arange(W) < W // 2, 1.0, 0.6).astype(np.float32)[None, :, None]
    creased = (lit.astype(np.float32) * shade).astype(np.uint8)
    level = level_paper(creased, kernel_px=21)
    paper = level[60:120, 40:W - 40].max(axis=2)  # above the trace: paper and grid
    assert np.percentile(paper, 5) > 200  # the shadow and its edge are paper now
    assert paper[:, W // 2 - 45:W // 2 - 35].min() > 200
    x = W - 100
    y = int(round(H / 2 + 30 * np.sin(x / 25.0)))
    assert level[y - 4:y + 5, x].max(axis=1).min() < 120  # the trace stays dark
