"""The wheels-and-weights dataset: project wheel, pinned dependency list, model files; installs offline.

The package index is never contacted: dependency downloads are skipped or replaced by a recorder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipeline import __version__
from pipeline.cli import main
from pipeline.core import kaggle_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[str]]]:
    """One dataset build (the wheel build takes a few seconds), with downloads recorded, not made.

    Built from a copy of the project that ships a weights file, to check that weights go into the wheel.
    """
    tmp = tmp_path_factory.mktemp("dataset")
    project = tmp / "project"
    project.mkdir()
    for name in kaggle_dataset.PROJECT_FILES:
        src = kaggle_dataset.PROJECT_ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, project / name)
    (project / "pipeline" / "ecg" / "digitizer" / "weights").mkdir(exist_ok=True)
    (project / "pipeline" / "ecg" / "digitizer" / "weights" / "test-weights.pt").write_bytes(b"w")
    model = tmp / "model"
    model.mkdir()
    (model / "unet.pt").write_bytes(b"weights")
    (model / "model.json").write_text("{}")
    requested: list[list[str]] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kaggle_dataset, "PROJECT_ROOT", project)
        mp.setattr(kaggle_dataset, "download_wheels", lambda reqs, out: requested.append(list(reqs)))
        out = kaggle_dataset.build_dataset(tmp / "out", model_dir=model)
    return out, requested


def test_contents(built: tuple[Path, list[list[str]]]) -> None:
    out, requested = built
    wheel = out / f"ecg_pipeline-{__version__}-py3-none-any.whl"
    assert wheel.is_file()
    names = zipfile.ZipFile(wheel).namelist()
    assert "pipeline/__init__.py" in names and "pipeline/ecg/app/stages.py" in names
    assert "pipeline/ecg/digitizer/weights/test-weights.pt" in names  # shipped weights travel inside the wheel
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == []  # flat: uploads as is
    assert requested == [[f"{name}=={kaggle_dataset.pinned_version(name)}"
                          for name in ("wfdb", "neurokit2", "segmentation-models-pytorch")]]
    assert (out / "requirements.txt").read_text().splitlines() == [f"ecg-pipeline=={__version__}", *requested[0]]
    assert (out / "model-files.txt").read_text().split() == ["model.json", "unet.pt"]
    assert (out / "unet.pt").read_bytes() == b"weights"
    meta = json.loads((out / "dataset-metadata.json").read_text())
    assert meta["id"] == "<username>/ecg-pipeline-wheels" and meta["licenses"]
    readme = (out / "README.md").read_text()
    assert "wfdb==" in readme and "torch" in readme and "unet.pt" in readme


def test_pins_come_from_requirements(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("# c\nWFDB == 9.9.9  # pinned\nsegmentation_models_pytorch==1.2\n")
    assert kaggle_dataset.pinned_version("wfdb", req) == "9.9.9"
    assert kaggle_dataset.pinned_version("segmentation-models-pytorch", req) == "1.2"
    assert kaggle_dataset.pinned_version("pytest", req)  # not pinned there: the installed version


def test_project_wheel_installs_offline(built: tuple[Path, list[list[str]]], tmp_path: Path) -> None:
    """The kernel's install command, against the dataset folder, with no index (dependency lines dropped)."""
    out, _ = built
    req = tmp_path / "req.txt"
    req.write_text((out / "requirements.txt").read_text().splitlines()[0] + "\n")
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                           "--find-links", str(out), "--target", str(target), "-r", str(req)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (target / "pipeline" / "ecg" / "app" / "stages.py").is_file()


def test_cli_offline_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("PIPELINE_WORK", str(tmp_path / "work"))
    monkeypatch.setattr(kaggle_dataset, "download_wheels", lambda *a: pytest.fail("must not download"))
    assert main(["ecg", "kaggle-dataset", "--no-deps-download"]) == 0
    out = tmp_path / "work" / "kaggle-dataset"
    assert (out / "requirements.txt").read_text().splitlines() == [f"ecg-pipeline=={__version__}"]
    assert (out / "model-files.txt").read_text() == ""
    assert str(out) in capsys.readouterr().out
