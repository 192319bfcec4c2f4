"""The ECG task's bad-input corpus: every case builds its input and states its expected outcome.

Cases run the CLI a user runs (`python -m pipeline ecg stage0 | stage2 | score`, in this process) on a
tiny competition made here: one train record and one clean test page (type 0001), rendered once per
corpus folder and copied for each case. The stage2 image cases share one run: every bad test image is
added to the competition at once, and each is then checked for its flat fallback prediction, its line
in work/ecg/stage2/failures.txt and a submission that passes the validator.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from pipeline import cli
from pipeline.core import badinput as corpus
from pipeline.core.badinput import Case, CliRun, DiskFull, expect_error, roots_env, set_env
from pipeline.core.errors import PipelineError
from pipeline.core.io import write_text_atomic
from pipeline.ecg.app.workspace import predictions_dir
from pipeline.ecg.evaluation.metric import capped_ratio, lead_powers
from pipeline.ecg.formats.submission import (
    build_submission,
    read_sample_submission,
    validate_submission,
    write_submission,
)
from pipeline.ecg.layout import LEADS, n_samples
from pipeline.ecg.synth.render import make_competition

SEED = 7
FS = 500
BASE, CASE = "_ecg_base", "_ecg_case"


# --- the tiny competition ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tiny:
    """A copy of the tiny competition with its roots: data/ecg, work/ecg, subs/."""

    folder: Path

    @property
    def env(self) -> dict[str, str]:
        return roots_env(self.folder)

    @property
    def comp(self) -> Path:
        return self.folder / "data" / "ecg"

    @property
    def work(self) -> Path:
        return self.folder / "work" / "ecg"

    @property
    def submission(self) -> Path:
        return self.folder / "subs" / "ecg.csv"

    def train_id(self) -> str:
        return str(pd.read_csv(self.comp / "train.csv", dtype={"id": str})["id"].iloc[0])

    def test_ids(self) -> list[str]:
        return list(dict.fromkeys(pd.read_csv(self.comp / "test.csv", dtype={"id": str})["id"]))

    def cli(self, *argv: str) -> CliRun:
        return corpus.run_cli(cli.main, ["ecg", *argv], self.env)


def _base(root: Path) -> Path:
    """A snapshot of the tiny competition after stage0 and stage2 (made once per root), taken at the
    place where every case runs (root/_ecg_case): manifests hold absolute paths, so a copy elsewhere
    would look changed and redo the contact sheet."""
    snapshot = root / BASE
    if not (snapshot / "work" / "ecg" / "stage2" / "manifest.json").is_file():
        tiny = Tiny(root / CASE)
        for folder in (snapshot, tiny.folder):
            shutil.rmtree(folder, ignore_errors=True)
        make_competition(tiny.comp, n_train=1, n_test=1, seed=SEED, types=("0001",), workers=1)
        for stage in ("stage0", "stage2"):
            run = tiny.cli(stage, "--workers", "1")
            if run.code != 0:
                raise PipelineError(f"the corpus' tiny competition failed in {stage}: {run.err.strip()}", tiny.folder)
        shutil.copytree(tiny.folder, snapshot)
    return snapshot


def copy_of_base(folder: Path) -> Tiny:
    """A fresh copy of the tiny competition at folder.parent/_ecg_case (the previous case's is replaced)."""
    snapshot = _base(folder.parent)
    tiny = Tiny(folder.parent / CASE)
    shutil.rmtree(tiny.folder, ignore_errors=True)
    shutil.copytree(snapshot, tiny.folder)
    return tiny


def add_test_images(tiny: Tiny, images: dict[str, tuple[str, bytes]]) -> None:
    """Add test images (id -> (suffix, bytes)) with their test.csv rows (at the sampling rate of the
    first test image) and sample_submission ids."""
    test = pd.read_csv(tiny.comp / "test.csv", dtype={"id": str})
    fs = int(test["fs"].iloc[0])
    rows = [(i, lead, fs, n_samples(fs, lead)) for i in images for lead in LEADS]
    for image_id, (suffix, data) in images.items():
        (tiny.comp / "test" / f"{image_id}{suffix}").write_bytes(data)
    test = pd.concat([test, pd.DataFrame(rows, columns=["id", "lead", "fs", "number_of_rows"])], ignore_index=True)
    test.to_csv(tiny.comp / "test.csv", index=False)
    write_sample(tiny)


def write_sample(tiny: Tiny) -> None:
    """sample_submission.parquet for the current test.csv (ids in its order, zeros)."""
    test = pd.read_csv(tiny.comp / "test.csv", dtype={"id": str})
    ids = [f"{r.id}_{k}_{r.lead}" for r in test.itertuples() for k in range(int(r.number_of_rows))]
    pd.DataFrame({"id": ids, "value": np.zeros(len(ids))}).to_parquet(tiny.comp / "sample_submission.parquet")


def submission_problem(tiny: Tiny) -> str | None:
    """None if the submission exists and passes the validator against the sample."""
    if not tiny.submission.is_file():
        return "no submission written"
    try:
        sub = pd.read_csv(tiny.submission, dtype={"id": str})
        validate_submission(sub, read_sample_submission(tiny.comp / "sample_submission.parquet"), tiny.submission)
    except PipelineError as err:
        return f"submission invalid: {err}"
    return None


def similarity_db(tiny: Tiny, reference: str, other: str) -> float:
    """Competition SNR of image `other`'s submitted leads against image `reference`'s (same fs)."""
    sub = pd.read_csv(tiny.submission, dtype={"id": str})
    test = pd.read_csv(tiny.comp / "test.csv", dtype={"id": str})
    fs = int(test.loc[test["id"] == reference, "fs"].iloc[0])
    signal = noise = 0.0
    for lead in LEADS:
        ref = sub.loc[sub["id"].str.startswith(f"{reference}_") & sub["id"].str.endswith(f"_{lead}"), "value"]
        got = sub.loc[sub["id"].str.startswith(f"{other}_") & sub["id"].str.endswith(f"_{lead}"), "value"]
        s, n = lead_powers(ref.to_numpy(), got.to_numpy(), fs)
        signal, noise = signal + s, noise + n
    return float(10 * np.log10(max(capped_ratio(signal, noise), 1e-12)))


def values_of(tiny: Tiny, image_id: str) -> np.ndarray:
    sub = pd.read_csv(tiny.submission, dtype={"id": str})
    return sub.loc[sub["id"].str.startswith(f"{image_id}_"), "value"].to_numpy()


# --- bad images for stage2 ---------------------------------------------------------------------------------


def huge_png(width: int = 12000, height: int = 9000) -> bytes:
    """A valid, white, 8-bit grey PNG of width x height (108 Mpx by default), built without the pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * width
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def _no_grid(page: np.ndarray) -> np.ndarray:
    """The page with its grid (coloured, or lighter than the dark ink) whitened: the kit's red grid is as
    dark as ink in grey, so colour counts too."""
    out = page.copy()
    chroma = page.max(axis=2).astype(np.int16) - page.min(axis=2)
    out[(cv2.cvtColor(page, cv2.COLOR_BGR2GRAY) > 100) | (chroma > 60)] = 255
    return out


@dataclass(frozen=True)
class BadImage:
    name: str
    expected: str
    make: Callable[[np.ndarray, bytes], tuple[str, bytes]]
    fallback: bool = True
    """True: flat fallback + a 'failed' line naming the file; False: read, with a 'doubtful' line."""
    flag: str = "failed"
    like_good: bool = False
    """The reading must match the clean page's (SNR >= LIKE_GOOD_DB against it)."""
    file_level: bool = False
    """A broken file (not a bad page): stage0 must also warn about it, naming it."""


FALLBACK = "stage2 exits 0, the image gets the flat (all-zero) fallback, failures.txt names the file, " \
           "the submission passes the validator"
BROKEN_FILE = FALLBACK + "; stage0 (run by stage2) warns with a line naming it"
TURNED = "stage2 exits 0, the page is turned upright and read like the clean page (SNR >= 15 dB against " \
         "its reading), failures.txt has 'doubtful: turned_{}' for it; the submission passes the validator"
LIKE_GOOD_DB = 15.0
BAD_IMAGES = (
    BadImage("png_truncated", BROKEN_FILE, lambda page, png: (".png", png[: len(png) // 2]), file_level=True),
    BadImage("png_zero_bytes", BROKEN_FILE, lambda page, png: (".png", b""), file_level=True),
    BadImage("png_not_an_image", BROKEN_FILE, lambda page, png: (".png", b"<html>404 Not Found</html>\n"),
             file_level=True),
    BadImage("jpeg_truncated", BROKEN_FILE,
             lambda page, png: (".jpg", cv2.imencode(".jpg", page)[1].tobytes()[:40_000]), file_level=True),
    BadImage("page_blank", FALLBACK, lambda page, png: (".png", _png(np.full_like(page, 250)))),
    BadImage("page_rotated_90", TURNED.format(270),
             lambda page, png: (".png", _png(cv2.rotate(page, cv2.ROTATE_90_CLOCKWISE))),
             fallback=False, flag="doubtful: turned_270", like_good=True),
    BadImage("page_rotated_180", TURNED.format(180), lambda page, png: (".png", _png(cv2.rotate(page, cv2.ROTATE_180))),
             fallback=False, flag="doubtful: turned_180", like_good=True),
    BadImage("image_tiny", FALLBACK, lambda page, png: (".png", _png(cv2.resize(page, (44, 34))))),
    BadImage("image_huge", BROKEN_FILE, lambda page, png: (".png", huge_png()), file_level=True),
    BadImage("page_no_grid", "stage2 exits 0, the page is read (not flat) and failures.txt has "
             "'doubtful: grid_not_found' for it; the submission passes the validator",
             lambda page, png: (".png", _png(_no_grid(page))), fallback=False, flag="doubtful: grid_not_found"),
)


def image_id(bad: BadImage) -> str:
    return f"bad-{bad.name.replace('_', '-')}"


_STAGE2_RUNS: dict[Path, tuple[Tiny, CliRun]] = {}


def stage2_with_bad_images(root: Path) -> tuple[Tiny, CliRun]:
    """One stage2 run on the tiny competition plus every BAD_IMAGES image (made once per root)."""
    if root not in _STAGE2_RUNS:
        tiny = copy_of_base(root / "_ecg_bad_images")
        good = tiny.test_ids()[0]
        png = (tiny.comp / "test" / f"{good}.png").read_bytes()
        page = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        add_test_images(tiny, {image_id(b): b.make(page, png) for b in BAD_IMAGES})
        (tiny.work / "index.csv").unlink()  # stage2 runs stage0 first, as on a fresh clone
        run = tiny.cli("stage2", "--workers", "1")
        kept = Tiny(root / "_ecg_bad_images")  # kept apart: the next case replaces _ecg_case
        shutil.rmtree(kept.folder, ignore_errors=True)
        tiny.folder.rename(kept.folder)
        _STAGE2_RUNS[root] = (kept, run)
    return _STAGE2_RUNS[root]


def _check_bad_image(bad: BadImage) -> Callable[[Path], str | None]:
    def check(folder: Path) -> str | None:
        tiny, run = stage2_with_bad_images(folder.parent)
        if run.code != 0:
            return f"stage2 exit code {run.code}: {run.err.strip()[-300:]}"
        problem = submission_problem(tiny)
        if problem:
            return problem
        iid = image_id(bad)
        if bad.file_level and not any(x.startswith("warning: ") and iid in x for x in run.out.splitlines()):
            return f"stage0 printed no warning naming {iid}"
        lines = (tiny.work / "stage2" / "failures.txt").read_text().splitlines()
        mine = [line for line in lines if line.startswith(f"{iid}: {bad.flag}")]
        if not mine:
            return f"no '{iid}: {bad.flag}' line in failures.txt (its lines: {[x for x in lines if iid in x]})"
        values = values_of(tiny, iid)
        if bad.fallback:
            if "\n" in mine[0] or iid not in mine[0].split(": ", 1)[1]:
                return f"failure line does not name the file: {mine[0]!r}"
            if np.any(values != 0):
                return f"prediction is not the flat fallback (max |value| {np.abs(values).max():.3f})"
        elif not np.any(values != 0):
            return "page was not read (flat prediction)"
        good = tiny.test_ids()[0]
        if bad.like_good:
            snr = similarity_db(tiny, good, iid)
            if snr < LIKE_GOOD_DB:
                return f"reading differs from the clean page's: {snr:.1f} dB < {LIKE_GOOD_DB} dB"
        if any(line.startswith(f"{good}: failed") for line in lines):
            return f"the good page {good} failed next to the bad ones"
        return None
    return check


# --- stage0 / stage2 errors ------------------------------------------------------------------------------


def _record_csv(tiny: Tiny) -> Path:
    i = tiny.train_id()
    return tiny.comp / "train" / i / f"{i}.csv"


def _bad_record(edit: Callable[[pd.DataFrame], pd.DataFrame], *names: str) -> Callable[[Path], str | None]:
    """stage0 on a competition whose train record CSV is edited must fail naming the CSV (and `names`)."""
    def check(folder: Path) -> str | None:
        tiny = copy_of_base(folder)
        path = _record_csv(tiny)
        edit(pd.read_csv(path)).to_csv(path, index=False)
        return corpus.expect_cli_error(cli.main, ["ecg", "stage0"], path.name, *names, env=tiny.env)
    return check


def _set(df: pd.DataFrame, col: str, row: int, value: float) -> pd.DataFrame:
    df.loc[row, col] = value
    return df


def _check_row_without_image(folder: Path) -> str | None:
    tiny = copy_of_base(folder)
    victim = tiny.test_ids()[0]
    (tiny.comp / "test" / f"{victim}.png").unlink()
    return corpus.expect_cli_error(cli.main, ["ecg", "stage2", "--force"], "test.csv", victim, env=tiny.env)


def _check_image_without_row(folder: Path) -> str | None:
    tiny = copy_of_base(folder)
    shutil.copy(tiny.comp / "test" / f"{tiny.test_ids()[0]}.png", tiny.comp / "test" / "stray.png")
    (tiny.work / "index.csv").unlink()  # stage2 reruns stage0, which reports the stray image
    run = tiny.cli("stage2")
    if run.code != 0:
        return f"stage2 exit code {run.code}: {run.err.strip()[-200:]}"
    warnings = [line for line in run.out.splitlines() if line.startswith("warning:") and "stray.png" in line]
    if not warnings:
        return "no warning line naming stray.png"
    return submission_problem(tiny)


def _check_test_csv(edit: Callable[[pd.DataFrame], pd.DataFrame], *names: str) -> Callable[[Path], str | None]:
    def check(folder: Path) -> str | None:
        tiny = copy_of_base(folder)
        path = tiny.comp / "test.csv"
        edit(pd.read_csv(path, dtype={"id": str})).to_csv(path, index=False)
        return corpus.expect_cli_error(cli.main, ["ecg", "stage2", "--force"], *names, env=tiny.env)
    return check


def _check_record_missing(folder: Path) -> str | None:
    """A half-copied train folder: a record listed in train.csv without its signal CSV."""
    tiny = copy_of_base(folder)
    path = _record_csv(tiny)
    path.unlink()
    return corpus.expect_cli_error(cli.main, ["ecg", "stage0"], path.name, "missing", env=tiny.env)


def _check_train_image_truncated(folder: Path) -> str | None:
    tiny = copy_of_base(folder)
    i = tiny.train_id()
    png = tiny.comp / "train" / i / f"{i}-0001.png"
    png.write_bytes(png.read_bytes()[:5000])
    return corpus.expect_cli_error(cli.main, ["ecg", "stage0"], png.name, "truncated", env=tiny.env)


def _check_corrupt_manifest(folder: Path) -> str | None:
    tiny = copy_of_base(folder)
    before = tiny.submission.read_bytes()
    (tiny.work / "stage2" / "manifest.json").write_text('{"task": "ecg", "inputs": {')
    run = tiny.cli("stage2")
    if run.code != 0:
        return f"stage2 exit code {run.code}: {run.err.strip()[-200:]}"
    if "[ecg stage2] running" not in run.out:
        return "stage2 did not rerun after its manifest was damaged"
    if tiny.submission.read_bytes() != before:
        return "the rerun's submission differs from the first run's"
    return None


def _check_damaged_cache(folder: Path) -> str | None:
    tiny = copy_of_base(folder)
    before = tiny.submission.read_bytes()
    with set_env(tiny.env):
        caches = sorted(predictions_dir().glob("*.npz"))
    if not caches:
        return "no prediction cache to damage"
    caches[0].write_bytes(caches[0].read_bytes()[:100])
    run = tiny.cli("stage2", "--force")
    if run.code != 0:
        return f"stage2 exit code {run.code}: {run.err.strip()[-200:]}"
    if tiny.submission.read_bytes() != before:
        return "the submission after redoing the damaged cache differs from the first run's"
    return None


def _check_disk_full_submission(folder: Path) -> str | None:
    tiny = copy_of_base(folder)
    before = tiny.submission.read_bytes()
    manifest = (tiny.work / "stage2" / "manifest.json").read_bytes()
    with DiskFull(pd.DataFrame, "to_csv"):
        problem = corpus.expect_cli_error(cli.main, ["ecg", "stage2", "--force"], "ecg.csv", "No space left", env=tiny.env)
    if problem:
        return problem
    if tiny.submission.read_bytes() != before:
        return "the previous submission was changed by the failed write"
    if (tiny.work / "stage2" / "manifest.json").read_bytes() != manifest:
        return "the manifest was updated although the stage failed"
    left = [p.name for p in tiny.submission.parent.iterdir() if p.name != "ecg.csv"]
    return f"files left beside the submission: {left}" if left else None


# --- function-level cases ----------------------------------------------------------------------------------


def _check_prediction_nan_inf(folder: Path) -> str | None:
    test = pd.DataFrame([("9", lead, FS, n_samples(FS, lead)) for lead in LEADS],
                        columns=["id", "lead", "fs", "number_of_rows"])
    bad = np.full(n_samples(FS, "II"), np.nan)
    bad[100:200] = np.inf
    bad[300:400] = 1.0
    preds = {"9": {"II": bad, "I": np.full(10, np.nan), "V1": np.array([np.inf, -np.inf])}}
    sub = build_submission(test, preds)
    validate_submission(sub, sub[["id"]].assign(value=0.0))
    return None if np.isfinite(sub["value"]).all() else "non-finite values in the submission"


def _check_submission_nan(folder: Path) -> str | None:
    target = folder / "sub.csv"
    sample = pd.DataFrame({"id": ["1_0_II", "1_1_II"], "value": [0.0, 0.0]})
    problem = expect_error(lambda: write_submission(sample.assign(value=[0.1, np.nan]), target, sample),
                           "sub.csv", "NaN")
    return problem or ("a rejected submission was written" if target.exists() else None)


def _check_score_missing_lead(folder: Path) -> str | None:
    truth, pred = folder / "truth", folder / "pred"
    for d in (truth, pred):
        d.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(np.zeros((2500, len(LEADS))), columns=list(LEADS))
    frame.to_csv(truth / "r1.csv", index=False)
    frame.drop(columns=["aVF"]).to_csv(pred / "r1.csv", index=False)
    return corpus.expect_cli_error(cli.main, ["ecg", "score", str(truth), str(pred)], "r1.csv", "aVF")


def _check_write_error(folder: Path) -> str | None:
    target = folder / "result.txt"
    write_text_atomic(target, "finished\n")
    with DiskFull(Path, "write_bytes"):
        problem = expect_error(lambda: write_text_atomic(target, "new\n"), "result.txt", "No space left")
    if problem:
        return problem
    if target.read_text() != "finished\n":
        return "the finished file was changed by the failed write"
    left = [p.name for p in folder.iterdir() if p.name != "result.txt"]
    return f"temp files left: {left}" if left else None


def cases() -> list[Case]:
    out = [Case(b.name, b.expected, _check_bad_image(b)) for b in BAD_IMAGES]
    csv_error = "stage0 exits 1 with one line naming the record CSV and the problem"
    out += [
        Case("csv_missing_lead", csv_error, _bad_record(lambda d: d.drop(columns=["V6"]), "V6")),
        Case("csv_misnamed_lead", csv_error, _bad_record(lambda d: d.rename(columns={"II": "Lead II"}), "II")),
        Case("csv_lead_all_nan", csv_error, _bad_record(lambda d: d.assign(V3=np.nan), "V3", "NaN")),
        Case("csv_inf_value", csv_error, _bad_record(lambda d: _set(d, "II", 10, np.inf), "inf")),
        Case("csv_wrong_row_count", csv_error, _bad_record(lambda d: d.iloc[:-1], "rows")),
        Case("csv_record_missing", csv_error, _check_record_missing),
        Case("train_image_truncated", "stage0 exits 1 with one line naming the train image",
             _check_train_image_truncated),
        Case("test_row_without_image", "stage2 exits 1 with one line naming test.csv and the image id",
             _check_row_without_image),
        Case("image_without_row", "stage2 exits 0, a warning line names the stray image, the submission is valid",
             _check_image_without_row),
        Case("test_csv_unknown_lead", "stage2 exits 1 with one line naming test.csv and the lead",
             _check_test_csv(lambda d: d.replace({"lead": {"V6": "V7"}}), "test.csv", "V7")),
        Case("test_csv_missing_column", "stage2 exits 1 with one line naming test.csv and the column",
             _check_test_csv(lambda d: d.drop(columns=["fs"]), "test.csv", "fs")),
        Case("test_csv_wrong_row_count", "stage2 exits 1 with one line naming the submission and the row counts",
             _check_test_csv(lambda d: _set(d, "number_of_rows", 0, 1249), "ecg.csv", "rows")),
        Case("unknown_task", "the CLI exits 1 with one line naming the task",
             lambda folder: corpus.expect_cli_error(cli.main, ["ecgg", "stage2"], "ecgg")),
        Case("manifest_corrupt", "stage2 reruns (exit 0) and writes the same submission", _check_corrupt_manifest),
        Case("prediction_cache_damaged", "stage2 redoes the damaged cache and writes the same submission",
             _check_damaged_cache),
        Case("disk_full_submission", "stage2 exits 1 with one line naming ecg.csv; the previous submission and "
             "manifest are untouched, no temp file left", _check_disk_full_submission),
        Case("write_error_atomic", "PipelineError naming the file; the finished file is kept, no temp file left",
             _check_write_error),
        Case("prediction_nan_inf", "build_submission repairs NaN, inf and short leads: the validator passes",
             _check_prediction_nan_inf),
        Case("submission_nan", "write_submission refuses NaN with one line naming the file; nothing written",
             _check_submission_nan),
        Case("score_csv_missing_lead", "`ecg score` exits 1 with one line naming the CSV and the lead",
             _check_score_missing_lead),
    ]
    return out
