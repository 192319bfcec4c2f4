"""Development sets drawn by others (evaluation only, never for training or tuning a constant).

- kaggle-real: real competition pages (`shared/heldout/kaggle-real/<id>/<id>-NNNN.png`, truth
  `<id>.csv`, fs from that folder's `train.csv`);
- ecgkit-clean / ecgkit-aug: ecg-image-kit renders of simulated records (`shared/ecgkit-dev`,
  `index.csv` gives name, variant, fs, image; truth `<name>.csv`);
- paired-images: ecg-image-kit renders of real records (`shared/heldout/paired_images`, via heldout.py);
- kitreal-clean / kitreal-aug: ecg-image-kit renders of the 68 primary real held-out records in ecgkit-dev's
  format, made by `python -m pipeline ecg kit-pages` (kit_pages.py) into work/ecg/kitreal.

`list_pages` finds each set's pages (a set whose folder is absent is skipped with a printed note),
`score_pages` digitizes them with one DigitizeConfig and scores them as the metric does: per page
(set, page, fs, snr_db), per lead (set, page, lead, snr_db) and per set (the mean of the pages'
linear ratios, `score_ratios`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from tqdm import tqdm

from pipeline.core.paths import PROJECT_ROOT
from pipeline.ecg.digitizer import DigitizeConfig, digitize_file
from pipeline.ecg.evaluation.decompose import EDGE_SAMPLES, LeadError, decompose, median_parts
from pipeline.ecg.evaluation.heldout import paired_images
from pipeline.ecg.evaluation.kit_pages import kitreal_dir
from pipeline.ecg.evaluation.metric import score_frames, score_ratios
from pipeline.ecg.formats.records import read_record_csv

SHARED_DIR = PROJECT_ROOT.parent / "shared"
SETS: tuple[str, ...] = ("kaggle-real", "ecgkit-clean", "ecgkit-aug", "paired-images", "kitreal-clean",
                         "kitreal-aug")


@dataclass(frozen=True)
class DevPage:
    set: str
    page: str
    image: Path
    fs: int
    truth: Callable[[], pd.DataFrame]
    """Reads the page's truth (a train-CSV-like frame), only when it is scored."""


def _kaggle_real(root: Path) -> list[DevPage]:
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        train = folder / "train.csv"
        truth = folder / f"{folder.name}.csv"
        if not (train.is_file() and truth.is_file()):
            continue
        row = pd.read_csv(train, dtype={"id": str})
        fs = int(row.loc[row["id"] == folder.name, "fs"].iloc[0])
        for image in sorted(folder.glob(f"{folder.name}-*.png")):
            out.append(DevPage("kaggle-real", image.stem, image, fs, lambda t=truth: read_record_csv(t)))
    return out


def _ecgkit(root: Path, variant: str, prefix: str = "ecgkit") -> list[DevPage]:
    """The pages of one variant of a folder in ecgkit-dev's format (none without its index.csv)."""
    if not (root / "index.csv").is_file():
        return []
    index = pd.read_csv(root / "index.csv")
    out = []
    for r in index[index["variant"] == variant].itertuples():
        image, truth = root / str(r.image), root / f"{r.name}.csv"
        if image.is_file() and truth.is_file():
            out.append(DevPage(f"{prefix}-{variant}", str(r.name), image, int(r.fs),
                               lambda t=truth: read_record_csv(t)))
    return out


def _paired(root: Path) -> list[DevPage]:
    return [DevPage("paired-images", p.image.stem, p.image, int(p.fs), lambda t=p.truth: t)
            for p in paired_images(root)]


def list_pages(sets: Sequence[str] = SETS, shared: Path = SHARED_DIR, kitreal: Path | None = None) -> list[DevPage]:
    """The pages of the named sets under `shared` (default: ../shared beside the project) and, for the kitreal
    sets, in `kitreal` (default: work/ecg/kitreal)."""
    shared = Path(shared)
    kitreal = Path(kitreal) if kitreal is not None else kitreal_dir()
    folders = {"kaggle-real": shared / "heldout" / "kaggle-real", "ecgkit-clean": shared / "ecgkit-dev",
               "ecgkit-aug": shared / "ecgkit-dev", "paired-images": shared / "heldout",
               "kitreal-clean": kitreal, "kitreal-aug": kitreal}
    readers = {"kaggle-real": _kaggle_real, "ecgkit-clean": lambda p: _ecgkit(p, "clean"),
               "ecgkit-aug": lambda p: _ecgkit(p, "aug"), "paired-images": _paired,
               "kitreal-clean": lambda p: _ecgkit(p, "clean", "kitreal"),
               "kitreal-aug": lambda p: _ecgkit(p, "aug", "kitreal")}
    pages: list[DevPage] = []
    for name in sets:
        if name not in folders:
            raise ValueError(f"unknown development set {name!r} (known: {', '.join(SETS)})")
        folder = folders[name]
        marker = folder / "paired_images" if name == "paired-images" else folder
        if not marker.is_dir():
            print(f"devsets: {name} skipped ({marker} not found)")
            continue
        found = readers[name](folder)
        if not found:
            print(f"devsets: {name} skipped (no pages with truth under {folder})")
        pages += found
    return pages


ERROR_PARTS = tuple(LeadError.__dataclass_fields__)

