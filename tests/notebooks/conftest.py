"""A kernelspec for this venv's Python (the kernel tests' helper) and a clean environment for the notebooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.paths import PROJECT_ROOT
from tests.kernels.notebook import write_kernelspec


@pytest.fixture
def notebook_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kernel's working folder; the kernel process inherits the environment set here."""
    write_kernelspec(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("PIPELINE_REPO_ROOT", str(PROJECT_ROOT))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    (tmp_path / "tmp").mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return cwd
