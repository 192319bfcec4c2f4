"""The bench's crumpled-print row and the own-seed synthetic table: pages are made, read and scored (the
numbers themselves are the bench's job)."""

from __future__ import annotations

import pytest

from pipeline.core.errors import PipelineError
from pipeline.ecg.app.bench import crumpled_rows, synthetic_table
from pipeline.ecg.digitizer.digitize import DigitizeConfig


def test_crumpled_rows_score_every_config() -> None:
    rows = crumpled_rows({"classical": DigitizeConfig()}, n=2)
    assert len(rows) == 1
    measure, value, note = rows[0]
    assert measure == "SNR synthetic crumpled prints, classical" and value.endswith(" dB")
    assert -100.0 < float(value.split()[0]) < 100.0 and note.startswith("2 images, worst")


def test_synthetic_table_scores_the_types_asked_for_and_refuses_unknown_ones() -> None:
    table = synthetic_table(seed=7, types=("0001",), n_per_type=1)
    assert list(table["measure"]) == ["SNR type 0001, default", "SNR synthetic, all types, default"]
    assert table["value"].iloc[0] == table["value"].iloc[1] and table["value"].iloc[0].endswith(" dB")
    with pytest.raises(PipelineError, match="0002"):
        synthetic_table(seed=7, types=("0002",))
