"""CircleFarmer's on-disk format, read and written byte-for-byte.

One sample is `<name>.png` (RGBA, 256x256) and `<name>_annotations.json`:
`{"name", "width", "height", "data_label_names": [sorted unique colour names], "labels": [{"name",
"pixels": [{"y", "x_start", "x_end"}, ...]}, ...]}` with one label per circle in drawing order and its
pixels as run-length rows (`x_end` inclusive). The JSON is what `json.dumps(obj, indent=2)` writes, with
no trailing newline; `format_annotation` builds the same text directly because the pure-Python indenting
encoder is the slowest part of writing a sample at 250k scale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.core.images import decode_image
from pipeline.core.io import atomic_path, write_text_atomic

ANNOTATION_SUFFIX = "_annotations.json"


@dataclass(frozen=True)
class CircleLabel:
    """One annotated circle: its colour name and its pixels as rows (N, 3) of [y, x_start, x_end]."""

    name: str
    runs: np.ndarray

    def mask(self, height: int, width: int) -> np.ndarray:
        return runs_to_mask(self.runs, height, width)


@dataclass(frozen=True)
class FarmerAnnotation:
    """The content of one `<name>_annotations.json`."""

    name: str
    width: int
    height: int
    labels: tuple[CircleLabel, ...]

    @property
    def data_label_names(self) -> list[str]:
        return sorted({label.name for label in self.labels})

    def masks(self) -> list[np.ndarray]:
        return [label.mask(self.height, self.width) for label in self.labels]


@dataclass(frozen=True)
class FarmerSample:
    """Where one sample lives on disk."""

    name: str
    image_path: Path
    annotation_path: Path


def mask_to_runs(mask: np.ndarray) -> np.ndarray:
    """Boolean (H, W) mask -> int array (N, 3) of [y, x_start, x_end] runs, row-major order, x_end inclusive."""
    mask = np.asarray(mask, dtype=bool)
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    ys, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return np.stack([ys, starts, ends - 1], axis=1).astype(np.int64)


def runs_to_mask(runs: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of `mask_to_runs` (overlapping runs are allowed and simply union)."""
    runs = np.asarray(runs, dtype=np.int64).reshape(-1, 3)
    steps = np.zeros((height, width + 1), dtype=np.int32)
    np.add.at(steps, (runs[:, 0], runs[:, 1]), 1)
    np.add.at(steps, (runs[:, 0], runs[:, 2] + 1), -1)
    return np.cumsum(steps[:, :width], axis=1) > 0


_RUN = '        {\n          "y": %d,\n          "x_start": %d,\n          "x_end": %d\n        }'


def _format_label(label: CircleLabel) -> str:
    head = '    {\n      "name": ' + json.dumps(label.name) + ',\n      "pixels": '
    if len(label.runs) == 0:
        return head + "[]\n    }"
    body = ",\n".join(_RUN % (y, x0, x1) for y, x0, x1 in np.asarray(label.runs).tolist())
    return head + "[\n" + body + "\n      ]\n    }"


def format_annotation(ann: FarmerAnnotation) -> str:
    """The exact text CircleFarmer writes (`json.dumps(..., indent=2)`, no trailing newline)."""
    names = ann.data_label_names
    label_names = "[]" if not names else "[\n" + ",\n".join("    " + json.dumps(n) for n in names) + "\n  ]"
    labels = "[]" if not ann.labels else "[\n" + ",\n".join(map(_format_label, ann.labels)) + "\n  ]"
    return (
        "{\n"
        f'  "name": {json.dumps(ann.name)},\n'
        f'  "width": {int(ann.width)},\n'
        f'  "height": {int(ann.height)},\n'
        f'  "data_label_names": {label_names},\n'
        f'  "labels": {labels}\n'
        "}"
    )


def annotation_to_dict(ann: FarmerAnnotation) -> dict[str, Any]:
    """The JSON object, key order as CircleFarmer writes it."""
    return {
        "name": ann.name,
        "width": int(ann.width),
        "height": int(ann.height),
        "data_label_names": ann.data_label_names,
        "labels": [
            {"name": lab.name,
             "pixels": [{"y": y, "x_start": x0, "x_end": x1} for y, x0, x1 in np.asarray(lab.runs).tolist()]}
            for lab in ann.labels
        ],
    }


