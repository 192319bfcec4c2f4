"""The embedded synthetic competition: ECG pages drawn in the paper layout of `layout.py`, degraded
to imitate each image type, written in Kaggle's file layout with pixel-exact ground truth.

Ground truth of a page: `row_mask` (which of the four trace rows each visible trace pixel belongs to),
`paths` (the (x, y) pixel position of every drawn sample of every lead) and `layout` (x0, baselines),
transformed with the image by every degradation (pipeline.ecg.synth.degrade). Pixel coordinates follow
OpenCV: integer (x, y) is the centre of pixel [y, x].

Pages vary as real printouts do: grid colour (red, pink, brown, blue, green or none), line widths,
paper tint, header text, calibration pulse or not, label fonts, trace thickness, a few pixels of
offset of the traces on the page, traces clipped at the row border on some machines and left to run
into the neighbouring rows on others.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import time
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_path, write_bytes_atomic, write_text_atomic
from pipeline.core.parallel import parallel_map
from pipeline.core.seeding import rng_for
from pipeline.ecg.layout import (
    DEFAULT_LAYOUT,
    DPI,
    DURATION_S,
    KIT_LAYOUT,
    LEADS,
    N_COLUMNS,
    RHYTHM_LEAD,
    ROWS,
    SAMPLING_RATES,
    PageLayout,
    column_window,
    lead_window,
    n_samples,
)
from pipeline.ecg.synth.degrade import IMAGE_TYPES, degrade
from pipeline.ecg.synth.degrade.base import RenderedPage
from pipeline.ecg.synth.degrade.effects import paper_colour
from pipeline.ecg.synth.degrade.warp import Warp, affine_homography, warp_page
from pipeline.ecg.synth.waveforms import simulate_record

__all__ = ["ALL_TYPES", "IMAGE_TYPES", "KIT_LAYOUT", "PageStyle", "RenderedPage", "clean_page", "degrade",
           "draw_kit_traces", "kaggle_frame", "kit_style", "make_competition", "page_meta", "png_bytes",
           "random_layout", "random_style", "render_page", "render_speed", "segments", "simulate_record", "trace_paths",
           "warp_affine"]

log = logging.getLogger(__name__)

SHIFT = 4
"""Fractional bits of the point coordinates given to cv2 drawing: traces are placed to 1/16 px."""
FS_WEIGHTS = {250: 0.1, 256: 0.1, 500: 0.5, 512: 0.1, 1000: 0.1, 1025: 0.1}
PNG_LEVEL = 1
"""zlib level of written PNGs (fastest; OpenCV 5's default RLE strategy makes clean pages 6x larger)."""
PNG_FILTER = cv2.IMWRITE_PNG_FILTER_UP
"""PNG row filter: "up" alone is both the fastest and (measured on every type) the smallest, 2x faster
than the adaptive default on photo-like pages."""
CSV_FLOAT = "%.4f"
"""Fixed float format of every written signal value: byte-identical files, 0.1 uV resolution."""
ALL_TYPES: tuple[str, ...] = ("0001", "0003", "0004", "0005", "0006", "0009", "0010", "0011", "0012")
"""Every competition image type, in the order test images cycle through them."""
KIT_P = 0.5
"""Share of records whose clean page is drawn as ecg-image-kit (the competition's generator) draws
it: `kit_style` on the unmoved KIT_LAYOUT (the others: `random_style` on a moved DEFAULT_LAYOUT)."""
KIT_PULSE = {"rise_px": -38.79, "fall_px": 0.60, "stroke_px": 3.14}
"""The kit's 1 mV calibration pulse, measured on its pages (pipeline.ecg.evaluation.fidelity): a
rectangle, no lead-in, rising at x0 - 38.79 px (0.2 s before t = 0, moved by matplotlib's pixel
snapping), falling at x0 + 0.60 px where the trace starts, strokes 3.14 px wide."""
KIT_SEPARATOR = {"width_px": 6.26, "top_px": 27.7, "bottom_px": 27.7}
"""The kit's column separator: a bar 6.26 px wide centred on the column boundary snapped to a pixel
edge, from 27.7 px above the row's baseline to 27.7 px below it (0.352 mV, half-darkness edges)."""
KIT_LABEL = {"dx": 3.4, "dy": 54.5, "scale": 0.95, "thickness": 2}
"""Lead labels: left edge 3.4 px right of the segment's first sample, text baseline 54.5 px below
the row's baseline, cap height about 21 px."""


# ---------------------------------------------------------------- page style
GRID_COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (235.0, 110.0, 120.0),
    "pink": (240.0, 150.0, 185.0),
    "brown": (185.0, 125.0, 85.0),
    "blue": (110.0, 150.0, 220.0),
    "green": (115.0, 185.0, 125.0),
}
"""Major grid line colour (RGB) by name; "none" draws no grid."""
GRID_P = {"red": 0.38, "pink": 0.2, "brown": 0.1, "blue": 0.1, "green": 0.1, "none": 0.12}
LABEL_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
               cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)


