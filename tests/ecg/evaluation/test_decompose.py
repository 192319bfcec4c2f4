"""Error decomposition: a known sub-sample delay, gain and offset come back; steep-sample and edge error shares."""

from __future__ import annotations

import numpy as np

from pipeline.ecg.evaluation.decompose import EDGE_SAMPLES, decompose

FS = 250


def _ecg_like(t: np.ndarray) -> np.ndarray:
    """Narrow spikes (QRS-like) every 0.8 s on a slow wave."""
    beat = np.mod(t, 0.8) - 0.4
    return 1.2 * np.exp(-(beat / 0.012) ** 2) + 0.2 * np.sin(2 * np.pi * 0.3 * t)


def test_known_delay_gain_and_offset_come_back() -> None:
    t = np.arange(FS * 2.5) / FS
    truth = _ecg_like(t)
    pred = 0.8 * _ecg_like(t - 0.4 / FS) + 0.25  # 0.4 sample late, 20 % small, 0.25 mV high
    got = decompose(truth, pred, FS)
    assert got is not None
    assert got.lag == 0 and -0.55 < got.phase < -0.25  # the prediction lags: the peak sits at a negative k
    assert 1.15 < got.gain < 1.35 and abs(got.offset - 0.25) < 0.02
    assert got.steep_share > 0.5  # a timing error lives on the spikes' flanks


def test_a_perfect_prediction_has_no_error_parts() -> None:
    t = np.arange(FS * 2.5) / FS
    truth = _ecg_like(t)
    got = decompose(truth, truth.copy(), FS)
    assert got.lag == 0 and abs(got.phase) < 1e-6 and abs(got.gain - 1) < 1e-9 and got.steep_share == 0.0
    assert got.edge_share == 0.0
    assert decompose(truth, np.full_like(truth, np.nan), FS) is None


def test_an_error_at_the_windows_ends_is_told_from_one_inside_it() -> None:
    """A lead's start read off the calibration pulse (or its end cut short) puts the error on the
    window's first (last) samples; the same error mid-window does not count there."""
    t = np.arange(FS * 2.5) / FS
    truth = _ecg_like(t)
    start = truth.copy()
    start[:EDGE_SAMPLES] += np.linspace(0.6, 0.1, EDGE_SAMPLES)
    middle = truth.copy()
    middle[300:300 + EDGE_SAMPLES] += np.linspace(0.6, 0.1, EDGE_SAMPLES)
    assert decompose(truth, start, FS).edge_share > 0.95
    assert decompose(truth, middle, FS).edge_share < 0.05
