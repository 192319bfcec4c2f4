"""Renderer fidelity: how closely a drawn page matches another page's ink, measured in pixels.

Pure functions on page images and known sample positions. Point coordinates are array-index
coordinates (x, y): integer x is the centre of pixel column x (OpenCV's and our renderer's
convention). ecg-image-kit writes continuous coordinates where pixel i covers [i, i + 1), i.e.
0.5 px more; `kit_points` converts.

- `darkness`: the page's ink as 255 - max(R, G, B), which keeps grey/black traces and drops red,
  pink or any saturated grid (a red grid line (255, 0, 0) has darkness 0, a grey trace about 220).
- `centre_offsets`: where the ink's centre lies across the trace (along its normal) from each
  sample point, to 1/16 px; `centreline_distance` compares two pages' ink at the same points.
- `line_width`, `calibration_pulse`, `separator_tick`, `ink_box`: the page furniture.
- `pen_match`: a page's trace ink against a pen's coverage drawn at the same points, pixel by pixel
  (what merged QRS flanks and apexes look like, which a width on flat stretches does not see).
- `fit_layout`, `page_furniture`: the geometry behind drawn positions, all furniture of a page.
  `python -m pipeline.ecg.evaluation.fidelity [shared/ecgkit-dev]` prints the kit's conventions;
  tests/ecg/evaluation/test_fidelity.py (`pytest -s`) our renderer against the real pages.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from pipeline.ecg.layout import DURATION_S, KIT_LAYOUT, N_COLUMNS, RHYTHM_LEAD, ROWS, PageLayout, column_window

__all__ = ["KIT_LAYOUT", "Distance", "calibration_pulse", "centre_offsets", "centreline_distance", "darkness",
           "fit_layout", "ink_box", "kit_points", "kit_windows", "layout_points", "line_width", "page_furniture",
           "path_midpoints", "pen_match", "read_kit_config", "segment_midpoints", "separator_tick", "unit_normals"]
INK_MIN = 60.0
"""Darkness a profile must reach to count as ink (the kit's traces: 180-255)."""


# ---------------------------------------------------------------- points
def darkness(image: np.ndarray) -> np.ndarray:
    """255 - max over the colour channels (alpha dropped), float32; a grey image: 255 - grey."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = img[..., :3].max(axis=2)
    return 255.0 - img.astype(np.float32)


def kit_windows(fs: int) -> list[tuple[int, int]]:
    """Sample ranges of the four columns as the competition's CSVs hold them: [floor(c N / 4),
    floor((c + 1) N / 4)) for N = 10 fs (at 1025 Hz: 0, 2562, 5125, 7687, 10250)."""
    return [column_window(fs, c) for c in range(N_COLUMNS)]


def layout_points(record: pd.DataFrame, fs: int, layout: PageLayout) -> dict[str, np.ndarray]:
    """"lead@row" -> (n, 2) (x, y) of every sample where the kit draws it on `layout`: column c's
    first sample (start s_c of `kit_windows`) at x0 + c * 2.5 s, sample i at + (i - s_c) / fs s;
    the rhythm row from sample 0. NaN samples are dropped."""
    out = {}
    col_s = DURATION_S / N_COLUMNS
    pieces = [(r, lead, c, *kit_windows(fs)[c]) for r, row in enumerate(ROWS[:3]) for c, lead in enumerate(row)]
    pieces.append((3, RHYTHM_LEAD, 0, 0, int(round(fs * DURATION_S))))
    for row, lead, c, start, stop in pieces:
        mv = record[lead].to_numpy(np.float64)[start:stop]
        x = layout.x0 + (c * col_s + np.arange(len(mv)) / fs) * layout.px_per_s
        pts = np.stack([x, layout.y_of_mv(row, mv)], axis=1)
        out[f"{lead}@{row}"] = pts[np.isfinite(mv)]
    return out


def kit_points(config: dict) -> dict[str, np.ndarray]:
    """"lead@row" -> (n, 2) array-index (x, y) of the kit's `plotted_pixels` ([y, x], pixel i
    covering [i, i + 1)); the row of a short strip is the layout row holding its lead, the strip
    starting at sample 0 and running the whole record is the rhythm row 3."""
    out = {}
    total = int(round(float(config["sampling_frequency"]) * DURATION_S))
    for entry in config["leads"]:
        name, start, stop = entry["lead_name"], int(entry["start_sample"]), int(entry["end_sample"])
        if name == RHYTHM_LEAD and start == 0 and stop == total:
            row = 3
        else:
            row = next(r for r, leads in enumerate(ROWS[:3]) if name in leads)
        yx = np.asarray(entry["plotted_pixels"], np.float64)
        out[f"{name}@{row}"] = yx[:, ::-1] - 0.5
    return out


def read_kit_config(path: str | Path) -> dict:
    with gzip.open(path, "rt") as fh:
        return json.load(fh)


def unit_normals(points: np.ndarray) -> np.ndarray:
    """(n, 2) unit normals of a polyline at its points (central differences of the neighbours)."""
    p = np.asarray(points, np.float64)
    if len(p) < 2:
        return np.tile([0.0, 1.0], (len(p), 1))
    t = np.gradient(p, axis=0)
    norm = np.hypot(t[:, 0], t[:, 1])
    norm[norm == 0] = 1.0
    return np.stack([-t[:, 1] / norm, t[:, 0] / norm], axis=1)


def _profiles(dark: np.ndarray, points: np.ndarray, normals: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Bilinear darkness at points + offsets * normals: (n, len(offsets))."""
    xs = (points[:, :1] + offsets[None, :] * normals[:, :1]).astype(np.float32)
    ys = (points[:, 1:] + offsets[None, :] * normals[:, 1:]).astype(np.float32)
    dark = np.ascontiguousarray(dark, np.float32)
    chunk = 30000  # cv2.remap takes at most 32767 rows
    return np.concatenate([cv2.remap(dark, xs[i:i + chunk], ys[i:i + chunk], cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
                           for i in range(0, len(xs), chunk)] or [np.zeros((0, len(offsets)), np.float32)])


def segment_midpoints(path: np.ndarray, min_len: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints of a polyline's segments and their unit normals, for segments of at least min_len
    px. A drawn stroke is straight there, so its ink is centred on the midpoint across the segment;
    at the vertices themselves (a noisy trace zigzags from sample to sample) the ink of both
    neighbouring segments pulls a profile inward."""
    p = np.asarray(path, np.float64)
    if len(p) < 2:
        return np.zeros((0, 2)), np.zeros((0, 2))
    d = np.diff(p, axis=0)
    length = np.hypot(d[:, 0], d[:, 1])
    keep = (length >= min_len) & (length > 0)
    mid = (p[:-1] + p[1:])[keep] / 2
    d, length = d[keep], length[keep]
    return mid, np.stack([-d[:, 1] / length, d[:, 0] / length], axis=1)


def path_midpoints(paths: dict[str, np.ndarray], margin: int = 0, min_len: float = 0.0,
                   width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """segment_midpoints of every path stacked, without the first and last `margin` segments of
    each (where a trace meets a pulse or a separator); inside [0, width) in x when given."""
    mids, nrms = [], []
    for p in paths.values():
        if len(p) > 2 * margin + 1:
            m, n = segment_midpoints(p[margin: len(p) - margin], min_len)
            mids.append(m)
            nrms.append(n)
    if not mids:
        return np.zeros((0, 2)), np.zeros((0, 2))
    mid, nrm = np.concatenate(mids), np.concatenate(nrms)
    if width is not None:
        ok = (mid[:, 0] >= 0) & (mid[:, 0] < width)
        mid, nrm = mid[ok], nrm[ok]
    return mid, nrm


def centre_offsets(dark: np.ndarray, points: np.ndarray, normals: np.ndarray | None = None, half: float = 3.0,
                   iters: int = 3, step: float = 1 / 16) -> np.ndarray:
    """Signed distance (px, along the trace normal) from each point to the centre of the ink across
    the trace: the darkness-weighted centroid of the profile over +-half px, the window re-centred
    on the centroid `iters` times. NaN where the profile never reaches INK_MIN. Normals: given
    (e.g. of `segment_midpoints`) or `unit_normals` of the points taken as one polyline."""
    pts = np.asarray(points, np.float64)
    if len(pts) == 0:
        return np.zeros(0)
    nrm = unit_normals(pts) if normals is None else np.asarray(normals, np.float64)
    offs = np.arange(-half - 2.0, half + 2.0 + step / 2, step)
    prof = _profiles(dark, pts, nrm, offs)
    centre = np.zeros(len(pts))
    for _ in range(iters):
        inside = np.abs(offs[None, :] - centre[:, None]) <= half
        w = np.where(inside, prof, 0.0)
        w = np.clip(w - np.where(inside, prof, np.inf).min(axis=1, keepdims=True), 0, None)
        mass = w.sum(axis=1)
        centre = np.where(mass > 0, (w * offs[None, :]).sum(axis=1) / np.where(mass > 0, mass, 1), centre)
        centre = np.clip(centre, -2.0, 2.0)
    peak = _profiles(dark, pts, nrm, np.array([-1.0, 0.0, 1.0])).max(axis=1)
    return np.where((peak >= INK_MIN) & (mass > 0), centre, np.nan)


@dataclass(frozen=True)
class Distance:
    """Stats of |distance| in px over the points with ink on both pages."""

    median: float
    p95: float
    mean: float
    n: int
    valid: float

    def line(self) -> str:
        return f"median {self.median:.3f} px, p95 {self.p95:.3f} px, mean {self.mean:.3f} px, " \
               f"n {self.n} ({100 * self.valid:.1f} % of points)"


def distance_stats(d: np.ndarray) -> Distance:
    d = np.abs(np.asarray(d, np.float64))
    ok = np.isfinite(d)
    if not ok.any():
        return Distance(np.nan, np.nan, np.nan, 0, 0.0)
    v = d[ok]
    return Distance(float(np.median(v)), float(np.percentile(v, 95)), float(v.mean()), int(ok.sum()),
                    float(ok.mean()))


def centreline_distance(dark_a: np.ndarray, dark_b: np.ndarray, points: np.ndarray,
                        normals: np.ndarray | None = None) -> Distance:
    """Distance between page a's and page b's ink centrelines across the trace, measured at points
    (e.g. the segment midpoints of where page a drew its samples): |offset_b - offset_a| per point."""
    return distance_stats(centre_offsets(dark_b, points, normals) - centre_offsets(dark_a, points, normals))


def all_points(paths: dict[str, np.ndarray], margin: int = 0, width: int | None = None) -> np.ndarray:
    """Every path's points stacked, minus the first and last `margin` points of each path (where a
    trace meets a pulse or separator)."""
    parts = [p[margin: len(p) - margin] for p in paths.values() if len(p) > 2 * margin]
    pts = np.concatenate(parts) if parts else np.zeros((0, 2))
    return pts if width is None else pts[(pts[:, 0] >= 0) & (pts[:, 0] < width)]


# ---------------------------------------------------------------- strokes
def line_width(dark: np.ndarray, points: np.ndarray, max_slope: float = 0.05) -> dict[str, float]:
    """Stroke of a trace from its flat stretches (|dy/dx| below max_slope): `width` = ink across the
    trace / the ink's full darkness (px), `darkness` = that full darkness (median profile peak)."""
    p = np.asarray(points, np.float64)
    if len(p) < 3:
        return {"width": float("nan"), "darkness": float("nan"), "n": 0}
    t = np.gradient(p, axis=0)
    flat = np.abs(t[:, 1]) <= max_slope * np.maximum(np.abs(t[:, 0]), 1e-9)
    q = p[flat]
    if len(q) == 0:
        return {"width": float("nan"), "darkness": float("nan"), "n": 0}
    offs = np.arange(-5.0, 5.0 + 1 / 32, 1 / 8)
    prof = _profiles(dark, q, np.tile([0.0, 1.0], (len(q), 1)), offs)
    prof = np.clip(prof - np.minimum(prof[:, :1], prof[:, -1:]), 0, None)
    keep = prof.max(axis=1) >= INK_MIN
    if not keep.any():
        return {"width": float("nan"), "darkness": float("nan"), "n": 0}
    full = float(np.median(prof[keep].max(axis=1)))
    mass = prof[keep].sum(axis=1) * (offs[1] - offs[0])
    return {"width": float(np.median(mass) / full), "darkness": full, "n": int(keep.sum())}


def pen_match(dark: np.ndarray, coverage: np.ndarray, min_cover: float = 0.02) -> dict[str, float]:
    """A page's trace darkness against a pen's coverage (0-1) drawn at its sample points, over the pixels
    the pen touches (coverage above min_cover): `mean_abs`, the mean |coverage - darkness| with the
    darkness scaled by the ink's own (its 95th percentile there), and `ink_ratio`, the pen's ink over
    the page's (above 1: a pen wider or blunter than the page's)."""
    touched = coverage > min_cover
    if not touched.any():
        return {"mean_abs": float("nan"), "ink_ratio": float("nan")}
    page = np.clip(dark / max(float(np.percentile(dark[touched], 95)), 1e-6), 0.0, 1.0)
    return {"mean_abs": float(np.abs(coverage[touched] - page[touched]).mean()),
            "ink_ratio": float(coverage[touched].sum() / max(float(page[touched].sum()), 1e-6))}


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of the runs of True."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(d[::2], d[1::2]))


def _centroid(values: np.ndarray, lo: int, hi: int) -> float:
    v = np.clip(values[lo:hi], 0, None)
    return float((v * np.arange(lo, hi)).sum() / max(v.sum(), 1e-9))


def _edges_at_half(profile: np.ndarray) -> tuple[float, float, float]:
    """First and last position where a profile reaches half its peak (linear interpolation), and
    the ink across it / the peak (the stroke's extent in px)."""
    p = np.clip(np.asarray(profile, np.float64), 0, None)
    peak = p.max()
    if peak <= 0:
        return float("nan"), float("nan"), 0.0
    half = peak / 2
    above = np.flatnonzero(p >= half)
    i, j = above[0], above[-1]
    lo = i - (p[i] - half) / (p[i] - p[i - 1]) if i > 0 else float(i)
    hi = j + (p[j] - half) / (p[j] - p[j + 1]) if j + 1 < len(p) else float(j)
    return float(lo), float(hi), float(p.sum() / peak)


def calibration_pulse(dark: np.ndarray, x0: float, baseline: float, px_per_s: float,
                      px_per_mv: float) -> dict[str, float]:
    """A 1 mV pulse left of a row's t = 0: x of its rising and falling strokes (column centroids),
    y of its top stroke, their widths, and whether a baseline stroke leads in from its left.
    Relative values: `rise_s`, `fall_s` = (x - x0) / px_per_s, `height_mv` = (baseline - top) / px_per_mv."""
    xa, xb = int(np.floor(x0 - 0.35 * px_per_s)), int(np.ceil(x0 + 3))
    band = dark[int(baseline - 0.8 * px_per_mv): int(baseline - 0.2 * px_per_mv), xa:xb]
    cols = band.mean(axis=0)
    runs = [r for r in _runs(cols >= 0.5 * cols.max())]
    if len(runs) < 2:
        return {}
    (a0, a1), (b0, b1) = runs[0], runs[-1]
    rise = xa + _centroid(cols, max(a0 - 2, 0), min(a1 + 2, len(cols)))
    fall = xa + _centroid(cols, max(b0 - 2, 0), min(b1 + 2, len(cols)))
    top_band = dark[int(baseline - 1.4 * px_per_mv): int(baseline - 0.6 * px_per_mv),
                    int(rise + 4): int(fall - 3)].mean(axis=1)
    top_lo = int(baseline - 1.4 * px_per_mv)
    i = int(np.argmax(top_band))
    top = top_lo + _centroid(top_band, max(i - 4, 0), min(i + 5, len(top_band)))
    vert_lo, vert_hi, vert_w = _edges_at_half(cols[max(a0 - 3, 0): a1 + 3])
    _, _, top_w = _edges_at_half(top_band[max(i - 4, 0): i + 5])
    lead_in = dark[int(round(baseline)) - 3: int(round(baseline)) + 4,
                   int(rise - 0.1 * px_per_s): int(rise - 4)].max(axis=0)
    left_col = dark[int(baseline - 0.8 * px_per_mv): int(baseline + 0.3 * px_per_mv), int(round(rise))]
    bottom = int(baseline - 0.8 * px_per_mv) + _edges_at_half(left_col)[1]
    return {"rise_x": rise, "fall_x": fall, "top_y": top, "rise_s": (rise - x0) / px_per_s,
            "fall_s": (fall - x0) / px_per_s, "width_s": (fall - rise) / px_per_s,
            "height_mv": (baseline - top) / px_per_mv, "vertical_px": vert_w, "top_px": top_w,
            "bottom_of_rise_y": bottom, "lead_in": float((lead_in >= INK_MIN).mean())}


def separator_tick(dark: np.ndarray, x: float, baseline: float, px_per_mv: float,
                   search_px: float = 12.0) -> dict[str, float]:
    """A vertical tick near x on a row: its x centre (column centroid of its ink), its width (px at
    half the column profile's peak), the y of its top and bottom (half darkness along its inner
    columns), also relative to the baseline in mV up (`top_mv`) and down (`bottom_mv`). The column
    profile is the 25th percentile over +-0.25 mV about the baseline: the tick covers all those
    rows, a trace crossing it only a few."""
    xa, xb = int(np.floor(x - search_px)), int(np.ceil(x + search_px)) + 1
    near = dark[int(baseline - 0.25 * px_per_mv): int(baseline + 0.25 * px_per_mv), xa:xb]
    cols = np.percentile(near, 25, axis=0)
    if cols.max() < INK_MIN:
        return {}
    lo, hi, _ = _edges_at_half(cols)
    xc = xa + _centroid(cols, max(int(np.floor(lo)) - 1, 0), min(int(np.ceil(hi)) + 2, len(cols)))
    ya = int(baseline - 0.8 * px_per_mv)
    inner = dark[ya: int(baseline + 0.8 * px_per_mv), xa + int(np.ceil(lo)): xa + int(np.floor(hi)) + 1].min(axis=1)
    top, bottom, _ = _edges_at_half(inner)
    return {"x": xc, "width_px": float(cols.sum() / cols.max()), "top_mv": (baseline - (ya + top)) / px_per_mv,
            "bottom_mv": ((ya + bottom) - baseline) / px_per_mv, "top_y": ya + top, "bottom_y": ya + bottom}


def ink_box(dark: np.ndarray, x0: int, y0: int, x1: int, y1: int, level: float = 128.0) -> tuple[int, ...] | None:
    """(left, top, right, bottom) of the pixels darker than level inside [x0, x1) x [y0, y1), page
    coordinates, right/bottom inclusive; None when there are none."""
    region = dark[max(y0, 0):y1, max(x0, 0):x1] >= level
    if not region.any():
        return None
    ys, xs = np.nonzero(region)
    return (int(xs.min() + max(x0, 0)), int(ys.min() + max(y0, 0)), int(xs.max() + max(x0, 0)),
            int(ys.max() + max(y0, 0)))


# ---------------------------------------------------------------- conventions
def fit_layout(paths: dict[str, np.ndarray], fs: float, record: pd.DataFrame) -> dict[str, object]:
    """The geometry behind drawn sample positions (e.g. `kit_points`) of a record: for each piece,
    x = a + k * px_per_s / fs (k from the piece's first sample) and y = baseline - mv * px_per_mv,
    fitted by least squares. Returns x of the first sample per (row, column), px_per_s, px_per_mv,
    baselines per row, and the largest residuals (px)."""
    starts, pps, ppmv, bases, res = {}, [], [], {}, [0.0, 0.0]
    for key, pts in paths.items():
        lead, row = key.split("@")
        row = int(row)
        mv = record[lead].to_numpy(np.float64)
        mv = mv[np.isfinite(mv)] if row < 3 else mv
        k = np.arange(len(pts))
        ax = np.polyfit(k / fs, pts[:, 0], 1)
        ay = np.polyfit(mv[: len(pts)], pts[:, 1], 1)
        col = 0 if row == 3 else ROWS[row].index(lead)
        starts[(row, col)] = float(ax[1])
        pps.append(ax[0])
        ppmv.append(-ay[0])
        bases.setdefault(row, []).append(ay[1])
        res = [max(res[0], float(np.abs(np.polyval(ax, k / fs) - pts[:, 0]).max())),
               max(res[1], float(np.abs(np.polyval(ay, mv[: len(pts)]) - pts[:, 1]).max()))]
    return {"first_x": starts, "px_per_s": float(np.median(pps)), "px_per_mv": float(np.median(ppmv)),
            "baselines": [float(np.median(bases[r])) for r in sorted(bases)], "residual_px": res}


def page_furniture(dark: np.ndarray, layout: PageLayout) -> dict[str, object]:
    """Pulses (one per row), separator ticks (rows 0-2, columns 1-3), lead labels' ink boxes
    relative to (first sample's x, baseline), the header's and footer's text boxes of a page whose
    traces sit on `layout`."""
    pps, mv = layout.px_per_s, layout.px_per_mv
    pulses = [calibration_pulse(dark, layout.x0, b, pps, mv) for b in layout.baselines]
    seps, labels = {}, {}
    for r in range(4):
        b = layout.baselines[r]
        for c in range(N_COLUMNS if r < 3 else 1):
            x = layout.x0 + c * DURATION_S / N_COLUMNS * pps
            if c > 0 and r < 3:
                seps[(r, c)] = separator_tick(dark, x, b, mv)
            box = ink_box(dark, int(x) + 2, int(b + 0.38 * mv), int(x + 0.3 * pps), int(b + 0.8 * mv))
            labels[(r, c)] = None if box is None else (box[0] - x, box[1] - b, box[2] - x, box[3] - b)
    header = [ink_box(dark, x0, y0, x1, y1) for (x0, x1) in ((0, 500), (550, 1100), (1150, 2200))
              for (y0, y1) in ((5, 50), (50, 95), (95, 140))]
    footer = [ink_box(dark, x0, layout.height - 70, x1, layout.height - 20) for (x0, x1) in ((300, 700), (700, 1200))]
    return {"pulses": pulses, "separators": seps, "labels": labels, "header": [h for h in header if h],
            "footer": [f for f in footer if f]}


def _kit_report(root: Path) -> None:
    """Print the kit's conventions measured on the clean pages under root (shared/ecgkit-dev)."""
    index = pd.read_csv(root / "index.csv")
    fits, widths, furn = [], [], []
    for name in index.loc[index["variant"] == "clean", "name"]:
        cfg = read_kit_config(root / f"{name}.json.gz")
        record = pd.read_csv(root / f"{name}.csv")
        pts = kit_points(cfg)
        fits.append(fit_layout(pts, float(cfg["sampling_frequency"]), record))
        dark = darkness(cv2.imread(str(root / f"{name}.png"))[..., ::-1])
        widths.append(line_width(dark, np.concatenate(list(pts.values())))["width"])
        furn.append(page_furniture(dark, KIT_LAYOUT))
    first = {k: np.median([f["first_x"][k] for f in fits]) for k in fits[0]["first_x"]}
    print(f"pages: {len(fits)} clean kit pages, coordinates: pixel centres at integers (kit's own: +0.5)")
    print("x of sample 0 per column:", [round(first[(0, c)], 3) for c in range(4)], "rhythm", round(first[(3, 0)], 3),
          "(spread %.3f px)" % max(np.ptp([f["first_x"][k] for f in fits]) for k in first))
    print("px per s: %.3f  px per mV: %.3f  baselines: %s  largest residual x %.3f, y %.3f px" % (
        np.median([f["px_per_s"] for f in fits]), np.median([f["px_per_mv"] for f in fits]),
        [round(float(np.median([f["baselines"][r] for f in fits])), 3) for r in range(4)],
        max(f["residual_px"][0] for f in fits), max(f["residual_px"][1] for f in fits)))
    print("trace width (flat stretches, median over pages): %.2f px" % np.nanmedian(widths))
    pulse_keys = ("rise_s", "fall_s", "width_s", "height_mv", "rise_x", "fall_x", "vertical_px", "top_px", "lead_in")
    pulses = [p for f in furn for p in f["pulses"] if p]
    print("pulse:", {k: round(float(np.median([p[k] for p in pulses])), 3) for k in pulse_keys},
          f"rise-x relative to x0: {np.median([p['rise_x'] for p in pulses]) - KIT_LAYOUT.x0:.2f} px")
    seps = [s for f in furn for (r, c), s in f["separators"].items() if s]
    clean = [s for s in seps if abs(s["top_mv"] - s["bottom_mv"]) < 0.05]  # no trace crossing the tick's ends
    print(f"separators ({len(clean)} of {len(seps)} uncrossed):",
          {k: round(float(np.median([s[k] for s in clean])), 3) for k in ("width_px", "top_mv", "bottom_mv")},
          "x - boundary per column:", [round(float(np.median([f["separators"][(r, c)]["x"] for f in furn for r in range(3)
                                                             if f["separators"][(r, c)]])) - (KIT_LAYOUT.x0 + c * 2.5 * KIT_LAYOUT.px_per_s), 3)
                                       for c in (1, 2, 3)])
    labels = [b for f in furn for b in f["labels"].values() if b]
    print("label ink box rel. (first sample x, baseline), median:", [round(float(np.median([b[i] for b in labels])), 1)
                                                                    for i in range(4)])
    print("header boxes (first page):", furn[0]["header"], "footer:", furn[0]["footer"])


if __name__ == "__main__":  # python -m pipeline.ecg.evaluation.fidelity [shared/ecgkit-dev]
    import sys

    _kit_report(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[4] / "shared" / "ecgkit-dev")
