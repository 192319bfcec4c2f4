"""Record CSVs: lead names normalised, every problem a one-line error naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import PipelineError
from pipeline.ecg.formats import records as M
from pipeline.ecg.layout import LEADS
from tests.ecg.evaluation.test_metric import make_record


def _write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def test_read_record_csv_normalises_lead_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    rec = make_record(250, rng)
    odd = rec.rename(columns={"aVR": "AVR", "V1": " v1", "I": "i"}).assign(time=np.arange(len(rec)))
    got = M.read_record_csv(_write(odd, tmp_path / "r.csv"))
    assert list(got.columns) == list(LEADS)
    np.testing.assert_allclose(got.to_numpy(), rec.to_numpy(), equal_nan=True)


def test_read_record_csv_errors_name_file_and_problem(tmp_path: Path) -> None:
    rec = make_record(250, np.random.default_rng(15))
    path = _write(rec.drop(columns=["V2", "aVF"]).rename(columns={"V3": "V-3"}), tmp_path / "bad.csv")
    with pytest.raises(PipelineError) as err:
        M.read_record_csv(path)
    msg = str(err.value)
    assert "bad.csv" in msg and "aVF" in msg and "V2" in msg and "V3" in msg and "\n" not in msg

    path = _write(rec.assign(II=np.inf), tmp_path / "inf.csv")
    with pytest.raises(PipelineError, match=r"inf\.csv.*inf values"):
        M.read_record_csv(path)
    path = _write(rec.assign(V1="x"), tmp_path / "text.csv")
    with pytest.raises(PipelineError, match=r"text\.csv.*non-numeric"):
        M.read_record_csv(path)
    with pytest.raises(PipelineError, match=r"nope\.csv.*not found"):
        M.read_record_csv(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(PipelineError, match=r"empty\.csv"):
        M.read_record_csv(tmp_path / "empty.csv")


