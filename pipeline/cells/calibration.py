"""Calibration: expected calibration error, reliability bins, temperature scaling. Arrays in, numbers out."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar


def reliability_bins(proba: np.ndarray, y: np.ndarray, n_bins: int = 15) -> pd.DataFrame:
    """Per equal-width confidence bin: count, mean confidence, accuracy (top-1)."""
    conf = proba.max(1)
    correct = proba.argmax(1) == np.asarray(y)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        sel = which == b
        rows.append({"lo": edges[b], "hi": edges[b + 1], "n": int(sel.sum()),
                     "confidence": float(conf[sel].mean()) if sel.any() else np.nan,
                     "accuracy": float(correct[sel].mean()) if sel.any() else np.nan})
    return pd.DataFrame(rows)


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Sum over bins of |accuracy - confidence| weighted by the bin's share of samples."""
    bins = reliability_bins(proba, y, n_bins)
    used = bins[bins["n"] > 0]
    if used.empty:
        return 0.0
    return float((used["n"] * (used["accuracy"] - used["confidence"]).abs()).sum() / used["n"].sum())


def scale_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): exactly temperature scaling of the logits (log p differs by a constant per row)."""
    logits = np.log(np.clip(proba, 1e-12, 1.0)) / temperature
    logits -= logits.max(1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(1, keepdims=True)


def nll(proba: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), np.asarray(y)], 1e-12, 1.0))))


def fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The T in [0.05, 20] minimising the negative log-likelihood on (proba, y) (fit on validation)."""
    if len(y) == 0:
        return 1.0
    res = minimize_scalar(lambda logt: nll(scale_temperature(proba, float(np.exp(logt))), y),
                          bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))
