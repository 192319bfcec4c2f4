"""The page a degradation takes and gives: the image with its pixel-exact ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.ecg.layout import DEFAULT_LAYOUT, PageLayout


@dataclass(frozen=True, eq=False)
class RenderedPage:
    """A page image with its ground truth.

    image: HxWx3 uint8 RGB. row_mask: HxW uint8, 0 background, r + 1 on the visible trace pixels of row
    r (0 where paper is torn away or outside the photographed frame).
    paths: "lead@row" (e.g. "I@0", "II@1", "II@3") -> (n, 2) float (x, y) of every drawn sample in this
    image's pixels: geometric positions, kept even where the paper is missing or covered.
    layout: where the traces were drawn on the undegraded page (x0, baselines, px per mm).
    transform: 3x3 homography from the undegraded page's pixel coordinates to this image's (identity for
    0001); None where the warp is not a homography (page curl, cockling): then only `paths` and
    `row_mask` tell where the page went.
    info: facts about the drawing a reader may want as ground truth (grid colour and origin, trace
    width, calibration pulse, clipping); JSON-serialisable.
    Mask and paths cover the 13 trace pieces only, not calibration pulses, labels, ticks or text.
    Pixel coordinates follow OpenCV: integer (x, y) is the centre of pixel [y, x].
    """

    image: np.ndarray
    row_mask: np.ndarray
    paths: dict[str, np.ndarray]
    layout: PageLayout = DEFAULT_LAYOUT
    transform: np.ndarray | None = field(default_factory=lambda: np.eye(3))
    info: dict[str, object] = field(default_factory=dict)
