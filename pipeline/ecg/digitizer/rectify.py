"""Step 1 of the digitizer: perspective rectification of photographed pages (types 0005, 0006), and
levelled paper on every page (`level_paper`: creases, wrinkle shading and tints become paper).

A phone photo shows the sheet (or the laptop screen showing it) as a quadrilateral on a darker desk,
bezel or room. `find_page_quad` finds the largest bright region at quarter size (Otsu threshold,
closing, convex hull) and reduces its outline to four corners (when that is a screen or viewer window,
`_nested_page` looks inside it for the page it shows); `page_homography` maps those corners to
an upright rectangle: the whole canonical frame when the quadrilateral's aspect is the printed page's
(11 x 8.5 in), else a centred rectangle of its own aspect (a screen or viewer window around the page).
`rectify` warps the image only when the map differs from a similarity (rotation, scale, shift: the
grid step's deskew handles those) by more than a few pixels, so flat scans pass through untouched.
All functions take arrays and return arrays; `Rectification.to_original` maps points back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from pipeline.ecg.digitizer.moire import MOIRE, MoireConfig, moire_share, remove_moire
from pipeline.ecg.layout import PAGE_H, PAGE_MM_W, PAGE_W


@dataclass(frozen=True)
class RectifyConfig:
    scale: int = 4
    """Downsampling factor for finding the page outline."""
    min_area: float = 0.25
    """Smallest page region, as a fraction of the image."""
    max_corner_deg: float = 35.0
    """Largest deviation of a corner's angle from 90 degrees."""
    min_fill: float = 0.9
    """Smallest fraction of its quadrilateral the page region must fill."""
    flatten_light: bool = True
    """Even out the light (shadows, vignetting) of pages that needed rectification (photos)."""
    level_paper_mm: float = 5.0
    """Pages that were not rectified (photos get `flatten_light` instead): divide each channel by its local
    paper level, a grey closing this wide (mm, from the page width). Strokes and grid lines are far
    thinner, so they stay; creases, wrinkle shading, shadows and tints are wider, so they go, and a
    shading edge stays an edge, never a line of ink. 0 disables it. Chosen on our own pages: 16 crumpled
    prints scored 13.5 / 18.9 / 18.5 / 17.4 dB with 0 / 3 / 5 / 8 mm, the synthetic bench 20.53 / 20.22 /
    20.59 / 20.48 dB (3 mm lost 1.3 dB on colour scans, where dense QRS ink fills a small closing)."""
    max_on_border: float = 0.05
    """Largest fraction of the outline that may run along the image's border (where the outline is
    the frame's edge, not the page's: a scan, or a page cut off by the frame)."""
    min_residual_px: float = 4.0
    """Apply the homography only when it moves a frame corner this far from the best similarity."""
    page_aspect: float = PAGE_W / PAGE_H
    snap: float = 0.07
    """A quadrilateral whose estimated aspect is within this relative distance of the page's is the page."""
    nested_area: tuple[float, float] = (0.5, 0.95)
    """Area range, relative to the screen or window quadrilateral found first, of a page shown inside it
    (`_nested_page`); (0, 0) turns the search off. Pages in windows covered 0.77-0.89 on our screen
    photos; above 0.95 the inner region is the same sheet's grid area or its outline's inner edge."""
    nested_min_step: float = 20.0
    """Smallest colour step (0-255) from the nested page's paper to what surrounds it. A window's
    background differs from the page (33-85 on our screen photos); the blank margin around a sheet's
    own grid area is the same paper (2-12)."""
    nested_max_deg: float = 2.0
    """Largest tilt of a nested page's sides, measured once the outer quadrilateral is rectified: the
    page on a screen lies in the screen's plane, so it rectifies to an upright rectangle with it (pages
    in windows on our screen photos: at most 1.55; a wrong region: 2.75)."""
    ring_margin: float = 0.02
    """Where no region fills a quadrilateral but one does with its holes filled (a screen's bright
    bezel edge ringing the page, joined to it), the page is searched inside that ring with this
    fraction of the image's height cut off its edge (the ring itself); 0 turns it off. 5 of 48 own-seed
    screen photos (3 seeds) had no page found before: 0.02 / 0.04 found all five."""
    raster_texture: float = 5.0
    """`raster_texture` above which a rectified photo shows a screen's pixel raster."""
    raster_blur_px: float = 0.8
    """Gaussian sigma (px) that blurs such a raster away before the ink map, which would take its
    lines for ink (a trace drawn in grey on a screen is no darker than they are); 0 keeps it. Chosen on
    own-seed screen photos (16 per seed, 3 seeds): 0.8 / 1.2 / 1.6 px gained 0.85 / 0.73 / 0.63 dB on
    average; none of the photos of paper crossed the texture threshold."""
    moire: MoireConfig | None = MOIRE
    """A rectified photo of a screen (its raster seen, or moire in its spectrum: `moire.moire_share`)
    has the moire notched out (`moire.remove_moire`); None keeps it."""