@dataclass(frozen=True)
class PageStyle:
    """Colours (RGB), strokes and furniture of one printed page.

    grid: colour name (GRID_COLOURS or "none"); minor_dots: the 1 mm grid as dots, not lines;
    grid_origin: a point the grid lines pass through (page px); clip_mv: traces clipped at
    baseline +- clip_mv (None: drawn wherever they go); calibration, separators, header: whether a
    1 mV pulse, column ticks and header text are printed.
    """

    paper: tuple[float, float, float] = (253.0, 251.0, 248.0)
    grid: str = "red"
    grid_minor: tuple[float, float, float] = (245.0, 185.0, 185.0)
    grid_major: tuple[float, float, float] = (235.0, 110.0, 120.0)
    minor_width: int = 1
    major_width: int = 1
    minor_dots: bool = False
    grid_origin: tuple[float, float] = (DEFAULT_LAYOUT.x0, DEFAULT_LAYOUT.baselines[0])
    ink: tuple[int, int, int] = (20, 20, 20)
    thickness: int = 2
    font: int = cv2.FONT_HERSHEY_SIMPLEX
    label_scale: float = 0.9
    label_thickness: int = 2
    labels_below: bool = True
    calibration: bool = True
    separators: bool = True
    header: bool = True
    clip_mv: float | None = None
    kit: bool = False

    @property
    def ink_text(self) -> tuple[int, int, int]:
        """Colour of printed text: the kit prints it black whatever the trace's grey."""
        return (0, 0, 0) if self.kit else self.ink

    def info(self) -> dict[str, object]:
        """What a reader of the ground truth may want to know about the drawing."""
        return {"grid": self.grid, "grid_origin": list(self.grid_origin), "trace_px": self.thickness,
                "calibration": self.calibration, "clip_mv": self.clip_mv, "kit": self.kit}


def random_style(rng: np.random.Generator, layout: PageLayout = DEFAULT_LAYOUT) -> PageStyle:
    """A page style as printers make them: paper tint, grid colour and widths (the grid fixed to the
    paper or to the traces), ink and stroke, label font, furniture, clipping."""
    paper = 255.0 - rng.uniform(0.0, 10.0) * rng.dirichlet([2.0, 2.0, 2.0]) * 3.0
    if rng.random() < 0.3:  # cream, grey or bluish paper
        paper = paper - np.array([[0, 3, 14], [8, 8, 8], [10, 5, 0]][rng.integers(3)]) * rng.uniform(0.3, 1.0)
    names = list(GRID_P)
    grid = str(rng.choice(names, p=[GRID_P[n] for n in names]))
    base = np.array(GRID_COLOURS.get(grid, (255.0, 255.0, 255.0)))
    major = np.clip(base + rng.uniform(-15, 15, 3), 0, 255)
    major = paper + (major - paper) * rng.uniform(0.75, 1.0)
    minor = paper + (major - paper) * rng.uniform(0.3, 0.55)
    if grid == "none":
        major = minor = paper
    aligned = rng.random() < 0.5
    origin = (layout.x0, layout.baselines[0]) if aligned else tuple(rng.uniform(0, 5 * layout.px_per_mm, 2))
    ink_level = int(rng.integers(0, 50))
    ink = (ink_level, ink_level, min(ink_level + int(rng.integers(0, 15)), 255))
    if rng.random() < 0.1:  # dark blue ink
        ink = (int(rng.integers(10, 40)), int(rng.integers(20, 50)), int(rng.integers(80, 130)))
    font = int(LABEL_FONTS[rng.integers(len(LABEL_FONTS))]) | (cv2.FONT_ITALIC if rng.random() < 0.15 else 0)
    return PageStyle(
        paper=tuple(float(v) for v in paper), grid=grid, grid_minor=tuple(float(v) for v in minor),
        grid_major=tuple(float(v) for v in major), minor_width=1,
        major_width=int(rng.choice([1, 2], p=[0.6, 0.4])), minor_dots=bool(rng.random() < 0.1),
        grid_origin=(float(origin[0]), float(origin[1])), ink=ink,
        thickness=int(rng.choice([1, 2, 3], p=[0.25, 0.5, 0.25])), font=font,
        label_scale=float(rng.uniform(0.7, 1.25)) * (1.6 if font & 0xF == cv2.FONT_HERSHEY_PLAIN else 1.0),
        label_thickness=int(rng.choice([1, 2])), labels_below=bool(rng.random() < 0.7),
        calibration=bool(rng.random() < 0.85), separators=bool(rng.random() < 0.7),
        header=bool(rng.random() < 0.9),
        clip_mv=float(rng.uniform(1.5, 2.4)) if rng.random() < 0.3 else None,
    )


