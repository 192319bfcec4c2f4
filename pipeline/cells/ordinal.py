"""Ordinal metrics for staged classes (benign < early < pre < pro): how far off the errors are."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score


def ordinal_metrics(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> dict[str, Any]:
    """Quadratic weighted kappa, mean absolute stage error, share of errors that are one stage off, and the
    confusion between each pair of adjacent stages (both directions)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) == 0:
        return {"quadratic_weighted_kappa": None, "mean_abs_stage_error": None, "errors": 0}
    labels = list(range(k))
    qwk = cohen_kappa_score(y_true, y_pred, labels=labels, weights="quadratic")
    diff = np.abs(y_true - y_pred)
    errors = diff > 0
    adjacent = {}
    for a in range(k - 1):
        pair = (y_true == a) | (y_true == a + 1)
        swapped = ((y_true == a) & (y_pred == a + 1)) | ((y_true == a + 1) & (y_pred == a))
        adjacent[f"{a}-{a + 1}"] = {"n": int(pair.sum()), "swapped": int(swapped.sum()),
                                    "rate": float(swapped.sum() / pair.sum()) if pair.any() else None}
    return {"quadratic_weighted_kappa": float(qwk) if np.isfinite(qwk) else None,
            "mean_abs_stage_error": float(diff.mean()),
            "errors": int(errors.sum()),
            "errors_one_stage_off": float((diff[errors] == 1).mean()) if errors.any() else None,
            "adjacent_confusion": adjacent}
