"""Selective prediction and lineage grouping: risk-coverage from predictive uncertainty, grouped classes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score


def entropy(proba: np.ndarray) -> np.ndarray:
    p = np.clip(proba, 1e-12, 1.0)
    return -(p * np.log(p)).sum(1)


def risk_coverage(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the most confident first: (coverage, error rate among the kept) at every cut-off."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    wrong = 1.0 - np.asarray(correct, dtype=float)[order]
    kept = np.arange(1, len(order) + 1)
    return kept / max(len(order), 1), np.cumsum(wrong) / kept


def aurc(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Area under the risk-coverage curve (mean risk over coverages); lower is better."""
    if len(confidence) == 0:
        return float("nan")
    return float(risk_coverage(confidence, correct)[1].mean())


def group_proba(proba: np.ndarray, classes: Sequence[str], groups: Mapping[str, str]) -> tuple[np.ndarray, list[str]]:
    """Sum class probabilities within each group -> (N, G) and the group names (first-seen order)."""
    names = list(dict.fromkeys(groups[c] for c in classes))
    out = np.zeros((len(proba), len(names)))
    for j, c in enumerate(classes):
        out[:, names.index(groups[c])] += proba[:, j]
    return out, names


def flag_auroc(scores: np.ndarray, is_target: np.ndarray) -> float | None:
    """AUROC of a score for picking out the target rows (None when one side is empty)."""
    is_target = np.asarray(is_target, dtype=bool)
    if is_target.all() or not is_target.any():
        return None
    return float(roc_auc_score(is_target, scores))
