"""Where the ECG task keeps its files under work/ecg, and which segmenter checkpoint stage2 uses."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.paths import work_dir
from pipeline.ecg.formats.predictions import digitizer_key

TASK = "ecg"


def trained_checkpoint() -> Path:
    """stage1's row segmenter."""
    return work_dir(TASK) / "model" / "segment.pt"


def segmenter_checkpoint() -> Path | None:
    """The row segmenter stage2 uses: stage1's if trained, else None (the classical ink map, the
    digitizer's default; the shipped checkpoint is used only when asked for, see DigitizeConfig)."""
    trained = trained_checkpoint()
    return trained if trained.is_file() else None


def digitizer_hash() -> str:
    """The key of cached predictions: the digitizer's code and the segmenter stage2 uses."""
    return digitizer_key(segmenter_checkpoint())


def predictions_dir() -> Path:
    """stage2's per-image cache of the current digitizer."""
    return work_dir(TASK) / "predictions" / digitizer_hash()
