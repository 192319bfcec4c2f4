"""The embedded synthetic competition (DESIGN 4.3): ECG pages drawn in the paper layout of 4.1, degraded
to imitate each image type, written in Kaggle's file layout with pixel-exact ground truth.

Ground truth of a page: `row_mask` (which of the four trace rows each inked trace pixel belongs to) and
`paths` (the (x, y) pixel position of every drawn sample of every lead), transformed with the image by
every degradation. Pixel coordinates follow OpenCV: integer (x, y) is the centre of pixel [y, x].
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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
from pipeline.ecg.ecg_signals_sim import import_neurokit, simulate_record
from pipeline.ecg.layout import (
    DEFAULT_LAYOUT,
    DURATION_S,
    LEADS,
    N_COLUMNS,
    RHYTHM_LEAD,
    ROWS,
    SAMPLING_RATES,
    PageLayout,
    lead_window,
    n_samples,
)

__all__ = ["IMAGE_TYPES", "PageStyle", "RenderedPage", "degrade", "kaggle_frame", "make_competition",
           "random_style", "render_page", "segments", "simulate_record", "trace_paths", "warp_affine"]

log = logging.getLogger(__name__)

SHIFT = 4
"""Fractional bits of the point coordinates given to cv2 drawing: traces are placed to 1/16 px."""
FS_WEIGHTS = {250: 0.1, 256: 0.1, 500: 0.5, 512: 0.1, 1000: 0.1, 1025: 0.1}
PNG_LEVEL = 1
"""zlib level of written PNGs (fastest; OpenCV 5's default RLE strategy makes clean pages 6x larger)."""
CSV_FLOAT = "%.4f"
"""Fixed float format of every written signal value: byte-identical files, 0.1 uV resolution."""


# ---------------------------------------------------------------- page drawing
@dataclass(frozen=True, eq=False)
class RenderedPage:
    """A page image with its ground truth.

    image: HxWx3 uint8 RGB. row_mask: HxW uint8, 0 background, r + 1 on the trace pixels of row r.
    paths: "lead@row" (e.g. "I@0", "II@1", "II@3") -> (n, 2) float (x, y) of every drawn sample.
    transform: 3x3 map from the undegraded page's pixel coordinates to this image's (identity for 0001).
    Mask and paths cover the 13 trace pieces only, not calibration pulses, labels, ticks or text.
    """

    image: np.ndarray
    row_mask: np.ndarray
    paths: dict[str, np.ndarray]
    layout: PageLayout = DEFAULT_LAYOUT
    transform: np.ndarray = field(default_factory=lambda: np.eye(3))


@dataclass(frozen=True)
class PageStyle:
    """Colours (RGB) and strokes of one printed page."""

    paper: tuple[float, float, float] = (253.0, 251.0, 248.0)
    grid_minor: tuple[float, float, float] = (245.0, 185.0, 185.0)
    grid_major: tuple[float, float, float] = (235.0, 110.0, 120.0)
    minor_width: int = 1
    major_width: int = 1
    ink: tuple[int, int, int] = (20, 20, 20)
    thickness: int = 2
    font: int = cv2.FONT_HERSHEY_SIMPLEX
    labels_below: bool = True


_GRID_HUES = ((235.0, 110.0, 120.0), (220.0, 95.0, 130.0), (240.0, 140.0, 110.0), (210.0, 120.0, 170.0))


def random_style(rng: np.random.Generator) -> PageStyle:
    """A page style with varied paper tint, grid shade (red, pink, orange or purple), ink and stroke."""
    paper = 255.0 - rng.uniform(0.0, 10.0, 3) * np.array([0.3, 0.6, 1.0])  # slightly warm
    major = np.clip(np.array(_GRID_HUES[rng.integers(len(_GRID_HUES))]) + rng.uniform(-12, 12, 3), 0, 255)
    minor = paper + (major - paper) * rng.uniform(0.3, 0.55)
    ink = int(rng.integers(0, 45))
    return PageStyle(
        paper=tuple(paper), grid_minor=tuple(minor), grid_major=tuple(major),
        minor_width=1, major_width=int(rng.choice([1, 2], p=[0.6, 0.4])),
        ink=(ink, ink, min(ink + int(rng.integers(0, 15)), 255)),
        thickness=int(rng.choice([1, 2, 3], p=[0.2, 0.5, 0.3])),
        font=int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX])),
        labels_below=bool(rng.random() < 0.7),
    )


