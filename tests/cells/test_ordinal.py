import numpy as np

from pipeline.cells.ordinal import ordinal_metrics


def test_adjacent_errors_cost_less_than_far_ones() -> None:
    y = np.array([0, 1, 2, 3] * 10)
    near = np.clip(y + np.array([1, 0, 0, -1] * 10), 0, 3)  # some one-stage errors
    far = np.where(y == 0, 3, y)  # benign called pro
    m_near, m_far = ordinal_metrics(y, near, 4), ordinal_metrics(y, far, 4)
    assert m_near["quadratic_weighted_kappa"] > m_far["quadratic_weighted_kappa"]
    assert m_near["errors_one_stage_off"] == 1.0 and m_far["errors_one_stage_off"] == 0.0
    assert m_near["adjacent_confusion"]["0-1"] == {"n": 20, "swapped": 10, "rate": 0.5}
    assert m_near["adjacent_confusion"]["1-2"]["swapped"] == 0
    perfect = ordinal_metrics(y, y, 4)
    assert perfect["quadratic_weighted_kappa"] == 1.0 and perfect["mean_abs_stage_error"] == 0.0
