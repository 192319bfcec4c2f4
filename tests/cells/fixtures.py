"""Tiny dataset trees in each cell dataset's real folder layout and file types (DESIGN 5), for tests.

Images are small synthetic "cells" (a dark nucleus on a pale smear, class-dependent colour and size) so a
two-epoch model can learn something; `all` and `marrow` link in the real shared samples where they exist.
Each tree also carries the faults stage0 must handle: an unreadable file, exact and near duplicates.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "cells-samples"
MARROW_SAMPLES = SHARED / "bone-marrow-matek2021"
ALL_EARLY = SHARED / "all-leukemia-mehradaria" / "Early"
ALL_RESIZED = SHARED / "all-leukemia-mehradaria-resized512png"


def cell(class_index: int, seed: int, size: int = 64) -> np.ndarray:
    """A synthetic cell, RGB uint8: a smear (random gradient, red cells around) and a nucleus whose colour
    and radius are set by the class. The surroundings vary enough that perceptual hashes tell cells apart."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)[..., None] * rng.uniform(30, 70)
    img = np.full((size, size, 3), (215, 190, 210), np.float32) + ramp + rng.normal(0, 5, (size, size, 3))
    for _ in range(int(rng.integers(3, 7))):  # red cells at random places
        c = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        cv2.circle(img, c, int(size * rng.uniform(0.12, 0.2)), (200, 120, 140), -1)
    hue = [(90, 40, 150), (150, 40, 90), (60, 90, 160), (120, 120, 40), (40, 130, 120), (160, 110, 60), (90, 90, 90)]
    centre = (size // 2 + int(rng.integers(-6, 7)), size // 2 + int(rng.integers(-6, 7)))
    radius = int(size * (0.16 + 0.04 * (class_index % 4)) + rng.integers(-2, 3))
    cv2.circle(img, centre, radius + 6, (200, 170, 200), -1)
    colour = tuple(float(v) + rng.normal(0, 8) for v in hue[class_index % len(hue)])
    for _ in range(int(rng.integers(1, 4))):  # 1-3 lobes
        off = (centre[0] + int(rng.integers(-4, 5)), centre[1] + int(rng.integers(-4, 5)))
        cv2.circle(img, off, max(3, radius - int(rng.integers(0, 4))), colour, -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_image(path: Path, rgb: np.ndarray, quality: int = 92) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]), params):
        raise OSError(f"could not write {path}")


def truncated(path: Path, rgb: np.ndarray) -> None:
    """A JPEG/PNG cut to a third of its bytes: the kind of file stage0 must list and skip."""
    write_image(path, rgb)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dst)


def add_faults(class_dirs: list[Path], ext: str) -> dict[str, str]:
    """Unreadable file, exact duplicate (same class), exact duplicate across classes, near duplicate.
    Returns their ids relative to the dirs' common root... as (kind -> file name)."""
    first = sorted(class_dirs[0].iterdir())[0]
    second_cls = sorted(class_dirs[1].iterdir())[0]
    truncated(class_dirs[0] / f"broken{ext}", cell(0, 999))
    (class_dirs[0] / f"copy_of_first{ext}").write_bytes(first.read_bytes())
    (class_dirs[1] / f"conflict{ext}").write_bytes(second_cls.read_bytes())
    (class_dirs[0] / f"conflict{ext}").write_bytes(second_cls.read_bytes())
    img = cv2.imread(str(first))[:, :, ::-1]
    near = cv2.resize(np.ascontiguousarray(img[:, ::-1]), None, fx=1.5, fy=1.5, interpolation=cv2.INTER_LINEAR)
    write_image(class_dirs[0] / f"near_flip_of_first{ext}", near, quality=80)
    return {"first": first.name, "near": f"near_flip_of_first{ext}"}


def multi_cancer(root: Path, organ: str, folders: list[str], n: int = 14, size: int = 64) -> list[Path]:
    """Multi Cancer/<organ>/<folder>/<folder>_0001.jpg (the Kaggle zip nests "Multi Cancer" twice)."""
    dirs = []
    for c, folder in enumerate(folders):
        d = root / "Multi Cancer" / "Multi Cancer" / organ / folder
        for i in range(n):
            write_image(d / f"{folder}_{i + 1:04d}.jpg", cell(c, 1000 * c + i, size))
        dirs.append(d)
    (root / "Multi Cancer" / "Multi Cancer" / "Brain Cancer" / "brain_glioma").mkdir(parents=True, exist_ok=True)
    write_image(root / "Multi Cancer" / "Multi Cancer" / "Brain Cancer" / "brain_glioma" / "brain_glioma_0001.jpg",
                cell(5, 5))
    return dirs