def segments(fs: int) -> list[tuple[int, str, int, int]]:
    """(row, lead, start, stop) of every drawn trace piece: rows 0-2 one 2.5 s window per column,
    row 3 the full rhythm lead. Samples [start, stop) of the 10 s record."""
    total = int(round(fs * DURATION_S))
    per = total // N_COLUMNS
    out = [(r, lead, c * per, (c + 1) * per) for r, row in enumerate(ROWS[:3]) for c, lead in enumerate(row)]
    return out + [(3, RHYTHM_LEAD, 0, total)]


def _grid_positions(n: int, origin: float, period: float) -> np.ndarray:
    """Positions in [0, n) of lines every `period` px through `origin`."""
    first = origin - np.floor(origin / period) * period
    return np.arange(first, n, period)


def _paper_with_grid(layout: PageLayout, style: PageStyle) -> np.ndarray:
    """The blank page: paper and the 1 mm / 5 mm grid, lines through t = 0 and row 0's baseline."""
    w, h, mm = layout.width, layout.height, layout.px_per_mm
    img = np.empty((h, w, 3), np.uint8)
    img[:] = np.round(style.paper).astype(np.uint8)
    for colour, period, width in ((style.grid_minor, mm, style.minor_width),
                                  (style.grid_major, 5 * mm, style.major_width)):
        ink = tuple(int(round(c)) for c in colour)
        one = 1 << SHIFT
        for x in np.round(_grid_positions(w, layout.x0, period) * one).astype(int):
            cv2.line(img, (int(x), 0), (int(x), (h - 1) * one), ink, width, cv2.LINE_AA, SHIFT)
        for y in np.round(_grid_positions(h, layout.baselines[0], period) * one).astype(int):
            cv2.line(img, (0, int(y)), ((w - 1) * one, int(y)), ink, width, cv2.LINE_AA, SHIFT)
    return img


def _fixed(points: np.ndarray) -> np.ndarray:
    """Float (x, y) points to cv2's fixed-point int32 (SHIFT fractional bits)."""
    return np.round(points * (1 << SHIFT)).astype(np.int32)


def _text(img: np.ndarray, text: str, org: tuple[float, float], style: PageStyle, scale: float) -> None:
    cv2.putText(img, text, (int(round(org[0])), int(round(org[1]))), style.font, scale, style.ink,
                2 if scale >= 0.8 else 1, cv2.LINE_AA)


