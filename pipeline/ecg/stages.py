"""The ECG task's stages (DESIGN 3) and step commands (DESIGN 4.4).

stage0 makes or indexes the competition data, stage1 trains the row segmenter, stage2 digitizes the
test images and writes submissions/ecg.csv, stage3 scores it and writes the report.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_path, write_json_atomic, write_text_atomic
from pipeline.core.manifest import run_stage
from pipeline.core.parallel import default_workers, parallel_map
from pipeline.core.paths import PROJECT_ROOT, data_dir, submissions_dir, work_dir
from pipeline.core.seeding import derive_seed
from pipeline.core.images import check_image_file
from pipeline.ecg.competition import Competition, check_test_images, check_train_records, find_competition, \
    index_images, is_competition, test_ids

TASK = "ecg"
VAL_FRACTION = 0.2
DIGITIZER_SOURCES = ("grid.py", "detect_layout.py", "probability.py", "trace.py", "signals.py", "digitize.py",
                     "layout.py", "rectify.py", "segment.py")
REPORT_SOURCES = [PROJECT_ROOT / "pipeline/ecg" / name for name in
                  ("report.py", "beats.py", "rhythm.py", "failures.py", "overlay.py", "metric.py")]
# Listed as files, not the folder, so that __pycache__ does not change the hash.
RENDER_SOURCES = [PROJECT_ROOT / "pipeline/ecg/render.py", PROJECT_ROOT / "pipeline/ecg/ecg_signals_sim.py",
                  PROJECT_ROOT / "pipeline/ecg/contact_sheet.py",
                  *sorted((PROJECT_ROOT / "pipeline/ecg/degrade").glob("*.py"))]


# ---------------------------------------------------------------- stage0: data
def _generate(args: argparse.Namespace, root: Path) -> dict:
    from pipeline.ecg.render import make_competition

    make_competition(root, n_train=args.n_train, n_test=args.n_test, seed=args.seed, workers=args.workers)
    return {"generated": True, "n_train": args.n_train, "n_test": args.n_test}


def _split(index: pd.DataFrame, seed: int) -> pd.DataFrame:
    """train/val by a hash of the record id (all images of one record in one split); test stays test."""
    ids = index[["id", "split"]].drop_duplicates("id")
    def which(row: pd.Series) -> str:
        if row["split"] == "test":
            return "test"
        return "val" if derive_seed(seed, "split", row["id"]) % 1000 < VAL_FRACTION * 1000 else "train"
    return pd.DataFrame({"id": ids["id"], "split": ids.apply(which, axis=1)})


def stage0(args: argparse.Namespace) -> None:
    """Get the data: the competition files in data/ecg if present, else a synthetic competition."""
    from pipeline.ecg.submit import read_test_csv

    root, work = data_dir(TASK), work_dir(TASK)
    if not is_competition(root):
        run_stage(TASK, "stage0-render", lambda: _generate(args, root), inputs=RENDER_SOURCES,
                  outputs=[root / "test.csv"], force=args.force,
                  config={"n_train": args.n_train, "n_test": args.n_test, "seed": args.seed})

    sheet = work / "contact_sheet.png"
    run_stage(TASK, "stage0-contact-sheet", lambda: {"png": str(_contact_sheet(sheet, args.seed))},
              inputs=RENDER_SOURCES, outputs=[sheet], config={"seed": args.seed}, force=args.force)

    def index() -> dict:
        comp = find_competition(root)
        test = read_test_csv(comp.test_csv)
        unused = check_test_images(comp, test)
        if unused:
            print(f"warning: {comp.root / 'test'}: {len(unused)} image(s) have no row in test.csv and are "
                  f"ignored, first: {unused[0]}")
        checked = check_train_records(comp)
        table = index_images(comp, test)
        bad_test = []
        for path, split in zip(table["path"], table["split"]):
            try:
                check_image_file(path)
            except PipelineError as err:
                if split != "test":
                    raise
                # A test image must still get a prediction: stage2 gives it the fallback and reports it.
                print(f"warning: {err}; stage2 will give it the flat fallback prediction")
                bad_test.append(Path(path).name)
        splits = _split(table, args.seed)
        with atomic_path(work / "index.csv") as tmp:
            table.to_csv(tmp, index=False)
        with atomic_path(work / "splits.csv") as tmp:
            splits.to_csv(tmp, index=False)
        return {"images": len(table), "unused_test_images": unused, "unreadable_test_images": bad_test,
                "train_records_checked": checked,
                "splits": splits["split"].value_counts().to_dict()}

    run_stage(TASK, "stage0", index, inputs=[root], outputs=[work / "index.csv", work / "splits.csv"],
              config={"seed": args.seed, "val_fraction": VAL_FRACTION}, force=args.force)


def _contact_sheet(path: Path, seed: int) -> Path:
    from pipeline.ecg.contact_sheet import contact_sheet

    return contact_sheet(path, seed=seed)


# ---------------------------------------------------------------- stage1: model
def digitizer_hash() -> str:
    """Content hash of the digitizer's code and of the segmenter it uses: the key of cached predictions."""
    h = hashlib.sha256()
    for name in DIGITIZER_SOURCES:
        path = PROJECT_ROOT / "pipeline" / "ecg" / name
        if path.exists():
            h.update(name.encode() + path.read_bytes())
    checkpoint = segmenter_checkpoint()
    if checkpoint is not None:
        h.update(checkpoint.read_bytes())
    return h.hexdigest()[:16]


