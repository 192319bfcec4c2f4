"""Stages 0..3 of the five real cell tasks (breast, leukemia, all, blood, marrow), one code path.

    python -m pipeline TASK stage0 [--source DIR] [--force]   # find/download, validate, dedupe, split
    python -m pipeline TASK stage1 [--pretrained] [--epochs N] [--image-size S] [--model NAME]
    python -m pipeline TASK stage2                            # submissions/TASK.csv
    python -m pipeline TASK stage3                            # work/TASK/report/

Data: data/TASK/ (PIPELINE_DATA) holds the Kaggle dataset as it unzips; stage0 downloads it with the
Kaggle CLI when it is missing and credentials exist, else stops with one line saying how to get it.
`--source DIR` reads a tree with the same layout from elsewhere, in place. Settings are the defaults of
`CellSettings`; a caller may override some by setting attributes of the same name on the namespace
(seed, max_distance, epochs, model, image_size, batch_size, patience, pretrained, source, report_n).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.cells.common import ensure, jsonable, probability_table, write_csv
from pipeline.cells.datasets import SPECS, DatasetSpec, check_found, get_spec, scan
from pipeline.cells.dedupe import hash_files, near_duplicate_groups, parse_views, phash_hex, view_pairs, views_hex
from pipeline.cells.evaluate import predict
from pipeline.cells.split import PRIORITY, crossing_groups, grouped_splits, resolve_given_splits
from pipeline.cells.train import TrainConfig, load_checkpoint, load_images, read_resized, train_classifier
from pipeline.core import kaggle
from pipeline.core.errors import PipelineError
from pipeline.core.manifest import run_stage
from pipeline.core.paths import data_dir, submissions_dir, work_dir


@dataclass(frozen=True)
class CellSettings:
    """Everything the four stages depend on (recorded in their manifests).

    Sized for 2 CPU cores: a 0.2M-parameter timm ByobNet from scratch at 64 px (see circles for the
    measurements behind that choice); `--pretrained` and a larger `--model` when a GPU and weights exist.
    """

    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    # pHash bits. Measured on the shared real samples: flipped/turned copies upscaled to 512 px and re-encoded
    # (the Multi-Cancer augmentation) are 0-2 bits from their source (258 of 258); of 1,120 distinct marrow
    # cells, 1 pair is 4 bits apart, 2 are 6, the rest >= 8.
    max_distance: int = 4
    threads: int = 2
    knn_k: int = 5
    report_n: int = 200  # test images per robustness level / saliency and crop analyses
    source: str | None = None
    train: TrainConfig = field(default_factory=lambda: TrainConfig(model="test_byobnet", image_size=64, epochs=30))


_TRAIN_OVERRIDES = ("epochs", "model", "image_size", "batch_size", "patience", "pretrained")
_TOP_OVERRIDES = ("seed", "max_distance", "report_n", "source")


def settings_from_args(args: argparse.Namespace) -> CellSettings:
    s = CellSettings()
    top = {k: getattr(args, k) for k in _TOP_OVERRIDES if getattr(args, k, None) is not None}
    if top.get("source") is not None:
        top["source"] = str(Path(top["source"]).expanduser().resolve())
    train = {k: getattr(args, k) for k in _TRAIN_OVERRIDES if getattr(args, k, None) is not None}
    train["seed"] = top.get("seed", s.seed)
    return dataclasses.replace(s, **top, train=dataclasses.replace(s.train, **train))


@dataclass(frozen=True)
class Paths:
    task: str

    @property
    def work(self) -> Path:
        return work_dir(self.task)

    @property
    def index(self) -> Path:
        return self.work / "index.csv"

    @property
    def splits(self) -> Path:
        return self.work / "splits.csv"

    @property
    def duplicates(self) -> Path:
        return self.work / "duplicates.csv"

    @property
    def unreadable(self) -> Path:
        return self.work / "unreadable.csv"

    @property
    def model(self) -> Path:
        return self.work / "model"

    @property
    def checkpoint(self) -> Path:
        return self.model / "checkpoint.pt"

    @property
    def report(self) -> Path:
        return self.work / "report"

    @property
    def submission(self) -> Path:
        return submissions_dir() / f"{self.task}.csv"


# --- stage 0 ------------------------------------------------------------------------------------------------


def locate_data(spec: DatasetSpec, s: CellSettings) -> tuple[Path, pd.DataFrame]:
    """The data root and its scan; downloads into data/TASK when it holds nothing and credentials exist."""
    if s.source:
        root = Path(s.source)
        table = scan(spec, root)
        check_found(spec, table, root)
        return root, table
    root = data_dir(spec.task)
    table = scan(spec, root) if root.is_dir() else pd.DataFrame(columns=["id"])
    for other in (t for t, sp in SPECS.items() if sp.slug == spec.slug and t != spec.task):
        if table.empty and data_dir(other).is_dir():  # breast and leukemia share one Kaggle download
            found = scan(spec, data_dir(other))
            if not found.empty:
                print(f"using the {spec.slug} copy already downloaded for {other}: {data_dir(other)}")
                return data_dir(other), found
    if table.empty:
        if not kaggle.has_credentials():
            raise PipelineError(f"no {spec.task} data in {root} and {kaggle.NO_CREDENTIALS}; then rerun "
                                f"(or unzip the Kaggle dataset {spec.slug} there, or pass --source DIR)")
        print(f"downloading the Kaggle dataset {spec.slug} into {root}")
        kaggle.download_dataset(spec.slug, root)
        table = scan(spec, root)
    check_found(spec, table, root)
    return root, table


def input_folders(spec: DatasetSpec, s: CellSettings) -> list[Path]:
    """The class folders stage0 would read (hashed for its manifest), not the whole download: the
    Multi-Cancer archive holds eight cancers, of which a task reads one."""
    shared = [data_dir(t) for t, sp in SPECS.items() if t != spec.task and sp.slug == spec.slug]
    roots = [Path(s.source)] if s.source else [data_dir(spec.task), *shared]
    for root in roots:
        table = scan(spec, root) if root.is_dir() else pd.DataFrame(columns=["path"])
        if not table.empty:
            return sorted({Path(p).parent for p in table["path"]})
    return roots[:1]


def drop_exact_duplicates(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the first file (by id) of each set of identical files; identical files under different labels
    are all dropped (their label is unknowable). Returns (kept, removed with reason and kept id)."""
    removed = []
    keep = np.ones(len(table), dtype=bool)
    for _, rows in table.groupby("sha256", sort=False):
        if len(rows) < 2:
            continue
        if rows["label"].nunique() > 1:
            keep[table.index.get_indexer(rows.index)] = False
            removed += [{"id": i, "label": lab, "reason": "identical files with different labels", "kept": ""}
                        for i, lab in zip(rows["id"], rows["label"])]
            continue
        first = rows["id"].iloc[0]
        for i, lab in zip(rows["id"].iloc[1:], rows["label"].iloc[1:]):
            removed.append({"id": i, "label": lab, "reason": "exact duplicate", "kept": first})
        keep[table.index.get_indexer(rows.index[1:])] = False
    return table[keep].reset_index(drop=True), pd.DataFrame(removed, columns=["id", "label", "reason", "kept"])


