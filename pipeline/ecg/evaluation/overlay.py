"""Draw recovered pixel paths over the page image, for people to see where the digitizer went wrong."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.io import atomic_path

ROW_COLOURS_BGR = ((255, 64, 0), (0, 160, 0), (0, 0, 255), (200, 0, 200))
REGION_COLOURS_BGR = {"crossing": (255, 0, 255), "gap": (0, 140, 255), "left row": (0, 0, 200)}
"""Boxes around doubtful regions: magenta where rows' traces crossed, orange where a gap was filled,
dark red where a trace left its row."""


def draw_paths(image_bgr: np.ndarray, paths: Mapping[str, np.ndarray]) -> np.ndarray:
    """A copy of the image with each path ((n, 2) x, y pixels; NaN = gap) drawn in its row's colour."""
    out = image_bgr.copy()
    for i, (key, xy) in enumerate(sorted(paths.items())):
        xy = np.asarray(xy, dtype=float)
        if xy.ndim != 2 or len(xy) < 2:
            continue
        colour = ROW_COLOURS_BGR[_row_of(key, i) % len(ROW_COLOURS_BGR)]
        ok = np.isfinite(xy).all(axis=1)
        # split at gaps so that NaN runs are not bridged by straight lines
        breaks = np.flatnonzero(np.diff(ok.astype(int)) != 0) + 1
        for segment, seg_ok in zip(np.split(xy, breaks), np.split(ok, breaks)):
            if seg_ok.all() and len(segment) > 1:
                pts = np.round(segment * 4).astype(np.int32).reshape(-1, 1, 2)
                cv2.polylines(out, [pts], False, colour, 1, cv2.LINE_AA, shift=2)
    return out


def draw_regions(image_bgr: np.ndarray, regions: Sequence[tuple[str, Sequence[float]]]) -> np.ndarray:
    """A copy of the image with a labelled box (x0, y0, x1, y1 pixels) around each doubtful region."""
    out = image_bgr.copy()
    for kind, box in regions:
        colour = REGION_COLOURS_BGR.get(kind, (0, 0, 0))
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, 2)
        cv2.putText(out, kind, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return out


def _row_of(key: str, fallback: int) -> int:
    tail = key.rsplit("@", 1)[-1]
    return int(tail) if tail.isdigit() else fallback


def write_overlay(image_path: Path, paths: Mapping[str, np.ndarray], out: Path, title: str = "",
                  scale: float = 0.5, regions: Sequence[tuple[str, Sequence[float]]] = ()) -> None:
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        image = np.full((1700, 2200, 3), 255, np.uint8)
    drawn = draw_regions(draw_paths(image, paths), regions)
    if title:
        cv2.putText(drawn, title, (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2, cv2.LINE_AA)
    drawn = cv2.resize(drawn, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    with atomic_path(out) as tmp:
        if not cv2.imwrite(str(tmp), drawn, [cv2.IMWRITE_PNG_COMPRESSION, 6]) or not tmp.stat().st_size:
            raise OSError(f"could not write {out}")
