"""The circles kernel notebook, executed headlessly: it generates a small dataset, trains and predicts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.paths import PROJECT_ROOT
from tests.kernels.notebook import run_kernel

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` leaves it out


def test_circles_kernel_writes_predictions(kaggle_tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))  # the project imports: the install step is skipped
    monkeypatch.setenv("CIRCLES_N_IMAGES", "60")
    monkeypatch.setenv("CIRCLES_EPOCHS", "1")
    monkeypatch.setenv("CIRCLES_WORKERS", str(min(2, os.cpu_count() or 1)))

    run_kernel("circles-classifier", cwd=kaggle_tree["working"])

    predictions = pd.read_csv(kaggle_tree["working"] / "circles.csv")
    assert len(predictions) > 0 and predictions["id"].is_unique
    probs = predictions.filter(like="prob_").to_numpy()
    assert probs.shape[1] >= 2 and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert (kaggle_tree["working"] / "metrics.json").is_file()