def _require(cond: bool, problem: str, path: Path | None) -> None:
    if not cond:
        raise PipelineError(problem, path)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_annotation(obj: Any, path: Path | None = None) -> FarmerAnnotation:
    """Validate a decoded annotation object and convert it; any defect is one PipelineError naming the file."""
    _require(isinstance(obj, dict), "annotation is not a JSON object", path)
    for key in ("name", "width", "height", "labels"):
        _require(key in obj, f"annotation lacks the key '{key}'", path)
    width, height = obj["width"], obj["height"]
    _require(_is_int(width) and _is_int(height) and width > 0 and height > 0,
             f"width/height must be positive integers, got {width!r}/{height!r}", path)
    _require(isinstance(obj["labels"], list), "'labels' is not a list", path)
    labels = []
    for i, lab in enumerate(obj["labels"]):
        _require(isinstance(lab, dict) and isinstance(lab.get("name"), str) and isinstance(lab.get("pixels"), list),
                 f"label {i} needs a string 'name' and a list 'pixels'", path)
        try:
            runs = np.array([[p["y"], p["x_start"], p["x_end"]] for p in lab["pixels"]], dtype=np.int64)
        except (TypeError, KeyError, ValueError):
            raise PipelineError(f"label {i} has a pixel row without integer y/x_start/x_end", path) from None
        runs = runs.reshape(-1, 3)
        ok = ((runs[:, 0] >= 0) & (runs[:, 0] < height) & (runs[:, 1] >= 0)
              & (runs[:, 1] <= runs[:, 2]) & (runs[:, 2] < width))
        _require(bool(ok.all()), f"label {i} ('{lab['name']}') has a pixel row outside the {width}x{height} image",
                 path)
        labels.append(CircleLabel(lab["name"], runs))
    ann = FarmerAnnotation(str(obj["name"]), width, height, tuple(labels))
    if "data_label_names" in obj:
        _require(obj["data_label_names"] == ann.data_label_names,
                 "'data_label_names' is not the sorted set of label names", path)
    return ann


def read_annotation(path: str | Path) -> FarmerAnnotation:
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise PipelineError(f"cannot read annotation ({err.strerror})", path) from None
    except ValueError as err:
        raise PipelineError(f"annotation is not valid JSON ({err})", path) from None
    return parse_annotation(obj, path)


def read_image(path: str | Path) -> np.ndarray:
    """A sample's PNG as RGB uint8 (H, W, 3); the alpha channel CircleFarmer writes is always opaque."""
    img = decode_image(path, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img[:, :, ::-1])


def list_samples(root: str | Path) -> list[FarmerSample]:
    """Every sample under `root` (any depth, e.g. training/ and testing/), sorted by relative path."""
    root = Path(root)
    if not root.is_dir():
        raise PipelineError("not a folder of CircleFarmer samples", root)
    samples = []
    for ann_path in sorted(root.rglob("*" + ANNOTATION_SUFFIX)):
        name = ann_path.name[: -len(ANNOTATION_SUFFIX)]
        image_path = ann_path.with_name(name + ".png")
        if not image_path.is_file():
            raise PipelineError(f"annotation has no image {image_path.name} beside it", ann_path)
        samples.append(FarmerSample(name, image_path, ann_path))
    if not samples:
        raise PipelineError(f"no *{ANNOTATION_SUFFIX} files found", root)
    return samples


def encode_png(rgb: np.ndarray) -> bytes:
    """RGB uint8 -> RGBA PNG bytes with an opaque alpha channel, as CircleFarmer writes them.

    Huffman-only deflate with the Sub filter: the per-pixel noise defeats LZ matching anyway, so this is
    about 3x faster than zlib level 1 and gives smaller files (about 155 kB for a 256x256 sample).
    """
    bgra = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA)
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
              cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
    ok, buf = cv2.imencode(".png", bgra, params)
    if not ok:
        raise PipelineError("PNG encoding failed")
    return buf.tobytes()


def write_sample(out_dir: str | Path, rgb: np.ndarray, ann: FarmerAnnotation) -> FarmerSample:
    """Write `<name>.png` and `<name>_annotations.json` atomically (image first, so a present JSON means done)."""
    out_dir = Path(out_dir)
    image_path = out_dir / f"{ann.name}.png"
    ann_path = out_dir / f"{ann.name}{ANNOTATION_SUFFIX}"
    with atomic_path(image_path) as tmp:
        tmp.write_bytes(encode_png(rgb))
    write_text_atomic(ann_path, format_annotation(ann))
    return FarmerSample(ann.name, image_path, ann_path)
