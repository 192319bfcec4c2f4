"""Folders of circle samples: generate one in parallel, or read any CircleFarmer folder, into a label table.

The table has one row per image: name, path (relative to the folder), label (colour with the largest
visible area), margin, number of circles and the visible area of each colour. Generation is split into
chunks of indices handed to worker processes; each image depends only on (seed, index), so any worker
count writes the same bytes. A rerun into the same folder with the same settings keeps finished samples.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.cells.circles.farmer_format import (
    ANNOTATION_SUFFIX,
    FarmerAnnotation,
    list_samples,
    read_annotation,
    write_sample,
)
from pipeline.cells.circles.generate import (
    CircleConfig,
    area_margin,
    generate_sample,
    sample_layout,
    sample_name,
    to_annotation,
)
from pipeline.core.cluster import resolve_scheduler
from pipeline.core.errors import PipelineError
from pipeline.core.io import write_json_atomic, write_text_atomic
from pipeline.core.parallel import parallel_map
from pipeline.core.seeding import rng_for

SETTINGS_FILE = "generator.json"
LABELS_FILE = "labels.csv"


def _row(name: str, rel_path: str, areas: dict[str, int], n_circles: int) -> dict[str, Any]:
    label = max(areas, key=areas.__getitem__)
    return {"name": name, "path": rel_path, "label": label, "margin": round(area_margin(list(areas.values())), 6),
            "n_circles": n_circles, **{f"area_{c}": a for c, a in areas.items()}}


def visible_owner(ann: FarmerAnnotation) -> np.ndarray:
    """(H, W) int32: the index of the label seen at each pixel (later labels on top), -1 where none."""
    top = np.full((ann.height, ann.width), -1, dtype=np.int32)
    for i, m in enumerate(ann.masks()):
        top[m] = i
    return top


def class_share_map(ann: FarmerAnnotation, colours: Sequence[str], size: int) -> np.ndarray:
    """uint8 (size, size, K+1): the visible share of each colour and of the background per pixel, x255.

    The exact per-pixel labels, area-averaged to the training resolution: the dense target of the area head.
    A colour outside `colours` counts as background.
    """
    lookup = np.array([colours.index(lab.name) if lab.name in colours else len(colours) for lab in ann.labels]
                      + [len(colours)], dtype=np.int64)
    owner_class = lookup[visible_owner(ann)]  # index -1 picks the trailing background entry
    one_hot = np.eye(len(colours) + 1, dtype=np.float32)[owner_class]
    if one_hot.shape[:2] != (size, size):
        one_hot = cv2.resize(one_hot, (size, size), interpolation=cv2.INTER_AREA)
    return np.rint(one_hot.reshape(size, size, -1) * 255.0).astype(np.uint8)


def class_share_maps(image_paths: Sequence[str | Path], colours: Sequence[str], size: int,
                     progress: bool = True) -> np.ndarray:
    """`class_share_map` of the samples whose images are `image_paths` (annotations beside them)."""
    out = np.empty((len(image_paths), size, size, len(colours) + 1), dtype=np.uint8)
    for i, path in enumerate(tqdm(image_paths, desc="reading class maps", unit="img",
                                  disable=not progress or len(image_paths) < 500)):
        path = Path(path)
        out[i] = class_share_map(read_annotation(path.with_name(path.stem + ANNOTATION_SUFFIX)), colours, size)
    return out


def annotation_areas(ann: FarmerAnnotation, colours: Sequence[str] | None = None) -> dict[str, int]:
    """Visible pixels per colour of an annotation, labels taken in file order (later ones on top)."""
    top = visible_owner(ann)
    counts = np.bincount(top.ravel() + 1, minlength=len(ann.labels) + 1)[1:]
    areas = dict.fromkeys(colours if colours else ann.data_label_names, 0)
    for lab, n in zip(ann.labels, counts.tolist()):
        areas[lab.name] = areas.get(lab.name, 0) + n
    return areas


def read_folder(root: str | Path, colours: Sequence[str] | None = None) -> pd.DataFrame:
    """Label table of any CircleFarmer folder (searched recursively). Ties keep margin 0: callers decide."""
    root = Path(root)
    rows = []
    samples = list_samples(root)
    names = colours or sorted({lab.name for s in samples for lab in read_annotation(s.annotation_path).labels})
    for s in tqdm(samples, desc="reading annotations", unit="img", disable=len(samples) < 500):
        ann = read_annotation(s.annotation_path)
        rows.append(_row(s.name, s.image_path.relative_to(root).as_posix(), annotation_areas(ann, names),
                         len(ann.labels)))
    return pd.DataFrame(rows)


# --- generation -------------------------------------------------------------------------------------------


def _name_width(start: int, n: int) -> int:
    return max(3, len(str(max(start + n - 1, 0))))


def _generate_chunk(job: tuple[str, CircleConfig, int, str, int, list[int]]) -> list[dict[str, Any]]:
    """Worker: write the samples of some indices (skipping finished ones) and return their label rows."""
    out_dir, cfg, seed, prefix, width, indices = job
    out = Path(out_dir)
    rows = []
    for index in indices:
        name = sample_name(prefix, index, width)
        if (out / f"{name}{ANNOTATION_SUFFIX}").is_file() and (out / f"{name}.png").is_file():
            layout = sample_layout(rng_for(seed, "circles", index), cfg)  # cheap: no pixels
        else:
            sample = generate_sample(cfg, seed, index, name)
            write_sample(out, sample.rgb, to_annotation(sample, cfg.size))
            layout = sample.layout
        rows.append(_row(name, f"{name}.png", layout.areas, len(layout.circles)))
    return rows


def _chunks(indices: range, size: int) -> Iterator[list[int]]:
    for i in range(0, len(indices), size):
        yield list(indices[i:i + size])


def _prepare_folder(out: Path, settings: dict[str, Any], keep: set[str], clean: bool) -> None:
    """Resume only the same generation. With `clean`, other settings or samples outside `keep` are deleted
    (the folder then holds exactly the requested samples); without it they are an error."""
    settings = json.loads(json.dumps(settings))
    path = out / SETTINGS_FILE
    old = json.loads(path.read_text()) if path.is_file() else None
    existing = {p.name[: -len(ANNOTATION_SUFFIX)] for p in out.glob("*" + ANNOTATION_SUFFIX)}
    if old != settings and (existing or old is not None):
        if not clean:
            what = "other settings" if old is not None else "unknown settings"
            raise PipelineError(f"folder holds samples made with {what}; use an empty folder", out)
        keep = set()
    if clean:
        for name in sorted(existing - keep):
            for f in (out / f"{name}{ANNOTATION_SUFFIX}", out / f"{name}.png"):
                f.unlink(missing_ok=True)
    write_json_atomic(path, settings)


def generate_folder(out_dir: str | Path, n: int, seed: int, cfg: CircleConfig, workers: int = 1,
                    prefix: str = "circles", start: int = 0, chunk: int = 32, clean: bool = False,
                    progress: bool = True, scheduler: str | None = None) -> pd.DataFrame:
    """Write samples start..start+n-1 to `out_dir` plus their label table; return the table.

    `workers` processes share the work; 1 runs in this process; a Dask `scheduler` (an address or 'local';
    default $PIPELINE_SCHEDULER) sends the chunks to a cluster. Output is independent of all three. A rerun
    with the same settings keeps finished samples; `clean` makes the folder hold exactly these samples.
    """
    if n < 1 or workers < 1:
        raise PipelineError(f"need n >= 1 and workers >= 1, got n={n} workers={workers}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = _name_width(start, n)
    indices = range(start, start + n)
    settings = {"config": cfg.to_dict(), "seed": seed, "prefix": prefix, "name_width": width}
    _prepare_folder(out, settings, {sample_name(prefix, i, width) for i in indices}, clean)
    jobs = [(str(out), cfg, seed, prefix, width, idx) for idx in _chunks(indices, chunk)]
    workers = min(workers, len(jobs))
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=n, desc=f"generating circles ({workers} worker{'s' if workers > 1 else ''})", unit="img",
               disable=not progress)
    t0 = time.perf_counter()
    if resolve_scheduler(scheduler) is not None:
        bar.close()
        for part in parallel_map(_generate_chunk, jobs, workers, "generating circles", scheduler=scheduler):
            rows += part
    elif workers == 1:
        for job in jobs:
            rows += _generate_chunk(job)
            bar.update(len(job[-1]))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(_generate_chunk, jobs):  # in order, so the table is too
                rows += part
                bar.update(len(part))
    bar.close()
    table = pd.DataFrame(rows)
    table.attrs["images_per_s"] = n / max(time.perf_counter() - t0, 1e-9)
    labels = LABELS_FILE if start == 0 else f"labels_{start:0{width}d}-{start + n - 1:0{width}d}.csv"
    write_text_atomic(out / labels, table.to_csv(index=False, lineterminator="\n"))
    return table


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 32))