def source_matches(table: pd.DataFrame, max_distance: int) -> tuple[list[str], dict[str, str]]:
    """leukemia only: match each image against the `all` set it was augmented from (when that set has been
    indexed) -> (matched all id per row or '', forced split per near-duplicate group)."""
    other_index, other_splits = Paths("all").index, Paths("all").splits
    if not (other_index.is_file() and other_splits.is_file()):
        return [""] * len(table), {}
    other = pd.read_csv(other_index, dtype=str, keep_default_na=False).merge(pd.read_csv(other_splits), on="id")
    views = np.array([parse_views(v) for v in table["phash_views"]], dtype=np.uint64)
    plain = np.array([int(h, 16) for h in other["phash"]], dtype=np.uint64)
    pairs = view_pairs(plain, views, max_distance)[:, ::-1]  # (leukemia row, all row)
    matched = [""] * len(table)
    forced: dict[str, str] = {}
    for i, j in pairs:
        split = str(other["split"].iloc[j])
        if not matched[i]:
            matched[i] = str(other["id"].iloc[j])
        g = str(table["group"].iloc[i])
        if g not in forced or PRIORITY[split] < PRIORITY[forced[g]]:
            forced[g] = split
    return matched, forced


def build_index(spec: DatasetSpec, s: CellSettings, root: Path, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Hash, validate, dedupe and split a scanned tree -> index, splits, duplicates, unreadable tables."""
    hashes = hash_files(list(table["path"]), s.threads)
    table = table.assign(sha256=[h.sha256 for h in hashes], phash=[phash_hex(h.phash) for h in hashes],
                         phash_views=[views_hex(h.views) for h in hashes],
                         width=[h.width for h in hashes], height=[h.height for h in hashes],
                         error=[h.error for h in hashes])
    bad = table["error"] != ""
    unreadable = table.loc[bad, ["id", "label", "error"]].reset_index(drop=True)
    for rid, err in zip(unreadable["id"], unreadable["error"]):
        print(f"skipped unreadable file {root / rid}: {err}")
    table = table[~bad].drop(columns="error").reset_index(drop=True)
    table, duplicates = drop_exact_duplicates(table)
    if table.empty or table["label"].nunique() < 2:
        raise PipelineError(f"fewer than two classes left after removing {int(bad.sum())} unreadable files", root)
    table["group"] = near_duplicate_groups(list(table["id"]), [parse_views(v) for v in table["phash_views"]],
                                           s.max_distance)
    matched, forced = source_matches(table, s.max_distance) if spec.task == "leukemia" else ([""] * len(table), {})
    table["source_match"] = matched
    given = table["given_split"].astype(str)
    if spec.given_splits and (given != "").all():
        split, keep = resolve_given_splits(list(given), list(table["group"]))
        home = dict(zip(table.loc[keep, "group"], split[keep]))
        gone = table.loc[~keep]
        dropped = [{"id": i, "label": lab, "kept": g,
                    "reason": f"near duplicate of an image in the given {home[g]} split"}
                   for i, lab, g in zip(gone["id"], gone["label"], gone["group"])]
        duplicates = pd.concat([duplicates, pd.DataFrame(dropped, columns=duplicates.columns)], ignore_index=True)
        table, split = table[keep].reset_index(drop=True), split[keep]
    else:
        if spec.given_splits and (given != "").any():
            raise PipelineError("some images sit in train/val/test folders and some do not; use one layout", root)
        split = grouped_splits(list(table["label"]), list(table["group"]), s.val_fraction, s.test_fraction,
                               s.seed, forced=forced)
    assert not crossing_groups(list(table["group"]), list(split)), "a near-duplicate group spans two splits"
    index = table[["id", "path", "label", "group", "given_split", "source_match", "sha256", "phash", "phash_views",
                   "width", "height"]]
    return {"index": index, "splits": pd.DataFrame({"id": table["id"], "split": split}),
            "duplicates": duplicates, "unreadable": unreadable}


def stage0(args: argparse.Namespace) -> None:
    """Find (or download) the dataset, validate every image, drop duplicates, make leakage-free splits."""
    spec, s, p = get_spec(args.task_name), settings_from_args(args), Paths(args.task_name)
    outputs = [p.index, p.splits, p.duplicates, p.unreadable]

    def action() -> dict[str, Any]:
        root, table = locate_data(spec, s)
        tables = build_index(spec, s, root, table)
        for name, frame in tables.items():
            write_csv(getattr(p, name), frame)
        index, splits = tables["index"], tables["splits"]
        merged = index.merge(splits, on="id")
        multi = index["group"].value_counts()
        results = {"root": str(root), "files_found": len(table), "unreadable": len(tables["unreadable"]),
                   "duplicates_removed": len(tables["duplicates"]), "images": len(index),
                   "near_duplicate_groups": int((multi > 1).sum()), "images_in_groups": int(multi[multi > 1].sum()),
                   "per_class": index["label"].value_counts().sort_index().to_dict(),
                   "splits": merged.groupby(["split", "label"]).size().unstack(fill_value=0).to_dict(orient="index"),
                   "matched_to_all": int((index["source_match"] != "").sum())}
        print(f"{spec.task}: {len(table)} files, {results['unreadable']} unreadable, "
              f"{results['duplicates_removed']} duplicates removed, {len(index)} images in "
              f"{index['group'].nunique()} groups; splits {splits['split'].value_counts().to_dict()}")
        return results

    inputs = input_folders(spec, s) + ([Paths("all").index, Paths("all").splits] if spec.task == "leukemia" else [])
    config = {"seed": s.seed, "val_fraction": s.val_fraction, "test_fraction": s.test_fraction,
              "max_distance": s.max_distance, "source": s.source, "spec": asdict(spec)}
    run_stage(spec.task, "stage0", action, inputs=inputs, outputs=outputs, config=jsonable(config), force=args.force)


def load_index(task: str) -> pd.DataFrame:
    """index.csv joined with splits.csv."""
    p = Paths(task)
    for path in (p.index, p.splits):
        if not path.is_file():
            raise PipelineError("missing; run stage0 first", path)
    return pd.read_csv(p.index, dtype=str, keep_default_na=False).merge(
        pd.read_csv(p.splits, dtype=str), on="id", how="inner", validate="1:1")


# --- stage 1 ------------------------------------------------------------------------------------------------


def stage1(args: argparse.Namespace) -> None:
    """Train the classifier on the train split (class weights, early stopping on val) into work/TASK/model."""
    spec, s, p = get_spec(args.task_name), settings_from_args(args), Paths(args.task_name)
    ensure(STAGES, "stage0", [p.index, p.splits], args)
    outputs = [p.model / n for n in ("checkpoint.pt", "metrics.json", "training_curve.png", "history.csv")]

    def action() -> dict[str, Any]:
        result = train_classifier(load_index(spec.task), s.train, p.model, classes=spec.classes)
        return {k: result.metrics[k] for k in ("best_epoch", "val_acc", "val_loss", "epochs_run", "seconds", "device")}

    run_stage(spec.task, "stage1", action, inputs=[p.index, p.splits], outputs=outputs,
              config=jsonable({"train": asdict(s.train), "classes": list(spec.classes)}), force=args.force)


# --- stage 2 ------------------------------------------------------------------------------------------------


def load_or_flag(paths: list[str], size: int, threads: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Images for prediction; a file that cannot be read any more gives a blank image and a failure line."""
    try:
        return load_images(paths, size, threads, "loading test"), []
    except PipelineError:
        pass
    images = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    failures = []
    for i, path in enumerate(paths):
        try:
            images[i] = read_resized(path, size)
        except PipelineError as err:
            failures.append((i, err.problem))
    return images, failures


def stage2(args: argparse.Namespace) -> None:
    """Predict the test split and write submissions/TASK.csv (id, predicted, prob_<class>...)."""
    spec, s, p = get_spec(args.task_name), settings_from_args(args), Paths(args.task_name)
    ensure(STAGES, "stage1", [p.checkpoint, p.index, p.splits], args)
    failures_path = p.work / "stage2_failures.csv"

    def action() -> dict[str, Any]:
        model, cfg, classes, _ = load_checkpoint(p.checkpoint)
        test = load_index(spec.task).query("split == 'test'").sort_values("id")
        images, failures = load_or_flag(list(test["path"]), cfg.image_size, s.threads)
        proba, _ = predict(model, images, threads=s.threads)
        for i, problem in failures:  # a safe fallback row: uniform probabilities
            proba[i] = 1.0 / len(classes)
            print(f"could not read {test['path'].iloc[i]} ({problem}); it gets uniform probabilities")
        write_csv(failures_path, pd.DataFrame({"id": [test["id"].iloc[i] for i, _ in failures],
                                               "problem": [m for _, m in failures]}, columns=["id", "problem"]))
        write_csv(p.submission, probability_table(list(test["id"]), proba, classes))
        truth = np.array([classes.index(c) for c in test["label"]])
        return {"rows": len(test), "failures": len(failures),
                "test_accuracy": float((proba.argmax(1) == truth).mean()) if len(test) else None}

    run_stage(spec.task, "stage2", action, inputs=[p.checkpoint, p.index, p.splits],
              outputs=[p.submission, failures_path], config={"threads": s.threads}, force=args.force)


# --- stage 3 ------------------------------------------------------------------------------------------------


def stage3(args: argparse.Namespace) -> None:
    """Score val and test and write the report (metrics JSON, tables, PNG plots) to work/TASK/report."""
    from pipeline.cells.report import REPORT_FILES, build_report

    spec, s, p = get_spec(args.task_name), settings_from_args(args), Paths(args.task_name)
    ensure(STAGES, "stage1", [p.checkpoint, p.index, p.splits], args)

    def action() -> dict[str, Any]:
        model, cfg, classes, ckpt = load_checkpoint(p.checkpoint)
        return build_report(spec, model, cfg, classes, load_index(spec.task), p.report, threads=s.threads,
                            knn_k=s.knn_k, n=s.report_n, seed=s.seed, data_hash=ckpt["data_hash"])

    outputs = [p.report / n for n in REPORT_FILES["common"] + REPORT_FILES.get(spec.task, ())]
    run_stage(spec.task, "stage3", action, inputs=[p.checkpoint, p.index, p.splits], outputs=outputs,
              config={"threads": s.threads, "knn_k": s.knn_k, "report_n": s.report_n, "seed": s.seed},
              force=args.force)


STAGES = {"stage0": stage0, "stage1": stage1, "stage2": stage2, "stage3": stage3}


def configure_stage(stage: str, parser: argparse.ArgumentParser) -> None:
    if stage == "stage0":
        parser.add_argument("--source", type=Path, default=None,
                            help="read the dataset from DIR in place (same layout as the Kaggle download)")
        parser.add_argument("--max-distance", type=int, default=None, help="near-duplicate pHash bits (default 4)")
    if stage in ("stage1", "stage2", "stage3"):
        parser.add_argument("--pretrained", action="store_true", default=None,
                            help="start from timm's pretrained weights (needs them in the HF cache or the network)")
        parser.add_argument("--epochs", type=int, default=None)
        parser.add_argument("--image-size", type=int, default=None)
        parser.add_argument("--model", default=None, help="any timm model name (default test_byobnet)")
    if stage == "stage3":
        parser.add_argument("--report-n", type=int, default=None,
                            help="test images per robustness level and crop analysis (default 200)")
    parser.add_argument("--seed", type=int, default=None)


def task_module_parts(task: str) -> tuple[dict, Any, Any]:
    """(STAGES bound to a task, add_commands, configure_stage) for a task module."""
    get_spec(task)

    def bind(fn: Any) -> Any:
        def run(args: argparse.Namespace) -> None:
            fn(argparse.Namespace(**{**vars(args), "task_name": task}))
        run.__doc__ = fn.__doc__
        return run

    def add_commands(subparsers: argparse._SubParsersAction) -> None:
        return None

    return {name: bind(fn) for name, fn in STAGES.items()}, add_commands, configure_stage