def segmenter_checkpoint() -> Path | None:
    """The row segmenter stage2 uses: stage1's if trained, else the one shipped, else None (classical)."""
    from pipeline.ecg.segment import DEFAULT_CHECKPOINT

    trained = work_dir(TASK) / "model" / "segment.pt"
    for path in (trained, DEFAULT_CHECKPOINT):
        if path.is_file():
            return path
    return None


def stage1(args: argparse.Namespace) -> None:
    """Train the row segmenter on rendered pages (segment_train.py) into work/ecg/model/segment.pt."""
    from pipeline.ecg.segment_train import settings, train_segmenter

    folder = work_dir(TASK) / "model"
    config = settings(epochs=args.epochs, steps_per_epoch=args.steps, n_pages=args.n_pages,
                      n_val_pages=args.n_val_pages, n_val_images=args.n_val_images,
                      minutes=args.minutes, seed=args.seed, pretrained=args.pretrained or None)
    flags = {"epochs": config.epochs, "steps": config.steps_per_epoch, "n-pages": config.n_pages,
             "n-val-pages": config.n_val_pages, "n-val-images": config.n_val_images,
             "minutes": config.minutes, "seed": config.seed}
    command = "python -m pipeline ecg stage1 " + " ".join(f"--{k} {v}" for k, v in flags.items())
    if config.pretrained:
        command += " --pretrained"  # part of the model's recipe, so part of the command that remakes it

    def train() -> dict:
        from pipeline.core.io import sha256_file

        result = train_segmenter(folder, config, workers=args.workers, command=command)
        result["sha256"] = sha256_file(folder / "segment.pt")
        write_json_atomic(folder / "model.json", {"kind": "segmenter", **result, "command": command})
        return result

    sources = [PROJECT_ROOT / "pipeline/ecg" / n for n in ("segment.py", "segment_data.py", "segment_train.py")]
    run_stage(TASK, "stage1", train, inputs=[*sources, *RENDER_SOURCES,
                                             *(PROJECT_ROOT / "pipeline/ecg" / n for n in DIGITIZER_SOURCES)],
              outputs=[folder / "segment.pt", folder / "model.json"], config={"command": command},
              force=args.force)


