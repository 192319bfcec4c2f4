"""What the digitizer returns for a page: `Digitized`, and the flat fallback of a page it cannot read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.ecg.digitizer.flags import failed
from pipeline.ecg.layout import DURATION_S, LEADS, lead_window, n_samples


@dataclass(frozen=True)
class Digitized:
    """One page's result: each lead's window values (length n_samples(fs, lead)), diagnostics, and the
    per-row pixel paths ((n, 2) x, y in the input image's pixels, NaN in gaps) keyed 'row@<r>'."""

    fs: int
    signals: dict[str, np.ndarray]
    diagnostics: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, np.ndarray] = field(default_factory=dict)

    def to_record(self) -> pd.DataFrame:
        """A train-CSV-like frame: fs*10 rows, 12 lead columns, NaN outside each lead's window."""
        n = int(round(self.fs * DURATION_S))
        out = pd.DataFrame(np.nan, index=range(n), columns=list(LEADS))
        for lead in LEADS:
            a, b = lead_window(self.fs, lead)
            values = self.signals.get(lead)
            if values is not None and len(values) == b - a:
                out.loc[a:b - 1, lead] = np.asarray(values, dtype=np.float64)
        return out

    @property
    def flags(self) -> list[str]:
        return list(self.diagnostics.get("flags", []))


def zero_result(fs: int, reason: object) -> Digitized:
    """All-zero leads (a valid, flat prediction) flagged 'failed: <reason>'."""
    signals = {lead: np.zeros(n_samples(fs, lead)) for lead in LEADS}
    return Digitized(fs=int(fs), signals=signals, diagnostics={"flags": [failed(reason)]}, paths={})