@dataclass(frozen=True)
class DevScores:
    per_page: pd.DataFrame
    """set, page, fs, snr_db, doubt (the digitizer's own doubt score, NaN when not given) and ratio (the
    page's capped signal/noise ratio)."""
    per_lead: pd.DataFrame
    """set, page, lead, snr_db (10 log10 of that lead's own capped ratio) and the parts of its error
    (decompose.LeadError: lag, phase, gain, offset, steep_share, edge_share)."""
    per_set: pd.DataFrame
    """set, n_pages, snr_db (10 log10 of the mean of the pages' ratios, as the metric aggregates)."""


def score_pages(pages: Sequence[DevPage], config=None, digitize: Callable | None = None) -> DevScores:
    """Digitize every page with `config` (default DigitizeConfig()) and score it against its truth.
    digitize(image, fs, config) -> a train-CSV-like frame, or (frame, doubt score); default
    digitize_file(...), with its diagnostics' doubt score."""
    config = config if config is not None else DigitizeConfig()
    if digitize is None:
        def digitize(image, fs, cfg):
            result = digitize_file(image, fs, cfg)
            return result.to_record(), float(result.diagnostics.get("doubt", np.nan))
    page_rows, lead_rows = [], []
    for p in tqdm(pages, desc="dev pages", unit="page", disable=len(pages) < 2):
        got = digitize(p.image, p.fs, config)
        frame, doubt = got if isinstance(got, tuple) else (got, np.nan)
        truth = p.truth()
        report = score_frames({p.page: truth}, {p.page: frame}, {p.page: p.fs})
        img = report.per_image.iloc[0]
        page_rows.append({"set": p.set, "page": p.page, "fs": p.fs, "snr_db": float(img["snr_db"]),
                          "doubt": doubt, "ratio": float(img["ratio"])})
        for r in report.per_lead.itertuples():
            row = {"set": p.set, "page": p.page, "lead": r.lead, "snr_db": float(r.snr_db)}
            known = truth[r.lead].notna().to_numpy() if r.lead in truth else np.zeros(0, bool)
            parts = decompose(truth[r.lead].to_numpy()[known], frame[r.lead].to_numpy()[known], p.fs) \
                if known.any() and r.lead in frame else None
            lead_rows.append({**row, **(parts.to_dict() if parts else {})})
    per_page = pd.DataFrame(page_rows, columns=["set", "page", "fs", "snr_db", "doubt", "ratio"])
    per_lead = pd.DataFrame(lead_rows, columns=["set", "page", "lead", "snr_db", *ERROR_PARTS])
    set_rows = [{"set": s, "n_pages": len(g), "snr_db": score_ratios(g["ratio"].to_numpy()),
                 "worst_page_db": float(g["snr_db"].min())}
                for s, g in per_page.groupby("set", sort=False)]
    per_set = pd.DataFrame(set_rows, columns=["set", "n_pages", "snr_db", "worst_page_db"])
    return DevScores(per_page=per_page, per_lead=per_lead, per_set=per_set)


def doubt_ranking(per_page: pd.DataFrame) -> tuple[float, int]:
    """(Spearman correlation of the doubt score with the page SNR, pages used): a doubt score that ranks
    pages well is strongly negative. (NaN, 0) when no development set was found."""
    doubt = pd.to_numeric(per_page["doubt"], errors="coerce")  # an empty frame's columns hold objects
    snr = pd.to_numeric(per_page["snr_db"], errors="coerce")
    ok = per_page[np.isfinite(doubt) & np.isfinite(snr)]
    if len(ok) < 3:
        return float("nan"), len(ok)
    return float(spearmanr(ok["doubt"], ok["snr_db"]).statistic), len(ok)


def evaluate_devsets(config=None, sets: Sequence[str] = SETS, shared: Path = SHARED_DIR,
                     kitreal: Path | None = None) -> DevScores:
    """score_pages over list_pages(sets, shared, kitreal)."""
    return score_pages(list_pages(sets, shared, kitreal), config)


def print_scores(scores: DevScores, n_worst: int = 10) -> None:
    """The per-set table, then the worst pages (all pages of sets with at most 3)."""
    print(scores.per_set.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    rho, n = doubt_ranking(scores.per_page)
    print(f"doubt score vs page SNR: Spearman {rho:.3f} over {n} pages (negative: more doubt, lower SNR)")
    worst = scores.per_page.sort_values("snr_db").head(n_worst)
    print("\nworst pages:")
    print(worst.drop(columns="ratio").to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    small = scores.per_page[scores.per_page.groupby("set")["page"].transform("size") <= 3]
    if len(small):
        print("\npages of the small sets:")
        print(small.drop(columns="ratio").to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if len(scores.per_lead):
        lead = scores.per_lead.groupby(["set", "lead"], sort=False)["snr_db"].apply(
            lambda s: 10 * np.log10(np.mean(10 ** (s / 10)))).unstack()
        print("\nper lead (dB, mean of per-page lead ratios):")
        print(lead.to_string(float_format=lambda v: f"{v:.1f}"))
        parts = median_parts(scores.per_lead, "set")
        print("\nerror parts per set (medians over leads; phase in samples, gain truth/prediction, offset mV, "
              f"share of the error on the steepest 10 % of samples and on the first and last {EDGE_SAMPLES}):")
        print(parts.to_string(float_format=lambda v: f"{v:.3f}"))
