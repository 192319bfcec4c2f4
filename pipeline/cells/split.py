"""Leakage-free splits: stratified by label, grouped so that a group (near-duplicates, one patient, one
source image) never spans two splits. Pure functions on arrays; deterministic for a seed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")
PRIORITY = {"test": 0, "val": 1, "train": 2}  # where a group that must stay whole goes first


def stratified_splits(labels: pd.Series, val: float, test: float, seed: int) -> np.ndarray:
    """'train'/'val'/'test' per row, stratified by label, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=object)
    for label in sorted(labels.unique()):
        idx = np.flatnonzero(labels.to_numpy() == label)
        idx = idx[rng.permutation(len(idx))]
        n_test, n_val = int(round(len(idx) * test)), int(round(len(idx) * val))
        out[idx[:n_test]] = "test"
        out[idx[n_test:n_test + n_val]] = "val"
        out[idx[n_test + n_val:]] = "train"
    return out


def group_labels(labels: Sequence[str], groups: Sequence[str]) -> pd.DataFrame:
    """One row per group: its majority label (ties: the first in sort order) and its size."""
    frame = pd.DataFrame({"label": list(labels), "group": list(groups)})
    counts = frame.groupby(["group", "label"]).size().rename("n").reset_index()
    counts = counts.sort_values(["group", "n", "label"], ascending=[True, False, True])
    majority = counts.drop_duplicates("group").set_index("group")["label"]
    return pd.DataFrame({"label": majority, "size": frame.groupby("group").size()}).sort_index()


def grouped_splits(labels: Sequence[str], groups: Sequence[str], val: float, test: float, seed: int,
                   forced: Mapping[str, str] | None = None) -> np.ndarray:
    """Split whole groups, stratified by each group's majority label.

    Within a label, groups go (largest first, random order among equal sizes) to the split furthest below
    its target image count; `forced` pins some groups to a split first (they count toward the targets).
    With one image per group this is an ordinary stratified split.
    """
    forced = dict(forced or {})
    bad = {s for s in forced.values() if s not in SPLITS}
    if bad:
        raise ValueError(f"unknown split names {sorted(bad)}")
    rng = np.random.default_rng(seed)
    table = group_labels(labels, groups)
    fractions = {"test": test, "val": val, "train": 1.0 - val - test}
    assigned: dict[str, str] = {}
    for label in sorted(table["label"].unique()):
        rows = table[table["label"] == label]
        total = int(rows["size"].sum())
        target = {s: total * fractions[s] for s in SPLITS}
        have = {s: 0 for s in SPLITS}
        for g in rows.index:
            if g in forced:
                assigned[g] = forced[g]
                have[forced[g]] += int(rows.at[g, "size"])
        free = [g for g in rows.index if g not in forced]
        order = rng.permutation(len(free))
        free = sorted((free[i] for i in order), key=lambda g: -int(rows.at[g, "size"]))  # stable: random ties
        for g in free:
            deficit = {s: target[s] - have[s] for s in SPLITS}
            best = max(SPLITS, key=lambda s: (round(deficit[s], 9), s == "train"))
            assigned[g] = best
            have[best] += int(rows.at[g, "size"])
    return np.array([assigned[g] for g in groups], dtype=object)


def resolve_given_splits(given: Sequence[str], groups: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Keep a dataset's own splits, but never let a group span two of them.

    Returns (split per row, keep mask): a group found in several given splits stays only in the one that
    comes first in test, val, train order; its members elsewhere are dropped (keep False).
    """
    given = np.asarray(given, dtype=object)
    frame = pd.DataFrame({"split": given, "group": list(groups)})
    frame["rank"] = frame["split"].map(PRIORITY)
    if frame["rank"].isna().any():
        bad = sorted(set(frame.loc[frame["rank"].isna(), "split"].astype(str)))
        raise ValueError(f"unknown split names {bad}")
    home = frame.groupby("group")["rank"].transform("min")
    return given, (frame["rank"] == home).to_numpy()


def crossing_groups(groups: Sequence[str], splits: Sequence[str]) -> list[str]:
    """Groups present in more than one split (a leak); empty when the split is clean."""
    frame = pd.DataFrame({"group": list(groups), "split": list(splits)})
    n = frame.groupby("group")["split"].nunique()
    return sorted(n[n > 1].index)
