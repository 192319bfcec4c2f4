"""Beat delineation: P, QRS and T onsets, peaks and offsets of every lead, and how well
the recovered signal's beats agree with the true signal's.

R peaks come from neurokit2's `ecg_peaks` on the `ecg_clean`ed lead; the other fiducials from its
wavelet delineator (`ecg_delineate(method="dwt")`). That delineator needs at least 4 s and 4 R peaks
(it sizes its beat windows from the heart rate); a 2.5 s lead is therefore padded with its last value
and, where it has fewer than 4 beats, given placeholder R peaks at its median RR in the padding, whose
results are dropped. Fiducials outside the lead's window are dropped too. Times are seconds within the
10 s record.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipeline.ecg.layout import LEADS, lead_window

FIDUCIALS: tuple[str, ...] = ("P_onset", "P_peak", "P_offset", "QRS_onset", "R_peak", "QRS_offset",
                              "T_onset", "T_peak", "T_offset")
_NK_KEYS = {"P_onset": "ECG_P_Onsets", "P_peak": "ECG_P_Peaks", "P_offset": "ECG_P_Offsets",
            "QRS_onset": "ECG_R_Onsets", "QRS_offset": "ECG_R_Offsets", "T_onset": "ECG_T_Onsets",
            "T_peak": "ECG_T_Peaks", "T_offset": "ECG_T_Offsets"}
MATCH_TOLERANCE_S = 0.05
"""Two R peaks (true and recovered) are the same beat when they lie within 50 ms."""
_MIN_DWT_S = 4.5
_MIN_DWT_BEATS = 4
COLUMNS = ("lead", "beat", *FIDUCIALS)


def r_peaks(values: np.ndarray, fs: int) -> tuple[np.ndarray, np.ndarray]:
    """(cleaned signal, R-peak sample indices) of one lead; no peaks for a flat or non-finite lead."""
    import neurokit2 as nk  # deferred on purpose: heavy optional dependency

    x = np.asarray(values, dtype=np.float64)
    if len(x) < fs // 2 or not np.isfinite(x).all() or np.ptp(x) < 1e-6:
        return x, np.zeros(0, dtype=np.int64)
    try:
        with warnings.catch_warnings():  # neurokit2 warns on short or odd signals; tables say what was found
            warnings.simplefilter("ignore")
            clean = np.asarray(nk.ecg_clean(x, sampling_rate=fs), dtype=np.float64)
            _, info = nk.ecg_peaks(clean, sampling_rate=fs)
        peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
    except (ValueError, IndexError, ZeroDivisionError):
        return x, np.zeros(0, dtype=np.int64)
    return clean, peaks[(peaks >= 0) & (peaks < len(x))]


def delineate(values: np.ndarray, fs: int, t0: float = 0.0) -> pd.DataFrame:
    """One row per beat of one lead: the FIDUCIALS' times (s, t0 + index / fs; NaN = not found)."""
    import neurokit2 as nk  # deferred on purpose: heavy optional dependency

    clean, peaks = r_peaks(values, fs)
    n = len(clean)
    table = pd.DataFrame(np.nan, index=range(len(peaks)), columns=list(FIDUCIALS))
    if len(peaks) == 0:
        return table
    table["R_peak"] = t0 + peaks / fs
    if len(peaks) < 2:
        return table
    rr = float(np.median(np.diff(peaks)))
    extra = [int(peaks[-1] + k * rr) for k in range(1, max(0, _MIN_DWT_BEATS - len(peaks)) + 1)]
    length = max(n, int(_MIN_DWT_S * fs), (extra[-1] + int(rr)) if extra else 0)
    padded = np.pad(clean, (0, length - n), mode="edge")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, waves = nk.ecg_delineate(padded, np.concatenate([peaks, extra]).astype(np.int64),
                                        sampling_rate=fs, method="dwt")
    except (ValueError, IndexError, KeyError, ZeroDivisionError):
        return table
    for name, key in _NK_KEYS.items():
        idx = np.asarray(waves.get(key, []), dtype=np.float64)[:len(peaks)]
        idx = np.pad(idx, (0, len(peaks) - len(idx)), constant_values=np.nan)
        idx[(idx < 0) | (idx >= n)] = np.nan
        table[name] = t0 + idx / fs
    return table


