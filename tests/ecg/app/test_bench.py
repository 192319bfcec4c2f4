"""The bench's crumpled-print row: pages are made, read and scored (the numbers themselves are the bench's job)."""

from __future__ import annotations

from pipeline.ecg.app.bench import crumpled_rows
from pipeline.ecg.digitizer.digitize import DigitizeConfig


def test_crumpled_rows_score_every_config() -> None:
    rows = crumpled_rows({"classical": DigitizeConfig()}, n=2)
    assert len(rows) == 1
    measure, value, note = rows[0]
    assert measure == "SNR synthetic crumpled prints, classical" and value.endswith(" dB")
    assert -100.0 < float(value.split()[0]) < 100.0 and note.startswith("2 images, worst")
