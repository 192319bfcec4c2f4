"""The Kaggle submission: exact id format and row order, validated, deterministic bytes.

id = "{id}_{row}_{lead}", rows 0..number_of_rows-1 for every (id, lead) row of test.csv, in test.csv
order; the result is checked against sample_submission before it is written, since Kaggle rejects
NaN, inf, and missing or reordered ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_path
from pipeline.ecg.layout import LEADS

FLOAT_FORMAT = "%.5f"
DECIMALS = 5
TEST_COLUMNS = ("id", "lead", "fs", "number_of_rows")
_LEAD_BY_LOWER = {lead.lower(): lead for lead in LEADS}


def fit_lead(values: np.ndarray | None, n_rows: int) -> np.ndarray:
    """A lead prediction made safe for submission: finite, exactly `n_rows` long.

    Deterministic repair, in this order: NaN/inf gaps are filled by linear interpolation between the
    finite neighbours (ends hold the nearest finite value); a wrong length is resampled linearly with
    time-aligned starts (target row j reads source position j * len / n_rows, as both are sampled at
    t = i / fs from t = 0), the end held; a missing lead or one with no finite value becomes zeros.
    """
    if values is None:
        return np.zeros(n_rows)
    arr = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(arr)
    if not finite.any():
        return np.zeros(n_rows)
    idx = np.arange(arr.size)
    if not finite.all():
        arr = np.interp(idx, idx[finite], arr[finite])
    if arr.size != n_rows:
        arr = np.interp(np.arange(n_rows) * (arr.size / n_rows), idx, arr)
    return np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)


def _lookup(predictions: Mapping, image: str) -> Mapping[str, np.ndarray]:
    if image in predictions:
        return predictions[image]
    if image.isdigit() and int(image) in predictions:
        return predictions[int(image)]
    return {}


def build_submission(test_csv: pd.DataFrame, predictions: Mapping[str, Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """The submission frame (columns id, value) for every (id, lead) row of test.csv, in its order.

    `predictions` maps image id (str; an int key is accepted too) to lead name to signal; each lead is
    made safe by `fit_lead` (absent images or leads become zeros).
    """
    ids: list[str] = []
    values: list[np.ndarray] = []
    for row in test_csv.itertuples(index=False):
        image, lead, n = str(row.id), str(row.lead), int(row.number_of_rows)
        ids.extend(f"{image}_{r}_{lead}" for r in range(n))
        values.append(fit_lead(_lookup(predictions, image).get(lead), n))
    value = np.concatenate(values) if values else np.zeros(0)
    return pd.DataFrame({"id": pd.Series(ids, dtype=object), "value": value})


def validate_submission(sub: pd.DataFrame, sample: pd.DataFrame, path: str | Path | None = None) -> None:
    """Raise PipelineError unless `sub` has the sample's ids in the sample's order and finite numeric values.

    `path`, when given, is the file the submission is meant for and is named in the message.
    """
    for col in ("id", "value"):
        if col not in sub.columns:
            raise PipelineError(f"submission has no '{col}' column (columns: {', '.join(map(str, sub.columns))})", path)
    if len(sub) != len(sample):
        raise PipelineError(f"submission has {len(sub)} rows, sample_submission has {len(sample)}", path)
    got = sub["id"].astype(str).to_numpy()
    want = sample["id"].astype(str).to_numpy()
    differ = got != want
    if differ.any():
        i = int(np.argmax(differ))
        raise PipelineError(
            f"submission ids differ from sample_submission at row {i}: {got[i]!r} instead of {want[i]!r}", path
        )
    if not pd.api.types.is_numeric_dtype(sub["value"]) or pd.api.types.is_bool_dtype(sub["value"]):
        raise PipelineError(f"submission values are not numeric (dtype {sub['value'].dtype})", path)
    values = sub["value"].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise PipelineError(
            f"submission has {int(bad.sum())} NaN or inf values, first at id {got[int(np.argmax(bad))]}", path
        )


def write_submission(sub: pd.DataFrame, path: str | Path, sample: pd.DataFrame) -> Path:
    """Validate `sub` against `sample`, then write it as CSV atomically with a fixed float format.

    Values are rounded to 5 decimals (0.01 uV, far below any digitizer error) and -0 is written as 0,
    so the same submission always gives the same bytes.
    """
    path = Path(path)
    validate_submission(sub, sample, path)
    values = np.round(sub["value"].to_numpy(dtype=np.float64), DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    out = pd.DataFrame({"id": sub["id"].astype(str).to_numpy(), "value": values})
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return path


def _read_table(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise PipelineError(f"{what} not found", path)
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"id": str})
    except Exception as exc:  # parquet/csv readers raise many types for corrupt files
        raise PipelineError(f"unreadable {what} ({type(exc).__name__}: {exc})", path) from exc


def read_test_csv(path: str | Path) -> pd.DataFrame:
    """Read test.csv (id, lead, fs, number_of_rows), one row per image and lead, keeping its order.

    ids stay strings; lead names are matched case-insensitively and normalised to layout.LEADS.
    Missing columns, unknown leads, non-positive or non-integer fs / number_of_rows and repeated
    (id, lead) rows raise PipelineError naming the file.
    """
    path = Path(path)
    df = _read_table(path, "test.csv")
    missing = [c for c in TEST_COLUMNS if c not in df.columns]
    if missing:
        raise PipelineError(f"missing columns {', '.join(missing)} (need {', '.join(TEST_COLUMNS)})", path)
    if df.empty:
        raise PipelineError("no rows", path)
    leads = df["lead"].astype(str).str.strip().str.lower().map(_LEAD_BY_LOWER)
    if leads.isna().any():
        unknown = sorted(set(df["lead"].astype(str)[leads.isna()]))
        raise PipelineError(f"unknown lead names {', '.join(unknown)} (expected {', '.join(LEADS)})", path)
    out = pd.DataFrame({"id": df["id"].astype(str).str.strip(), "lead": leads})
    for col in ("fs", "number_of_rows"):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | (num <= 0) | (num % 1 != 0)
        if bad.any():
            raise PipelineError(f"{col} must be a positive integer (row {int(np.argmax(bad.to_numpy()))})", path)
        out[col] = num.astype(np.int64)
    dup = out.duplicated(["id", "lead"])
    if dup.any():
        r = out[dup].iloc[0]
        raise PipelineError(f"image {r['id']} lead {r['lead']} appears more than once", path)
    return out


def read_sample_submission(path: str | Path) -> pd.DataFrame:
    """Read sample_submission (.parquet, else CSV) with its id column as strings; needs columns id, value."""
    path = Path(path)
    df = _read_table(path, "sample submission")
    missing = [c for c in ("id", "value") if c not in df.columns]
    if missing:
        raise PipelineError(f"missing columns {', '.join(missing)} (need id, value)", path)
    return df.assign(id=df["id"].astype(str))
