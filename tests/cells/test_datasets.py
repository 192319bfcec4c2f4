from pathlib import Path

import pytest

from pipeline.cells.datasets import SPECS, check_found, get_spec, scan
from pipeline.core.errors import PipelineError
from tests.cells import fixtures


def test_scan_reads_each_real_layout(tmp_path: Path) -> None:
    trees = {"breast": fixtures.breast_tree(tmp_path / "breast"), "all": fixtures.all_tree(tmp_path / "all"),
             "blood": fixtures.blood_tree(tmp_path / "blood"), "marrow": fixtures.marrow_tree(tmp_path / "marrow")}
    trees["leukemia"] = fixtures.leukemia_tree(tmp_path / "leukemia", trees["all"])
    for task, root in trees.items():
        spec = SPECS[task]
        table = scan(spec, root)
        check_found(spec, table, root)
        assert set(table["label"]) == set(spec.classes), task
        assert table["id"].is_unique and table["id"].is_monotonic_increasing
    assert not scan(SPECS["all"], trees["all"])["id"].str.startswith("Segmented").any()
    assert scan(SPECS["all"], trees["all"])["id"].str.endswith(".png").sum() == 8  # the real resized PNGs
    assert not scan(SPECS["breast"], trees["breast"])["id"].str.contains("brain").any()
    marrow = scan(SPECS["marrow"], trees["marrow"])
    assert set(marrow["given_split"]) == {"train", "val", "test"}
    assert (marrow.loc[marrow["id"].str.startswith("val/"), "given_split"] == "val").all()


def test_missing_or_wrong_layout_fails_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="not found"):
        scan(SPECS["blood"], tmp_path / "nope")
    (tmp_path / "x" / "Lymphocyte").mkdir(parents=True)
    fixtures.write_image(tmp_path / "x" / "Lymphocyte" / "a.png", fixtures.cell(0, 0))
    with pytest.raises(PipelineError, match="only one class"):
        check_found(SPECS["blood"], scan(SPECS["blood"], tmp_path / "x"), tmp_path / "x")
    with pytest.raises(PipelineError, match="expected class folders named breast_benign"):
        check_found(SPECS["breast"], scan(SPECS["breast"], tmp_path / "x"), tmp_path / "x")
    with pytest.raises(PipelineError, match="no cell dataset"):
        get_spec("lung")


def test_blood_accepts_folder_name_variants_and_nothing_else() -> None:
    spec = SPECS["blood"]
    assert spec.folder_class("Myeloblasts") == "myeloblast" and spec.folder_class("lymphocyte_256") == "lymphocyte"
    assert spec.folder_class("LYMPHOBLAST") == "lymphoblast" and spec.folder_class("Monocyte") is None
    assert SPECS["marrow"].folder_class("BLAST") is None  # exact names elsewhere
