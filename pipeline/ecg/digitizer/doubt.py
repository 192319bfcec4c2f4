"""How much to doubt a page's reading, from what the digitizer itself can see (no truth needed).

Four parts, each in [0, 1] (0: nothing doubtful), and the doubt score is their mean:
- `einthoven`: the limb leads as traced (before the Einthoven repair) break I + III = II,
  II (row 1) = II (rhythm strip) and aVR + aVL + aVF = 0 by this fraction of their size;
- `ink`: the share of the leads' samples not traced over ink (1 - mean trace confidence);
- `coverage`: the share of each row's columns without ink along its path (1 - mean row coverage);
- `calibration`: the grid's two axes disagree on px/mm (10 % disagreement or no grid at all: 1).
The parts are weighted alike: nothing here was fitted to pages with known scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pipeline.ecg.layout import RHYTHM_LEAD, lead_window


def _centred(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x - x.mean() if len(x) else x  # the mean, not the median: the relations are linear


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def relation_residual(terms: Sequence[np.ndarray], signs: Sequence[float]) -> float | None:
    """rms(sum of sign * term) / sum of the terms' rms, offsets removed: 0 when the relation holds, about
    1 when the terms are unrelated; None when a term is missing or the lengths differ."""
    if any(t is None for t in terms) or len({len(t) for t in terms}) != 1 or len(terms[0]) == 0:
        return None
    centred = [_centred(t) for t in terms]
    size = sum(_rms(t) for t in centred)
    if size <= 1e-9:
        return None
    return _rms(sum(s * t for s, t in zip(signs, centred))) / size


def einthoven_residual(signals: Mapping[str, np.ndarray], fs: int) -> float:
    """Mean residual of the limb-lead relations that can be checked on this page (0 when none can)."""
    ii = signals.get(RHYTHM_LEAD)
    a1, b1 = lead_window(fs, "I")
    a2, b2 = lead_window(fs, "aVR")
    checks = [
        relation_residual([signals.get("I"), signals.get("III"), None if ii is None else ii[a1:b1]], [1, 1, -1]),
        relation_residual([signals.get("II_short"), None if ii is None else ii[a1:b1]], [1, -1]),
        relation_residual([signals.get("aVR"), signals.get("aVL"), signals.get("aVF")], [1, 1, 1]),
    ]
    found = [c for c in checks if c is not None]
    return float(np.clip(np.mean(found), 0.0, 1.0)) if found else 0.0


def calibration_doubt(grid_found: bool, axis_periods: Sequence[float]) -> float:
    """1 without a grid; else the relative disagreement of the two axes' grid periods, times 10, at most 1."""
    if not grid_found:
        return 1.0
    if len(axis_periods) != 2 or min(axis_periods) <= 0:
        return 0.0
    return float(min(1.0, 10.0 * abs(axis_periods[0] / axis_periods[1] - 1.0)))


def doubt_score(signals: Mapping[str, np.ndarray], quality: Mapping[str, float], row_coverage: Sequence[float],
                grid_found: bool, axis_periods: Sequence[float], fs: int) -> tuple[float, dict[str, float]]:
    """(the doubt score, its parts); `signals` are the leads as traced, before the Einthoven repair."""
    parts = {
        "einthoven": einthoven_residual(signals, fs),
        "ink": float(np.clip(1.0 - np.mean(list(quality.values())), 0.0, 1.0)) if quality else 1.0,
        "coverage": float(np.clip(1.0 - np.mean(row_coverage), 0.0, 1.0)) if len(row_coverage) else 1.0,
        "calibration": calibration_doubt(grid_found, axis_periods),
    }
    return float(np.mean(list(parts.values()))), parts