def breast_tree(root: Path) -> Path:
    add_faults(multi_cancer(root, "Breast Cancer", ["breast_benign", "breast_malignant"]), ".jpg")
    return root


def all_tree(root: Path, n: int = 12) -> Path:
    """Original/{Benign,Early,Pre,Pro}/WBC-*.jpg: the real Early samples (and the resized real PNGs) plus
    synthetic ones; Segmented/ holds copies that must be ignored."""
    names = {"Benign": "WBC-Benign", "Early": "WBC-Malignant-Early", "Pre": "WBC-Malignant-Pre",
             "Pro": "WBC-Malignant-Pro"}
    dirs = []
    for c, (folder, stem) in enumerate(names.items()):
        d = root / "Original" / folder
        real = sorted(ALL_EARLY.glob("*.jpg"))[:n] if folder == "Early" else []
        for src in real:
            link(src, d / src.name)
        for i in range(n - len(real)):
            write_image(d / f"{stem}-{500 + i:03d}.jpg", cell(c, 2000 + 100 * c + i, 56))
        for src in sorted((ALL_RESIZED / folder).glob("*.png"))[:2]:
            link(src, d / src.name)
        write_image(root / "Segmented" / folder / f"{stem}-500.jpg", cell(c, 7))
        dirs.append(d)
    add_faults(dirs, ".jpg")
    return root


def leukemia_tree(root: Path, all_root: Path) -> Path:
    """Multi Cancer/ALL/all_<stage>/all_<stage>_0001.jpg: flipped/turned, upscaled copies of the `all`
    tree's originals (as the Multi-Cancer set made its 20k from mehradaria's 3,256) plus a few new cells."""
    folders = {"Benign": "all_benign", "Early": "all_early", "Pre": "all_pre", "Pro": "all_pro"}
    ops = [lambda a: a[:, ::-1], lambda a: np.rot90(a, 1), lambda a: a[::-1], lambda a: np.rot90(a, 3)]
    for c, (src_folder, folder) in enumerate(folders.items()):
        d = root / "Multi Cancer" / "Multi Cancer" / "ALL" / folder
        sources = sorted((all_root / "Original" / src_folder).glob("WBC-*"))
        for i, src in enumerate(sources[:8]):
            img = cv2.imread(str(src))[:, :, ::-1]
            aug = cv2.resize(np.ascontiguousarray(ops[i % 4](img)), (96, 96), interpolation=cv2.INTER_CUBIC)
            write_image(d / f"{folder}_{i + 1:04d}.jpg", aug, quality=85)
        for i in range(6):
            write_image(d / f"{folder}_{100 + i:04d}.jpg", cell(c, 3000 + 100 * c + i, 64))
    return root


def blood_tree(root: Path) -> Path:
    dirs = []
    for c, folder in enumerate(["Lymphoblast", "Lymphocyte", "Myeloblast"]):
        d = root / folder
        for i in range(14):
            write_image(d / f"{folder}_{i:03d}.png", cell(c, 4000 + 100 * c + i, 64))
        dirs.append(d)
    add_faults(dirs, ".png")
    return root


def marrow_tree(root: Path, per_split: tuple[int, int, int] = (10, 3, 3)) -> Path:
    """{train,val,test}/<CLS>/<CLS>_NNNNN.jpg linked from the real Matek samples (the given splits)."""
    codes = ["BLA", "EOS", "LYT", "MON", "NGS", "NIF", "PMO"]
    dirs = []
    for code in codes:
        files = sorted((MARROW_SAMPLES / code).glob("*.jpg"))
        start = 0
        for split, k in zip(("train", "val", "test"), per_split):
            for src in files[start:start + k]:
                link(src, root / split / code / src.name)
            start += k
        dirs.append(root / "train" / code)
    # a near duplicate of a test image placed in train: stage0 must drop it from train
    img = cv2.imread(str(sorted((root / "test" / "BLA").iterdir())[0]))[:, :, ::-1]
    write_image(root / "train" / "BLA" / "BLA_99999.jpg", np.ascontiguousarray(img[::-1]), quality=80)
    truncated(root / "val" / "EOS" / "EOS_99998.jpg", cell(1, 1))
    return root
