import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cells.circles import stages
from pipeline.cli import main
from pipeline.core.manifest import manifest_path

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` leaves it out

TINY = {"n_images": 60, "epochs": 2, "shift_n": 4, "workers": 1, "model": "test_efficientnet", "image_size": 32,
        "batch_size": 16}


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DATA", "WORK", "SUBMISSIONS"):
        monkeypatch.setenv(f"PIPELINE_{name}", str(tmp_path / name.lower()))
    return tmp_path


def _args(force: bool = False) -> argparse.Namespace:
    return argparse.Namespace(force=force, **TINY)


def test_stages_end_to_end(roots: Path, capsys: pytest.CaptureFixture) -> None:
    stages.stage3(_args())  # runs stage0 and stage1 first: their outputs are missing
    work = roots / "work" / "circles"
    index = pd.read_csv(work / "index.csv")
    splits = pd.read_csv(work / "splits.csv")
    assert {"id", "path", "label", "margin", "n_circles"} <= set(index.columns)
    assert len(index) == 60 and set(splits["split"]) == {"train", "val", "test"}
    assert (roots / "data" / "circles" / index["path"].iloc[0]).is_file()
    assert {p.name for p in (work / "model").iterdir()} >= {"checkpoint.pt", "metrics.json", "training_curve.png"}
    report = work / "report"
    metrics = json.loads((report / "metrics.json").read_text())
    assert 0 <= metrics["test"]["accuracy"] <= 1 and "knn_accuracy" in metrics["test"]
    assert metrics["circlefarmer_sample"]["n"] > 100  # the shared real sample is scored too
    shifts = pd.read_csv(report / "shift_tests.csv")
    assert set(shifts["factor"]) == {"radius", "colour noise", "alpha", "position", "overlap", "count", "background"}
    assert shifts.groupby("factor")["in_training"].sum().eq(1).all()
    for name in ("confusion_val.png", "confusion_test.png", "shift_tests.png"):
        assert (report / name).read_bytes()[:4] == b"\x89PNG"

    stages.stage2(_args())
    sub = roots / "submissions" / "circles.csv"
    text = sub.read_text()
    table = pd.read_csv(sub)
    assert list(table.columns) == ["id", "predicted", "prob_Red", "prob_Green", "prob_Blue"]
    assert set(table["id"]) == set(splits.loc[splits["split"] == "test", "id"])
    assert (table[["prob_Red", "prob_Green", "prob_Blue"]].sum(1) - 1).abs().max() < 1e-5
    assert all(len(v.split(".")[1]) == 6 for v in text.splitlines()[1].split(",")[2:])  # fixed float format

    capsys.readouterr()
    for stage in (stages.stage0, stages.stage1, stages.stage2, stages.stage3):
        stage(_args())
    assert capsys.readouterr().out.count("skipped") == 4  # unchanged: nothing reruns

    first = sub.read_bytes()
    stages.stage2(_args(force=True))  # same model, same bytes
    assert sub.read_bytes() == first
    assert json.loads(manifest_path("circles", "stage2").read_text())["results"]["rows"] == len(table)


def test_generate_and_coco_commands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "gen"
    assert main(["circles", "generate", "--out", str(out), "--n", "5", "--seed", "3", "--workers", "1",
                 "--radius", "10", "20", "--colours", "Red,Cyan", "--max-overlap", "2"]) == 0
    assert len(list(out.glob("*_annotations.json"))) == 5
    settings = json.loads((out / "generator.json").read_text())
    assert settings["config"]["radius_range"] == [10.0, 20.0] and settings["config"]["colours"] == ["Red", "Cyan"]
    assert main(["circles", "coco", str(out), "--out", str(tmp_path / "c.json")]) == 0
    coco = json.loads((tmp_path / "c.json").read_text())
    assert len(coco["images"]) == 5 and {c["name"] for c in coco["categories"]} <= {"Red", "Cyan"}
    assert main(["circles", "read", str(out)]) == 0
    assert "5 samples" in capsys.readouterr().out
    assert main(["circles", "generate", "--out", str(out), "--n", "5", "--seed", "4", "--workers", "1"]) == 1
    assert "other settings" in capsys.readouterr().err
    assert main(["circles", "generate", "--out", str(tmp_path / "x"), "--n", "2", "--colours", "Pink"]) == 1
