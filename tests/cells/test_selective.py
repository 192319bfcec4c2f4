import numpy as np

from pipeline.cells.datasets import MARROW_CODES, MARROW_GROUPS
from pipeline.cells.selective import aurc, entropy, flag_auroc, group_proba, risk_coverage


def test_risk_coverage_rewards_knowing_when_you_are_wrong() -> None:
    correct = np.array([1, 1, 1, 0, 1, 0, 1, 0], dtype=bool)
    informed = np.where(correct, 0.9, 0.4)  # confidence low exactly on the errors
    coverage, risk = risk_coverage(informed, correct)
    assert coverage[-1] == 1.0 and risk[4] == 0.0 and abs(risk[-1] - 3 / 8) < 1e-12
    assert aurc(informed, correct) < aurc(-informed, correct)


def test_marrow_lineage_groups_and_entropy_flag() -> None:
    classes = tuple(MARROW_CODES)
    proba = np.full((3, 7), 0.01)
    proba[0, classes.index("BLA")] = proba[1, classes.index("NGS")] = 0.94
    proba[2] = 1 / 7
    gp, groups = group_proba(proba, classes, MARROW_GROUPS)
    assert groups == ["immature", "mature", "not identifiable"]
    assert np.allclose(gp.sum(1), proba.sum(1)) and gp[0].argmax() == 0 and gp[1].argmax() == 1
    assert entropy(proba)[2] > entropy(proba)[0]
    assert flag_auroc(entropy(proba), np.array([False, False, True])) == 1.0
    assert flag_auroc(entropy(proba), np.zeros(3, bool)) is None
