"""A fake Kaggle machine for the kernel tests: /kaggle/input and /kaggle/working in tmp, moved there by
the environment variables the notebooks read, which the notebook's kernel process inherits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernels.notebook import write_kernelspec


@pytest.fixture
def kaggle_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    write_kernelspec(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    tree = {"input": tmp_path / "kaggle" / "input", "working": tmp_path / "kaggle" / "working",
            "scratch": tmp_path / "scratch"}
    for path in tree.values():
        path.mkdir(parents=True)
    monkeypatch.setenv("KAGGLE_INPUT_DIR", str(tree["input"]))
    monkeypatch.setenv("KAGGLE_WORKING_DIR", str(tree["working"]))
    monkeypatch.setenv("PIPELINE_SCRATCH_DIR", str(tree["scratch"]))
    for var in ("PIPELINE_DATA", "PIPELINE_WORK", "PIPELINE_SUBMISSIONS", "ECG_COMPETITION_DIR",
                "ECG_WHEELS_DIR", "PYTHONPATH", "PIP_TARGET"):
        monkeypatch.delenv(var, raising=False)
    return tree
