"""Degradations that turn a clean page into each competition image type.

Every recipe takes a RenderedPage and a random generator and returns the page as that image type
shows it, with the row mask and the trace paths moved by the very same geometry, so the ground truth
stays pixel-exact. Strengths are drawn from the generator: the same (page, rng state) gives the same
image. One module per family: scan (0001, 0003, 0004), photo (0005), screen (0006), damage (0009,
0010), mould (0011, 0012), crumple (training only); warp and effects hold what they share.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.ecg.synth.degrade import crumple, damage, mould, photo, scan, screen
from pipeline.ecg.synth.degrade.base import RenderedPage
from pipeline.ecg.synth.degrade.printed import with_qr_code

__all__ = ["IMAGE_TYPES", "TRAINING_TYPES", "TYPE_NAMES", "RenderedPage", "degrade"]

Recipe = Callable[[RenderedPage, np.random.Generator], RenderedPage]

IMAGE_TYPES: dict[str, Recipe] = {
    "0001": scan.clean,
    "0003": scan.scan_colour,
    "0004": scan.scan_bw,
    "0005": photo.phone_photo,
    "0006": screen.screen_photo,
    "0009": damage.stained,
    "0010": damage.damaged,
    "0011": mould.mould_colour,
    "0012": mould.mould_bw,
}
"""Image type -> degradation of a clean page, in the competition's numbering."""

TRAINING_TYPES: dict[str, Recipe] = {
    "crumpled": crumple.crumpled_print,
}
"""Extra recipes for training data only: what the competition's generator draws with `--wrinkles
--augment` (creases, facet shading, grey grids, rotation, crop, noise), beyond the nine types."""

TYPE_NAMES: dict[str, str] = {
    "0001": "clean render",
    "0003": "colour scan",
    "0004": "black-and-white scan",
    "0005": "phone photo of a print",
    "0006": "phone photo of a screen",
    "0009": "stained and soaked",
    "0010": "heavily damaged",
    "0011": "mould, colour scan",
    "0012": "mould, black-and-white scan",
    "crumpled": "crumpled print, kit augmentation",
}
"""Image type -> a short human name (plots, reports)."""


def degrade(page: RenderedPage, image_type: str, rng: np.random.Generator) -> RenderedPage:
    """The clean page as image type `image_type` sees it; ground truth moved with every pixel. Every
    printed type (all but 0001) carries a QR code at the top right, as the competition's printed pages do."""
    recipes = {**IMAGE_TYPES, **TRAINING_TYPES}
    if image_type not in recipes:
        raise PipelineError(f"unknown image type {image_type!r}; known: {', '.join(sorted(recipes))}")
    if image_type != "0001":
        page = with_qr_code(page, rng.spawn(1)[0])  # a child stream: the recipe's own draws stay as they were
    return recipes[image_type](page, rng)
