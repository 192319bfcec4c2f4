"""Where data, intermediate results and submissions live.

The only place that reads PIPELINE_DATA / PIPELINE_WORK / PIPELINE_SUBMISSIONS, so that Kaggle's
/kaggle/input, a laptop and the tests run the same code with different roots.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _root(env: str, default: str) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else PROJECT_ROOT / default


def data_dir(task: str) -> Path:
    """Raw data of a task (downloaded or generated), e.g. data/ecg/."""
    return _root("PIPELINE_DATA", "data") / task


def work_dir(task: str) -> Path:
    """Intermediate results of a task: index, splits, models, predictions, reports."""
    return _root("PIPELINE_WORK", "work") / task


def submissions_dir() -> Path:
    """Where stage2 writes submissions/TASK.csv."""
    return _root("PIPELINE_SUBMISSIONS", "submissions")
