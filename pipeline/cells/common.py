"""Pieces every cell task's stages share: manifest-friendly configs, CSV writing, the submission table."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.io import write_text_atomic


def jsonable(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as the manifest stores it (tuples become lists), so an unchanged config compares equal."""
    return json.loads(json.dumps(config, default=str))


def write_csv(path: Path, table: pd.DataFrame) -> None:
    write_text_atomic(path, table.to_csv(index=False, float_format="%.6f", lineterminator="\n"))


def probability_table(ids: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """The submission: id, predicted class, prob_<class> per class."""
    table = pd.DataFrame({"id": list(ids), "predicted": [classes[i] for i in proba.argmax(1)]})
    for j, c in enumerate(classes):
        table[f"prob_{c}"] = proba[:, j]
    return table


def ensure(stages: Mapping[str, Callable[[argparse.Namespace], None]], stage: str, outputs: list[Path],
           args: argparse.Namespace) -> None:
    """Run an earlier stage (not forced) when any of its outputs is missing."""
    if not all(p.exists() for p in outputs):
        stages[stage](argparse.Namespace(**{**vars(args), "force": False}))
