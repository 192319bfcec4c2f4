"""notebooks/: each .ipynb is in sync with its jupytext .py, and each runs headlessly without errors."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from pipeline.core import kernels
from pipeline.core.paths import PROJECT_ROOT
from tests.kernels.notebook import KERNEL_NAME

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` leaves it out

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
NAMES = ("ecg_eda", "ecg_error_analysis", "cells_eda")


def test_every_source_is_listed() -> None:
    assert sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.py")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_matches_its_source(name: str) -> None:
    source, notebook = NOTEBOOKS_DIR / f"{name}.py", NOTEBOOKS_DIR / f"{name}.ipynb"
    assert notebook.is_file(), "build it: see notebooks/README.md"
    assert notebook.read_text() == kernels.notebook_text(source), "stale notebook: see notebooks/README.md"


def _execute(name: str, cwd: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.reads(kernels.notebook_text(NOTEBOOKS_DIR / f"{name}.py"), as_version=4)
    NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=120,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def _outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _html(nb: nbformat.NotebookNode) -> list[str]:
    return [o["data"]["text/html"] for o in _outputs(nb) if "text/html" in o.get("data", {})]


def _n_images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for o in _outputs(nb))


def _text(nb: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in _outputs(nb) if o.get("output_type") == "stream")


def _assert_no_errors(nb: nbformat.NotebookNode) -> None:
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors, errors


def test_ecg_eda_runs(notebook_env: Path) -> None:
    nb = _execute("ecg_eda", notebook_env)
    _assert_no_errors(nb)
    html = _html(nb)
    assert any("sig_len" in h for h in html) and any("number_of_rows" in h for h in html)
    assert any("aVR" in h and "baseline_y_px" in h for h in html)
    assert _n_images(nb) >= 2  # the contact sheet and the 12 leads
    assert "px/mm" in _text(nb)


def test_ecg_error_analysis_runs(notebook_env: Path) -> None:
    nb = _execute("ecg_error_analysis", notebook_env)
    _assert_no_errors(nb)
    assert "over 9 images" in _text(nb)
    per_type = [h for h in _html(nb) if "n_images" in h and "image_type" in h]
    assert per_type and per_type[0].count("<tr>") >= 2  # header plus at least one type row
    assert _n_images(nb) >= 2  # the bar chart and the worst image


def test_cells_eda_runs(notebook_env: Path) -> None:
    nb = _execute("cells_eda", notebook_env)
    _assert_no_errors(nb)
    html = _html(nb)
    assert any("margin" in h and "n_circles" in h for h in html)
    assert any("<th>n</th>" in h or ">n<" in h for h in html)
    assert _n_images(nb) >= 1
    assert "12 images" in _text(nb)
