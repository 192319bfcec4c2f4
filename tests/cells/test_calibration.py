import numpy as np

from pipeline.cells.calibration import (
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_bins,
    scale_temperature,
)


def _overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated 3-class probabilities, then sharpened by T = 1/3 (an overconfident model)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.0, (n, 3))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    return scale_temperature(p, 1 / 3), y


def test_temperature_recovers_the_sharpening_and_lowers_ece() -> None:
    proba, y = _overconfident()
    t = fit_temperature(proba, y)
    assert 2.5 < t < 3.6
    scaled = scale_temperature(proba, t)
    assert expected_calibration_error(scaled, y) < 0.5 * expected_calibration_error(proba, y)
    assert nll(scaled, y) < nll(proba, y)
    assert (scaled.argmax(1) == proba.argmax(1)).all()  # temperature never changes the prediction


def test_ece_of_perfect_and_wrong_predictions() -> None:
    y = np.array([0, 1, 1, 0])
    assert expected_calibration_error(np.eye(2)[y], y) == 0.0
    assert abs(expected_calibration_error(np.eye(2)[1 - y], y) - 1.0) < 1e-12
    bins = reliability_bins(np.eye(2)[y] * 0.8 + 0.1, y, n_bins=10)
    assert bins["n"].sum() == 4 and bins.loc[bins["n"] > 0, "confidence"].round(6).tolist() == [0.9]
