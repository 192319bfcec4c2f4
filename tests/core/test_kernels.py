"""Kernel folders: metadata fit for an offline Kaggle run, notebooks built from (and in sync with) their .py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from pipeline.cli import main
from pipeline.core import kernels
from pipeline.core.errors import PipelineError

FOLDERS = kernels.kernel_dirs()


def test_there_are_kernels() -> None:
    names = {f.name for f in FOLDERS}
    assert "ecg-digitization" in names and "circles-classifier" in names


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_metadata_is_offline_and_names_its_notebook(folder: Path) -> None:
    meta = json.loads((folder / kernels.METADATA).read_text())
    assert meta["id"] == f"<username>/{folder.name}"
    assert meta["language"] == "python" and meta["kernel_type"] == "notebook"
    assert meta["is_private"] is True and meta["enable_internet"] is False and meta["enable_gpu"] is False
    assert "<username>/ecg-pipeline-wheels" in meta["dataset_sources"]
    source, notebook = kernels.notebook_paths(folder)
    assert source.is_file() and notebook.name == meta["code_file"]


def test_ecg_kernel_attaches_the_competition() -> None:
    meta = json.loads((kernels.KERNELS_DIR / "ecg-digitization" / kernels.METADATA).read_text())
    assert meta["competition_sources"] == ["physionet-ecg-image-digitization"]


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_committed_notebook_matches_its_source(folder: Path) -> None:
    source, notebook = kernels.notebook_paths(folder)
    assert notebook.is_file(), "run `make kernels`"
    assert notebook.read_text() == kernels.notebook_text(source), "stale notebook: run `make kernels`"


def test_cli_builds_every_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    root = tmp_path / "kernels"
    shutil.copytree(kernels.KERNELS_DIR, root, ignore=shutil.ignore_patterns("*.ipynb"))
    monkeypatch.setattr(kernels, "KERNELS_DIR", root)
    assert main(["ecg", "kernels"]) == 0
    built = sorted(root.glob("*/*.ipynb"))
    assert len(built) == len(FOLDERS)
    for path in built:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert any(c.cell_type == "code" for c in nb.cells)
        assert all(c.get("outputs", []) == [] for c in nb.cells)
    assert capsys.readouterr().out.count("wrote ") == len(FOLDERS)


def test_bad_kernel_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "k"
    folder.mkdir()
    (folder / kernels.METADATA).write_text('{"code_file": "k.py"}')
    with pytest.raises(PipelineError, match="must be a notebook"):
        kernels.build_notebook(folder)
    (folder / kernels.METADATA).write_text('{"code_file": "k.ipynb"}')
    with pytest.raises(PipelineError, match="not found"):
        kernels.build_notebook(folder)