# ---------------------------------------------------------------- stage2: predict
def _predict_one(job: tuple[str, int, str, str, str | None]) -> str:
    """Digitize one image into its cache file (atomic); returns the cache path. Runs in a worker."""
    from pipeline.ecg.digitize import DigitizeConfig, safe_digitize_file

    image_id, fs, image_path, cache_path, segmenter = job
    cache = Path(cache_path)
    if cache.exists() and readable_prediction(cache):
        return cache_path
    result = safe_digitize_file(Path(image_path), fs, DigitizeConfig(segmenter=segmenter))
    arrays = {f"signal/{lead}": np.asarray(v, dtype=np.float64) for lead, v in result.signals.items()}
    arrays.update({f"path/{key}": np.asarray(v, dtype=np.float64) for key, v in result.paths.items()})
    arrays["diagnostics"] = np.frombuffer(json.dumps(result.diagnostics, default=str,
                                                     sort_keys=True).encode(), dtype=np.uint8)
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return cache_path


def load_prediction(cache: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """(signals by lead, pixel paths by key, diagnostics) from a stage2 cache file."""
    with np.load(cache) as z:
        signals = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("signal/")}
        paths = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("path/")}
        diagnostics = json.loads(bytes(z["diagnostics"]).decode())
    return signals, paths, diagnostics


def readable_prediction(cache: Path) -> bool:
    """Whether a cache file loads (a damaged one, e.g. from a full disk outside our atomic writes, is redone)."""
    try:
        load_prediction(cache)
    except Exception:  # zip, pickle, JSON and key errors: anything unreadable is redone
        return False
    return True


DOUBTFUL_FLAGS = ("turned_90", "turned_180", "turned_270", "grid_not_found", "scale_fallback", "row_fallback",
                  "x_fallback", "row_ends_disagree", "x0_outside_page", "low_confidence")
"""Diagnostics flags of a page read with a guess: failures.txt lists them as '<id>: doubtful: <flag>'."""


def failure_lines(image_id: str, flags: list[str]) -> list[str]:
    """The failure-report lines of one image: every failed step, then every doubtful one."""
    failed = [f"{image_id}: {flag}" for flag in flags if str(flag).startswith("failed")]
    doubtful = [f"{image_id}: doubtful: {flag}" for flag in flags
                if str(flag).split(":")[0] in DOUBTFUL_FLAGS]
    return failed + doubtful


def predictions_dir() -> Path:
    return work_dir(TASK) / "predictions" / digitizer_hash()


