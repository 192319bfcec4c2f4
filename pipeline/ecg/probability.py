"""The non-learned per-pixel probability that a pixel is trace ink (the input of the tracer).

From the grid-free ink map: a light Gaussian blur (joins anti-aliased and scan-broken strokes, keeps
centroids where they are) and removal of tiny isolated specks (scan noise, grid-dot residue).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ProbabilityConfig:
    sigma_px: float = 0.6
    """Gaussian blur of the ink map (px); 0 disables it."""
    speck_area_px: int = 4
    """Connected ink blobs (ink > 0.5) smaller than this are removed."""


def trace_probability(ink: np.ndarray, config: ProbabilityConfig = ProbabilityConfig()) -> np.ndarray:
    """H x W float32 in [0, 1]: how likely each pixel is to be trace ink."""
    prob = np.asarray(ink, dtype=np.float32)
    if config.speck_area_px > 1:
        binary = (prob > 0.5).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        small = np.nonzero(stats[:, cv2.CC_STAT_AREA] < config.speck_area_px)[0]
        small = small[small > 0]
        if len(small):
            prob = prob.copy()
            prob[np.isin(labels, small)] = 0.0
    if config.sigma_px > 0:
        prob = cv2.GaussianBlur(prob, (0, 0), config.sigma_px)
    return np.clip(prob, 0.0, 1.0).astype(np.float32, copy=False)