def delineate_leads(signals: Mapping[str, np.ndarray], fs: int) -> pd.DataFrame:
    """COLUMNS table over the 12 leads; signals hold each lead's window values (lead II all 10 s)."""
    parts = []
    for lead in LEADS:
        if lead not in signals:
            continue
        start, _ = lead_window(fs, lead)
        beats = delineate(signals[lead], fs, t0=start / fs)
        beats.insert(0, "beat", np.arange(len(beats)))
        beats.insert(0, "lead", lead)
        parts.append(beats)
    if not parts:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(parts, ignore_index=True)


def match_peaks(truth: np.ndarray, test: np.ndarray, tol: float = MATCH_TOLERANCE_S) -> list[tuple[int, int]]:
    """One-to-one pairs (i, j) of sorted peak times |truth[i] - test[j]| <= tol, closest pairs first."""
    truth, test = np.asarray(truth, float), np.asarray(test, float)
    cands = sorted((abs(a - b), i, j) for i, a in enumerate(truth) for j, b in enumerate(test)
                   if np.isfinite(a) and np.isfinite(b) and abs(a - b) <= tol)
    used_i, used_j, pairs = set(), set(), []
    for _, i, j in cands:
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def f1_score(tp: int, fp: int, fn: int) -> float:
    """F1 of detections; 1.0 when there was nothing to find and nothing was found."""
    return 1.0 if tp + fp + fn == 0 else 2.0 * tp / (2.0 * tp + fp + fn)


def compare(truth: pd.DataFrame, recovered: pd.DataFrame,
            tol: float = MATCH_TOLERANCE_S) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-lead QRS detection table, per-matched-beat fiducial errors) of recovered against true beats.

    Per lead: tp, fp, fn and F1 of R peaks matched within tol. Errors: one row per matched beat and
    fiducial, recovered minus true time in ms (only where both delineations found it).
    """
    detection, errors = [], []
    for lead in LEADS:
        t = truth[truth["lead"] == lead].reset_index(drop=True)
        r = recovered[recovered["lead"] == lead].reset_index(drop=True)
        if t.empty and r.empty:
            continue
        pairs = match_peaks(t["R_peak"].to_numpy(), r["R_peak"].to_numpy(), tol)
        tp, fp, fn = len(pairs), len(r) - len(pairs), len(t) - len(pairs)
        detection.append((lead, tp, fp, fn, f1_score(tp, fp, fn)))
        for i, j in pairs:
            for name in FIDUCIALS:
                a, b = t.at[i, name], r.at[j, name]
                if np.isfinite(a) and np.isfinite(b):
                    errors.append((lead, int(i), name, 1000.0 * (b - a)))
    return (pd.DataFrame(detection, columns=["lead", "tp", "fp", "fn", "f1"]),
            pd.DataFrame(errors, columns=["lead", "beat", "fiducial", "error_ms"]))


def error_summary(errors: pd.DataFrame) -> pd.DataFrame:
    """Per fiducial: matched beats, median signed error and mean / median / 90th-percentile |error| (ms)."""
    rows = []
    for name in FIDUCIALS:
        e = errors.loc[errors["fiducial"] == name, "error_ms"].to_numpy(np.float64)
        if len(e) == 0:
            rows.append((name, 0, np.nan, np.nan, np.nan, np.nan))
            continue
        a = np.abs(e)
        rows.append((name, len(e), float(np.median(e)), float(a.mean()), float(np.median(a)),
                     float(np.percentile(a, 90))))
    return pd.DataFrame(rows, columns=["fiducial", "beats", "median_ms", "mae_ms", "median_abs_ms", "p90_abs_ms"])


def detection_summary(detection: pd.DataFrame) -> dict[str, float]:
    """Pooled tp, fp, fn and QRS F1 over every row of a detection table."""
    tp, fp, fn = (int(detection[c].sum()) for c in ("tp", "fp", "fn"))
    return {"tp": tp, "fp": fp, "fn": fn, "qrs_f1": f1_score(tp, fp, fn)}
