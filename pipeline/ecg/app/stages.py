"""The ECG task's stages and the entry of its step commands (the task registry imports this module).

stage0 makes or indexes the competition data, stage1 trains the row segmenter, stage2 digitizes the
test images and writes submissions/ecg.csv, stage3 scores it and writes the report.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pandas as pd

from pipeline.core.cluster import add_scheduler_option, worker_died
from pipeline.core.errors import PipelineError
from pipeline.core.images import check_image_file
from pipeline.core.io import atomic_path, sha256_file, write_json_atomic, write_text_atomic
from pipeline.core.manifest import hash_inputs, run_stage
from pipeline.core.parallel import default_workers, parallel_map
from pipeline.core.paths import PROJECT_ROOT, data_dir, submissions_dir, work_dir
from pipeline.core.seeding import derive_seed
from pipeline.ecg.app import commands as steps
from pipeline.ecg.app.workspace import TASK, digitizer_hash, predictions_dir, segmenter_checkpoint, trained_checkpoint
from pipeline.ecg.digitizer import DigitizeConfig, is_doubtful, is_failed, safe_digitize_file, zero_result
from pipeline.ecg.evaluation.heldout import HELDOUT_DIR
from pipeline.ecg.evaluation.report import write_report
from pipeline.ecg.formats.competition import (
    Competition,
    check_test_images,
    check_train_records,
    find_competition,
    index_images,
    is_competition,
    test_ids,
)
from pipeline.ecg.formats.predictions import digitizer_sources, load_prediction, readable_prediction, save_prediction
from pipeline.ecg.formats.submission import build_submission, read_sample_submission, read_test_csv, write_submission
from pipeline.ecg.synth.contact_sheet import contact_sheet
from pipeline.ecg.synth.render import make_competition
from pipeline.ecg.training.segmenter_train import SegmentTrainConfig, settings, train_segmenter

VAL_FRACTION = 0.2
ECG = PROJECT_ROOT / "pipeline" / "ecg"
# Listed as files, not folders, so that __pycache__ does not change the hash.
REPORT_SOURCES = sorted((ECG / "evaluation").glob("*.py"))
RENDER_SOURCES = sorted((ECG / "synth").rglob("*.py"))
TRAINING_SOURCES = sorted((ECG / "training").glob("*.py"))


# ---------------------------------------------------------------- stage0: data
def _generate(args: argparse.Namespace, root: Path) -> dict:
    make_competition(root, n_train=args.n_train, n_test=args.n_test, seed=args.seed, workers=args.workers,
                     scheduler=args.scheduler)
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
    root, work = data_dir(TASK), work_dir(TASK)
    if not is_competition(root):
        run_stage(TASK, "stage0-render", lambda: _generate(args, root), inputs=RENDER_SOURCES,
                  outputs=[root / "test.csv"], force=args.force,
                  config={"n_train": args.n_train, "n_test": args.n_test, "seed": args.seed})

    sheet = work / "contact_sheet.png"
    run_stage(TASK, "stage0-contact-sheet", lambda: {"png": str(contact_sheet(sheet, seed=args.seed))},
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


# ---------------------------------------------------------------- stage1: model
def stage1(args: argparse.Namespace) -> None:
    """Train the row segmenter on rendered pages (segment_train.py) into work/ecg/model/segment.pt."""
    folder = trained_checkpoint().parent
    config = settings(epochs=args.epochs, steps_per_epoch=args.steps, n_pages=args.n_pages,
                      n_val_pages=args.n_val_pages, n_val_images=args.n_val_images,
                      minutes=args.minutes, seed=args.seed, pretrained=args.pretrained or None)
    flags = {"epochs": config.epochs, "steps": config.steps_per_epoch, "n-pages": config.n_pages,
             "n-val-pages": config.n_val_pages, "n-val-images": config.n_val_images,
             "minutes": config.minutes, "seed": config.seed}
    command = "python -m pipeline ecg stage1 " + " ".join(f"--{k} {v}" for k, v in flags.items())
    if config.pretrained:
        command += " --pretrained"  # part of the model's recipe, so part of the command that remakes it

    # Pages are cached by index: a folder per version of the code that makes them, so that a changed
    # recipe or digitizer never trains on stale pages (--force alone used to reuse them).
    inputs = [*TRAINING_SOURCES, *RENDER_SOURCES, *digitizer_sources()]
    code = hashlib.sha256("".join(hash_inputs(inputs).values()).encode()).hexdigest()[:12]

    def train() -> dict:
        result = train_segmenter(folder, config, workers=args.workers, command=command,
                                 pages_dir=folder / "pages" / code)
        result["sha256"] = sha256_file(folder / "segment.pt")
        write_json_atomic(folder / "model.json", {"kind": "segmenter", **result, "command": command})
        return result

    run_stage(TASK, "stage1", train, inputs=inputs,
              outputs=[folder / "segment.pt", folder / "model.json"], config={"command": command},
              force=args.force)


# ---------------------------------------------------------------- stage2: predict
def _predict_one(job: tuple[str, int, str, str, str | None]) -> str:
    """Digitize one image into its cache file (atomic); returns the cache path. Runs in a worker."""
    image_id, fs, image_path, cache_path, segmenter = job
    cache = Path(cache_path)
    if cache.exists() and readable_prediction(cache):
        return cache_path
    save_prediction(safe_digitize_file(Path(image_path), fs, DigitizeConfig(segmenter=segmenter)), cache)
    return cache_path


def _fallback_prediction(job: tuple[str, int, str, str, str | None], error: BaseException) -> str:
    """The flat prediction of an image whose worker died under it twice (Dask), flagged 'failed: <error>'
    so that failures.txt lists it. Any other error stops the stage, as on the local pool: a misconfigured
    cluster must not fill the cache with fallbacks that a rerun would then keep."""
    if not worker_died(error):
        raise error
    image_id, fs, image_path, cache_path, _ = job
    save_prediction(zero_result(fs, f"{image_path}: {type(error).__name__}: {error}"), Path(cache_path))
    return cache_path


def failure_lines(image_id: str, flags: list[str]) -> list[str]:
    """The failure-report lines of one image: every failed step, then every doubtful one."""
    failed = [f"{image_id}: {flag}" for flag in flags if is_failed(flag)]
    doubtful = [f"{image_id}: doubtful: {flag}" for flag in flags if is_doubtful(flag)]
    return failed + doubtful


def predict_competition(comp: Competition, workers: int,
                        scheduler: str | None = None) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Digitize every test image (cached, resumable). Returns test.csv and the cache file per id."""
    test = read_test_csv(comp.test_csv)
    check_test_images(comp, test)
    out = predictions_dir()
    checkpoint = segmenter_checkpoint()
    segmenter = None if checkpoint is None else str(checkpoint)
    jobs = [(i, fs, str(comp.test_image(i)), str(out / f"{i}.npz"), segmenter) for i, fs in test_ids(test)]
    parallel_map(_predict_one, jobs, workers, desc="digitize", scheduler=scheduler, on_error=_fallback_prediction)
    return test, {job[0]: Path(job[3]) for job in jobs}


def stage2(args: argparse.Namespace) -> None:
    """Digitize the test images and write submissions/ecg.csv (validated against the sample)."""
    if not (work_dir(TASK) / "index.csv").exists():
        stage0(_defaults("stage0"))
    comp = find_competition(data_dir(TASK))
    target = submissions_dir() / "ecg.csv"

    def predict() -> dict:
        test, caches = predict_competition(comp, args.workers, args.scheduler)
        predictions, lines, failed = {}, [], 0
        for image_id, cache in caches.items():
            signals, _, diagnostics = load_prediction(cache)
            predictions[image_id] = signals
            flags = [str(f) for f in diagnostics.get("flags", [])]
            lines += failure_lines(image_id, flags)
            failed += any(is_failed(f) for f in flags)
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
    target = submissions_dir() / "ecg.csv"
    if not target.exists():
        stage2(_defaults("stage2"))
    comp = find_competition(data_dir(TASK))
    if not comp.has_hidden_solution():
        raise PipelineError("no hidden solution to score against (real Kaggle test data has none; "
                            "score train images with `python -m pipeline ecg score`)", comp.hidden)
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
    if stage in ("stage0", "stage2"):
        add_scheduler_option(parser)
    if stage == "stage1":
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
    steps.add_commands(commands)
