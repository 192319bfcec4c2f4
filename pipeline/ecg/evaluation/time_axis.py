"""How straight the digitizer's time axis is on a synthetic page: each row's own x of t = 0 and px per
second, fitted to the truth's sample positions mapped onto the digitizer's page, against the x0 and
each row's px/s the digitizer read.

A photo whose page corners were found wrong keeps a projective residual after rectification: rows then
start at different x (shear) or run at different px/s (keystone), and a row read with the page's one
axis is early or late by tens of ms. This measures it on pages we drew (hidden `*.paths.npz` and
`*.meta.json`), so a fix to the rectification can be judged row by row, not only by the SNR.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.core.errors import PipelineError
from pipeline.ecg.digitizer import DigitizeConfig, digitize_image
from pipeline.ecg.digitizer.grid import GridResult, calibrate, load_image
from pipeline.ecg.digitizer.rectify import flatten_page
from pipeline.ecg.layout import MM_PER_S, ROWS
from pipeline.ecg.synth.render import segment_times, segments

RESIDUAL_QUANTILE = 95
"""Percentile of |x - fitted x| reported as a row's residual (the largest is a lone bar or pulse)."""


@dataclass(frozen=True)
class RowAxis:
    """One row's time axis on the page: x = x0 + t * px_per_s, and how far its samples stray from it."""

    x0: float
    px_per_s: float
    residual_px: float


def sample_times(key: str, fs: int, kit: bool) -> np.ndarray:
    """Times (s) on the page of the drawn samples of path "lead@row", as the renderer placed them
    (render.segment_times)."""
    lead, row = key.rsplit("@", 1)
    start, stop = next((a, b) for r, name, a, b in segments(fs, kit) if r == int(row) and name == lead)
    return segment_times(fs, start, stop, int(row), kit)


def fit_row_axes(points: Mapping[str, np.ndarray], times: Mapping[str, np.ndarray]) -> list[RowAxis]:
    """Per row (0-3), the least-squares line x = x0 + t * px_per_s through its paths' page points
    ("lead@row" -> (n, 2) x, y) at their times; rows without points are left out."""
    axes = []
    for row in range(len(ROWS)):
        keys = [k for k in points if k.endswith(f"@{row}")]
        if not keys:
            continue
        x = np.concatenate([points[k][:, 0] for k in keys])
        t = np.concatenate([times[k] for k in keys])
        ok = np.isfinite(x)
        slope, x0 = np.polyfit(t[ok], x[ok], 1)
        res = np.abs(x[ok] - (x0 + slope * t[ok]))
        axes.append(RowAxis(float(x0), float(slope), float(np.percentile(res, RESIDUAL_QUANTILE))))
    return axes


def page_time_axis(image: np.ndarray, paths: Mapping[str, np.ndarray], fs: int, kit: bool,
                   config: DigitizeConfig = DigitizeConfig()) -> dict[str, object]:
    """The rows' own time axes on the digitizer's page (calibrated as the digitizer calibrates it) and
    the digitizer's x0 and px/s for each row: its x0 error on each row (px) and px/s error (%)."""
    flat, rect = flatten_page(image, config.rectify)
    grid: GridResult = calibrate(flat, rect)
    on_page = {k: grid.to_page(p) for k, p in paths.items()}
    axes = fit_row_axes(on_page, {k: sample_times(k, fs, kit) for k in paths})
    read = digitize_image(image, fs, config).diagnostics
    turned = any(str(f).startswith("turned") for f in read.get("flags", []))
    x0 = np.asarray(read.get("row_x0") or [float(read.get("x0", np.nan))] * len(axes), dtype=np.float64)
    pps = np.asarray(read.get("row_px_per_s") or [float(read.get("px_per_mm", np.nan)) * MM_PER_S] * len(axes))
    if turned or len(pps) != len(axes) or len(x0) != len(axes):
        x0, pps = np.full(len(axes), np.nan), np.full(len(axes), np.nan)  # read turned round: another frame
    speeds = np.array([a.px_per_s for a in axes])
    return {
        "row_x0": [round(a.x0, 2) for a in axes],
        "row_px_per_s": [round(a.px_per_s, 3) for a in axes],
        "row_residual_px": [round(a.residual_px, 2) for a in axes],
        "x0_spread_px": round(float(np.ptp([a.x0 for a in axes])), 2),
        "px_per_s_spread_pct": round(float(100 * np.ptp(speeds) / np.mean(speeds)), 3),
        "digitizer_x0": [round(float(v), 2) for v in x0],
        "x0_error_px": [round(float(v) - a.x0, 2) for v, a in zip(x0, axes)],
        "px_per_s_error_pct": [round(100 * (p / a.px_per_s - 1.0), 3) for p, a in zip(pps, axes)],
    }


def time_axis_table(competition: Path, ids: Sequence[str] = ()) -> pd.DataFrame:
    """page_time_axis for every test image of a synthetic competition folder (or the given ids), with
    its image type: one row per page."""
    hidden, test = competition / "hidden", competition / "test"
    if not hidden.is_dir():
        raise PipelineError(f"{competition}: no hidden/ folder (time-axis truth needs a synthetic competition)")
    stems = list(ids) or sorted(p.stem for p in test.glob("*.png"))
    out = []
    for stem in tqdm(stems, desc="time axis", unit="page"):
        meta_path, paths_path = hidden / f"{stem}.meta.json", hidden / f"{stem}.paths.npz"
        if not meta_path.exists() or not paths_path.exists():
            raise PipelineError(f"{competition}: {stem} has no hidden meta.json / paths.npz")
        meta = json.loads(meta_path.read_text())
        with np.load(paths_path) as z:
            paths = {k: z[k] for k in z.files}
        row = page_time_axis(load_image(test / f"{stem}.png"), paths, int(meta["fs"]), bool(meta.get("kit")))
        out.append({"id": stem, "type": meta.get("image_type", ""), "fs": int(meta["fs"]), **row})
    return pd.DataFrame(out)
