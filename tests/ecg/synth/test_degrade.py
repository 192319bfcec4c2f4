"""Image-type recipes: every type keeps its ground truth on the drawn traces; warps are pixel-exact;
recipes are deterministic and varied."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from pipeline.core.seeding import rng_for
from pipeline.ecg.layout import DEFAULT_LAYOUT
from pipeline.ecg.synth.degrade import IMAGE_TYPES, TRAINING_TYPES, TYPE_NAMES, RenderedPage, degrade, scan
from pipeline.ecg.synth.degrade.screen import ScreenConfig, screen_photo
from pipeline.ecg.synth.degrade.warp import Field, Ripple, Warp, apply_homography, camera_homography, warp_page
from pipeline.ecg.synth.render import ALL_TYPES, random_style, render_page
from pipeline.ecg.synth.waveforms import EcgSpec, simulate

SHIFT = 6
"""Pixels beside a path point where the paper (not the trace) is sampled."""


def _page(seed: int, thickness: int) -> RenderedPage:
    """A realistic page with a known trace thickness (style otherwise random)."""
    record = simulate(EcgSpec(heart_rate=75.0, noise_mv=0.0, wander_mv=0.02), 250, rng_for(seed, "rec"))
    style = replace(random_style(rng_for(seed, "style")), thickness=thickness, clip_mv=None)
    return render_page(record, 250, rng_for(seed, "page"), DEFAULT_LAYOUT, style)


@pytest.fixture(scope="module")
def pages() -> list[RenderedPage]:
    return [_page(1, 2), _page(2, 3)]


def _darkness(image: np.ndarray) -> np.ndarray:
    return 255.0 - cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)


def _path_contrast(dark: np.ndarray, paths: dict[str, np.ndarray]) -> float:
    """Mean darkness under the rounded path points minus that SHIFT px above and below them: local, so
    uneven light, shadows and stains (slow next to 6 px) cancel."""
    h, w = dark.shape
    pts = np.round(np.concatenate(list(paths.values()))).astype(int)
    pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= SHIFT) & (pts[:, 1] < h - SHIFT)]
    on = dark[pts[:, 1], pts[:, 0]]
    off = (dark[pts[:, 1] - SHIFT, pts[:, 0]] + dark[pts[:, 1] + SHIFT, pts[:, 0]]) / 2
    return float(on.mean() - off.mean())


def _mask_contrast(dark: np.ndarray, mask: np.ndarray) -> float:
    """Mean darkness of mask pixels minus that of the non-mask pixels SHIFT px above and below them."""
    ys, xs = np.nonzero(mask[SHIFT:-SHIFT] > 0)
    ys = ys + SHIFT
    off = []
    for dy in (-SHIFT, SHIFT):
        free = mask[ys + dy, xs] == 0
        off.append(dark[ys[free] + dy, xs[free]])
    return float(dark[ys, xs].mean() - np.concatenate(off).mean())


def _paths_on_mask(page: RenderedPage) -> float:
    """Share of in-frame path points with a mask pixel within 1 px."""
    near = cv2.dilate((page.row_mask > 0).astype(np.uint8), np.ones((3, 3), np.uint8))
    h, w = near.shape
    pts = np.round(np.concatenate(list(page.paths.values()))).astype(int)
    pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)]
    return float(near[pts[:, 1], pts[:, 0]].mean())


def test_registry_has_every_competition_type() -> None:
    assert tuple(IMAGE_TYPES) == ALL_TYPES == ("0001", "0003", "0004", "0005", "0006", "0009", "0010", "0011", "0012")
    assert set(TYPE_NAMES) == set(IMAGE_TYPES) | set(TRAINING_TYPES)
    assert not set(TRAINING_TYPES) & set(IMAGE_TYPES)


RECIPES = ALL_TYPES + tuple(TRAINING_TYPES)


@pytest.mark.parametrize("image_type", RECIPES)
def test_ground_truth_stays_on_the_traces(pages: list[RenderedPage], image_type: str) -> None:
    for k, page in enumerate(pages):
        shot = degrade(page, image_type, rng_for(k, "shot", image_type))
        assert shot.image.shape == page.image.shape and shot.image.dtype == np.uint8
        assert shot.row_mask.shape == page.row_mask.shape and set(np.unique(shot.row_mask)) <= {0, 1, 2, 3, 4}
        assert set(shot.paths) == set(page.paths)
        assert all(len(shot.paths[key]) == len(page.paths[key]) for key in page.paths)
        dark = _darkness(shot.image)
        # the screen shows the page at a fraction of its resolution, in a dim photo: fainter traces
        floor = 35.0 if image_type == "0006" else 60.0
        assert _path_contrast(dark, shot.paths) > floor, image_type
        assert _mask_contrast(dark, shot.row_mask) > floor, image_type
        assert _paths_on_mask(shot) > 0.9, image_type
        if shot.transform is not None:  # a homography: the paths are exactly the clean paths through it
            for key, pts in page.paths.items():
                np.testing.assert_allclose(shot.paths[key], apply_homography(shot.transform, pts), atol=1e-6)


@pytest.mark.parametrize("image_type", RECIPES)
def test_recipes_are_deterministic_and_vary(pages: list[RenderedPage], image_type: str) -> None:
    page = pages[0]
    before = page.image.copy(), page.row_mask.copy()
    a = degrade(page, image_type, rng_for(5, image_type))
    b = degrade(page, image_type, rng_for(5, image_type))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.row_mask, b.row_mask)
    assert all(np.array_equal(a.paths[k], b.paths[k]) for k in a.paths)
    assert np.array_equal(page.image, before[0]) and np.array_equal(page.row_mask, before[1])  # input untouched
    if image_type != "0001":
        c = degrade(page, image_type, rng_for(6, image_type))
        assert not np.array_equal(a.image, c.image)


def _dot_page(points: np.ndarray, size: tuple[int, int] = (400, 300)) -> RenderedPage:
    """A white page with one small Gaussian dot per point (sub-pixel centres) and a mask disk of
    radius 4 px around each."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    ink = np.zeros((h, w))
    mask = np.zeros((h, w), np.uint8)
    for x, y in points:
        r2 = (xx - x) ** 2 + (yy - y) ** 2
        ink += np.exp(-r2 / (2 * 1.5**2))
        mask[r2 <= 16] = 1
    img = np.repeat(np.clip(255 - 250 * ink, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return RenderedPage(image=img, row_mask=mask, paths={"I@0": points.astype(float)})


def _centroids(weight: np.ndarray, points: np.ndarray, radius: int = 6) -> np.ndarray:
    """Weighted centroid of `weight` in a window around each point."""
    dark = weight.astype(float)
    out = []
    for x, y in points:
        x0, y0 = int(round(x)) - radius, int(round(y)) - radius
        win = dark[y0:y0 + 2 * radius + 1, x0:x0 + 2 * radius + 1]
        yy, xx = np.mgrid[0:win.shape[0], 0:win.shape[1]]
        out.append([(xx * win).sum() / win.sum() + x0, (yy * win).sum() / win.sum() + y0])
    return np.array(out)


@pytest.mark.parametrize("with_field", [False, True])
def test_warp_moves_image_mask_and_paths_together(with_field: bool) -> None:
    rng = np.random.default_rng(3)
    gx, gy = np.meshgrid(np.arange(60, 341, 40.0), np.arange(60, 241, 36.0))  # well apart, sub-pixel jitter
    points = np.stack([gx.ravel(), gy.ravel()], axis=1) + rng.uniform(-0.5, 0.5, (gx.size, 2))
    page = _dot_page(points)
    hom = camera_homography(400, 300, rng, 15.0, 5.0, (0.8, 0.9), (400, 300))
    field = Field((Ripple(1, 3.0, 2 * np.pi / 300, 0.4), Ripple(0, -2.0, 0.0, 0.0, 2 * np.pi / 250, 1.0),
                   Ripple(1, 1.5, 0.02, 0.3, 0.015, 2.0))) if with_field else None
    warp = Warp(hom, field)
    shot, cover = warp_page(page, warp, (255, 255, 255))
    moved = shot.paths["I@0"]
    # the forward map inverts the image's source map exactly
    if with_field:
        dx, dy = field.at(moved[:, 0], moved[:, 1])
        back = apply_homography(np.linalg.inv(hom), moved + np.stack([dx, dy], axis=1))
        np.testing.assert_allclose(back, points, atol=1e-9)
        assert shot.transform is None
    else:
        np.testing.assert_allclose(shot.transform, hom)
    # the drawn dots land where the paths say, to a small fraction of a pixel
    np.testing.assert_allclose(_centroids(255 - shot.image[..., 0], moved), moved, atol=0.12)
    # and so do the mask's disks, up to their pixel rasterisation, without bias (nearest neighbour
    # must round: flooring would shift every disk by about half a pixel down and right)
    err = _centroids(shot.row_mask, moved) - moved
    assert np.abs(err).max() < 0.6 and np.abs(err.mean(axis=0)).max() < 0.15, err.mean(axis=0)
    assert cover.max() == 255 and cover.min() == 0


def test_field_too_steep_is_refused() -> None:
    warp = Warp(np.eye(3), Field((Ripple(0, 10.0, 0.1, 0.0),)))
    with pytest.raises(ValueError, match="steep"):
        warp.forward(np.array([[1.0, 2.0]]))


def test_black_and_white_types_are_grey_and_mostly_black_or_white(pages: list[RenderedPage]) -> None:
    for image_type in ("0004", "0012"):
        for seed in range(3):
            shot = degrade(pages[0], image_type, rng_for(seed, image_type))
            assert np.array_equal(shot.image[..., 0], shot.image[..., 1])
            grey = shot.image[..., 0]
            assert ((grey < 64) | (grey > 191)).mean() > 0.85  # the real 0004 page: 0.87


def test_a_grey_print_speckles_paper_and_prints_the_kit_grid_dark() -> None:
    """The real 0004 page: paper a speckle of about 10 % dark pixels, the kit's pink minor lines a
    denser speckle, its red major lines nearly black; the trace black."""
    h, w = 400, 600
    img = np.full((h, w, 3), 255, np.uint8)
    img[:, 100:600:40] = (254, 223, 219)  # kit minor lines (RGB)
    img[:, 20:600:200] = (255, 0, 0)  # kit major lines
    img[200:203, :] = (0, 0, 0)  # a trace
    out = scan.grey_print_finish(img, np.random.default_rng(3))[..., 0].astype(float) / 255.0
    dark = out < 0.5
    paper = np.ones(w, bool)
    paper[100:600:40] = paper[20:600:200] = False
    paper_rows = np.r_[0:190, 215:h]
    assert 0.01 < dark[np.ix_(paper_rows, paper)].mean() < 0.2
    assert dark[paper_rows][:, 100:600:40].mean() > dark[np.ix_(paper_rows, paper)].mean() + 0.05
    assert dark[paper_rows][:, 20:600:200].mean() > 0.9
    assert dark[201, :].mean() > 0.95


def test_black_and_white_scans_are_grey_prints_or_drop_out_scans(pages: list[RenderedPage]) -> None:
    """Both kinds of 0004 occur: a drop-out scan loses the grid (few dark pixels), a grey print keeps it
    and speckles the paper."""
    dark = [(degrade(pages[0], "0004", rng_for(seed, "0004")).image[..., 0] < 128).mean() for seed in range(12)]
    assert min(dark) < 0.05 < max(dark)


@pytest.fixture(scope="module")
def dot_page() -> RenderedPage:
    """A full-size page of 300 dots on a 100 px lattice with sub-pixel jitter."""
    gx, gy = np.meshgrid(np.arange(150, 2051, 100.0), np.arange(150, 1551, 100.0))
    points = np.stack([gx.ravel(), gy.ravel()], axis=1) + np.random.default_rng(0).uniform(-0.5, 0.5, (gx.size, 2))
    h, w = DEFAULT_LAYOUT.height, DEFAULT_LAYOUT.width
    ink = np.zeros((h, w))
    yy, xx = np.mgrid[-8:9, -8:9]
    for x, y in points:
        x0, y0 = int(x), int(y)
        ink[y0 - 8:y0 + 9, x0 - 8:x0 + 9] += np.exp(-((xx + x0 - x) ** 2 + (yy + y0 - y) ** 2) / 8.0)
    img = np.repeat(np.clip(255 - 235 * ink, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return RenderedPage(image=img, row_mask=np.zeros((h, w), np.uint8), paths={"I@0": points})


@pytest.mark.parametrize("image_type", RECIPES)
def test_paths_are_sub_pixel_exact_on_every_type(dot_page: RenderedPage, image_type: str) -> None:
    """Each dot's ink centroid (above its local background) in the degraded image is where its path
    point went: no bias (a blur kernel or a resize off by half a pixel would show) and little scatter."""
    rng = rng_for(1, "dots", image_type)
    if image_type == "0006":  # the moire modulates each dot's ink and would blur this geometric check
        shot = screen_photo(dot_page, rng, ScreenConfig(pixel_grid=(0.0, 0.0), subpixel=(0.0, 0.0)))
    else:
        shot = degrade(dot_page, image_type, rng)
    dark = 255.0 - cv2.cvtColor(shot.image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    r = 7
    yy, xx = np.mgrid[0:2 * r + 1, 0:2 * r + 1]
    errors = []
    for x, y in shot.paths["I@0"]:
        x0, y0 = int(round(x)) - r, int(round(y)) - r
        win = dark[y0:y0 + 2 * r + 1, x0:x0 + 2 * r + 1]
        win = np.clip(win - np.median(win), 0, None)
        if win.shape == xx.shape and win.sum() > 200:  # not torn away or covered
            errors.append([(xx * win).sum() / win.sum() + x0 - x, (yy * win).sum() / win.sum() + y0 - y])
    err = np.array(errors)
    assert len(err) > 250
    bias, scatter = np.abs(err.mean(axis=0)).max(), np.median(np.abs(err))
    # the crumpled prints carry the kit's pixel noise (sd up to 30 grey levels) and grey prints (0004) a
    # speckle: more scatter, and the mean of 300 dots moves by about 0.015 px from that noise alone
    noisy = image_type in TRAINING_TYPES or image_type == "0004"
    assert bias < (0.05 if noisy else 0.03) and scatter < (0.3 if noisy else 0.1), (bias, scatter)


def test_crumple_fields_shade_in_facets_and_folds() -> None:
    from pipeline.ecg.synth.degrade.crumple import crease_field, facet_shading, kelvin_cast

    rng = np.random.default_rng(0)
    shade = facet_shading(200, 300, rng, 12, 0.5)
    assert shade.shape == (200, 300) and shade.min() >= 0.5 - 1e-3 and shade.max() <= 1.0 + 1e-3
    assert shade.max() - shade.min() > 0.1  # facets differ
    fold = crease_field(200, 300, rng, 2, 0.0, 10.0)
    assert fold.min() < 0.97 and fold.max() > 1.0  # a shadow beside each fold, a light ridge on it
    warm, cool = kelvin_cast(3000.0), kelvin_cast(15000.0)
    assert warm[0] == 1.0 > warm[2] and cool[2] == 1.0 > cool[0]


def test_printed_types_carry_a_readable_qr_code_at_the_top_right(pages: list[RenderedPage]) -> None:
    from pipeline.ecg.synth.degrade.printed import with_qr_code

    page = pages[0]
    stamped = with_qr_code(page, np.random.default_rng(3))
    changed = np.nonzero(np.any(stamped.image != page.image, axis=2))
    h, w = page.image.shape[:2]
    assert changed[0].max() < 0.1 * h and changed[1].min() > 0.9 * w  # only the top right corner
    assert np.array_equal(stamped.row_mask, page.row_mask)
    corner = np.ascontiguousarray(stamped.image[: int(0.1 * h), int(0.85 * w):])
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(cv2.copyMakeBorder(corner, 40, 40, 40, 40, cv2.BORDER_CONSTANT,
                                                                          value=(255, 255, 255)))
    assert text.isdigit()
    clean = degrade(page, "0001", rng_for(1, "qr"))
    assert np.array_equal(clean.image, page.image)  # the clean render has none
