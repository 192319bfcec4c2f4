from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cells.circles.dataset import (
    class_share_map,
    class_share_maps,
    generate_folder,
    read_folder,
    visible_owner,
)
from pipeline.cells.circles.farmer_format import CircleLabel, FarmerAnnotation
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


def test_class_share_maps_count_the_visible_areas_of_real_samples(farmer_dir: Path) -> None:
    colours = ("Red", "Green", "Blue")
    table = read_folder(farmer_dir, colours=colours).head(8)
    paths = [farmer_dir / p for p in table["path"]]
    full = class_share_maps(paths, colours, 256, progress=False)
    assert full.shape == (8, 256, 256, 4) and set(np.unique(full)) <= {0, 255}
    assert (full.astype(int).sum(-1) == 255).all()  # every pixel belongs to exactly one owner
    exact = table[[f"area_{c}" for c in colours]].to_numpy()
    np.testing.assert_array_equal(full[..., :3].sum((1, 2)) // 255, exact)
    small = class_share_maps(paths, colours, 64, progress=False).astype(float) / 255
    np.testing.assert_allclose(small[..., :3].sum((1, 2)) * 16, exact, rtol=0.01, atol=8)  # area-averaged
    assert small[..., :3].sum((1, 2)).argmax(1).tolist() == [colours.index(c) for c in table["label"]]


def test_class_share_map_treats_unknown_colours_and_overlap_by_drawing_order() -> None:
    square = lambda y0, x0: np.array([[y, x0, x0 + 3] for y in range(y0, y0 + 4)])  # noqa: E731
    ann = FarmerAnnotation("t", 8, 8, (CircleLabel("Red", square(0, 0)), CircleLabel("Blue", square(2, 2)),
                                       CircleLabel("Cyan", square(4, 4))))
    owner = visible_owner(ann)
    assert owner[0, 0] == 0 and owner[3, 3] == 1 and owner[5, 5] == 2 and owner[7, 0] == -1
    shares = class_share_map(ann, ["Red", "Blue"], 8)
    assert shares[0, 0].tolist() == [255, 0, 0] and shares[3, 3].tolist() == [0, 255, 0]
    assert shares[5, 5].tolist() == [0, 0, 255]  # Cyan is not a class: it counts as background
    assert int(shares[..., 0].sum()) // 255 == 16 - 4  # Blue hides a 2x2 corner of Red