def kit_style(rng: np.random.Generator) -> PageStyle:
    """ecg-image-kit's clean page (type 0001): white paper, its red grid (major (255, 0, 0), minor
    (254, 223, 219), 1 px) through the page's corner, a grey trace (0-20 % grey, as the kit draws it)
    2 px wide, its pulse, separators, labels and header (`kit` furniture), nothing clipped."""
    level = int(round(255 * rng.uniform(0.0, 0.2)))
    return PageStyle(paper=(255.0, 255.0, 255.0), grid="red", grid_minor=(254.0, 223.0, 219.0),
                     grid_major=(255.0, 0.0, 0.0), minor_width=1, major_width=1, minor_dots=False,
                     grid_origin=(-0.5, -0.5), ink=(level, level, level), thickness=2,
                     font=cv2.FONT_HERSHEY_SIMPLEX, label_scale=KIT_LABEL["scale"],
                     label_thickness=KIT_LABEL["thickness"], labels_below=True, calibration=True,
                     separators=True, header=True, clip_mv=None, kit=True)


def random_layout(rng: np.random.Generator, base: PageLayout = DEFAULT_LAYOUT, max_dx: float = 12.0,
                  max_dy: float = 10.0) -> PageLayout:
    """The base layout moved a few pixels, as printers place the traces: x0 by up to max_dx, all rows
    together by up to max_dy and each row by up to max_dy / 2 more."""
    shift = rng.uniform(-max_dy, max_dy)
    baselines = tuple(float(b + shift + rng.uniform(-max_dy / 2, max_dy / 2)) for b in base.baselines)
    return replace(base, x0=float(base.x0 + rng.uniform(-max_dx, max_dx)), baselines=baselines)


# ---------------------------------------------------------------- page drawing
def segments(fs: int, kit: bool = False) -> list[tuple[int, str, int, int]]:
    """(row, lead, start, stop) of every drawn trace piece: rows 0-2 one 2.5 s window per column,
    row 3 the full rhythm lead. Samples [start, stop) of the 10 s record: each lead's `lead_window`."""
    out = [(r, lead, *column_window(fs, c)) for r, row in enumerate(ROWS[:3]) for c, lead in enumerate(row)]
    return out + [(3, RHYTHM_LEAD, *lead_window(fs, RHYTHM_LEAD))]


