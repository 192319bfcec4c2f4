"""COCO instance annotations from a CircleFarmer folder (CircleFarmer itself has no COCO export).

One COCO image per PNG (file_name relative to the folder), one instance per circle with its mask as
compressed RLE, bbox [x, y, w, h], area in pixels and the colour as category. Masks are the annotated
discs exactly as in the JSON (so overlapping circles overlap in COCO too), which makes the export
lossless: decoding every RLE gives back every annotated pixel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from tqdm import tqdm

from pipeline.cells.circles.farmer_format import FarmerAnnotation, list_samples, read_annotation
from pipeline.core.errors import PipelineError
from pipeline.core.io import write_text_atomic


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """Boolean (H, W) mask -> COCO compressed RLE with a JSON-ready string `counts`."""
    rle = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def runs_bbox(runs: np.ndarray) -> list[float]:
    """COCO bbox [x, y, width, height] of run-length rows [y, x_start, x_end]."""
    y0, y1 = int(runs[:, 0].min()), int(runs[:, 0].max())
    x0, x1 = int(runs[:, 1].min()), int(runs[:, 2].max())
    return [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]


def instances(ann: FarmerAnnotation, image_id: int, first_id: int, category_ids: dict[str, int]) -> list[dict]:
    """The COCO annotations of one image (circles without pixels are skipped: COCO has no empty masks)."""
    out = []
    for lab, mask in zip(ann.labels, ann.masks()):
        if len(lab.runs) == 0:
            continue
        out.append({
            "id": first_id + len(out),
            "image_id": image_id,
            "category_id": category_ids[lab.name],
            "segmentation": rle_encode(mask),
            "area": int(mask.sum()),
            "bbox": runs_bbox(lab.runs),
            "iscrowd": 0,
        })
    return out


def _read_chunk(paths: list[str]) -> list[FarmerAnnotation]:
    return [read_annotation(p) for p in paths]


def folder_to_coco(root: str | Path, categories: Sequence[str] | None = None, workers: int = 1,
                   progress: bool = True) -> dict[str, Any]:
    """The COCO dataset dict of every sample under `root`; category ids 1.. in sorted-name order."""
    root = Path(root)
    samples = list_samples(root)
    paths = [str(s.annotation_path) for s in samples]
    chunks = [paths[i:i + 256] for i in range(0, len(paths), 256)]
    anns: list[FarmerAnnotation] = []
    bar = tqdm(total=len(paths), desc="reading annotations", unit="img", disable=not progress)
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(_read_chunk, chunks):
                anns += part
                bar.update(len(part))
    else:
        for chunk in chunks:
            anns += _read_chunk(chunk)
            bar.update(len(chunk))
    bar.close()
    names = list(categories) if categories else sorted({lab.name for a in anns for lab in a.labels})
    unknown = sorted({lab.name for a in anns for lab in a.labels} - set(names))
    if unknown:
        raise PipelineError(f"labels {unknown} are not among the categories {names}", root)
    category_ids = {name: i + 1 for i, name in enumerate(names)}
    images, annotations = [], []
    for image_id, (sample, ann) in enumerate(tqdm(list(zip(samples, anns)), desc="encoding masks", unit="img",
                                                   disable=not progress), start=1):
        images.append({"id": image_id, "file_name": sample.image_path.relative_to(root).as_posix(),
                       "width": ann.width, "height": ann.height})
        annotations += instances(ann, image_id, len(annotations) + 1, category_ids)
    return {
        "info": {"description": f"circles from {root.name}, converted from CircleFarmer annotations"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n, "supercategory": "circle"} for n, i in category_ids.items()],
    }


def write_coco(coco: dict[str, Any], path: str | Path) -> None:
    """Compact JSON, written atomically."""
    write_text_atomic(path, json.dumps(coco, separators=(",", ":")))
