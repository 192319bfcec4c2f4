"""One adapter per cell dataset: where its class folders are, what they are called, what a
file looks like. `scan` walks a downloaded tree and lists every candidate image with its label (and the
dataset's own split where it has one); it trusts folder names, never the dataset card's counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.errors import PipelineError

SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "test": "test", "testing": "test"}


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset's layout. `folders` maps a class folder name (case-insensitive) to the class name;
    `classes` is the report order (the stage order for ordinal sets); folders under any of `exclude`
    (case-insensitive) are ignored; `given_splits`: the set ships its own train/val/test folders."""

    task: str
    slug: str
    title: str
    classes: tuple[str, ...]
    folders: dict[str, str]
    extensions: tuple[str, ...] = (".jpg", ".jpeg", ".png")
    exclude: tuple[str, ...] = ()
    ordinal: bool = False
    given_splits: bool = False
    layout: str = ""
    prefix_match: bool = False  # also accept folders that start with a class name ("Myeloblasts", "lymphocyte_256")

    def folder_class(self, name: str) -> str | None:
        folders = {k.lower(): v for k, v in self.folders.items()}
        name = name.lower()
        if name in folders or not self.prefix_match:
            return folders.get(name)
        hits = {v for k, v in folders.items() if name.startswith(k)}
        return hits.pop() if len(hits) == 1 else None


MARROW_CODES = {  # Matek et al. 2021 (the source's key), and the user's notes where they differ
    "BLA": ("blast", "blast cells"),
    "EOS": ("eosinophil", "eosinophils"),
    "LYT": ("lymphocyte", "lymphocytes"),
    "MON": ("monocyte", "monocytes"),
    "NGS": ("segmented neutrophil", "neutrophilic granulocytes (segmented)"),
    "NIF": ("not identifiable", "neutrophilic immature forms"),
    "PMO": ("promyelocyte", "promonocytes"),
}
MARROW_GROUPS = {"BLA": "immature", "PMO": "immature", "EOS": "mature", "LYT": "mature", "MON": "mature",
                 "NGS": "mature", "NIF": "not identifiable"}
# Matek et al. 2021 (Blood), per-class strict precision / recall on 171k images
MATEK_2021 = {"BLA": (0.75, 0.65), "EOS": (0.85, 0.91), "LYT": (0.90, 0.70), "MON": (0.57, 0.70),
              "NGS": (0.92, 0.71), "NIF": (0.27, 0.63), "PMO": (0.76, 0.72)}

SPECS: dict[str, DatasetSpec] = {
    "breast": DatasetSpec(
        "breast", "obulisainaren/multi-cancer", "Multi-Cancer: breast", ("benign", "malignant"),
        {"breast_benign": "benign", "breast_malignant": "malignant"}, extensions=(".jpg", ".jpeg"),
        layout="Multi Cancer/Breast Cancer/{breast_benign,breast_malignant}/breast_benign_0001.jpg (512x512 jpg)"),
    "leukemia": DatasetSpec(
        "leukemia", "obulisainaren/multi-cancer", "Multi-Cancer: ALL (augmented from mehradaria/leukemia)",
        ("benign", "early", "pre", "pro"),
        {"all_benign": "benign", "all_early": "early", "all_pre": "pre", "all_pro": "pro"},
        extensions=(".jpg", ".jpeg"), ordinal=True,
        layout="Multi Cancer/ALL/{all_benign,all_early,all_pre,all_pro}/all_benign_0001.jpg (512x512 jpg)"),
    "all": DatasetSpec(
        "all", "mehradaria/leukemia", "Acute lymphoblastic leukemia (Aria et al. 2021)",
        ("benign", "early", "pre", "pro"),
        {"Benign": "benign", "Early": "early", "Pre": "pre", "Pro": "pro"}, extensions=(".jpg", ".jpeg", ".png"),
        exclude=("Segmented",), ordinal=True,
        layout="Original/{Benign,Early,Pre,Pro}/WBC-Malignant-Early-001.jpg (224x224 jpg); Segmented/ ignored"),
    "blood": DatasetSpec(
        "blood", "rashasalim/blood-smear-images-for-aml-diagnosis", "Blood smear cells for AML diagnosis",
        ("lymphoblast", "lymphocyte", "myeloblast"),
        {"Lymphoblast": "lymphoblast", "Lymphocyte": "lymphocyte", "Myeloblast": "myeloblast"},
        extensions=(".png", ".jpg", ".jpeg", ".tif", ".tiff"), prefix_match=True,
        layout="{Lymphoblast,Lymphocyte,Myeloblast}/*.png (256x256 png)"),
    "marrow": DatasetSpec(
        "marrow", "shuvokumarbasakbd/bone-marrow-cell-colorized-classification",
        "Bone marrow cytomorphology (Matek et al. 2021 subset)", tuple(MARROW_CODES),
        {c: c for c in MARROW_CODES}, extensions=(".jpg", ".jpeg", ".png"), given_splits=True,
        layout="{train,val,test}/{BLA,EOS,LYT,MON,NGS,NIF,PMO}/BLA_00001.jpg (250x250 jpg)"),
}


def get_spec(task: str) -> DatasetSpec:
    if task not in SPECS:
        raise PipelineError(f"no cell dataset '{task}'; choose one of {', '.join(SPECS)}")
    return SPECS[task]


def scan(spec: DatasetSpec, root: str | Path) -> pd.DataFrame:
    """Every image file under a class folder of `root`: columns id (path relative to root), path,
    label, given_split ('' when the set has none or the file is outside split folders). Sorted by id."""
    root = Path(root)
    if not root.is_dir():
        raise PipelineError("data folder not found", root)
    excluded = {e.lower() for e in spec.exclude}
    rows = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        rel = Path(folder).relative_to(root)
        dirs[:] = sorted(d for d in dirs if d.lower() not in excluded and not d.startswith("."))
        label = spec.folder_class(Path(folder).name) if rel.parts else None
        if label is None:
            continue
        given = ""
        if spec.given_splits:
            given = next((SPLIT_FOLDERS[p.lower()] for p in reversed(rel.parts[:-1]) if p.lower() in SPLIT_FOLDERS), "")
        for name in sorted(files):
            if Path(name).suffix.lower() in spec.extensions and not name.startswith("."):
                rid = (rel / name).as_posix()
                rows.append({"id": rid, "path": str(root / rid), "label": label, "given_split": given})
    table = pd.DataFrame(rows, columns=["id", "path", "label", "given_split"])
    return table.sort_values("id", kind="stable").reset_index(drop=True)


def check_found(spec: DatasetSpec, table: pd.DataFrame, root: Path) -> None:
    """Fail with one line when the tree does not look like the dataset."""
    if table.empty:
        names = ", ".join(sorted(spec.folders))
        raise PipelineError(f"no {spec.task} images found: expected class folders named {names} "
                            f"(layout: {spec.layout})", root)
    missing = [c for c in spec.classes if c not in set(table["label"])]
    if len(set(table["label"])) < 2:
        raise PipelineError(f"only one class found; missing {missing} (layout: {spec.layout})", root)
    if missing:
        print(f"warning: no images for the classes {missing} under {root}; continuing with the others")
