import json
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from pipeline.cells.circles.coco import folder_to_coco, rle_encode, write_coco
from pipeline.cells.circles.dataset import generate_folder
from pipeline.cells.circles.farmer_format import list_samples, read_annotation
from pipeline.cells.circles.generate import CircleConfig


def _assert_round_trip(root: Path, coco_file: Path) -> int:
    """Every annotated pixel of every circle comes back from the COCO file through pycocotools."""
    api = COCO(str(coco_file))
    cats = {c["id"]: c["name"] for c in api.loadCats(api.getCatIds())}
    images = {img["file_name"]: img for img in api.loadImgs(api.getImgIds())}
    checked = 0
    for s in list_samples(root):
        ann = read_annotation(s.annotation_path)
        img = images[s.image_path.relative_to(root).as_posix()]
        assert (img["width"], img["height"]) == (ann.width, ann.height)
        instances = api.loadAnns(api.getAnnIds(imgIds=[img["id"]]))
        assert len(instances) == len(ann.labels)
        for inst, label, mask in zip(sorted(instances, key=lambda a: a["id"]), ann.labels, ann.masks()):
            assert cats[inst["category_id"]] == label.name
            decoded = api.annToMask(inst).astype(bool)
            np.testing.assert_array_equal(decoded, mask)
            assert inst["area"] == int(mask.sum()) == int(mask_utils.area(inst["segmentation"]))
            np.testing.assert_allclose(inst["bbox"], mask_utils.toBbox(inst["segmentation"]))
            assert inst["iscrowd"] == 0
            checked += 1
    return checked


def test_real_sample_exports_to_coco_losslessly(farmer_dir: Path, tmp_path: Path) -> None:
    coco = folder_to_coco(farmer_dir, progress=False)
    assert [c["name"] for c in coco["categories"]] == ["Blue", "Green", "Red"]
    assert len(coco["images"]) == 120
    out = tmp_path / "coco.json"
    write_coco(coco, out)
    assert _assert_round_trip(farmer_dir, out) == len(coco["annotations"]) == 814
    ids = [a["id"] for a in coco["annotations"]]
    assert ids == list(range(1, len(ids) + 1))


def test_generated_folder_exports_with_workers(tmp_path: Path) -> None:
    root = tmp_path / "gen"
    generate_folder(root, 6, 0, CircleConfig(max_overlap=2), progress=False)
    coco = folder_to_coco(root, categories=["Red", "Green", "Blue"], workers=2, progress=False)
    assert coco == folder_to_coco(root, categories=["Red", "Green", "Blue"], progress=False)
    write_coco(coco, tmp_path / "c.json")
    assert _assert_round_trip(root, tmp_path / "c.json") == len(coco["annotations"])
    json.loads((tmp_path / "c.json").read_text())


def test_rle_encode_is_json_ready() -> None:
    m = np.zeros((5, 7), bool)
    m[1:3, 2:6] = True
    rle = rle_encode(m)
    assert isinstance(rle["counts"], str) and rle["size"] == [5, 7]
    back = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    np.testing.assert_array_equal(back.astype(bool), m)