def _header(img: np.ndarray, rng: np.random.Generator, style: PageStyle) -> None:
    """Fake patient and recording text above the traces."""
    y, mo, d = int(rng.integers(2001, 2024)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    hh, mi, ss = int(rng.integers(0, 24)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    lines = [f"ID: {int(rng.integers(10**5, 10**8))}    Name: ANON    Age: {int(rng.integers(18, 95))}",
             f"Date: {y}-{mo:02d}-{d:02d} {hh:02d}:{mi:02d}:{ss:02d}",
             f"Vent. rate {int(rng.integers(45, 125))} BPM   PR {int(rng.integers(120, 200))} ms   "
             f"QRS {int(rng.integers(70, 110))} ms",
             "25mm/s  10mm/mV  0.05-150 Hz"]
    x, top, scale = rng.uniform(30, 90), rng.uniform(45, 80), rng.uniform(0.8, 1.1)
    for k, line in enumerate(lines):
        _text(img, line, (x, top + k * 42 * scale), style, scale)


def _calibration_pulse(layout: PageLayout, row: int) -> np.ndarray:
    """Points of a 1 mV, 0.2 s pulse standing just before x0 on a row's baseline."""
    b, top, pps = layout.baselines[row], layout.y_of_mv(row, 1.0), layout.px_per_s
    xs = layout.x0 - np.array([0.30, 0.25, 0.25, 0.05, 0.05, 0.01]) * pps
    return np.stack([xs, [b, b, top, top, b, b]], axis=1)


def _lead_marks(img: np.ndarray, layout: PageLayout, fs: int, style: PageStyle, rng: np.random.Generator) -> None:
    """Lead labels at the start of each segment, separator ticks between columns, calibration pulses."""
    for row, lead, start, _ in segments(fs):
        x, b = layout.x0 + start / fs * layout.px_per_s, layout.baselines[row]
        dy = 0.45 * layout.px_per_mv if style.labels_below else -0.3 * layout.px_per_mv
        _text(img, lead, (x + 6, b + dy), style, 0.9)
        if start > 0 and row < 3:
            half = rng.uniform(0.2, 0.35) * layout.px_per_mv
            tick = np.array([[x, b - half], [x, b + half]])
            cv2.polylines(img, [_fixed(tick)], False, style.ink, style.thickness + 1, cv2.LINE_AA, SHIFT)
    for row in range(len(ROWS)):
        cv2.polylines(img, [_fixed(_calibration_pulse(layout, row))], False, style.ink, style.thickness,
                      cv2.LINE_AA, SHIFT)


def trace_paths(record: pd.DataFrame, fs: int, layout: PageLayout = DEFAULT_LAYOUT) -> dict[str, np.ndarray]:
    """"lead@row" -> (n, 2) pixel (x, y) of each sample: x = x0 + (i / fs) * px_per_s, y = y_of_mv."""
    paths = {}
    for row, lead, start, stop in segments(fs):
        x = layout.x0 + (np.arange(start, stop) / fs) * layout.px_per_s
        y = layout.y_of_mv(row, record[lead].to_numpy(np.float64)[start:stop])
        paths[f"{lead}@{row}"] = np.stack([x, y], axis=1)
    return paths


def render_page(record: pd.DataFrame, fs: int, rng: np.random.Generator,
                layout: PageLayout = DEFAULT_LAYOUT) -> RenderedPage:
    """Draw a record on a clean 12-lead page (type 0001) with its row mask and trace paths."""
    if len(record) != int(round(fs * DURATION_S)) or list(record.columns) != list(LEADS):
        raise PipelineError(f"record must have {int(round(fs * DURATION_S))} rows and columns {', '.join(LEADS)}")
    style = random_style(rng)
    img = _paper_with_grid(layout, style)
    _header(img, rng, style)
    _lead_marks(img, layout, fs, style, rng)
    paths = trace_paths(record, fs, layout)
    mask = np.zeros((layout.height, layout.width), np.uint8)
    for key, pts in paths.items():  # rows in order 0..3: a later row wins where traces overlap
        row = int(key.split("@")[1])
        cv2.polylines(img, [_fixed(pts)], False, style.ink, style.thickness, cv2.LINE_AA, SHIFT)
        cv2.polylines(mask, [_fixed(pts)], False, row + 1, style.thickness, cv2.LINE_8, SHIFT)
    return RenderedPage(image=img, row_mask=mask, paths=paths, layout=layout)


# ---------------------------------------------------------------- degradations (image types)
def _paper_colour(img: np.ndarray) -> tuple[float, ...]:
    """The page's background colour: the median of a sparse pixel sample (grid and ink are a minority)."""
    return tuple(float(v) for v in np.median(img[::16, ::16].reshape(-1, img.shape[2]), axis=0))


def _random_affine(rng: np.random.Generator, layout: PageLayout, max_deg: float = 2.0,
                   max_shift: float = 15.0) -> np.ndarray:
    """2x3 map of a scanner's placement error: rotation about the centre, scale 0.98-1.02, shift."""
    m = cv2.getRotationMatrix2D((layout.width / 2, layout.height / 2), rng.uniform(-max_deg, max_deg),
                                rng.uniform(0.98, 1.02))
    m[:, 2] += rng.uniform(-max_shift, max_shift, 2)
    return m


def warp_affine(page: RenderedPage, m: np.ndarray) -> RenderedPage:
    """Move the page by the 2x3 map m: image bilinear (border = paper), mask nearest, paths exactly."""
    size = (page.image.shape[1], page.image.shape[0])
    img = cv2.warpAffine(page.image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=_paper_colour(page.image))
    mask = cv2.warpAffine(page.row_mask, m, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)
    paths = {k: p @ m[:, :2].T + m[:, 2] for k, p in page.paths.items()}
    return replace(page, image=img, row_mask=mask, paths=paths, transform=np.vstack([m, [0, 0, 1]]) @ page.transform)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _light_ramp(h: int, w: int, rng: np.random.Generator, depth: float) -> np.ndarray:
    """HxW float32 illumination falling linearly from 1 to 1 - depth along a random direction."""
    a = rng.uniform(0, 2 * np.pi)
    c, s = np.float32(np.cos(a)), np.float32(np.sin(a))
    span = abs(c) + abs(s)  # the ramp below runs over [-span, span]
    gx = (c * np.linspace(-1, 1, w, dtype=np.float32) - span) * np.float32(depth / (2 * span))
    gy = (s * np.linspace(-1, 1, h, dtype=np.float32)) * np.float32(depth / (2 * span))
    return np.float32(1.0) + np.add.outer(gy, gx)


def _clean(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """0001: the clean render itself."""
    return page


def _scan_colour(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """0003, a colour print scanned in colour: placement, blur, colour cast, uneven light, noise, JPEG."""
    page = warp_affine(page, _random_affine(rng, page.layout))
    img = cv2.GaussianBlur(page.image.astype(np.float32), (0, 0), rng.uniform(0.4, 1.0))
    h, w = img.shape[:2]
    light = _light_ramp(h, w, rng, rng.uniform(0.0, 0.06))
    img *= light[..., None] * rng.uniform(0.9, 1.03, 3).astype(np.float32)  # colour cast, uneven light
    noise = rng.standard_normal((h, w), dtype=np.float32) * np.float32(rng.uniform(1.5, 4.0))
    img += noise[..., None] + rng.uniform(-10.0, 6.0, 3).astype(np.float32)
    np.clip(np.rint(img, out=img), 0, 255, out=img)
    return replace(page, image=_jpeg(img.astype(np.uint8), int(rng.integers(55, 91))))


def _scan_bw(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """0004, a colour print scanned black-and-white: placement, blur, then a threshold on a mostly red
    channel (scanners' red drop-out) so the reddish grid mostly vanishes and dark traces stay; dust."""
    page = warp_affine(page, _random_affine(rng, page.layout))
    img = page.image.astype(np.float32)
    red = np.float32(rng.uniform(0.6, 1.0))
    gray = cv2.GaussianBlur(red * img[..., 0] + (1 - red) * img[..., 1], (0, 0), rng.uniform(0.3, 0.6))
    bw = np.where(gray < rng.uniform(140.0, 175.0), 0, 255).astype(np.uint8)
    h, w = bw.shape
    n = int(rng.integers(100, 1500))
    ys, xs = rng.integers(0, h - 1, n), rng.integers(0, w - 1, n)
    big = rng.random(n) < 0.3
    bw[ys, xs] = 0
    bw[ys[big] + 1, xs[big]] = 0
    bw[ys[big], xs[big] + 1] = 0
    return replace(page, image=np.repeat(bw[..., None], 3, axis=2))


IMAGE_TYPES: dict[str, Callable[[RenderedPage, np.random.Generator], RenderedPage]] = {
    "0001": _clean,
    "0003": _scan_colour,
    "0004": _scan_bw,
}
"""Image type -> degradation of a clean page; later types (0005 photos, 0006 screens, ...) are added here."""


def degrade(page: RenderedPage, image_type: str, rng: np.random.Generator) -> RenderedPage:
    """The clean page as image type `image_type` sees it; ground truth moved with every pixel."""
    if image_type not in IMAGE_TYPES:
        raise PipelineError(f"unknown image type {image_type!r}; known: {', '.join(sorted(IMAGE_TYPES))}")
    return IMAGE_TYPES[image_type](page, rng)


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


def _png_bytes(img: np.ndarray) -> bytes:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
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


def _write_image(page: RenderedPage, image: Path, truth_stem: Path) -> None:
    """The image, and beside it <stem>.mask.png and <stem>.paths.npz."""
    write_bytes_atomic(image, _png_bytes(page.image))
    write_bytes_atomic(truth_stem.with_name(truth_stem.name + ".mask.png"), _png_bytes(page.row_mask))
    write_bytes_atomic(truth_stem.with_name(truth_stem.name + ".paths.npz"), _npz_bytes(page.paths))


def _make_record(job: _Job) -> pd.DataFrame | None:
    """Simulate, draw, degrade and write one record; a test record returns its competition-CSV frame."""
    record = simulate_record(job.fs, rng_for(job.seed, job.image_id, "signal"))
    frame = kaggle_frame(record, job.fs)
    page = render_page(record, job.fs, rng_for(job.seed, job.image_id, "page"))
    if job.split == "train":
        folder = job.root / "train" / job.image_id
        write_text_atomic(folder / f"{job.image_id}.csv", _csv_text(frame))
        for image_type in job.types:
            shot = degrade(page, image_type, rng_for(job.seed, job.image_id, image_type))
            stem = folder / f"{job.image_id}-{image_type}"
            _write_image(shot, stem.with_suffix(".png"), stem)
        return None
    hidden = job.root / "hidden"
    write_text_atomic(hidden / "signals" / f"{job.image_id}.csv", _csv_text(frame))
    shot = degrade(page, job.types[0], rng_for(job.seed, job.image_id, job.types[0]))
    _write_image(shot, job.root / "test" / f"{job.image_id}.png", hidden / job.image_id)
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
                     types: tuple[str, ...] = ("0001", "0003", "0004"), workers: int = 1) -> None:
    """Write a synthetic competition folder in Kaggle's layout (DESIGN 4.1) plus hidden/ ground truth.

    Every file depends only on (seed, record id, image type): the same arguments give byte-identical
    files whatever `workers` is. Test images cycle through `types` in test.csv order.
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
    if workers > 1:
        import_neurokit()  # once, before the worker processes fork
    frames = parallel_map(_make_record, jobs, workers, desc="render ecg records")

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
