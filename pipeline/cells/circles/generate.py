"""The circle generator: CircleFarmer's controls and output format, deterministic per (seed, index).

An image is 4-10 translucent circles of palette colours over a dish-like background. A circle is drawn
over the earlier ones; its annotation is its whole disc (clipped to the image), as in CircleFarmer, so the
classification label -- the colour with the largest *visible* area -- is computed from the masks and the
drawing order, exactly. Layouts whose two leading colours tie (or are closer than `min_margin`) are
resampled, so every label is unambiguous.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from pipeline.cells.circles.backgrounds import BACKGROUND_KINDS, make_background
from pipeline.cells.circles.farmer_format import CircleLabel, FarmerAnnotation, mask_to_runs
from pipeline.cells.circles.noise import noise_patch
from pipeline.core.errors import PipelineError
from pipeline.core.seeding import rng_for

INSET = 32
PALETTE: dict[str, tuple[int, int, int]] = {
    "Red": (255 - INSET, INSET, INSET),
    "Green": (INSET, 255 - INSET, INSET),
    "Blue": (INSET, INSET, 255 - INSET),
    "Yellow": (255 - INSET, 255 - INSET, INSET),
    "Cyan": (INSET, 255 - INSET, 255 - INSET),
    "Magenta": (255 - INSET, INSET, 255 - INSET),
}
MAX_RESAMPLES = 1000


@dataclass(frozen=True)
class CircleConfig:
    """CircleFarmer's controls (defaults as read from its source) plus position, background and margin.

    colour_noise: per pixel and channel the circle colour moves by U(-1, 1) * colour_noise * 128 levels.
    alpha_noise: per pixel the circle's opacity moves by U(-1, 1) * alpha_noise.
    position: circle centres are uniform in [lo, hi] * size along each axis (outside [0, 1] means circles
        partly off the image; a circle with no pixel on the image is rejected).
    max_overlap: a new circle may intersect at most this many earlier ones; it gets `max_tries` attempts
        (5 reproduces the count distribution of the shared CircleFarmer sample: mean 6.6 of a 5-10 target).
    min_margin: least relative gap (a1 - a2) / a1 between the two largest colour areas; 0 only bans ties.
    """

    size: int = 256
    colours: tuple[str, ...] = ("Red", "Green", "Blue")
    colour_noise: float = 0.25
    alpha_range: tuple[float, float] = (0.65, 0.85)
    alpha_noise: float = 0.10
    radius_range: tuple[float, float] = (18.0, 47.0)
    count_range: tuple[int, int] = (5, 10)
    max_overlap: int = 0
    max_tries: int = 5
    position: tuple[float, float] = (0.0, 1.0)
    background: str = "procedural"
    backgrounds_dir: str | None = None
    min_margin: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        unknown = [c for c in self.colours if c not in PALETTE]
        if unknown or not self.colours or len(set(self.colours)) != len(self.colours):
            problems.append(f"colours must be distinct names from {', '.join(PALETTE)}; got {self.colours}")
        for name in ("alpha_range", "radius_range", "count_range", "position"):
            lo, hi = getattr(self, name)
            if lo > hi:
                problems.append(f"{name} has min {lo} > max {hi}")
        if not 0 <= self.alpha_range[0] <= self.alpha_range[1] <= 1:
            problems.append("alpha_range must lie in [0, 1]")
        if self.radius_range[0] <= 0 or self.count_range[0] < 1 or self.size < 8:
            problems.append("radius, count and size must be positive")
        if self.colour_noise < 0 or self.alpha_noise < 0 or self.max_overlap < 0 or self.max_tries < 1:
            problems.append("noise, max_overlap must be >= 0 and max_tries >= 1")
        if not 0 <= self.min_margin < 1:
            problems.append("min_margin must be in [0, 1)")
        if self.background not in BACKGROUND_KINDS:
            problems.append(f"background must be one of {', '.join(BACKGROUND_KINDS)}")
        if self.background == "photo" and not self.backgrounds_dir:
            problems.append("background 'photo' needs backgrounds_dir")
        if problems:
            raise PipelineError("bad circle generator settings: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CircleConfig:
        tuples = {k: tuple(v) for k, v in values.items() if isinstance(v, list)}
        return cls(**{**values, **tuples})

    def with_(self, **changes: Any) -> CircleConfig:
        return replace(self, **changes)


@dataclass(frozen=True)
class Circle:
    colour: str
    cx: float
    cy: float
    r: float
    alpha: float


@dataclass(frozen=True)
class Layout:
    """The circles of one image, their clipped masks (bbox-local) and the exact visible areas per colour."""

    circles: tuple[Circle, ...]
    boxes: tuple[tuple[int, int, int, int], ...]  # (y0, y1, x0, x1), end-exclusive
    masks: tuple[np.ndarray, ...]  # bool, bbox-local
    areas: dict[str, int] = field(default_factory=dict)  # visible pixels per configured colour

    @property
    def label(self) -> str:
        return max(self.areas, key=self.areas.__getitem__)

    @property
    def margin(self) -> float:
        return area_margin(list(self.areas.values()))


@dataclass(frozen=True)
class Sample:
    name: str
    rgb: np.ndarray
    layout: Layout


def area_margin(areas: list[int]) -> float:
    """(a1 - a2) / a1 for the two largest areas: 0 means a tie, 1 means a single colour is visible."""
    top = sorted(areas, reverse=True) + [0]
    return 0.0 if top[0] == 0 else (top[0] - top[1]) / top[0]


def circle_box(c: Circle, size: int) -> tuple[int, int, int, int]:
    """Pixel bbox (y0, y1, x0, x1) of a circle clipped to the image; empty when it misses the image."""
    y0, y1 = max(0, int(np.floor(c.cy - c.r))), min(size, int(np.ceil(c.cy + c.r)) + 1)
    x0, x1 = max(0, int(np.floor(c.cx - c.r))), min(size, int(np.ceil(c.cx + c.r)) + 1)
    return y0, max(y0, y1), x0, max(x0, x1)


def circle_mask(c: Circle, box: tuple[int, int, int, int]) -> np.ndarray:
    """Pixels (of the box) whose centre lies in the disc: (x + 0.5 - cx)^2 + (y + 0.5 - cy)^2 <= r^2."""
    y0, y1, x0, x1 = box
    dy = (np.arange(y0, y1, dtype=np.float64) + 0.5 - c.cy) ** 2
    dx = (np.arange(x0, x1, dtype=np.float64) + 0.5 - c.cx) ** 2
    return dy[:, None] + dx[None, :] <= c.r * c.r


def visible_areas(layout_masks: list[np.ndarray], boxes: list[tuple[int, int, int, int]], colours: list[str],
                  palette: tuple[str, ...], size: int) -> dict[str, int]:
    """Visible pixels per colour: each circle hides what lies under it (later circles are on top)."""
    top = np.full((size, size), -1, dtype=np.int16)
    for i, (m, (y0, y1, x0, x1)) in enumerate(zip(layout_masks, boxes)):
        top[y0:y1, x0:x1][m] = i
    per_circle = np.bincount(top.ravel() + 1, minlength=len(colours) + 1)[1:]
    areas = dict.fromkeys(palette, 0)
    for colour, n in zip(colours, per_circle.tolist()):
        areas[colour] = areas.get(colour, 0) + n
    return areas


def _try_circle(rng: np.random.Generator, cfg: CircleConfig, placed: list[Circle]) -> Circle | None:
    lo, hi = cfg.position[0] * cfg.size, cfg.position[1] * cfg.size
    for _ in range(cfg.max_tries):
        r = float(rng.uniform(*cfg.radius_range))
        cx, cy = (float(v) for v in rng.uniform(lo, hi, 2))
        hits = sum((cx - p.cx) ** 2 + (cy - p.cy) ** 2 < (r + p.r) ** 2 for p in placed)
        if hits > cfg.max_overlap:
            continue
        colour = cfg.colours[int(rng.integers(0, len(cfg.colours)))]
        circle = Circle(colour, cx, cy, r, float(rng.uniform(*cfg.alpha_range)))
        y0, y1, x0, x1 = circle_box(circle, cfg.size)
        if y1 > y0 and x1 > x0 and circle_mask(circle, (y0, y1, x0, x1)).any():
            return circle
    return None


def sample_layout(rng: np.random.Generator, cfg: CircleConfig) -> Layout:
    """Place circles as CircleFarmer does and resample until the label is unambiguous."""
    for _ in range(MAX_RESAMPLES):
        target = int(rng.integers(cfg.count_range[0], cfg.count_range[1] + 1))
        circles: list[Circle] = []
        for _ in range(target):
            circle = _try_circle(rng, cfg, circles)
            if circle is not None:
                circles.append(circle)
        if not circles:
            continue
        boxes = [circle_box(c, cfg.size) for c in circles]
        masks = [circle_mask(c, b) for c, b in zip(circles, boxes)]
        areas = visible_areas(masks, boxes, [c.colour for c in circles], cfg.colours, cfg.size)
        margin = area_margin(list(areas.values()))
        if margin > 0 and margin >= cfg.min_margin:
            return Layout(tuple(circles), tuple(boxes), tuple(masks), areas)
    raise PipelineError(f"no layout without a tie (min_margin {cfg.min_margin}) in {MAX_RESAMPLES} tries; "
                        "loosen the settings")


def paint(rng: np.random.Generator, cfg: CircleConfig, background: np.ndarray, layout: Layout) -> np.ndarray:
    """Alpha-blend the circles, in order, over the background, with per-pixel colour and alpha noise."""
    canvas = background.astype(np.float32)
    for c, (y0, y1, x0, x1), m in zip(layout.circles, layout.boxes, layout.masks):
        h, w = y1 - y0, x1 - x0
        colour = np.asarray(PALETTE[c.colour], dtype=np.float32)
        colour = colour + noise_patch(rng, h, w, 3, "uniform") * np.float32(cfg.colour_noise * 128.0)
        np.clip(colour, 0, 255, out=colour)
        alpha = np.float32(c.alpha) + noise_patch(rng, h, w, 1, "uniform") * np.float32(cfg.alpha_noise)
        np.clip(alpha, 0, 1, out=alpha)
        region = canvas[y0:y1, x0:x1]
        blended = region + alpha * (colour - region)
        region[m] = blended[m]
    np.rint(canvas, out=canvas)
    return canvas.astype(np.uint8)


def sample_name(prefix: str, index: int, width: int = 3) -> str:
    return f"{prefix}_{index:0{width}d}"


def generate_sample(cfg: CircleConfig, seed: int, index: int, name: str | None = None) -> Sample:
    """Image `index` of the stream `seed`: the same pixels in any process, any worker count."""
    rng = rng_for(seed, "circles", index)
    layout = sample_layout(rng, cfg)
    background = make_background(rng, cfg.background, cfg.size, cfg.backgrounds_dir)
    rgb = paint(rng, cfg, background, layout)
    return Sample(name or sample_name("circles", index), rgb, layout)


def to_annotation(sample: Sample, size: int) -> FarmerAnnotation:
    """The CircleFarmer annotation: each circle's whole clipped disc as run-length rows, drawing order."""
    labels = []
    for c, (y0, _, x0, _), m in zip(sample.layout.circles, sample.layout.boxes, sample.layout.masks):
        runs = mask_to_runs(m)
        runs[:, 0] += y0
        runs[:, 1:] += x0
        labels.append(CircleLabel(c.colour, runs))
    return FarmerAnnotation(sample.name, size, size, tuple(labels))