def segment_times(fs: int, start: int, stop: int, row: int, kit: bool) -> np.ndarray:
    """Time (s) on the page of samples [start, stop): i / fs, or as the kit draws a column, its first
    sample at the column's boundary (c * 2.5 s) and the others 1 / fs apart from there."""
    i = np.arange(start, stop)
    total = int(round(fs * DURATION_S))
    if not kit or row == 3 or total % N_COLUMNS == 0:  # the same positions (to the float) unless at 1025 Hz
        return i / fs
    c = next(k for k in range(N_COLUMNS) if start == k * total // N_COLUMNS)
    return c * DURATION_S / N_COLUMNS + (i - start) / fs


def _segment_x(layout: PageLayout, fs: int, start: int, stop: int, row: int, kit: bool) -> np.ndarray:
    """x of samples [start, stop): x0 + segment_times * px_per_s."""
    return layout.x0 + segment_times(fs, start, stop, row, kit) * layout.px_per_s


def _grid_positions(n: int, origin: float, period: float) -> np.ndarray:
    """Positions in [0, n) of lines every `period` px through `origin`."""
    first = origin - np.floor(origin / period) * period
    return np.arange(first, n, period)


def _paper_with_grid(layout: PageLayout, style: PageStyle) -> np.ndarray:
    """The blank page: paper and the 1 mm / 5 mm grid through style.grid_origin."""
    w, h, mm = layout.width, layout.height, layout.px_per_mm
    img = np.empty((h, w, 3), np.uint8)
    img[:] = np.round(style.paper).astype(np.uint8)
    if style.grid == "none":
        return img
    ox, oy = style.grid_origin
    one = 1 << SHIFT
    if style.minor_dots:
        xs = np.round(_grid_positions(w, ox, mm)).astype(int)
        ys = np.round(_grid_positions(h, oy, mm)).astype(int)
        img[np.ix_(ys[ys < h], xs[xs < w])] = np.round(style.grid_minor).astype(np.uint8)
        layers = ((style.grid_major, 5 * mm, style.major_width),)
    else:
        layers = ((style.grid_minor, mm, style.minor_width), (style.grid_major, 5 * mm, style.major_width))
    for colour, period, width in layers:
        ink = tuple(int(round(c)) for c in colour)
        for x in np.round(_grid_positions(w, ox, period) * one).astype(int):
            cv2.line(img, (int(x), 0), (int(x), (h - 1) * one), ink, width, cv2.LINE_AA, SHIFT)
        for y in np.round(_grid_positions(h, oy, period) * one).astype(int):
            cv2.line(img, (0, int(y)), ((w - 1) * one, int(y)), ink, width, cv2.LINE_AA, SHIFT)
    return img


def _fixed(points: np.ndarray) -> np.ndarray:
    """Float (x, y) points to cv2's fixed-point int32 (SHIFT fractional bits)."""
    return np.round(points * (1 << SHIFT)).astype(np.int32)


def _text(img: np.ndarray, text: str, org: tuple[float, float], colour: tuple[int, int, int], font: int,
          scale: float, thickness: int) -> None:
    cv2.putText(img, text, (int(round(org[0])), int(round(org[1]))), font, scale, colour, thickness, cv2.LINE_AA)


_DIAGNOSES = ("Sinus rhythm", "Normal ECG", "Sinus bradycardia", "Sinus tachycardia", "Atrial fibrillation",
              "Borderline ECG", "Abnormal ECG", "Left axis deviation", "Right bundle branch block",
              "Left bundle branch block", "Nonspecific ST abnormality", "Possible inferior infarct",
              "Premature ventricular complexes", "Low QRS voltages", "Left ventricular hypertrophy")


def _header_lines(rng: np.random.Generator) -> list[list[str]]:
    """One to three blocks of fake patient, measurement and interpretation text."""
    y, mo, d = int(rng.integers(1995, 2025)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    hh, mi, ss = int(rng.integers(0, 24)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    qt = int(rng.integers(320, 460))
    patient = [f"ID: {int(rng.integers(10**5, 10**9))}", f"Name: {rng.choice(['ANON', 'DOE, J', 'PATIENT', 'X'])}",
               f"Age: {int(rng.integers(18, 95))} yr   Sex: {rng.choice(['M', 'F'])}",
               f"{y}-{mo:02d}-{d:02d} {hh:02d}:{mi:02d}:{ss:02d}"]
    numbers = [f"Vent. rate {int(rng.integers(40, 180))} BPM", f"PR interval {int(rng.integers(110, 260))} ms",
               f"QRS duration {int(rng.integers(70, 170))} ms", f"QT/QTc {qt}/{qt + int(rng.integers(-20, 60))} ms",
               f"P-R-T axes {int(rng.integers(-30, 90))} {int(rng.integers(-60, 120))} {int(rng.integers(-30, 120))}"]
    words = [str(s) for s in rng.choice(_DIAGNOSES, size=int(rng.integers(1, 4)), replace=False)]
    words.append(str(rng.choice(["Unconfirmed report", "Confirmed by: Dr. A", "Referred by: ---", "Room 12"])))
    blocks = [patient[: int(rng.integers(2, 5))], numbers[: int(rng.integers(2, 6))], words]
    keep = rng.permutation(3)[: int(rng.integers(1, 4))]
    return [blocks[k] for k in sorted(keep)]


def _header(img: np.ndarray, rng: np.random.Generator, style: PageStyle, layout: PageLayout) -> None:
    """Header text blocks above the first row, a footer line below the last, sometimes a handwritten note."""
    top_room = layout.baselines[0] - 2.2 * layout.px_per_mv
    font = int(LABEL_FONTS[rng.integers(len(LABEL_FONTS) - 1)])
    scale, thick = rng.uniform(0.6, 1.0), int(rng.choice([1, 2]))
    x = rng.uniform(20, 120)
    for block in _header_lines(rng):
        y = rng.uniform(35, 70)
        step = rng.uniform(34, 44) * scale
        for line in block:
            if y < top_room:
                _text(img, line, (x, y), style.ink, font, scale, thick)
            y += step
        x += rng.uniform(520, 760) * scale
    if rng.random() < 0.6:
        foot = f"25mm/s   10mm/mV   {rng.choice(['0.05-150 Hz', '0.5-40 Hz', '0.05-100 Hz'])}   " \
               f"{rng.choice(['50 Hz', '60 Hz', ''])}"
        org = (rng.uniform(40, 600), layout.height - rng.uniform(12, 30))
        _text(img, foot, org, style.ink, font, 0.7 * scale + 0.1, 1)
    if rng.random() < 0.15:
        note = str(rng.choice(["compare w/ old", "chest pain", "pre-op", "dizziness", "f/u 2 wk", "ok"]))
        _text(img, note, (rng.uniform(600, 1600), rng.uniform(80, max(90, top_room - 20))),
              (30, 30, int(rng.integers(60, 140))), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, rng.uniform(1.2, 2.0), 2)


def _box(img: np.ndarray, x0: float, x1: float, y0: float, y1: float, colour: tuple[int, int, int]) -> None:
    """Paint the rectangle [x0, x1] x [y0, y1] (pixel centres at integers) with exact area coverage:
    the antialiased, axis-aligned stroke matplotlib draws for the kit's pulses and separators."""
    h, w = img.shape[:2]
    ca, cb = max(int(np.floor(x0 + 0.5)), 0), min(int(np.ceil(x1 + 0.5)), w)
    ra, rb = max(int(np.floor(y0 + 0.5)), 0), min(int(np.ceil(y1 + 0.5)), h)
    if ca >= cb or ra >= rb:
        return
    cx = np.arange(ca, cb) - 0.5
    ry = np.arange(ra, rb) - 0.5
    fx = np.clip(np.minimum(cx + 1, x1 + 0.0) - np.maximum(cx, x0), 0, 1)
    fy = np.clip(np.minimum(ry + 1, y1 + 0.0) - np.maximum(ry, y0), 0, 1)
    cover = (fy[:, None] * fx[None, :])[..., None]
    patch = img[ra:rb, ca:cb].astype(np.float64)
    img[ra:rb, ca:cb] = np.round(patch * (1 - cover) + np.asarray(colour, np.float64) * cover).astype(np.uint8)


def _kit_marks(img: np.ndarray, layout: PageLayout, fs: int, style: PageStyle) -> None:
    """The kit's furniture: labels below each segment's start, separator bars at the column
    boundaries (snapped to a pixel edge, as matplotlib snaps them), rectangular 1 mV pulses."""
    pps = layout.px_per_s
    for row, lead, start, _ in segments(fs, kit=True):
        c = 0 if row == 3 else ROWS[row].index(lead)
        x, b = layout.x0 + c * DURATION_S / N_COLUMNS * pps, layout.baselines[row]
        _text(img, lead, (x + KIT_LABEL["dx"], b + KIT_LABEL["dy"]), style.ink_text, style.font, style.label_scale,
              style.label_thickness)
        if c > 0:
            xc = np.floor(x + 1.0) - 0.5
            half = KIT_SEPARATOR["width_px"] / 2
            _box(img, xc - half, xc + half, b - KIT_SEPARATOR["top_px"], b + KIT_SEPARATOR["bottom_px"], style.ink)
    s = KIT_PULSE["stroke_px"] / 2
    for row in range(len(ROWS)):
        b, top = layout.baselines[row], layout.y_of_mv(row, 1.0)
        xr, xf = layout.x0 + KIT_PULSE["rise_px"], layout.x0 + KIT_PULSE["fall_px"]
        _box(img, xr - s, xr + s, top - s, b + s, style.ink)
        _box(img, xr - s, xf + s, top - s, top + s, style.ink)
        _box(img, xf - s, xf + s, top - s, b + s, style.ink)


def _kit_header(img: np.ndarray, rng: np.random.Generator, style: PageStyle, layout: PageLayout) -> None:
    """The kit's printed header (--print_header): `ID:`, `Age:`, `Sex:` lines at the top left,
    `Name:` at x 603 and `Date:` at x 1194 on the first line, and the footer `25mm/s`, `10mm/mV`."""
    y, mo, d = int(rng.integers(1985, 2005)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    hh, mi, ss = int(rng.integers(0, 24)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    first = [(10, f"ID: {int(rng.integers(1, 22000)):05d}_hr"), (603, "Name:"),
             (1194, f"Date: {y}-{mo:02d}-{d:02d}, {hh:02d}:{mi:02d}:{ss:02d}")]
    lines = [first, [(10, f"Age: {int(rng.integers(18, 95))} yrs")],
             [(10, f"Sex: {rng.choice(['Male', 'Female'])}")]]
    for k, line in enumerate(lines):
        for x, text in line:
            _text(img, text, (x, 42 + 40 * k), style.ink_text, style.font, 0.95, 2)
    for x, text in ((396, "25mm/s"), (791, "10mm/mV")):
        _text(img, text, (x, layout.height - 38), style.ink_text, style.font, 0.95, 2)


KIT_TRACE_WIDTH_PT = 0.75
"""The kit's trace pen: matplotlib's `ax.plot(..., linewidth=0.75)` at its 200 dpi, 2.08 px."""


def draw_kit_traces(img: np.ndarray, paths: dict[str, np.ndarray], ink: tuple[int, int, int]) -> None:
    """Every path drawn as ecg-image-kit draws its traces: by matplotlib's Agg renderer, KIT_TRACE_WIDTH_PT
    wide with its default round joins, path simplification and exact-area antialiasing, then blended
    onto the page with the ink colour by the drawn coverage.

    The pen decides how merged QRS flanks and apexes look at 500 Hz (0.39 px per sample). The cv2 pen
    used before (4x supersampled, 2.25 px) left 3-7 % more ink than the kit's at the kit's own sample
    positions, and the digitizer's errors on our pages did not look like those on the kit's (renders
    of the same records: best fitting gain 1.005 vs 1.01, time shift 0 vs -0.075 samples)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred on purpose: heavy optional dependency
    from matplotlib.figure import Figure  # deferred on purpose: heavy optional dependency

    h, w = img.shape[:2]
    pad = 0.25  # matplotlib truncates the canvas to whole pixels: w / DPI * DPI may come out w - 1
    fig = Figure(figsize=((w + pad) / DPI, (h + pad) / DPI), dpi=DPI)
    fig.patch.set_alpha(0.0)
    ax = fig.add_axes((0.0, 0.0, w / (w + pad), h / (h + pad)))
    ax.set_axis_off()
    ax.set_xlim(-0.5, w - 0.5)  # pixel centres at integers, as everywhere here
    ax.set_ylim(h - 0.5, -0.5)
    for pts in paths.values():
        if len(pts):
            ax.plot(pts[:, 0], pts[:, 1], linewidth=KIT_TRACE_WIDTH_PT, color="black")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    cover = np.asarray(canvas.buffer_rgba())[..., 3:4].astype(np.float32) / 255.0
    img[:] = np.round(img * (1 - cover) + np.asarray(ink, np.float32) * cover).astype(np.uint8)


def _calibration_pulse(layout: PageLayout, row: int, width_s: float) -> np.ndarray:
    """Points of a 1 mV pulse of width_s standing just before x0 on a row's baseline."""
    b, top, pps = layout.baselines[row], layout.y_of_mv(row, 1.0), layout.px_per_s
    xs = layout.x0 - np.array([0.10 + width_s, 0.05 + width_s, 0.05 + width_s, 0.05, 0.05, 0.01]) * pps
    return np.stack([xs, [b, b, top, top, b, b]], axis=1)


def _lead_marks(img: np.ndarray, layout: PageLayout, fs: int, style: PageStyle, rng: np.random.Generator) -> None:
    """Lead labels at the start of each segment, separator ticks between columns, calibration pulses."""
    dx = rng.uniform(3, 14)
    dy = (rng.uniform(0.35, 0.55) if style.labels_below else -rng.uniform(0.25, 0.6)) * layout.px_per_mv
    for row, lead, start, _ in segments(fs):
        x, b = layout.x0 + start / fs * layout.px_per_s, layout.baselines[row]
        _text(img, lead, (x + dx, b + dy), style.ink, style.font, style.label_scale, style.label_thickness)
        if style.separators and start > 0 and row < 3:
            half = rng.uniform(0.2, 0.35) * layout.px_per_mv
            tick = np.array([[x, b - half], [x, b + half]])
            cv2.polylines(img, [_fixed(tick)], False, style.ink, style.thickness + 1, cv2.LINE_AA, SHIFT)
    if style.calibration:
        width_s = float(rng.choice([0.2, 0.2, 0.16, 0.24]))
        for row in range(len(ROWS)):
            cv2.polylines(img, [_fixed(_calibration_pulse(layout, row, width_s))], False, style.ink,
                          style.thickness, cv2.LINE_AA, SHIFT)


def trace_paths(record: pd.DataFrame, fs: int, layout: PageLayout = DEFAULT_LAYOUT,
                clip_mv: float | None = None, kit: bool = False) -> dict[str, np.ndarray]:
    """"lead@row" -> (n, 2) pixel (x, y) of each sample: x = x0 + (i / fs) * px_per_s (kit: see
    `_segment_x`), y = y_of_mv (clipped to baseline +- clip_mv when given, as a printer that keeps
    traces inside their row)."""
    paths = {}
    for row, lead, start, stop in segments(fs, kit):
        x = _segment_x(layout, fs, start, stop, row, kit)
        mv = record[lead].to_numpy(np.float64)[start:stop]
        if clip_mv is not None:
            mv = np.clip(mv, -clip_mv, clip_mv)
        paths[f"{lead}@{row}"] = np.stack([x, layout.y_of_mv(row, mv)], axis=1)
    return paths


def render_page(record: pd.DataFrame, fs: int, rng: np.random.Generator,
                layout: PageLayout = DEFAULT_LAYOUT, style: PageStyle | None = None) -> RenderedPage:
    """Draw a record on a clean 12-lead page (type 0001) with its row mask and trace paths; the style
    is drawn from rng unless given. Paths follow `layout` exactly."""
    if len(record) != int(round(fs * DURATION_S)) or list(record.columns) != list(LEADS):
        raise PipelineError(f"record must have {int(round(fs * DURATION_S))} rows and columns {', '.join(LEADS)}")
    style = style or random_style(rng, layout)
    img = _paper_with_grid(layout, style)
    if style.kit:
        if style.header:
            _kit_header(img, rng, style, layout)
        _kit_marks(img, layout, fs, style)
    else:
        if style.header:
            _header(img, rng, style, layout)
        _lead_marks(img, layout, fs, style, rng)
    paths = trace_paths(record, fs, layout, style.clip_mv, style.kit)
    mask = np.zeros((layout.height, layout.width), np.uint8)
    if style.kit:
        draw_kit_traces(img, paths, style.ink)
    for key, pts in paths.items():  # rows in order 0..3: a later row wins where traces overlap
        row = int(key.split("@")[1])
        if not style.kit:
            cv2.polylines(img, [_fixed(pts)], False, style.ink, style.thickness, cv2.LINE_AA, SHIFT)
        cv2.polylines(mask, [_fixed(pts)], False, row + 1, style.thickness, cv2.LINE_8, SHIFT)
    return RenderedPage(image=img, row_mask=mask, paths=paths, layout=layout, info=style.info())


def warp_affine(page: RenderedPage, m: np.ndarray) -> RenderedPage:
    """Move the page by the 2x3 map m: image bilinear (border = paper), mask nearest, paths exactly."""
    return warp_page(page, Warp(affine_homography(m)), paper_colour(page.image))[0]


# ---------------------------------------------------------------- the competition folder
@dataclass(frozen=True)
class _Job:
    """One record to write: a train record (all image types) or a test image (one type)."""

    root: Path
    seed: int
    split: str
    image_id: str
    fs: int
    types: tuple[str, ...]


def _draw_ids(seed: int, split: str, n: int, taken: set[str]) -> list[str]:
    """n unique numeric ids (8-10 digits); the k-th id depends only on (seed, split, k)."""
    out = []
    for k in range(n):
        rng = rng_for(seed, "id", split, k)
        image_id = str(int(rng.integers(10**7, 10**10)))
        while image_id in taken:
            image_id = str(int(rng.integers(10**7, 10**10)))
        taken.add(image_id)
        out.append(image_id)
    return out


def _draw_fs(seed: int, image_id: str) -> int:
    rates = [fs for fs in SAMPLING_RATES if fs in FS_WEIGHTS]
    p = np.array([FS_WEIGHTS[fs] for fs in rates])
    return int(rng_for(seed, image_id, "fs").choice(rates, p=p / p.sum()))


def kaggle_frame(record: pd.DataFrame, fs: int) -> pd.DataFrame:
    """The record as a competition CSV holds it: lead II whole, every other lead NaN outside its window."""
    out = record.copy()
    for lead in LEADS:
        start, stop = lead_window(fs, lead)
        values = out[lead].to_numpy(np.float64, copy=True)
        values[:start] = np.nan
        values[stop:] = np.nan
        out[lead] = values
    return out


def _csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format=CSV_FLOAT, lineterminator="\n")


def png_bytes(img: np.ndarray) -> bytes:
    """An RGB (or grey) image as PNG bytes, written as every page here is (PNG_LEVEL, PNG_FILTER)."""
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL, cv2.IMWRITE_PNG_FILTER, PNG_FILTER])
    if not ok:
        raise PipelineError("PNG encoding failed")
    return buf.tobytes()


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """np.savez_compressed's format with a fixed file time in the zip, so the bytes are reproducible."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.asarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, arr.getvalue())
    return buf.getvalue()


def page_meta(page: RenderedPage, image_type: str, fs: int) -> dict[str, object]:
    """The ground truth besides mask and paths: where the traces were drawn on the undegraded page
    (layout), the page -> image homography (None for non-linear warps) and the drawing's style facts."""
    lay = page.layout
    return {"image_type": image_type, "fs": fs,
            "layout": {"x0": lay.x0, "baselines": list(lay.baselines), "px_per_mm": lay.px_per_mm,
                       "width": lay.width, "height": lay.height},
            "transform": None if page.transform is None else np.round(page.transform, 12).tolist(),
            **page.info}


def _write_image(page: RenderedPage, image: Path, truth_stem: Path, meta: dict[str, object]) -> None:
    """The image, and beside it <stem>.mask.png, <stem>.paths.npz and <stem>.meta.json."""
    write_bytes_atomic(image, png_bytes(page.image))
    write_bytes_atomic(truth_stem.with_name(truth_stem.name + ".mask.png"), png_bytes(page.row_mask))
    write_bytes_atomic(truth_stem.with_name(truth_stem.name + ".paths.npz"), _npz_bytes(page.paths))
    write_text_atomic(truth_stem.with_name(truth_stem.name + ".meta.json"), json.dumps(meta, sort_keys=True) + "\n")


def clean_page(seed: int, image_id: str, fs: int) -> tuple[pd.DataFrame, RenderedPage]:
    """The record and its clean page for (seed, id): the same in make_competition and contact sheets."""
    record = simulate_record(fs, rng_for(seed, image_id, "signal"))
    if rng_for(seed, image_id, "kit").random() < KIT_P:
        page_rng = rng_for(seed, image_id, "page")
        return record, render_page(record, fs, page_rng, KIT_LAYOUT, kit_style(page_rng))
    layout = random_layout(rng_for(seed, image_id, "layout"))
    return record, render_page(record, fs, rng_for(seed, image_id, "page"), layout)


def _make_record(job: _Job) -> pd.DataFrame | None:
    """Simulate, draw, degrade and write one record; a test record returns its competition-CSV frame."""
    record, page = clean_page(job.seed, job.image_id, job.fs)
    frame = kaggle_frame(record, job.fs)
    if job.split == "train":
        folder = job.root / "train" / job.image_id
        write_text_atomic(folder / f"{job.image_id}.csv", _csv_text(frame))
        for image_type in job.types:
            shot = degrade(page, image_type, rng_for(job.seed, job.image_id, image_type))
            stem = folder / f"{job.image_id}-{image_type}"
            _write_image(shot, stem.with_suffix(".png"), stem, page_meta(shot, image_type, job.fs))
        return None
    hidden = job.root / "hidden"
    write_text_atomic(hidden / "signals" / f"{job.image_id}.csv", _csv_text(frame))
    shot = degrade(page, job.types[0], rng_for(job.seed, job.image_id, job.types[0]))
    _write_image(shot, job.root / "test" / f"{job.image_id}.png", hidden / job.image_id,
                 page_meta(shot, job.types[0], job.fs))
    return frame


def _solution(test_jobs: list[_Job], frames: list[pd.DataFrame | None]) -> pd.DataFrame:
    """id = "{id}_{row}_{lead}" and the true value, for every (image, lead) in test.csv order."""
    ids: list[str] = []
    values: list[np.ndarray] = []
    for job, frame in zip(test_jobs, frames):
        assert frame is not None
        for lead in LEADS:
            start, stop = lead_window(job.fs, lead)
            ids.extend(f"{job.image_id}_{r}_{lead}" for r in range(stop - start))
            values.append(frame[lead].to_numpy(np.float64)[start:stop])
    return pd.DataFrame({"id": ids, "value": np.concatenate(values) if values else np.zeros(0)})


def make_competition(out_dir: Path, n_train: int = 6, n_test: int = 12, seed: int = 0,
                     types: tuple[str, ...] = ALL_TYPES, workers: int = 1, scheduler: str | None = None) -> None:
    """Write a synthetic competition folder in Kaggle's layout plus hidden/ ground truth.

    Every file depends only on (seed, record id, image type): the same arguments give byte-identical
    files whatever `workers` is. Test images cycle through `types` in test.csv order. Beside each image
    (train/<id>/ or hidden/) lie <stem>.mask.png, <stem>.paths.npz and <stem>.meta.json (page_meta).
    """
    types = tuple(types)
    unknown = [t for t in types if t not in IMAGE_TYPES]
    if unknown or not types:
        raise PipelineError(f"image types must be among {', '.join(sorted(IMAGE_TYPES))}, got {types}")
    if n_train < 0 or n_test < 0:
        raise PipelineError(f"n_train and n_test must be >= 0, got {n_train}, {n_test}")
    root = Path(out_dir)
    taken: set[str] = set()
    train_ids, test_ids = _draw_ids(seed, "train", n_train, taken), _draw_ids(seed, "test", n_test, taken)
    jobs = [_Job(root, seed, "train", i, _draw_fs(seed, i), types) for i in train_ids]
    jobs += [_Job(root, seed, "test", i, _draw_fs(seed, i), (types[k % len(types)],)) for k, i in enumerate(test_ids)]
    log.info("rendering %d train records (%d images each) and %d test images into %s",
             n_train, len(types), n_test, root)
    frames = parallel_map(_make_record, jobs, workers, desc="render ecg records", scheduler=scheduler)

    train = pd.DataFrame({"id": train_ids, "fs": [j.fs for j in jobs[:n_train]],
                          "sig_len": [int(round(j.fs * DURATION_S)) for j in jobs[:n_train]]})
    write_text_atomic(root / "train.csv", train.to_csv(index=False, lineterminator="\n"))
    test_jobs = jobs[n_train:]
    test = pd.DataFrame([(j.image_id, lead, j.fs, n_samples(j.fs, lead)) for j in test_jobs for lead in LEADS],
                        columns=["id", "lead", "fs", "number_of_rows"])
    write_text_atomic(root / "test.csv", test.to_csv(index=False, lineterminator="\n"))
    for folder in ("train", "test"):  # present even when empty, as in Kaggle's layout
        (root / folder).mkdir(parents=True, exist_ok=True)
    solution = _solution(test_jobs, frames[n_train:])
    table = pa.table({"id": pa.array(solution["id"], pa.string()),
                      "value": pa.array(np.zeros(len(solution)), pa.float64())})
    with atomic_path(root / "sample_submission.parquet") as tmp:
        pq.write_table(table, tmp)
    hidden = root / "hidden"
    write_text_atomic(hidden / "solution.csv", _csv_text(solution))
    kinds = pd.DataFrame({"id": test_ids, "image_type": [j.types[0] for j in test_jobs],
                          "fs": [j.fs for j in test_jobs]})
    write_text_atomic(hidden / "test_types.csv", kinds.to_csv(index=False, lineterminator="\n"))
    log.info("wrote %s", root)


def render_speed(n: int = 18, workers: int = 1, seed: int = 12345, scheduler: str | None = None) -> float:
    """Images per second of make_competition writing n test images (cycling through every type) with
    `workers` processes (on a Dask `scheduler` when given; its start-up counts), into a temporary folder
    that is removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        make_competition(Path(tmp) / "ecg", n_train=0, n_test=n, seed=seed, types=ALL_TYPES, workers=workers,
                         scheduler=scheduler)
        return n / (time.perf_counter() - start)
