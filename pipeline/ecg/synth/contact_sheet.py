"""A contact sheet of the synthetic competition: one page rendered as every image type, each shown
whole and as a crop with its ground-truth paths drawn over it, so a glance tells whether the images
look like the real kinds and whether the ground truth still sits on the traces after each warp."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.core.io import atomic_path
from pipeline.core.seeding import rng_for
from pipeline.ecg.synth.degrade import IMAGE_TYPES, TYPE_NAMES, RenderedPage, degrade
from pipeline.ecg.synth.render import ALL_TYPES, clean_page

ROW_COLOURS = ("#00b4ff", "#ff3cc8", "#ffb000", "#00d26a")
"""Path colour of trace rows 0-3."""
CROP = (760, 440)
"""Crop size (w, h) in image pixels: about 4 s of two rows of the 12-lead part."""
RECORD_ID = "contact-sheet"
FS = 500


def _crop_box(page: RenderedPage, size: tuple[int, int] = CROP) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a crop centred between rows 0 and 1 where columns 0 and 1 meet, inside the image."""
    h, w = page.image.shape[:2]
    centre = (page.paths["I@0"][-1] + page.paths["II@1"][-1]) / 2
    x0 = int(np.clip(round(centre[0] - size[0] / 2), 0, max(w - size[0], 0)))
    y0 = int(np.clip(round(centre[1] - size[1] / 2), 0, max(h - size[1], 0)))
    return x0, y0, min(x0 + size[0], w), min(y0 + size[1], h)


def _draw(ax_full, ax_crop, page: RenderedPage, title: str) -> None:
    import matplotlib.patches as patches  # deferred on purpose: heavy optional dependency

    x0, y0, x1, y1 = _crop_box(page)
    step = 4
    h, w = page.image.shape[:2]
    ax_full.imshow(cv2.resize(page.image, (w // step, h // step), interpolation=cv2.INTER_AREA))
    ax_full.add_patch(patches.Rectangle((x0 / step, y0 / step), (x1 - x0) / step, (y1 - y0) / step,
                                        fill=False, edgecolor="#00b4ff", linewidth=1.2))
    ax_full.set_title(title, fontsize=9)
    ax_crop.imshow(page.image[y0:y1, x0:x1], interpolation="nearest")
    for key, pts in page.paths.items():
        inside = (pts[:, 0] >= x0 - 1) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0 - 1) & (pts[:, 1] <= y1)
        if inside.any():
            row = int(key.split("@")[1])
            seg = pts[inside]
            ax_crop.plot(seg[:, 0] - x0, seg[:, 1] - y0, color=ROW_COLOURS[row], linewidth=0.6, alpha=0.85)
    ax_crop.set_xlim(0, x1 - x0)
    ax_crop.set_ylim(y1 - y0, 0)
    ax_crop.set_title("crop with ground-truth paths", fontsize=8)
    for ax in (ax_full, ax_crop):
        ax.set_xticks([])
        ax.set_yticks([])


def contact_sheet(out_png: Path, seed: int = 0, types: tuple[str, ...] = ALL_TYPES) -> Path:
    """Render one record as every image type and write the sheet to out_png (three types per row, each
    the whole image and a crop with the paths over it). Deterministic given seed; returns out_png."""
    import matplotlib  # deferred on purpose: heavy optional dependency

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred on purpose: heavy optional dependency

    unknown = [t for t in types if t not in IMAGE_TYPES]
    if unknown:
        raise ValueError(f"unknown image types {unknown}")
    _, page = clean_page(seed, RECORD_ID, FS)
    per_row = 3
    n_rows = -(-len(types) // per_row)
    fig, axes = plt.subplots(n_rows, 2 * per_row, figsize=(7.2 * per_row, 2.9 * n_rows),
                             gridspec_kw={"width_ratios": [1.0, 1.25] * per_row}, squeeze=False)
    for k, image_type in enumerate(types):
        shot = degrade(page, image_type, rng_for(seed, RECORD_ID, image_type))
        r, c = divmod(k, per_row)
        _draw(axes[r, 2 * c], axes[r, 2 * c + 1], shot, f"{image_type} {TYPE_NAMES.get(image_type, '')}")
    for k in range(len(types), n_rows * per_row):
        r, c = divmod(k, per_row)
        axes[r, 2 * c].axis("off")
        axes[r, 2 * c + 1].axis("off")
    fig.suptitle(f"synthetic competition, one record as every image type (seed {seed}); "
                 "paths: row 0 blue, 1 magenta, 2 amber, 3 green", fontsize=11)
    fig.tight_layout()
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return out_png
