"""Where a lead's error comes from: time phase, gain, offset, and how much of it sits on steep samples
and on the window's ends.

For a true lead and its prediction (after the metric's own whole-sample alignment and offset removal):
- `lag`: the whole-sample shift the metric chose; `phase`: the sub-sample rest, from the peak of the
  cross-correlation refined by a parabola (samples, negative when the prediction runs late; the metric
  cannot absorb it, and a 250 Hz page feels it most);
- `gain`: the least-squares scale g in truth ~ g * prediction (1: right size; below: read too large);
- `offset`: mean(prediction - truth) before the metric removes it (mV);
- `steep_share`: the share of the error energy on the steepest 10 % of the true samples (QRS flanks):
  far above 0.1, the error is mostly timing or sharp peaks; near 0.1, it is spread evenly;
- `edge_share`: the share of the error energy on the first and last EDGE_SAMPLES samples of the lead's
  window, beside the calibration pulse or a separator, where the trace is hidden under them or cut
  short (a 2.5 s window at 500 Hz holds 1 % of its samples there).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from pipeline.ecg.evaluation.metric import MAX_SHIFT_S, align, max_lag

STEEP_FRACTION = 0.1
EDGE_SAMPLES = 6
SUMMARY_PARTS = ("abs_phase", "gain", "offset", "steep_share", "edge_share")
"""The parts summarised over many leads (`median_parts`): the phase by its size, the lag left out."""


@dataclass(frozen=True)
class LeadError:
    lag: int
    phase: float
    gain: float
    offset: float
    steep_share: float
    edge_share: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _xcorr(a: np.ndarray, b: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """sum_i a[i] * b[i - k] for every lag k (b shifted right by k)."""
    out = np.empty(len(lags))
    n = len(a)
    for j, k in enumerate(lags):
        lo, hi = max(0, k), min(n, len(b) + k)
        out[j] = float(np.dot(a[lo:hi], b[lo - k:hi - k])) if hi > lo else -np.inf
    return out


def decompose(truth: np.ndarray, pred: np.ndarray, fs: float) -> LeadError | None:
    """The error parts of one lead (truth finite; pred may hold NaN); None when too little is predicted."""
    truth = np.asarray(truth, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    ok = np.isfinite(pred)
    if ok.sum() < 8 or len(truth) < 8:
        return None
    filled = np.where(ok, pred, np.nanmean(pred))
    t_c, p_c = truth - truth.mean(), filled - filled.mean()
    limit = max_lag(fs, MAX_SHIFT_S)
    lags = np.arange(-limit, limit + 1)
    corr = _xcorr(t_c, p_c, lags)
    i = int(np.argmax(corr))
    phase = 0.0
    if 0 < i < len(lags) - 1:
        y0, y1, y2 = corr[i - 1], corr[i], corr[i + 1]
        denom = y0 - 2 * y1 + y2
        phase = float(0.5 * (y0 - y2) / denom) if denom < 0 else 0.0
    aligned = align(truth, pred, fs)
    valid = np.isfinite(aligned)
    a, t = aligned[valid], truth[valid]
    gain = float(np.dot(t - t.mean(), a - a.mean()) / max(np.dot(a - a.mean(), a - a.mean()), 1e-12))
    err = np.square(truth - np.nan_to_num(aligned, nan=0.0))
    slope = np.abs(np.gradient(truth))
    steep = slope >= np.quantile(slope, 1.0 - STEEP_FRACTION)
    edge = np.zeros(len(err), bool)
    edge[:EDGE_SAMPLES] = edge[-EDGE_SAMPLES:] = True
    total = err.sum()
    return LeadError(lag=int(lags[i]), phase=phase, gain=gain, offset=float(np.nanmean(pred[ok]) - truth[ok].mean()),
                     steep_share=float(err[steep].sum() / total) if total > 0 else 0.0,
                     edge_share=float(err[edge].sum() / total) if total > 0 else 0.0)


def median_parts(parts: pd.DataFrame, by: str) -> pd.DataFrame:
    """Medians of SUMMARY_PARTS per value of column `by` (in order of appearance) of a frame with one row
    of LeadError parts per lead."""
    return parts.assign(abs_phase=parts["phase"].abs()).groupby(by, sort=False)[list(SUMMARY_PARTS)].median()
