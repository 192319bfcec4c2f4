"""Held-out real records rendered by another tool: truth assembly and a floor on the digitizer's SNR."""

import numpy as np
import pytest

from pipeline.ecg.evaluation.heldout import HELDOUT_DIR, paired_images
from pipeline.ecg.layout import LEADS, lead_window

pytestmark = pytest.mark.skipif(not (HELDOUT_DIR / "paired_images").exists(),
                                reason="../shared/heldout is not beside this checkout")


def test_truth_has_competition_windows() -> None:
    pairs = {p.image.stem: p for p in paired_images()}
    assert set(pairs) == {"00005_hr-0", "00666_hr-0", "JS00001-0"}
    for pair in pairs.values():
        assert len(pair.truth) == pair.fs * 10
        for lead in LEADS:
            a, b = lead_window(pair.fs, lead)
            column = pair.truth[lead].to_numpy()
            assert np.isfinite(column[a:b]).all() and np.isnan(np.delete(column, np.s_[a:b])).all()


def test_digitizer_reaches_target_on_a_heldout_page() -> None:
    from pipeline.ecg.evaluation.heldout import evaluate_heldout

    table = evaluate_heldout().set_index("id")
    assert table.loc["00005_hr-0", "snr_db"] >= 12.0
    assert table.loc["00666_hr-0", "snr_db"] >= 12.0
