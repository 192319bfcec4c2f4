"""Controlled shift tests: move one generator factor at a time outside the training range.

Each factor has a few levels; the level equal to the training setting is kept as the in-distribution
control (a fresh set, not the training images). Each level is a generated folder scored by a trained
model; the result is one accuracy per (factor, level).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.cells.circles.generate import CircleConfig
from pipeline.core.paths import PROJECT_ROOT
from pipeline.core.seeding import derive_seed


@dataclass(frozen=True)
class ShiftLevel:
    """One test set: `changes` applied to the training CircleConfig; `x` is the value plotted."""

    factor: str
    level: str
    x: float
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.factor}__{self.level}".replace(" ", "_").replace("/", "-")


def circlefarmer_sample_dir() -> Path | None:
    """The shared real CircleFarmer sample (../shared/circlefarmer beside the project), if present."""
    path = PROJECT_ROOT.parent / "shared" / "circlefarmer"
    return path if path.is_dir() else None


def shift_levels(train: CircleConfig, photo_dir: Path | None) -> list[ShiftLevel]:
    """The factors and levels tested; each list holds the training level (changes == {}) once."""
    r_lo, r_hi = train.radius_range
    a_lo, a_hi = train.alpha_range
    c_lo, c_hi = train.count_range

    def ranged(factor: str, name: str, ranges: list[tuple[float, float]], fmt: Callable[[float], str],
               base: tuple[float, float]) -> list[ShiftLevel]:
        out = []
        for lo, hi in ranges:
            changes = {} if (lo, hi) == tuple(base) else {name: (lo, hi)}
            out.append(ShiftLevel(factor, f"{fmt(lo)}-{fmt(hi)}", (lo + hi) / 2, changes))
        return out

    levels = [
        *ranged("radius", "radius_range",
                [(r_lo / 3, r_lo * 2 / 3), (r_lo * 2 / 3, r_lo), (r_lo, r_hi), (r_hi, r_hi * 1.3),
                 (r_hi * 1.3, r_hi * 1.7)],
                lambda v: f"{v:.0f}px", (r_lo, r_hi)),
        *[ShiftLevel("colour noise", f"{v:g}", v, {} if v == train.colour_noise else {"colour_noise": v})
          for v in sorted({0.0, train.colour_noise, 0.5, 0.75, 1.0})],
        *ranged("alpha", "alpha_range", [(0.2, 0.35), (0.35, 0.5), (0.5, a_lo), (a_lo, a_hi), (a_hi, 1.0)],
                lambda v: f"{v:.2f}", (a_lo, a_hi)),
        *[ShiftLevel("position", f"centres in {lo:g}..{hi:g}", hi - lo,
                     {} if (lo, hi) == tuple(train.position) else {"position": (lo, hi)})
          for lo, hi in [tuple(train.position), (-0.15, 1.15), (-0.3, 1.3), (-0.5, 1.5)]],
        *[ShiftLevel("overlap", f"max {v}", v, {} if v == train.max_overlap else {"max_overlap": v})
          for v in sorted({train.max_overlap, 1, 2, 4})],
        *ranged("count", "count_range", [(1, 2), (2, max(c_lo - 1, 2)), (c_lo, c_hi), (c_hi + 1, c_hi + 5),
                                         (c_hi + 6, c_hi + 15)], lambda v: f"{v:.0f}", (c_lo, c_hi)),
    ]
    backgrounds = [("procedural", {}), ("flat", {"background": "flat"}), ("dark", {"background": "dark"})]
    if photo_dir is not None:
        backgrounds.insert(1, ("real dish photos", {"background": "photo", "backgrounds_dir": str(photo_dir)}))
    if train.background != "procedural":
        backgrounds = [("training", {})] + [b for b in backgrounds if b[1].get("background") != train.background]
    levels += [ShiftLevel("background", name, i, ch) for i, (name, ch) in enumerate(backgrounds)]
    return levels


def level_config(train: CircleConfig, level: ShiftLevel) -> CircleConfig:
    return train.with_(**level.changes)


def level_seed(seed: int, level: ShiftLevel) -> int:
    return derive_seed(seed, "shift", level.key)


def shift_table(levels: list[ShiftLevel], results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per level: factor, level, in_training, n, accuracy, its 95% Wilson interval, mean circles."""
    rows = []
    for level, res in zip(levels, results):
        n, acc = res["n"], res["accuracy"]
        lo, hi = wilson(acc, n)
        rows.append({"factor": level.factor, "level": level.level, "x": level.x, "in_training": not level.changes,
                     "n": n, "accuracy": acc, "ci_low": lo, "ci_high": hi,
                     "mean_circles": res.get("mean_circles", np.nan), "mean_margin": res.get("mean_margin", np.nan)})
    return pd.DataFrame(rows)


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # the interval holds p; rounding can put an end a hair past it when p is 0 or 1
    return float(max(0.0, min(p, centre - half))), float(min(1.0, max(p, centre + half)))


def plot_shift(table: pd.DataFrame, path: str | Path, title: str = "accuracy under controlled shifts") -> None:
    """One panel per factor: accuracy per level with 95% intervals; the training level is marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.core.io import atomic_path

    factors = list(dict.fromkeys(table["factor"]))
    cols = min(4, len(factors))
    rows = int(np.ceil(len(factors) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.3 * rows), squeeze=False)
    for ax, factor in zip(axes.flat, factors):
        t = table[table["factor"] == factor].reset_index(drop=True)
        xs = np.arange(len(t))
        err = np.vstack([t["accuracy"] - t["ci_low"], t["ci_high"] - t["accuracy"]])
        ax.errorbar(xs, t["accuracy"], yerr=err, marker="o", capsize=3)
        train_rows = t.index[t["in_training"]]
        ax.scatter(xs[train_rows], t["accuracy"][train_rows], s=120, facecolors="none", edgecolors="red",
                   label="training setting", zorder=3)
        ax.set_xticks(xs, t["level"], rotation=35, ha="right", fontsize=8)
        ax.set_ylim(min(0.3, float(t["ci_low"].min()) - 0.05), 1.02)
        ax.set_title(factor)
        ax.grid(alpha=0.3)
        ax.set_ylabel("accuracy")
    for ax in list(axes.flat)[len(factors):]:
        ax.axis("off")
    axes.flat[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", metadata={"Software": None})
    plt.close(fig)
