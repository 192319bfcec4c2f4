from pathlib import Path

import pandas as pd
import pytest

from pipeline.cells.circles.dataset import generate_folder, read_folder
from pipeline.cells.circles.generate import CircleConfig
from pipeline.core.errors import PipelineError
from pipeline.core.io import sha256_tree

CFG = CircleConfig(count_range=(3, 5))


def test_worker_count_does_not_change_a_single_byte(tmp_path: Path) -> None:
    one = generate_folder(tmp_path / "w1", 12, 5, CFG, workers=1, chunk=4, progress=False)
    two = generate_folder(tmp_path / "w2", 12, 5, CFG, workers=2, chunk=4, progress=False)
    pd.testing.assert_frame_equal(one, two)
    assert sha256_tree(tmp_path / "w1") == sha256_tree(tmp_path / "w2")
    assert len(list((tmp_path / "w1").glob("*.png"))) == 12
    assert (tmp_path / "w1" / "labels.csv").is_file()


def test_generated_labels_match_the_reader(tmp_path: Path) -> None:
    made = generate_folder(tmp_path, 10, 1, CFG, workers=1, prefix="proto_cells_train", progress=False)
    assert made["name"].iloc[0] == "proto_cells_train_000"
    read = read_folder(tmp_path, colours=CFG.colours)
    pd.testing.assert_frame_equal(made, read)


def test_resume_keeps_finished_samples_and_refuses_other_settings(tmp_path: Path) -> None:
    generate_folder(tmp_path, 6, 0, CFG, progress=False)
    first = tmp_path / "circles_000.png"
    stamp = first.stat().st_mtime_ns
    first_json = tmp_path / "circles_005_annotations.json"
    first_json.unlink()  # an interrupted sample is redone
    generate_folder(tmp_path, 8, 0, CFG, progress=False)
    assert first.stat().st_mtime_ns == stamp and first_json.is_file()
    with pytest.raises(PipelineError, match="other settings"):
        generate_folder(tmp_path, 8, 1, CFG, progress=False)
    generate_folder(tmp_path, 3, 1, CFG, clean=True, progress=False)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["circles_000.png", "circles_001.png",
                                                              "circles_002.png"]


def test_read_real_circlefarmer_folder(farmer_dir: Path) -> None:
    table = read_folder(farmer_dir)
    assert len(table) == 120
    assert set(table["label"]) <= {"Red", "Green", "Blue"}
    assert table["path"].iloc[0].startswith("testing/") and table["path"].iloc[-1].startswith("training/")
    assert table["n_circles"].between(4, 10).all()
    # visible area of the winner is the max of the three
    areas = table[["area_Blue", "area_Green", "area_Red"]].to_numpy()
    assert (areas.max(1) == table.apply(lambda r: r[f"area_{r['label']}"], axis=1)).all()


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="need n >= 1"):
        generate_folder(tmp_path, 0, 0, CFG, progress=False)
