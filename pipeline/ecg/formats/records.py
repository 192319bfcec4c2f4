"""12-lead records in and out: WFDB records and the competition's record CSVs, as DataFrames in the
competition's lead order (lead names matched case-insensitively)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.ecg.layout import DURATION_S, LEADS, lead_window

_CANONICAL = {name.lower(): name for name in LEADS}


def read_wfdb(path: str | Path) -> tuple[pd.DataFrame, int]:
    """A WFDB record (path without extension) as (DataFrame with columns LEADS in mV, fs)."""
    import wfdb  # deferred on purpose: heavy optional dependency

    path = Path(path)
    try:
        rec = wfdb.rdrecord(str(path.with_suffix("") if path.suffix in (".hea", ".dat", ".mat") else path))
    except Exception as err:  # wfdb raises many types for unreadable headers and data
        raise PipelineError(f"unreadable WFDB record ({type(err).__name__}: {err})", path) from err
    names = [_CANONICAL.get(n.lower()) for n in rec.sig_name]
    missing = [lead for lead in LEADS if lead not in names]
    if missing:
        raise PipelineError(f"WFDB record lacks leads {', '.join(missing)}", path)
    signal = np.asarray(rec.p_signal, dtype=float)
    frame = pd.DataFrame({lead: signal[:, names.index(lead)] for lead in LEADS})
    if not np.isfinite(frame.to_numpy()).all():
        raise PipelineError("WFDB record has NaN or inf samples", path)
    return frame, int(round(rec.fs))


def to_competition_record(full: pd.DataFrame, fs: int, start: int = 0,
                          leads_from_start: bool = False) -> pd.DataFrame:
    """The first 10 s from `start` as a train-CSV-like record: lead II full, others only in their window.

    leads_from_start: each lead's window holds the record's samples from `start` on, not from the
    window's own time (how some renderers print every lead's first 2.5 s in every column).
    """
    n = int(round(fs * DURATION_S))
    if len(full) < start + n:
        raise ValueError(f"record has {len(full)} samples, needs {start + n}")
    out = pd.DataFrame(np.nan, index=range(n), columns=list(LEADS))
    for lead in LEADS:
        a, b = lead_window(fs, lead)
        src = start if (leads_from_start and lead != "II") else start + a
        out.loc[a:b - 1, lead] = full[lead].to_numpy()[src:src + (b - a)]
    return out


def read_record_csv(path: str | Path) -> pd.DataFrame:
    """Read a 12-lead record CSV (as train/<id>/<id>.csv) into float columns ordered as LEADS.

    Lead names match case-insensitively and are normalised; other columns are dropped. Missing,
    repeated or non-numeric leads, inf values and empty files raise PipelineError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise PipelineError("file not found", path)
    try:
        raw = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise PipelineError(f"unreadable CSV ({type(exc).__name__}: {exc})", path) from exc
    found: dict[str, str] = {}
    for col in raw.columns:
        lead = _CANONICAL.get(str(col).strip().lower())
        if lead is None:
            continue
        if lead in found:
            raise PipelineError(f"lead {lead} appears twice (columns {found[lead]!r} and {col!r})", path)
        found[lead] = col
    missing = [lead for lead in LEADS if lead not in found]
    if missing:
        others = [str(c) for c in raw.columns if c not in found.values()]
        hint = f"; other columns: {', '.join(others)}" if others else ""
        raise PipelineError(f"missing lead columns {', '.join(missing)}{hint}", path)
    if raw.empty:
        raise PipelineError("no rows", path)
    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    for lead in LEADS:
        col = raw[found[lead]]
        values = pd.to_numeric(col, errors="coerce")
        bad = values.isna() & col.notna()
        if bad.any():
            raise PipelineError(f"lead {lead} has non-numeric values (row {int(np.argmax(bad.to_numpy()))})", path)
        arr = values.to_numpy(dtype=np.float64)
        if np.isinf(arr).any():
            raise PipelineError(f"lead {lead} has inf values (row {int(np.argmax(np.isinf(arr)))})", path)
        out[lead] = arr
    return out
