"""Validation of the competition folder: train.csv, the train record CSVs, test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import PipelineError
from pipeline.ecg.formats.competition import Competition, check_train_record, check_train_records, read_train_csv
from pipeline.ecg.layout import LEADS


def _record(path: Path, fs: int = 100) -> pd.DataFrame:
    frame = pd.DataFrame(np.zeros((fs * 10, len(LEADS))), columns=list(LEADS))
    frame.loc[:10, "V1"] = np.nan  # NaN outside a lead's window is normal
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return frame


def test_train_record_checks(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    frame = _record(path)
    check_train_record(path, 100)
    with pytest.raises(PipelineError, match=r"r\.csv: 1000 rows, expected 5000 \(10 s at fs 500"):
        check_train_record(path, 500)
    with pytest.raises(PipelineError, match=r"r\.csv: 1000 rows, expected 999 \(sig_len 999 from train"):
        check_train_record(path, 100, sig_len=999)
    frame.assign(aVL=np.nan).to_csv(path, index=False)
    with pytest.raises(PipelineError, match=r"r\.csv: lead\(s\) aVL have no values"):
        check_train_record(path, 100)


def test_train_csv_and_missing_records(tmp_path: Path) -> None:
    comp = Competition(tmp_path)
    (tmp_path / "train.csv").write_text("id,fs\n7,100\n")
    assert check_train_records(comp) == 0  # no train/ folder: an inference-only copy, nothing to check
    (tmp_path / "train").mkdir()
    with pytest.raises(PipelineError, match=r"7\.csv: train\.csv lists record 7 but its signal CSV is missing"):
        check_train_records(comp)
    _record(tmp_path / "train" / "7" / "7.csv")
    assert check_train_records(comp) == 1
    (tmp_path / "train.csv").write_text("id,fs\n7,-5\n")
    with pytest.raises(PipelineError, match=r"train\.csv: fs must be a positive integer"):
        read_train_csv(tmp_path / "train.csv")
    (tmp_path / "train.csv").write_text("id,rate\n7,100\n")
    with pytest.raises(PipelineError, match="missing columns fs"):
        read_train_csv(tmp_path / "train.csv")
