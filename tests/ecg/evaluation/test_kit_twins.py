"""kit-twins: our renderer's kit-style pages of a kitreal folder's clean records, on a tiny fake folder."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import PipelineError
from pipeline.ecg.evaluation.kit_pages import write_kit_record
from pipeline.ecg.evaluation.kit_twins import make_kit_twins
from pipeline.ecg.layout import KIT_LAYOUT, LEADS

COLUMNS = ["name", "record", "variant", "fs", "width", "height", "image", "options"]


def _kitreal(root, fs=250):
    """A kitreal folder with one record and its clean and aug pages (their truth files stand-ins)."""
    t = np.arange(fs * 10) / fs
    uv = (800 * np.sin(2 * np.pi * 1.2 * t)[:, None] * np.linspace(0.2, 1.0, len(LEADS))).astype(np.int16)
    write_kit_record(uv, fs, "rec1", root / "records", 50, "Male")
    rows = []
    for variant, image in (("clean", "rec1-clean.png"), ("aug", "rec1-aug.jpg")):
        name = f"rec1-{variant}"
        (root / f"{name}.csv").write_text(f"I\n0.{len(variant)}\n")
        (root / f"{name}.json.gz").write_bytes(variant.encode())
        rows.append([name, "rec1", variant, fs, 2200, 1700, image, "{}"])
    pd.DataFrame(rows, columns=COLUMNS).to_csv(root / "index.csv", index=False)
    return root


def test_twins_are_drawn_for_the_clean_pages_keep_their_truth_and_are_reproducible(tmp_path):
    kitreal = _kitreal(tmp_path / "kitreal")
    out = tmp_path / "twins"
    assert make_kit_twins(kitreal, out) == 1
    index = pd.read_csv(out / "index.csv")
    assert index["name"].tolist() == ["rec1-clean"] and index["image"].tolist() == ["rec1-clean.png"]
    assert list(index.columns) == COLUMNS
    for suffix in (".csv", ".json.gz"):
        assert (out / f"rec1-clean{suffix}").read_bytes() == (kitreal / f"rec1-clean{suffix}").read_bytes()
    image = cv2.imread(str(out / "rec1-clean.png"), cv2.IMREAD_GRAYSCALE)
    assert image.shape == (KIT_LAYOUT.height, KIT_LAYOUT.width)
    # lead I's sine runs along the first row's baseline: ink there, not on blank paper between rows
    x = int(KIT_LAYOUT.x0 + 0.3 * KIT_LAYOUT.px_per_s)
    column = image[:, x]
    assert column[int(KIT_LAYOUT.baselines[0]) - 20:int(KIT_LAYOUT.baselines[0]) + 20].min() < 100
    stamp = (out / "rec1-clean.png").stat().st_mtime_ns
    make_kit_twins(kitreal, out)  # a rerun keeps what is there
    assert (out / "rec1-clean.png").stat().st_mtime_ns == stamp
    again = tmp_path / "again"
    make_kit_twins(kitreal, again)
    assert (again / "rec1-clean.png").read_bytes() == (out / "rec1-clean.png").read_bytes()


def test_a_folder_without_index_or_record_is_named(tmp_path):
    with pytest.raises(PipelineError, match="index.csv"):
        make_kit_twins(tmp_path, tmp_path / "twins")
    kitreal = _kitreal(tmp_path / "kitreal")
    for suffix in (".hea", ".dat"):
        (kitreal / "records" / f"rec1{suffix}").unlink()
    with pytest.raises(PipelineError) as err:
        make_kit_twins(kitreal, tmp_path / "twins")
    assert "rec1" in str(err.value)
    assert not (tmp_path / "twins" / "rec1-clean.png").exists()
