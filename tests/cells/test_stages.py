"""End to end on tiny trees in each dataset's real layout: `make stage2 TASK=...`, then stage3's report."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cells import stages
from pipeline.cells.datasets import SPECS
from pipeline.cells.dedupe import parse_views, view_pairs
from pipeline.cells.report import REPORT_FILES
from pipeline.cells.split import crossing_groups
from pipeline.cli import main
from pipeline.core.paths import PROJECT_ROOT
from tests.cells import fixtures
from tests.core.test_kaggle import calls, fake_cli, login, no_credentials  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` leaves it out

TINY = ["--epochs", "2", "--image-size", "32", "--model", "test_resnet"]
BUILD = {"breast": fixtures.breast_tree, "blood": fixtures.blood_tree, "marrow": fixtures.marrow_tree,
         "all": fixtures.all_tree}


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DATA", "WORK", "SUBMISSIONS"):
        monkeypatch.setenv(f"PIPELINE_{name}", str(tmp_path / name.lower()))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle"))  # never pick up real credentials
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _ns(task: str, **kw: object) -> argparse.Namespace:
    return argparse.Namespace(task_name=task, force=False, epochs=2, image_size=32, model="test_resnet",
                              report_n=12, **kw)


def _make_stage2(task: str) -> subprocess.CompletedProcess:
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    cmd = ["make", "-s", "-C", str(PROJECT_ROOT), "stage2", f"TASK={task}", f"PY={sys.executable}", "STAMP=",
           f"ARGS={' '.join(TINY)}"]
    return subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), timeout=300)


def _tables(work: Path) -> dict[str, pd.DataFrame]:
    return {n: pd.read_csv(work / f"{n}.csv", dtype=str, keep_default_na=False)
            for n in ("index", "splits", "duplicates", "unreadable")}


def _assert_no_near_duplicate_crosses(merged: pd.DataFrame, max_distance: int = 4) -> None:
    """Recompute every near-duplicate pair from the hashes in index.csv, independent of its group column."""
    views = np.array([parse_views(v) for v in merged["phash_views"]], dtype=np.uint64)
    pairs = view_pairs(views[:, 0], views, max_distance)
    split = merged["split"].to_numpy()
    assert (split[pairs[:, 0]] == split[pairs[:, 1]]).all()
    assert crossing_groups(merged["group"], merged["split"]) == []


def _check_report(task: str, report: Path) -> dict:
    for name in REPORT_FILES["common"] + REPORT_FILES.get(task, ()):
        assert (report / name).is_file(), name
        if name.endswith(".png"):
            assert (report / name).read_bytes()[:4] == b"\x89PNG"
    m = json.loads((report / "metrics.json").read_text())
    classes = list(SPECS[task].classes)
    assert list(m["test"]["per_class"]) == classes and len(m["test"]["confusion"]) == len(classes)
    assert 0 <= m["test"]["balanced_accuracy"] <= 1 and m["calibration"]["temperature"] > 0
    assert m["calibration"]["accuracy_unchanged"]
    rob = pd.read_csv(report / "robustness.csv")
    assert set(rob["corruption"]) == {"blur", "jpeg", "noise"} and rob["n"].gt(0).all()
    return m


@pytest.mark.parametrize("task", ["breast", "blood", "all", "marrow"])
def test_make_stage2_then_report(task: str, roots: Path) -> None:
    BUILD[task](roots / "data" / task)
    done = _make_stage2(task)
    assert done.returncode == 0, done.stderr[-2000:]
    work = roots / "work" / task
    t = _tables(work)
    merged = t["index"].merge(t["splits"], on="id")
    _assert_no_near_duplicate_crosses(merged)
    assert t["unreadable"]["id"].str.contains("broken|99998").any()
    assert not merged["id"].str.contains("broken|99998").any()
    sub = pd.read_csv(roots / "submissions" / f"{task}.csv")
    classes = list(SPECS[task].classes)
    assert list(sub.columns) == ["id", "predicted"] + [f"prob_{c}" for c in classes]
    assert sorted(sub["id"]) == sorted(merged.loc[merged["split"] == "test", "id"])
    assert (sub[[f"prob_{c}" for c in classes]].sum(1) - 1).abs().max() < 1e-5
    if task == "marrow":  # the given splits are kept; the train copy of a test image is dropped
        assert (merged["split"] == merged["given_split"]).all()
        assert t["duplicates"].loc[t["duplicates"]["id"] == "train/BLA/BLA_99999.jpg", "reason"].str.contains(
            "given test split").all() and "train/BLA/BLA_99999.jpg" not in set(merged["id"])
    else:
        reasons = dict(zip(t["duplicates"]["id"].str.rsplit("/", n=1).str[-1] + t["duplicates"]["label"],
                           t["duplicates"]["reason"]))
        assert reasons[f"copy_of_first.{'png' if task == 'blood' else 'jpg'}{classes[0]}"] == "exact duplicate"
        assert sum("different labels" in r for r in t["duplicates"]["reason"]) == 3
        near = merged[merged["id"].str.contains("near_flip_of_first")].iloc[0]
        first = merged[merged["id"] == near["group"]].iloc[0]
        assert near["group"] != near["id"] and near["split"] == first["split"]
    if task == "breast":  # same model, same bytes
        first = (roots / "submissions" / "breast.csv").read_bytes()
        stages.STAGES["stage2"](argparse.Namespace(**{**vars(_ns(task)), "force": True}))
        assert (roots / "submissions" / "breast.csv").read_bytes() == first
    stages.STAGES["stage3"](_ns(task))
    m = _check_report(task, roots / "work" / task / "report")
    if task == "all":
        assert m["ordinal"]["stage_order"] == ["benign", "early", "pre", "pro"]
        assert -1 <= m["ordinal"]["quadratic_weighted_kappa"] <= 1
    if task == "blood":
        ind = pd.read_csv(roots / "work" / task / "report" / "in_distribution.csv")
        assert set(ind["crop"]) == {"off-centre", "multi-cell"} and ind["auroc"].between(0, 1).all()
        assert 0 <= m["test"]["knn_accuracy"] <= 1
    if task == "marrow":
        assert m["lineage"]["groups"] == ["immature", "mature", "not identifiable"]
        cmp = pd.read_csv(roots / "work" / task / "report" / "matek_comparison.csv")
        assert cmp.loc[cmp["class"] == "NIF", "source_name"].item() == "not identifiable"
        assert cmp.loc[cmp["class"] == "PMO", "users_notes_name"].item() == "promonocytes"
        assert 0 < m["selective"]["aurc_max_prob"] < 1


def test_leukemia_follows_the_splits_of_its_source_set(roots: Path) -> None:
    all_root = fixtures.all_tree(roots / "data" / "all")
    fixtures.leukemia_tree(roots / "data" / "leukemia", all_root)
    # synthetic cells hash less stably than real ones (flat, weak low frequencies): 6 bits for this tree
    stages.STAGES["stage0"](_ns("all", max_distance=6))
    stages.STAGES["stage0"](_ns("leukemia", max_distance=6))
    done = _make_stage2("leukemia")
    assert done.returncode == 0, done.stderr[-2000:]
    leuk = _tables(roots / "work" / "leukemia")
    src = _tables(roots / "work" / "all")
    leuk_split = leuk["index"].merge(leuk["splits"], on="id")
    _assert_no_near_duplicate_crosses(leuk_split, 6)
    src_split = dict(zip(src["splits"]["id"], src["splits"]["split"]))
    matched = leuk_split[leuk_split["source_match"] != ""]
    assert len(matched) == 32  # every flipped/turned/upscaled copy found its original
    assert (matched["split"] == matched["source_match"].map(src_split)).all()
    assert set(matched["source_match"].str.split("/").str[1]) == {"Benign", "Early", "Pre", "Pro"}
    stages.STAGES["stage3"](_ns("leukemia"))
    m = _check_report("leukemia", roots / "work" / "leukemia" / "report")
    assert set(m["ordinal"]["adjacent_confusion"]) == {"0-1", "1-2", "2-3"}


def test_stage2_survives_a_test_image_that_vanished(roots: Path) -> None:
    fixtures.blood_tree(roots / "data" / "blood")
    stages.STAGES["stage1"](_ns("blood"))
    splits = pd.read_csv(roots / "work" / "blood" / "splits.csv")
    victim = sorted(splits.loc[splits["split"] == "test", "id"])[0]
    (roots / "data" / "blood" / victim).write_bytes(b"gone")
    stages.STAGES["stage2"](_ns("blood"))
    sub = pd.read_csv(roots / "submissions" / "blood.csv")
    assert len(sub) == (splits["split"] == "test").sum()
    row = sub[sub["id"] == victim].iloc[0]
    assert np.allclose(row[[c for c in sub.columns if c.startswith("prob_")]].astype(float), 1 / 3)
    failures = pd.read_csv(roots / "work" / "blood" / "stage2_failures.csv")
    assert failures["id"].tolist() == [victim]


def test_stage0_downloads_with_the_kaggle_cli(fake_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATA", "WORK", "SUBMISSIONS"):
        monkeypatch.setenv(f"PIPELINE_{name}", str(tmp_path / name.lower()))
    login(monkeypatch)
    tree = fixtures.blood_tree(tmp_path / "tree")
    archive = tmp_path / "blood.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(tree.rglob("*.png")):
            z.write(f, f.relative_to(tree).as_posix())
    monkeypatch.setenv("FAKE_ZIP", str(archive))
    assert main(["blood", "stage0"]) == 0
    dest = tmp_path / "data" / "blood"
    assert calls(fake_cli) == [["datasets", "download", SPECS["blood"].slug, "--path", str(dest), "--unzip"]]
    index = pd.read_csv(tmp_path / "work" / "blood" / "index.csv")
    assert set(index["label"]) == set(SPECS["blood"].classes) and not list(dest.glob("*.zip"))


def test_breast_and_leukemia_share_one_multi_cancer_download(roots: Path) -> None:
    multi = roots / "data" / "breast"
    fixtures.breast_tree(multi)
    fixtures.multi_cancer(multi, "ALL", ["all_benign", "all_early", "all_pre", "all_pro"], n=5)
    stages.STAGES["stage0"](_ns("leukemia"))
    index = pd.read_csv(roots / "work" / "leukemia" / "index.csv")
    assert len(index) == 20 and index["path"].str.startswith(str(multi)).all()
    assert not (roots / "data" / "leukemia").exists()


def test_stage0_without_data_or_credentials_says_how(roots: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["breast", "stage0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Kaggle credentials not found" in err[0] and "obulisainaren/multi-cancer" in err[0]


def test_source_option_reruns_nothing_when_unchanged(roots: Path, capsys: pytest.CaptureFixture) -> None:
    tree = fixtures.blood_tree(roots / "elsewhere")
    assert main(["blood", "stage0", "--source", str(tree)]) == 0
    index = pd.read_csv(roots / "work" / "blood" / "index.csv")
    assert index["path"].str.startswith(str(tree.resolve())).all()
    capsys.readouterr()
    assert main(["blood", "stage0", "--source", str(tree)]) == 0
    assert "skipped" in capsys.readouterr().out
