"""The contact sheet: one PNG with every image type, deterministic."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from pipeline.ecg.synth.contact_sheet import contact_sheet


def test_contact_sheet_shows_every_type(tmp_path: Path) -> None:
    out = contact_sheet(tmp_path / "sheet" / "contact.png", seed=3)
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 600 and image.shape[1] > 1500
    assert image.std() > 20  # not blank
    again = contact_sheet(tmp_path / "again.png", seed=3, types=("0001", "0004"))
    assert cv2.imread(str(again)).shape[0] < image.shape[0]  # one row of panels instead of three
    with pytest.raises(ValueError, match="unknown"):
        contact_sheet(tmp_path / "bad.png", types=("0042",))
