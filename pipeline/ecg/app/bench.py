"""`make bench` for ECG: rendering speed, seconds per image per digitizer step, SNR per type, memory,
and the robustness line: how many bad inputs of the ECG corpus were tried and how many handled as specified.

Renders a fresh synthetic test set in a temp folder (never the user's data), digitizes it in this
process (so step timings are per image on one core) and prints one table.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.badinput import robustness_row
from pipeline.core.cluster import LOCAL
from pipeline.ecg.app.badinput import cases as ecg_cases
from pipeline.ecg.digitizer.digitize import DigitizeConfig, digitize_file, digitize_image
from pipeline.ecg.evaluation.devsets import doubt_ranking, list_pages, score_pages
from pipeline.ecg.evaluation.heldout import evaluate_heldout
from pipeline.ecg.evaluation.metric import score_frames, score_ratios
from pipeline.ecg.formats.competition import find_competition, test_ids
from pipeline.ecg.formats.submission import read_test_csv
from pipeline.ecg.synth.render import IMAGE_TYPES, kaggle_frame, make_competition, render_speed
from pipeline.ecg.training.segmenter_data import typed_shot

BENCH_SEED = 12345
Row = tuple[str, str, str]
"""One line of the bench table: measure, value, note."""


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _digitize_all(comp, test, config) -> tuple[dict, dict, list[dict]]:
    """(predictions, fs by id, step timings) of every test image with this digitizer config."""
    pred, fs_by_id, timings = {}, {}, []
    digitize_file(comp.test_image(test_ids(test)[0][0]), 500, config)  # warm up numba and torch
    for image_id, fs in test_ids(test):
        t0 = time.perf_counter()
        result = digitize_file(comp.test_image(image_id), fs, config)
        total = time.perf_counter() - t0
        steps = dict(result.diagnostics.get("timings_s", {}))
        steps["total"] = total
        timings.append(steps)
        pred[image_id] = result.to_record()
        fs_by_id[image_id] = fs
    return pred, fs_by_id, timings


def devset_rows(configs: dict) -> list[Row]:
    """Pages others drew come first: per development set and config the overall SNR,
    then one row per page."""
    pages = list_pages()
    rows: list[Row] = []
    for name, config in configs.items():
        scores = score_pages(pages, config)
        for s in scores.per_set.itertuples():
            rows.append((f"SNR dev {s.set}, {name}", f"{s.snr_db:.2f} dB",
                         f"{s.n_pages} pages, worst {s.worst_page_db:.2f} dB"))
        for p in scores.per_page.itertuples():
            rows.append((f"SNR dev {p.set} {p.page}, {name}", f"{p.snr_db:.2f} dB", f"fs {p.fs}, doubt {p.doubt:.3f}"))
        rho, n = doubt_ranking(scores.per_page)
        rows.append((f"doubt score vs page SNR, {name}", f"Spearman {rho:.3f}",
                     f"{n} dev pages; negative: the more doubt, the lower the SNR"))
    return rows


def crumpled_rows(configs: dict, n: int = 8) -> list[Row]:
    """SNR on n crumpled kit-style prints (the training-only recipe; own seed stream, apart from the
    segmenter's pages): the creases, facet shading, grey grids and rotations the nine types lack."""
    shots = []
    for k in range(n):
        key = f"crumpled{k:03d}"
        record, shot, fs = typed_shot(BENCH_SEED, key, "crumpled")
        shots.append((key, fs, np.ascontiguousarray(shot.image[..., ::-1]), kaggle_frame(record, fs)))
    truth = {key: frame for key, _, _, frame in shots}
    fs_by = {key: fs for key, fs, _, _ in shots}
    rows = []
    for name, config in configs.items():
        pred = {key: digitize_image(image, fs, config).to_record() for key, fs, image, _ in shots}
        report = score_frames(truth, pred, fs_by)
        worst = float(10 * np.log10(max(report.per_image["ratio"].min(), 1e-6)))
        rows.append((f"SNR synthetic crumpled prints, {name}", f"{report.snr_db:.2f} dB",
                     f"{n} images, worst {worst:.2f} dB"))
    return rows


def _synthetic_rows(root: Path, configs: dict, timed: str | None = None) -> tuple[list[Row], list[dict]]:
    """SNR per image type and overall of a rendered competition folder for each digitizer config, and
    the step timings of config `timed`."""
    comp = find_competition(root)
    test = read_test_csv(comp.test_csv)
    kinds = pd.read_csv(comp.hidden / "test_types.csv", dtype={"id": str, "image_type": str})
    kind_of = dict(zip(kinds["id"], kinds["image_type"]))
    truth = {i: pd.read_csv(comp.hidden / "signals" / f"{i}.csv") for i, _ in test_ids(test)}
    rows: list[Row] = []
    timings: list[dict] = []
    for name, config in configs.items():
        pred, fs_by_id, steps_of = _digitize_all(comp, test, config)
        if name == timed:
            timings = steps_of
        per_image = score_frames(truth, pred, fs_by_id).per_image.assign(image_type=lambda d: d["id"].map(kind_of))
        for kind, group in per_image.groupby("image_type"):
            rows.append((f"SNR type {kind}, {name}", f"{score_ratios(group['ratio'].to_numpy()):.2f} dB",
                         f"{len(group)} synthetic test images"))
        rows.append((f"SNR synthetic, all types, {name}", f"{score_ratios(per_image['ratio'].to_numpy()):.2f} dB",
                     f"{len(per_image)} images"))
    return rows, timings


def synthetic_table(seed: int, types: tuple[str, ...], n_per_type: int = 4, workers: int = 1) -> pd.DataFrame:
    """SNR per type of the default digitizer on a fresh synthetic test set of your own seed and types
    (the bench's synthetic rows, which use BENCH_SEED and every type): where a change is measured and
    its constants chosen without touching the bench's pages. Unknown types: `make_competition`'s
    PipelineError."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ecg"
        make_competition(root, n_train=0, n_test=n_per_type * len(types), seed=seed, types=types, workers=workers)
        rows, _ = _synthetic_rows(root, {"default": DigitizeConfig()})
    table = pd.DataFrame(rows, columns=["measure", "value", "note"])
    print(table.to_string(index=False))
    return table


def run_bench(n_per_type: int = 4, workers: int = 1, segmenter: str | None = None) -> pd.DataFrame:
    """The bench table; SNR per type for the classical digitizer and, when a segmenter is given, for
    the digitizer with it (the default one's step timings are printed)."""
    types = tuple(sorted(IMAGE_TYPES))
    rows: list[Row] = []
    configs = {"classical": DigitizeConfig(segmenter=None)}
    if segmenter is not None:
        configs["segmenter"] = DigitizeConfig(segmenter=segmenter)
    default = "classical"  # DigitizeConfig's default: its step timings are printed
    rows += devset_rows(configs)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ecg"
        n_test = n_per_type * len(types)
        start = time.perf_counter()
        make_competition(root, n_train=0, n_test=n_test, seed=BENCH_SEED, types=types, workers=workers)
        render_s = time.perf_counter() - start
        rows.append(("render", f"{n_test / render_s:.2f} images/s", f"{workers} workers, {n_test} test images"))
        for w in (1, 2):
            rows.append((f"render_speed, {w} local worker(s)", f"{render_speed(2 * len(types), w):.2f} images/s",
                         "process pool; one record and page per image, all types"))
        rows.append(("render_speed, 2-worker LocalCluster",
                     f"{render_speed(2 * len(types), 2, scheduler=LOCAL):.2f} images/s",
                     "Dask (--scheduler local), cluster start-up included"))
        snr_rows, timings = _synthetic_rows(root, configs, default)

    steps = pd.DataFrame(timings).fillna(0.0)
    for step in steps.columns:
        rows.append((f"digitize: {step}", f"{steps[step].mean():.3f} s/image",
                     f"max {steps[step].max():.3f} s, 1 process"))
    rows += snr_rows
    for name, config in configs.items():
        heldout = evaluate_heldout(config)
        for image, snr in zip(heldout["id"], heldout["snr_db"]):
            rows.append((f"SNR heldout {image}, {name}", f"{snr:.2f} dB", "ecg-image-kit rendering of a real record"))
    rows += crumpled_rows(configs)
    rows.append(("peak memory", f"{peak_rss_gib():.2f} GiB", "resident set of this process"))
    rows.append(robustness_row(ecg_cases(), "pipeline/ecg/app/badinput.py"))
    table = pd.DataFrame(rows, columns=["measure", "value", "note"])
    print(table.to_string(index=False))
    return table