def predict_competition(comp: Competition, workers: int) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Digitize every test image (cached, resumable). Returns test.csv and the cache file per id."""
    from pipeline.ecg.submit import read_test_csv

    test = read_test_csv(comp.test_csv)
    check_test_images(comp, test)
    out = predictions_dir()
    checkpoint = segmenter_checkpoint()
    segmenter = None if checkpoint is None else str(checkpoint)
    jobs = [(i, fs, str(comp.test_image(i)), str(out / f"{i}.npz"), segmenter) for i, fs in test_ids(test)]
    parallel_map(_predict_one, jobs, workers, desc="digitize")
    return test, {job[0]: Path(job[3]) for job in jobs}


def stage2(args: argparse.Namespace) -> None:
    """Digitize the test images and write submissions/ecg.csv (validated against the sample)."""
    from pipeline.ecg.submit import build_submission, read_sample_submission, write_submission

    if not (work_dir(TASK) / "index.csv").exists():
        stage0(_defaults("stage0"))
    comp = find_competition(data_dir(TASK))
    target = submissions_dir() / "ecg.csv"

    def predict() -> dict:
        test, caches = predict_competition(comp, args.workers)
        predictions, lines, failed = {}, [], 0
        for image_id, cache in caches.items():
            signals, _, diagnostics = load_prediction(cache)
            predictions[image_id] = signals
            flags = [str(f) for f in diagnostics.get("flags", [])]
            lines += failure_lines(image_id, flags)
            failed += any(f.startswith("failed") for f in flags)
        submission = build_submission(test, predictions)
        write_submission(submission, target, read_sample_submission(comp.sample_submission))
        write_text_atomic(work_dir(TASK) / "stage2" / "failures.txt", "".join(f + "\n" for f in lines))
        if failed:
            print(f"{failed} image(s) could not be digitized and got the flat fallback prediction; "
                  f"see {work_dir(TASK) / 'stage2' / 'failures.txt'}")
        return {"images": len(caches), "failed_images": failed, "rows": len(submission),
                "doubtful_images": len({line.split(":")[0] for line in lines if ": doubtful: " in line})}

    run_stage(TASK, "stage2", predict, force=args.force,
              inputs=[comp.test_csv, comp.root / "test", comp.sample_submission],
              outputs=[target], config={"digitizer": digitizer_hash()})
    print(f"submission: {target}")


# ---------------------------------------------------------------- stage3: report
def stage3(args: argparse.Namespace) -> None:
    """Score the test split against the hidden solution; per type, per lead; beats (work/ecg/beats/),
    rhythm and the failure report with overlays of the worst images."""
    from pipeline.ecg.report import write_report

    target = submissions_dir() / "ecg.csv"
    if not target.exists():
        stage2(_defaults("stage2"))
    comp = find_competition(data_dir(TASK))
    if not comp.has_hidden_solution():
        raise PipelineError("no hidden solution to score against (real Kaggle test data has none; "
                            "score train images with `python -m pipeline ecg score`)", comp.hidden)
    from pipeline.ecg.heldout import HELDOUT_DIR

    report_dir, beats_dir = work_dir(TASK) / "report", work_dir(TASK) / "beats"
    records = HELDOUT_DIR / "records"
    run_stage(TASK, "stage3", lambda: write_report(comp, target, predictions_dir(), report_dir, beats_dir,
                                                   heldout_records=records, workers=args.workers),
              inputs=[target, comp.hidden / "solution.csv", *REPORT_SOURCES],
              outputs=[report_dir / "metrics.json", report_dir / "failures.md"],
              config={"digitizer": digitizer_hash(), "heldout_records": records.is_dir()}, force=args.force)


STAGES = {"stage0": stage0, "stage1": stage1, "stage2": stage2, "stage3": stage3}


def configure_stage(stage: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=default_workers(), help="worker processes")
    if stage == "stage1":
        from pipeline.ecg.segment_train import SegmentTrainConfig

        d = SegmentTrainConfig()
        parser.add_argument("--epochs", type=int, default=d.epochs)
        parser.add_argument("--steps", type=int, default=d.steps_per_epoch, help="training steps per epoch")
        parser.add_argument("--n-pages", type=int, default=d.n_pages, help="rendered training pages")
        parser.add_argument("--n-val-pages", type=int, default=d.n_val_pages, help="pages for pixel IoU")
        parser.add_argument("--n-val-images", type=int, default=d.n_val_images,
                            help="rendered images digitized for the validation SNR of every epoch")
        parser.add_argument("--minutes", type=float, default=d.minutes,
                            help="stop after this much training time (0: no limit)")
        parser.add_argument("--seed", type=int, default=d.seed)
        parser.add_argument("--pretrained", action="store_true",
                            help="start the encoder from ImageNet weights (needs them downloadable)")
    if stage == "stage0":
        parser.add_argument("--n-train", type=int, default=6, help="synthetic train records")
        parser.add_argument("--n-test", type=int, default=12, help="synthetic test images")
        parser.add_argument("--seed", type=int, default=0)


def _defaults(stage: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--force", action="store_true")
    configure_stage(stage, parser)
    return parser.parse_args([])


# ---------------------------------------------------------------- step commands
def add_commands(commands: argparse._SubParsersAction) -> None:
    from pipeline.ecg import commands as steps

    steps.add_commands(commands)
