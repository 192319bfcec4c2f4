"""Evaluation on shared/heldout: real records rendered by another tool (ecg-image-kit).

Truth for `<record>-N.png` is the WFDB record `<record>`, cut into the competition's lead windows.
Images that come with the renderer's .json.gz place each lead at its window's time; the one without
(an older ecg-image-kit sample, JS00001-0) prints every lead's first 2.5 s in every column, which its
lead windows are read as (checked by cross-correlation, 0.89-0.99 at zero lag).
Evaluation only: nothing here is used to train or tune.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.paths import PROJECT_ROOT
from pipeline.ecg.digitizer import DigitizeConfig, digitize_file
from pipeline.ecg.evaluation.metric import score_frames
from pipeline.ecg.formats.records import read_wfdb, to_competition_record

HELDOUT_DIR = PROJECT_ROOT.parent / "shared" / "heldout"


@dataclass(frozen=True)
class PairedImage:
    image: Path
    record: Path
    fs: int
    truth: pd.DataFrame


def record_name(image: Path) -> str:
    return image.stem.rsplit("-", 1)[0]


def start_sample(image: Path) -> int:
    """First plotted sample of the page, from the renderer's JSON when present, else 0."""
    meta = image.with_suffix(".json.gz")
    if not meta.exists():
        return 0
    with gzip.open(meta, "rt") as f:
        leads = json.load(f)["leads"]
    return min(int(lead["start_sample"]) for lead in leads)


def paired_images(root: Path = HELDOUT_DIR) -> list[PairedImage]:
    """Every paired image under root/paired_images whose record exists under root/records."""
    out = []
    for image in sorted((root / "paired_images").glob("*.png")):
        record = root / "records" / record_name(image)
        if not record.with_suffix(".hea").exists():
            continue
        full, fs = read_wfdb(record)
        from_start = not image.with_suffix(".json.gz").exists()
        truth = to_competition_record(full, fs, start_sample(image), leads_from_start=from_start)
        out.append(PairedImage(image, record, fs, truth))
    return out


def evaluate_heldout(config=None, root=HELDOUT_DIR) -> pd.DataFrame:
    """Per image SNR on shared/heldout/paired_images, plus an 'all' row (mean of linear ratios).
    config: the DigitizeConfig (default: DigitizeConfig(), with the shipped segmenter if any)."""
    config = config or DigitizeConfig()
    pairs = paired_images(root)
    truth = {p.image.stem: p.truth for p in pairs}
    pred = {p.image.stem: digitize_file(p.image, p.fs, config).to_record() for p in pairs}
    report = score_frames(truth, pred, {p.image.stem: p.fs for p in pairs})
    table = report.per_image[["id", "snr_db", "challenge2024_db"]].copy()
    all_row = pd.DataFrame([{"id": "all", "snr_db": report.snr_db,
                             "challenge2024_db": table["challenge2024_db"].mean()}])
    return pd.concat([table, all_row], ignore_index=True)
