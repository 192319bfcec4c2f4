import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.cells.circles.farmer_format import (
    CircleLabel,
    FarmerAnnotation,
    annotation_to_dict,
    format_annotation,
    list_samples,
    mask_to_runs,
    read_annotation,
    read_image,
    runs_to_mask,
    write_sample,
)
from pipeline.core.errors import PipelineError


def test_real_sample_is_read_and_rewritten_byte_for_byte(farmer_dir: Path) -> None:
    samples = list_samples(farmer_dir)
    assert len(samples) == 120
    for s in samples:
        ann = read_annotation(s.annotation_path)
        raw = s.annotation_path.read_bytes()
        assert format_annotation(ann).encode() == raw
        assert json.dumps(annotation_to_dict(ann), indent=2).encode() == raw
        for label, mask in zip(ann.labels, ann.masks()):
            np.testing.assert_array_equal(mask_to_runs(mask), label.runs)


def test_real_sample_keys_types_and_image(farmer_dir: Path) -> None:
    s = list_samples(farmer_dir)[0]
    obj = json.loads(s.annotation_path.read_text())
    assert list(obj) == ["name", "width", "height", "data_label_names", "labels"]
    assert list(obj["labels"][0]) == ["name", "pixels"]
    assert list(obj["labels"][0]["pixels"][0]) == ["y", "x_start", "x_end"]
    raw = cv2.imread(str(s.image_path), cv2.IMREAD_UNCHANGED)
    assert raw.shape == (256, 256, 4) and raw.dtype == np.uint8
    assert read_image(s.image_path).shape == (256, 256, 3)


def test_runs_round_trip_random_masks() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = rng.random((17, 23)) < 0.4  # many runs per row, runs at both borders
        runs = mask_to_runs(mask)
        assert (runs[:, 1] <= runs[:, 2]).all()
        np.testing.assert_array_equal(runs_to_mask(runs, 17, 23), mask)
    assert mask_to_runs(np.zeros((4, 4), bool)).shape == (0, 3)


def test_format_matches_json_dumps_for_edge_cases() -> None:
    ann = FarmerAnnotation('odd "name"', 5, 4, (CircleLabel("Red", np.zeros((0, 3), int)),
                                                  CircleLabel("Blue", np.array([[0, 1, 3], [3, 0, 4]]))))
    assert format_annotation(ann) == json.dumps(annotation_to_dict(ann), indent=2)
    empty = FarmerAnnotation("e", 5, 4, ())
    assert format_annotation(empty) == json.dumps(annotation_to_dict(empty), indent=2)


def test_write_then_read(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    ann = FarmerAnnotation("s_000", 8, 8, (CircleLabel("Green", np.array([[2, 1, 5]])),))
    sample = write_sample(tmp_path, rgb, ann)
    np.testing.assert_array_equal(read_image(sample.image_path), rgb)
    back = read_annotation(sample.annotation_path)
    assert back.name == "s_000" and back.data_label_names == ["Green"]
    np.testing.assert_array_equal(back.labels[0].runs, [[2, 1, 5]])
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize("obj, problem", [
    ({"name": "a", "width": 4, "height": 4}, "lacks the key 'labels'"),
    ({"name": "a", "width": 4, "height": 4, "labels": [{"name": "Red", "pixels": [{"y": 4, "x_start": 0,
                                                                               "x_end": 1}]}]}, "outside"),
    ({"name": "a", "width": 4, "height": 4, "labels": [{"name": "Red", "pixels": [{"y": 1}]}]}, "integer"),
    ({"name": "a", "width": 4, "height": 4, "data_label_names": ["Blue"], "labels": []}, "data_label_names"),
])
def test_bad_annotations_are_one_line_errors(tmp_path: Path, obj: dict, problem: str) -> None:
    path = tmp_path / "x_annotations.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(PipelineError, match=problem) as err:
        read_annotation(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no \\*_annotations.json"):
        list_samples(tmp_path)
    (tmp_path / "a_annotations.json").write_text("{}")
    with pytest.raises(PipelineError, match="no image a.png"):
        list_samples(tmp_path)
    (tmp_path / "a.png").write_bytes(b"not a png")
    with pytest.raises(PipelineError, match=r"a\.png: not a readable image"):
        read_image(tmp_path / "a.png")
    with pytest.raises(PipelineError, match="not valid JSON"):
        (tmp_path / "a_annotations.json").write_text("{")
        read_annotation(tmp_path / "a_annotations.json")
