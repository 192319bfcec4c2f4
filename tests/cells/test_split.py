import numpy as np
import pandas as pd
import pytest

from pipeline.cells.split import crossing_groups, grouped_splits, resolve_given_splits, stratified_splits


def _data(seed: int = 0) -> tuple[list[str], list[str]]:
    """300 images, 3 labels, groups of 1-6 images (near-duplicate clusters)."""
    rng = np.random.default_rng(seed)
    labels, groups = [], []
    g = 0
    while len(labels) < 300:
        size = int(rng.integers(1, 7))
        lab = "abc"[g % 3]
        labels += [lab] * size
        groups += [f"g{g}"] * size
        g += 1
    return labels, groups


def test_grouped_splits_keep_groups_whole_and_stratify() -> None:
    labels, groups = _data()
    split = grouped_splits(labels, groups, 0.15, 0.15, seed=3)
    assert crossing_groups(groups, split) == []
    frame = pd.DataFrame({"label": labels, "split": split})
    shares = frame.groupby("label")["split"].value_counts(normalize=True).unstack()
    assert (shares["test"] - 0.15).abs().max() < 0.06 and (shares["val"] - 0.15).abs().max() < 0.06
    assert (grouped_splits(labels, groups, 0.15, 0.15, seed=3) == split).all()  # deterministic
    assert (grouped_splits(labels, groups, 0.15, 0.15, seed=4) != split).any()


def test_singletons_reduce_to_a_stratified_split() -> None:
    labels = ["x"] * 40 + ["y"] * 60
    split = grouped_splits(labels, [str(i) for i in range(100)], 0.2, 0.1, seed=0)
    frame = pd.DataFrame({"label": labels, "split": split})
    assert frame.groupby("label")["split"].value_counts().to_dict() == {
        ("x", "train"): 28, ("x", "val"): 8, ("x", "test"): 4, ("y", "train"): 42, ("y", "val"): 12, ("y", "test"): 6}
    assert sorted(stratified_splits(pd.Series(labels), 0.2, 0.1, 0)) == sorted(split)


def test_forced_groups_land_where_pinned() -> None:
    labels, groups = _data(1)
    forced = {"g0": "test", "g1": "train", "g2": "val"}
    split = grouped_splits(labels, groups, 0.15, 0.15, seed=0, forced=forced)
    for g, s in forced.items():
        assert set(split[np.array(groups) == g]) == {s}
    with pytest.raises(ValueError):
        grouped_splits(labels, groups, 0.15, 0.15, seed=0, forced={"g0": "holdout"})


def test_given_splits_drop_members_that_cross() -> None:
    given = ["train", "test", "val", "train", "val"]
    groups = ["a", "a", "b", "b", "c"]
    split, keep = resolve_given_splits(given, groups)
    assert keep.tolist() == [False, True, True, False, True]  # group a stays in test, b in val
    assert crossing_groups(np.array(groups)[keep], split[keep]) == []
    assert crossing_groups(groups, given) == ["a", "b"]
