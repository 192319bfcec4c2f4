"""The competition folder as Kaggle ships it (or as render.py makes it): find, validate, index.

    train.csv, train/<id>/<id>-000N.png, train/<id>/<id>.csv, test.csv, test/<id>.png,
    sample_submission.parquet, and for our synthetic copy hidden/ (solution, test types, signals).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.ecg.formats.records import read_record_csv

REQUIRED_FILES = ("train.csv", "test.csv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Competition:
    root: Path

    @property
    def test_csv(self) -> Path:
        return self.root / "test.csv"

    @property
    def sample_submission(self) -> Path:
        for name in ("sample_submission.parquet", "sample_submission.csv"):
            if (self.root / name).exists():
                return self.root / name
        return self.root / "sample_submission.parquet"

    @property
    def hidden(self) -> Path:
        return self.root / "hidden"

    def test_image(self, image_id: str) -> Path:
        for suffix in IMAGE_SUFFIXES:
            path = self.root / "test" / f"{image_id}{suffix}"
            if path.exists():
                return path
        return self.root / "test" / f"{image_id}.png"

    def has_hidden_solution(self) -> bool:
        return (self.hidden / "solution.csv").exists()


def is_competition(root: Path) -> bool:
    return all((root / name).exists() for name in REQUIRED_FILES)


def find_competition(root: Path) -> Competition:
    """The competition folder at root or one level below (Kaggle's /kaggle/input/<slug> layouts)."""
    candidates = [root, root / "physionet-ecg-image-digitization",
                  root / "competitions" / "physionet-ecg-image-digitization"]
    for c in candidates:
        if is_competition(c):
            return Competition(c)
    raise PipelineError("no competition data (train.csv and test.csv) found", root)


def test_ids(test: pd.DataFrame) -> list[tuple[str, int]]:
    """(id, fs) per test image, in test.csv order."""
    firsts = test.drop_duplicates("id", keep="first")
    return [(str(i), int(fs)) for i, fs in zip(firsts["id"], firsts["fs"])]


def check_test_images(comp: Competition, test: pd.DataFrame) -> list[str]:
    """Raise if a test.csv row has no image; return the names of images that no row asks for."""
    ids = [i for i, _ in test_ids(test)]
    missing = [i for i in ids if not comp.test_image(i).exists()]
    if missing:
        raise PipelineError(f"test.csv lists {len(missing)} image(s) with no file in test/, "
                            f"first: {missing[0]}", comp.test_csv)
    wanted = set(ids)
    test_dir = comp.root / "test"
    return sorted(p.name for p in test_dir.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.stem not in wanted) if test_dir.exists() else []


def index_images(comp: Competition, test: pd.DataFrame) -> pd.DataFrame:
    """One row per image: id, split, image_type (train: from the file name; test: hidden or ''), fs, path."""
    rows = []
    train = read_train_csv(comp.root / "train.csv")
    for image_id, fs in zip(train["id"], train["fs"]):
        for png in sorted((comp.root / "train" / image_id).glob(f"{image_id}-*.png")):
            if png.name.count(".") > 1:  # ground truth beside the image (mask, paths)
                continue
            rows.append((image_id, "train", png.stem.rsplit("-", 1)[-1], int(fs), str(png)))
    types = {}
    types_csv = comp.hidden / "test_types.csv"
    if types_csv.exists():
        t = pd.read_csv(types_csv, dtype={"id": str, "image_type": str})
        types = dict(zip(t["id"], t["image_type"]))
    for image_id, fs in test_ids(test):
        rows.append((image_id, "test", types.get(image_id, ""), fs, str(comp.test_image(image_id))))
    return pd.DataFrame(rows, columns=["id", "split", "image_type", "fs", "path"])


def read_train_csv(path: Path) -> pd.DataFrame:
    """train.csv (id, fs[, sig_len]) with ids as strings; missing columns or a bad fs raise PipelineError."""
    try:
        train = pd.read_csv(path, dtype={"id": str})
    except Exception as exc:  # the csv reader raises many types for corrupt files
        raise PipelineError(f"unreadable train.csv ({type(exc).__name__}: {exc})", path) from exc
    missing = [c for c in ("id", "fs") if c not in train.columns]
    if missing:
        raise PipelineError(f"missing columns {', '.join(missing)} (need id, fs)", path)
    fs = pd.to_numeric(train["fs"], errors="coerce")
    bad = fs.isna() | (fs <= 0) | (fs % 1 != 0)
    if bad.any():
        raise PipelineError(f"fs must be a positive integer (row {int(bad.to_numpy().argmax())})", path)
    return train.assign(fs=fs.astype(int))


def check_train_record(path: Path, fs: int, sig_len: int | None = None) -> None:
    """A train signal CSV: 12 named lead columns (read_record_csv), every lead with values, and the row
    count train.csv gives (sig_len; without it fs*10, the 10 s of a page)."""
    record = read_record_csv(path)
    want = int(sig_len) if sig_len is not None else int(round(fs * 10))
    if len(record) != want:
        source = f"sig_len {want}" if sig_len is not None else f"10 s at fs {fs}"
        raise PipelineError(f"{len(record)} rows, expected {want} ({source} from train.csv)", path)
    empty = [lead for lead in record.columns if not record[lead].notna().any()]
    if empty:
        raise PipelineError(f"lead(s) {', '.join(empty)} have no values (all NaN)", path)


def check_train_records(comp: Competition) -> int:
    """Validate train.csv and every record CSV it lists (a missing one is an error too) with a one-line
    error; returns how many were checked. Without a train/ folder at all (an inference-only copy, as the
    Kaggle kernel links it) the records are not checked: 0."""
    train = read_train_csv(comp.root / "train.csv")
    if not (comp.root / "train").is_dir():
        return 0
    lengths = pd.to_numeric(train["sig_len"], errors="coerce") if "sig_len" in train.columns else None
    for k, (image_id, fs) in enumerate(zip(train["id"], train["fs"])):
        path = comp.root / "train" / image_id / f"{image_id}.csv"
        if not path.is_file():
            raise PipelineError(f"train.csv lists record {image_id} but its signal CSV is missing", path)
        sig_len = None if lengths is None or pd.isna(lengths.iloc[k]) else int(lengths.iloc[k])
        check_train_record(path, int(fs), sig_len)
    return len(train)