@dataclass(frozen=True)
class Rectification:
    """The map from the input image to the rectified one (identity when nothing was done)."""

    homography: np.ndarray = field(default_factory=lambda: np.eye(3), repr=False)
    """3x3, input pixels -> rectified pixels."""
    applied: bool = False
    quad: np.ndarray | None = field(default=None, repr=False)
    """The page corners found in the input (4, 2): top-left, top-right, bottom-right, bottom-left."""
    is_page: bool = False
    """Whether the quadrilateral was taken for the printed page itself (mapped to the full frame)."""
    residual_px: float = 0.0
    """How far the homography moves a frame corner from the best similarity."""
    screen: bool = False
    """Whether a screen's pixel raster was blurred away (`raster_texture`): the grid's fine lines then
    carry the raster's moire."""
    moire_removed: bool = False
    """Whether a screen's moire bands were notched out of the page (`moire.remove_moire`)."""

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) rectified (x, y) points -> input image points."""
        return apply_homography(np.linalg.inv(self.homography), xy)

    def to_rectified(self, xy: np.ndarray) -> np.ndarray:
        return apply_homography(self.homography, xy)


IDENTITY = Rectification()


def apply_homography(h: np.ndarray, xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(xy) == 0:
        return xy.copy()
    return cv2.perspectiveTransform(xy[None], np.asarray(h, np.float64))[0]


def order_corners(pts: np.ndarray) -> np.ndarray:
    """Four points as top-left, top-right, bottom-right, bottom-left (image y down)."""
    pts = np.asarray(pts, np.float64).reshape(4, 2)
    centre = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(ang)]  # clockwise on screen, starting near the left
    start = int(np.argmin(pts.sum(axis=1)))  # top-left: smallest x + y
    return np.roll(pts, -start, axis=0)


def _corner_angles(q: np.ndarray) -> np.ndarray:
    out = []
    for i in range(4):
        a, b, c = q[i - 1], q[i], q[(i + 1) % 4]
        u, v = a - b, c - b
        cos = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12))
        out.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return np.asarray(out)


def refine_quad(quad: np.ndarray, outline: np.ndarray, trim: float = 0.15) -> np.ndarray:
    """Corners as the intersections of straight lines fitted (robustly) to the outline points along
    each side, away from the corners (approxPolyDP's vertices are outline points, not the corners)."""
    lines = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        d = b - a
        length = float(np.linalg.norm(d))
        if length < 4:
            return quad
        u = d / length
        rel = outline - a
        t = rel @ u
        off = np.abs(rel[:, 0] * u[1] - rel[:, 1] * u[0])
        near = (t > trim * length) & (t < (1 - trim) * length) & (off < max(3.0, 0.03 * length))
        if near.sum() < 5:
            return quad
        vx, vy, x0, y0 = cv2.fitLine(outline[near].astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        p = np.array([x0, y0, 1.0])
        lines.append(np.cross(p, p + np.array([vx, vy, 0.0])))
    out = []
    for i in range(4):
        x = np.cross(lines[i - 1], lines[i])
        if abs(x[2]) < 1e-9:
            return quad
        out.append(x[:2] / x[2])
    out = np.asarray(out)
    return out if np.abs(out - quad).max() < 0.1 * np.ptp(quad, axis=0).max() else quad


def paper_likeness(small: np.ndarray, lightness: float = 0.5) -> np.ndarray:
    """uint8 map, high where a pixel's colour is near the paper's (the median colour of the image's
    central part, which a photographed page covers): Lab chroma distance counts fully, lightness by
    the given weight (small: shadows on the paper still count as paper)."""
    if small.shape[2] != 3:
        return small[:, :, 0]
    lab = cv2.cvtColor(cv2.GaussianBlur(small, (5, 5), 0), cv2.COLOR_BGR2LAB).astype(np.float32)
    h, w = lab.shape[:2]
    centre = lab[int(0.35 * h):int(0.65 * h), int(0.35 * w):int(0.65 * w)].reshape(-1, 3)
    paper = np.median(centre, axis=0)
    d = lab - paper
    dist = np.sqrt(d[:, :, 1] ** 2 + d[:, :, 2] ** 2 + (lightness * d[:, :, 0]) ** 2)
    return np.clip(255.0 - 4.0 * dist, 0, 255).astype(np.uint8)


def _quad_of_mask(binary: np.ndarray, cfg: RectifyConfig,
                  fill_holes: bool = False) -> tuple[np.ndarray, float] | None:
    """(corners in the mask's pixels, how much of the quadrilateral the region fills, its holes too
    with fill_holes) of the mask's largest region, or None when it is no plausible page outline."""
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary)
    if n < 2:
        return None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = float(stats[k, cv2.CC_STAT_AREA])
    if area < cfg.min_area * binary.size:
        return None
    contours, _ = cv2.findContours((labels == k).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    outline = contour.reshape(-1, 2).astype(np.float64)
    bh, bw = binary.shape
    on_border = ((outline[:, 0] <= 1) | (outline[:, 1] <= 1) | (outline[:, 0] >= bw - 2)
                 | (outline[:, 1] >= bh - 2))
    if on_border.mean() > cfg.max_on_border:
        return None
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    for eps in (0.01, 0.02, 0.03, 0.05):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4:
            break
    else:
        return None
    quad = refine_quad(order_corners(approx.reshape(4, 2).astype(np.float64)), outline)
    if not cv2.isContourConvex(quad.astype(np.float32).reshape(-1, 1, 2)):
        return None
    if np.abs(_corner_angles(quad) - 90.0).max() > cfg.max_corner_deg:
        return None
    if fill_holes:
        area = max(area, float(cv2.contourArea(contour)))
    return quad, area / max(cv2.contourArea(quad.astype(np.float32)), 1.0)


def find_page_quad(image: np.ndarray, cfg: RectifyConfig = RectifyConfig()) -> np.ndarray | None:
    """Corners (4, 2) of the page (or screen) quadrilateral in a BGR image, or None when there is none
    plausible (too small, cut by the image border, not convex, corners far from right angles).

    The page is the largest region above an Otsu threshold of its brightest channel (paper against a
    dark desk), of its darkest channel (white paper against a coloured desk) or of its closeness to the
    paper's colour (a shadow across the page, a light desk); of the candidates the
    one that fills its quadrilateral best wins (a page-shaped one first, a larger one when as good).
    """
    h, w = image.shape[:2]
    s = cfg.scale
    small = cv2.resize(image, (max(w // s, 8), max(h // s, 8)), interpolation=cv2.INTER_AREA)
    if small.ndim == 2:
        small = small[:, :, None]
    maps = (small.max(axis=2), small.min(axis=2), paper_likeness(small, 0.5), paper_likeness(small, 0.15))
    size = (small.shape[1], small.shape[0])
    best, best_score = None, -np.inf
    for quad, fill in _candidates(maps, None, cfg):
        _, is_page = page_homography(quad, size, cfg)
        area = cv2.contourArea(quad.astype(np.float32)) / (size[0] * size[1])
        score = (1.0 if is_page else 0.0) + fill + 0.5 * area
        if score > best_score:
            best, best_score = quad, score
    if best is None:
        best = _page_inside_ring(image, maps, cfg)
    elif cfg.nested_area[1] > 0.0:
        best = _nested_page(image, maps, best, cfg)
    return None if best is None else order_corners(_to_full(best, s))


def _page_inside_ring(image: np.ndarray, maps, cfg: RectifyConfig) -> np.ndarray | None:
    """The page inside a bright ring (a screen's light bezel edge around a dark border, joined to the
    page here and there), whose region fills no quadrilateral: the ring's outline, its hole filled, is
    searched inside (`_nested_page`) with `cfg.ring_margin` of its edge cut off. None unless a
    page is found there."""
    if cfg.nested_area[1] <= 0.0 or cfg.ring_margin <= 0.0:
        return None
    margin = int(round(cfg.ring_margin * min(maps[0].shape[:2])))
    for ring, _ in _candidates(maps, None, cfg, fill_holes=True):
        inner = _nested_page(image, maps, ring, cfg, margin)
        if inner is not ring:
            return inner
    return None


def _to_full(quad: np.ndarray, scale: float) -> np.ndarray:
    """Corners in a downsampled image's pixel grid to full-size coordinates (pixel centres)."""
    return (quad + 0.5) * scale - 0.5


def _tilt_deg(quad: np.ndarray) -> float:
    """How far (degrees) the sides of a quadrilateral (tl, tr, br, bl) are from an upright rectangle's."""
    dx, dy = np.abs(np.roll(quad, -1, axis=0) - quad).T
    top_bottom = np.arctan2(dy[[0, 2]], dx[[0, 2]])
    left_right = np.arctan2(dx[[1, 3]], dy[[1, 3]])
    return float(np.degrees(max(top_bottom.max(), left_right.max())))


def _nested_page(image: np.ndarray, maps, outer: np.ndarray, cfg: RectifyConfig, margin: int = 2) -> np.ndarray:
    """The printed page shown inside a screen or viewer window `outer`, else `outer` itself.

    A candidate is a region found from thresholds of the pixels inside `outer` alone (`_candidates`)
    that covers `cfg.nested_area` of it, lies in its plane (an upright rectangle, within
    `cfg.nested_max_deg`, once `outer` is rectified), has the page's aspect more closely than `outer`
    has (a lighting edge across a sheet does not) and paper that differs from what surrounds it by
    `cfg.nested_min_step` (a sheet's own grid area, inside its blank margin, does not).
    """
    size = (maps[0].shape[1], maps[0].shape[0])
    scale = image.shape[1] / size[0]
    hom = page_homography(outer, size, cfg, snap=False)[0]
    outer_area = cv2.contourArea(outer.astype(np.float32))
    best, best_err = outer, min(cfg.snap, _aspect_error(outer, cfg))
    for quad, _ in _candidates(maps, outer, cfg, margin=margin):
        ratio = cv2.contourArea(quad.astype(np.float32)) / max(outer_area, 1.0)
        if not cfg.nested_area[0] <= ratio <= cfg.nested_area[1]:
            continue
        upright = apply_homography(hom, quad)
        if _tilt_deg(upright) > cfg.nested_max_deg:
            continue
        err = _aspect_error(upright, cfg)
        if err < best_err and _paper_step(image, _to_full(quad, scale), _to_full(outer, scale)) >= cfg.nested_min_step:
            best, best_err = quad, err
    return best


def _strip_pixels(image: np.ndarray, a: np.ndarray, b: np.ndarray, normal: np.ndarray,
                  reach: tuple[int, int]) -> np.ndarray:
    """(n, channels) pixels of the strip `reach[0]` to `reach[1]` px from segment a-b along `normal`,
    away from its ends (which a corner's rounding or a neighbouring side could touch)."""
    h, w = image.shape[:2]
    base = a + np.linspace(0.15, 0.85, 40)[:, None] * (b - a)
    pts = np.concatenate([base + r * normal for r in range(reach[0], reach[1])])
    x = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
    y = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
    return image[y, x].reshape(len(pts), -1).astype(np.float64)


def _paper_step(image: np.ndarray, inner: np.ndarray, outer: np.ndarray, reach: tuple[int, int] = (4, 12)) -> float:
    """Largest colour step (0-255) from the paper just inside a side of `inner` (the bright 90th
    percentile: paper between grid lines) to what lies just outside it (the median), over the sides
    that `inner` does not share with `outer` (full-size pixels)."""
    centre = inner.mean(axis=0)
    steps = [0.0]
    for k in range(4):
        a, b = inner[k], inner[(k + 1) % 4]
        if max(np.linalg.norm(a - outer[k]), np.linalg.norm(b - outer[(k + 1) % 4])) < 0.01 * image.shape[1]:
            continue  # a side shared with the outer outline
        d = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
        inward = np.array([-d[1], d[0]])
        if np.dot(centre - 0.5 * (a + b), inward) < 0:
            inward = -inward
        paper = np.percentile(_strip_pixels(image, a, b, inward, reach), 90, axis=0)
        around = np.median(_strip_pixels(image, a, b, -inward, reach), axis=0)
        steps.append(float(np.abs(paper - around).max()))
    return max(steps)


def quad_sides(quad: np.ndarray) -> tuple[float, float]:
    """(width, height) of a quadrilateral (corners tl, tr, br, bl): the means of its opposite sides."""
    tl, tr, br, bl = np.asarray(quad, np.float64)
    qw = 0.5 * (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl))
    qh = 0.5 * (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr))
    return float(qw), float(qh)


def _aspect_error(quad: np.ndarray, cfg: RectifyConfig) -> float:
    """How far (relative) a quadrilateral's aspect is from the printed page's."""
    qw, qh = quad_sides(quad)
    return abs(qw / max(qh, 1e-9) / cfg.page_aspect - 1.0)


def _candidates(maps, outer: np.ndarray | None, cfg: RectifyConfig, fill_holes: bool = False,
                margin: int = 2) -> list[tuple[np.ndarray, float]]:
    """(quad, fill) of each map's Otsu region that could be a page outline; with `outer`, thresholds
    from the pixels inside that quadrilateral only, `margin` px in from its edge."""
    inside = None
    if outer is not None:
        inside = np.zeros(maps[0].shape[:2], np.uint8)
        cv2.fillConvexPoly(inside, np.round(outer).astype(np.int32), 1)
        inside = cv2.erode(inside, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
        if inside.sum() < 100:
            return []
    out = []
    for channel in maps:
        grey = cv2.GaussianBlur(np.ascontiguousarray(channel), (5, 5), 0)
        if inside is None:
            _, binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        else:
            t, _ = cv2.threshold(grey[inside > 0].reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
            binary = ((grey > t) & (inside > 0)).astype(np.uint8) * 255
        found = _quad_of_mask(binary, cfg, fill_holes)
        if found is not None and found[1] >= cfg.min_fill:
            out.append(found)
    return out


def page_homography(quad: np.ndarray, size: tuple[int, int], cfg: RectifyConfig = RectifyConfig(),
                    snap: bool = True) -> tuple[np.ndarray, bool]:
    """(3x3 homography mapping the quad to an upright rectangle in a frame of size (w, h), whether the
    quad was taken for the page). The rectangle's aspect is estimated from the mean opposite side
    lengths; near the page's aspect it is the page, mapped to the whole frame (with the page's exact
    aspect unless snap is False)."""
    w, h = size
    qw, qh = quad_sides(quad)
    aspect = qw / max(qh, 1e-9)
    is_page = _aspect_error(quad, cfg) <= cfg.snap
    if is_page and snap:
        aspect = cfg.page_aspect
    # The largest rectangle of that aspect in the frame, centred; the page fills the frame exactly
    # when the frame has the page's aspect.
    rw = min(float(w - 1), (h - 1) * aspect)
    rh = rw / aspect
    if not is_page:
        # Keep the scale of the photo (px per mm) where it was: the rectangle as large as the quad.
        k = min(1.0, np.sqrt(qw * qh / (rw * rh)) * 1.0)
        rw, rh = rw * k, rh * k
    x0, y0 = 0.5 * (w - 1 - rw), 0.5 * (h - 1 - rh)
    dst = np.array([[x0, y0], [x0 + rw, y0], [x0 + rw, y0 + rh], [x0, y0 + rh]])
    return cv2.getPerspectiveTransform(quad.astype(np.float32), dst.astype(np.float32)).astype(np.float64), is_page


def similarity_residual(hom: np.ndarray, size: tuple[int, int]) -> float:
    """Largest distance (px) between where hom and the best similarity put the frame's corners and
    edge midpoints: how far from a rotation + scale + shift the map is."""
    w, h = size
    pts = np.array([[0, 0], [w / 2, 0], [w - 1, 0], [w - 1, h / 2], [w - 1, h - 1], [w / 2, h - 1],
                    [0, h - 1], [0, h / 2]], np.float64)
    moved = apply_homography(hom, pts)
    if not np.all(np.isfinite(moved)):
        return float("inf")
    # Least squares x' = a x - b y + tx, y' = b x + a y + ty.
    x, y = pts[:, 0], pts[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    a = np.concatenate([np.column_stack([x, -y, one, zero]), np.column_stack([y, x, zero, one])])
    coef = np.linalg.lstsq(a, np.concatenate([moved[:, 0], moved[:, 1]]), rcond=None)[0]
    fitted = (a @ coef).reshape(2, -1).T
    return float(np.linalg.norm(fitted - moved, axis=1).max())


def rectify(image: np.ndarray, cfg: RectifyConfig = RectifyConfig()) -> tuple[np.ndarray, Rectification]:
    """(the image seen fronto-parallel, the map); the input itself and IDENTITY when the page shows no
    perspective (or none can be found)."""
    h, w = image.shape[:2]
    quad = find_page_quad(image, cfg)
    if quad is None:
        return image, IDENTITY
    hom, is_page = page_homography(quad, (w, h), cfg)
    # Whether the photo shows perspective at all: the map to the quad's own aspect (snapping a flat
    # page's aspect to the printed one is a mere stretch, not worth a resampling).
    residual = similarity_residual(page_homography(quad, (w, h), cfg, snap=False)[0], (w, h))
    if not np.isfinite(residual) or residual < cfg.min_residual_px:
        return image, Rectification(quad=quad, is_page=is_page, residual_px=residual)
    border = (255, 255, 255) if image.ndim == 3 else 255
    out = cv2.warpPerspective(image, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=border)
    return out, Rectification(homography=hom, applied=True, quad=quad, is_page=is_page, residual_px=residual)


def flatten_illumination(image: np.ndarray, scale: int = 8, max_gain: float = 3.0) -> np.ndarray:
    """The page under even light: every channel divided by its local paper level (a max filter over
    an eighth-size copy, so that traces and grid lines do not count, smoothed), scaled to white.
    For photos, whose shadows, light ramps and vignetting a global white balance cannot undo."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(w // scale, 4), max(h // scale, 4)), interpolation=cv2.INTER_AREA)
    paper = cv2.GaussianBlur(cv2.dilate(small, np.ones((5, 5), np.uint8)), (0, 0), 3.0)
    return _divide_by_paper(image, cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR), max_gain)


def _divide_by_paper(image: np.ndarray, paper: np.ndarray, max_gain: float) -> np.ndarray:
    """Every channel over its paper level, scaled to white (250); no pixel brightened more than max_gain."""
    paper = np.maximum(paper, np.uint8(min(255, int(np.ceil(250.0 / max_gain)))))
    return cv2.divide(image, paper, scale=250.0)


def level_paper(image: np.ndarray, kernel_px: int, max_gain: float = 3.0) -> np.ndarray:
    """The page on even paper: every channel divided by its grey closing (kernel_px square), scaled to white.

    A closing keeps what is wider than the kernel (the paper, shading, a crease's shadow, a black
    border) and fills what is narrower (strokes, grid lines, text), so the quotient is white wherever
    there is no thin dark mark, and a step in the light stays a step instead of a dark line."""
    k = max(3, int(kernel_px) | 1)
    paper = cv2.morphologyEx(image, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    return _divide_by_paper(image, paper, max_gain)


def raster_texture(image: np.ndarray) -> float:
    """Median fine texture (grey levels) of the page's central half: |image - its 1 px Gaussian blur|.
    A screen's pixel raster, photographed, is a lattice of dark lines a few pixels apart all over the
    page (6-24 on most of our screen photos); our photos of paper read 0.3-4.5 and ecg-image-kit's
    crisp clean pages 4.7. Pixel noise raises it too (noisy scans reach 20), so only photos are
    tested against `RectifyConfig.raster_texture`."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    centre = grey[h // 4:3 * h // 4, w // 4:3 * w // 4].astype(np.float32)
    return float(np.median(np.abs(centre - cv2.GaussianBlur(centre, (0, 0), 1.0))))


def flatten_page(image: np.ndarray, cfg: RectifyConfig | None = RectifyConfig()) -> tuple[np.ndarray, Rectification]:
    """Step 1 of the digitizer: the page seen fronto-parallel, under even light and without a screen's
    pixel raster or moire when it had to be rectified (a photo), else on levelled paper; the page itself and
    IDENTITY when cfg is None."""
    if cfg is None:
        return image, IDENTITY
    image, rect = rectify(image, cfg)
    if rect.applied and cfg.flatten_light:
        image = flatten_illumination(image)
    if rect.applied and cfg.raster_blur_px > 0 and raster_texture(image) > cfg.raster_texture:
        image = cv2.GaussianBlur(image, (0, 0), cfg.raster_blur_px)
        rect = replace(rect, screen=True)
    moire = cfg.moire
    if rect.applied and moire is not None and (rect.screen or moire_share(image, moire) >= moire.min_share):
        image = remove_moire(image, moire)
        rect = replace(rect, moire_removed=True)
    if cfg.level_paper_mm > 0 and not rect.applied:
        px_per_mm = image.shape[1] / PAGE_MM_W
        image = level_paper(image, int(round(cfg.level_paper_mm * px_per_mm)))
    return image, rect
