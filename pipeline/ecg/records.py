"""WFDB records as 12-lead DataFrames in the competition's lead order (names matched case-insensitively)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.ecg.layout import DURATION_S, LEADS, lead_window

_CANONICAL = {name.lower(): name for name in LEADS}


def read_wfdb(path: str | Path) -> tuple[pd.DataFrame, int]:
    """A WFDB record (path without extension) as (DataFrame with columns LEADS in mV, fs)."""
    import wfdb

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
