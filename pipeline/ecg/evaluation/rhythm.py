"""Rhythm from the 10 s lead II: heart rate, RR irregularity and a rhythm class, and the
SNOMED CT rhythm codes of WFDB record headers (`#Dx:` lines) to compare it with.

Classes: atrial fibrillation when the RR intervals are irregular beat to beat and no P wave keeps a
fixed distance to its QRS, else bradycardia below 60 bpm, tachycardia above 100 bpm, sinus in
between; other when too few beats were found to tell.
The irregularity is the median |successive RR difference| over the median RR: a single premature beat
(two large differences among ~10) leaves it low, while AF makes most differences large. The 0.08
threshold is set from physiology: respiratory sinus arrhythmia changes RR by a few percent from beat
to beat, AF's RR spread is 15-30 %. Frequent premature beats also make RR irregular, but the sinus
beats' P waves stay locked to their QRS, while in AF the delineator's "P peaks" land on f-waves at
random: the spread (median absolute deviation) of R - P times tells them apart (12 ms, checked on the
synthetic model's AF and ectopic records, not on the held-out records).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ecg.evaluation.beats import delineate
from pipeline.ecg.formats.records import read_wfdb

CLASSES: tuple[str, ...] = ("sinus", "af", "brady", "tachy", "other")
SNOMED: dict[str, str] = {
    "426783006": "sinus",   # sinus rhythm
    "427393009": "sinus",   # sinus arrhythmia
    "164889003": "af",      # atrial fibrillation
    "426177001": "brady",   # sinus bradycardia
    "427084000": "tachy",   # sinus tachycardia
    "164890007": "other",   # atrial flutter
    "426761007": "other",   # supraventricular tachycardia
    "713422000": "other",   # atrial tachycardia
}
"""SNOMED CT rhythm codes (as in the PhysioNet/CinC 2020-21 headers) and the class each stands for."""
_PRIORITY = ("af", "other", "brady", "tachy", "sinus")
"""When a header lists several rhythm codes, the first of these found wins (AF over a rate label)."""


@dataclass(frozen=True)
class RhythmConfig:
    brady_bpm: float = 60.0
    tachy_bpm: float = 100.0
    af_irregularity: float = 0.08
    pr_spread_s: float = 0.012
    """R - P spread (s) above which P waves count as not locked to the QRS."""
    min_beats: int = 4
    """Fewer R peaks than this in 10 s (under 24 bpm) cannot be classed."""


@dataclass(frozen=True)
class Rhythm:
    heart_rate: float
    """Mean ventricular rate (bpm) from the mean RR interval; NaN with fewer than 2 beats."""
    irregularity: float
    """Median |successive RR difference| / median RR; NaN with fewer than 3 beats."""
    pr_spread: float
    """Median absolute deviation (s) of R - P peak times; NaN when no P was delineated."""
    beats: int
    label: str


def rr_irregularity(rr: np.ndarray) -> float:
    rr = np.asarray(rr, dtype=np.float64)
    if len(rr) < 2:
        return float("nan")
    return float(np.median(np.abs(np.diff(rr))) / np.median(rr))


def pr_spread(r_times: np.ndarray, p_times: np.ndarray) -> float:
    """Median absolute deviation of R - P over the beats with both (NaN with fewer than 3)."""
    d = np.asarray(r_times, dtype=np.float64) - np.asarray(p_times, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) < 3:
        return float("nan")
    return float(np.median(np.abs(d - np.median(d))))


def classify(peak_times: np.ndarray, p_times: np.ndarray | None = None,
             config: RhythmConfig = RhythmConfig()) -> Rhythm:
    """Rhythm of R-peak times (s), with each beat's P-peak time (s, NaN = none) when known."""
    t = np.asarray(peak_times, dtype=np.float64)
    order = np.argsort(t)
    t = t[order]
    rr = np.diff(t)
    rate = 60.0 / float(rr.mean()) if len(rr) else float("nan")
    irregular = rr_irregularity(rr)
    spread = float("nan") if p_times is None else pr_spread(t, np.asarray(p_times, np.float64)[order])
    p_locked = np.isfinite(spread) and spread <= config.pr_spread_s
    if len(t) < config.min_beats:
        label = "other"
    elif irregular > config.af_irregularity and not p_locked:
        label = "af"
    elif rate < config.brady_bpm:
        label = "brady"
    elif rate > config.tachy_bpm:
        label = "tachy"
    else:
        label = "sinus"
    return Rhythm(heart_rate=rate, irregularity=irregular, pr_spread=spread, beats=len(t), label=label)


def rhythm_of_beats(beats: pd.DataFrame, config: RhythmConfig = RhythmConfig()) -> Rhythm:
    """Rhythm of one lead's delineation (beats.delineate's table)."""
    return classify(beats["R_peak"].to_numpy(np.float64), beats["P_peak"].to_numpy(np.float64), config)


def rhythm_of(lead_ii: np.ndarray, fs: int, config: RhythmConfig = RhythmConfig()) -> Rhythm:
    """Rhythm of a lead II signal sampled at fs."""
    return rhythm_of_beats(delineate(lead_ii, fs), config)


# ---------------------------------------------------------------------------------------- headers
def header_codes(header: Path) -> list[str]:
    """SNOMED codes on a WFDB header's `#Dx:` comment lines ([] when there are none)."""
    codes: list[str] = []
    for line in header.read_text(errors="replace").splitlines():
        m = re.match(r"#\s*Dx\s*:\s*(.*)$", line.strip())
        if m:
            codes += [c.strip() for c in m.group(1).split(",") if c.strip()]
    return codes


def label_from_codes(codes: Iterable[str]) -> str | None:
    """The rhythm class of a header's codes, None when it names no rhythm."""
    found = {SNOMED[c] for c in codes if c in SNOMED}
    return next((label for label in _PRIORITY if label in found), None)


def confusion(truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str] = CLASSES) -> pd.DataFrame:
    """Counts with true classes as rows and predicted classes as columns."""
    table = pd.DataFrame(0, index=pd.Index(list(classes), name="true"), columns=list(classes))
    for a, b in zip(truth, predicted):
        table.loc[a, b] += 1
    return table


def agreement(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of equal labels (NaN when there are none)."""
    if len(truth) == 0:
        return float("nan")
    return float(np.mean([a == b for a, b in zip(truth, predicted)]))


def heldout_rhythms(records: Path, duration_s: float = 10.0, config: RhythmConfig = RhythmConfig()) -> pd.DataFrame:
    """Per WFDB record under `records` whose header has a rhythm code: the code's class and the class
    computed on the record's first `duration_s` of lead II (the true signal, not an image)."""
    rows = []
    for header in sorted(records.glob("*.hea")):
        label = label_from_codes(header_codes(header))
        if label is None:
            continue
        frame, fs = read_wfdb(header.with_suffix(""))
        ii = frame["II"].to_numpy(np.float64)[: int(round(duration_s * fs))]
        r = rhythm_of(ii, fs, config)
        rows.append((header.stem, fs, label, r.label, r.heart_rate, r.irregularity, r.pr_spread, r.beats))
    return pd.DataFrame(rows, columns=["record", "fs", "dx_class", "true_signal_class", "heart_rate",
                                       "irregularity", "pr_spread_s", "beats"])
