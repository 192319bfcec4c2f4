from pathlib import Path

import pandas as pd
import pytest

from pipeline.cells.circles.generate import CircleConfig
from pipeline.cells.circles.shift import level_config, level_seed, plot_shift, shift_levels, shift_table, wilson

FACTORS = {"radius", "colour noise", "alpha", "position", "overlap", "count", "background"}


def test_one_training_level_per_factor_and_every_other_level_moves_outside() -> None:
    train = CircleConfig()
    levels = shift_levels(train, Path("/photos"))
    assert {lv.factor for lv in levels} == FACTORS
    for factor in FACTORS:
        mine = [lv for lv in levels if lv.factor == factor]
        assert sum(not lv.changes for lv in mine) == 1, factor
        for lv in mine:
            cfg = level_config(train, lv)
            changed = {k for k in cfg.to_dict() if cfg.to_dict()[k] != train.to_dict()[k]}
            assert changed == set(lv.changes)
    outside = {lv.level: level_config(train, lv) for lv in levels if lv.factor == "radius" and lv.changes}
    assert all(c.radius_range[1] <= train.radius_range[0] or c.radius_range[0] >= train.radius_range[1]
               for c in outside.values())
    assert len({level_seed(0, lv) for lv in levels}) == len(levels)
    assert not any(lv.factor == "background" and "photo" in lv.level
                   for lv in shift_levels(train, None))


def test_table_and_plot(tmp_path: Path) -> None:
    levels = [lv for lv in shift_levels(CircleConfig(), None) if lv.factor in ("overlap", "count")]
    results = [{"n": 50, "accuracy": 1.0 - 0.05 * i, "mean_circles": 6.0, "mean_margin": 0.3}
               for i in range(len(levels))]
    table = shift_table(levels, results)
    assert list(table.columns[:6]) == ["factor", "level", "x", "in_training", "n", "accuracy"]
    assert (table["ci_low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["ci_high"]).all()
    plot_shift(table, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert isinstance(table, pd.DataFrame)


def test_wilson() -> None:
    lo, hi = wilson(1.0, 100)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(0.963, abs=1e-3)
    assert wilson(0.5, 0) == (0.0, 1.0)


def test_wilson_interval_always_holds_the_proportion() -> None:
    for n in range(1, 400):  # before the clamp, p = 1 gave an upper end below 1 for 628 of n < 2000
        for k in (0, n // 3, n):
            lo, hi = wilson(k / n, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0
