"""Kaggle kernel folders: kernels/<name>/ holds kernel-metadata.json and the notebook's jupytext source.

The notebook is kept as a percent-format `.py` (readable diffs); `make kernels` writes the `.ipynb`
that kernel-metadata.json's code_file names and that `kaggle kernels push` uploads.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.io import write_text_atomic
from pipeline.core.paths import PROJECT_ROOT

KERNELS_DIR = PROJECT_ROOT / "kernels"
METADATA = "kernel-metadata.json"


def kernel_dirs(root: Path | None = None) -> list[Path]:
    """Every kernel folder under root (default kernels/) that has a kernel-metadata.json, sorted."""
    return sorted(p.parent for p in Path(root or KERNELS_DIR).glob(f"*/{METADATA}"))


def notebook_paths(folder: Path) -> tuple[Path, Path]:
    """(jupytext source, notebook) of a kernel folder: code_file and the same name with `.py`."""
    meta_path = Path(folder) / METADATA
    try:
        code_file = json.loads(meta_path.read_text())["code_file"]
    except (OSError, ValueError, KeyError, TypeError):
        raise PipelineError("unreadable, or no code_file in it", meta_path) from None
    notebook = Path(folder) / code_file
    if notebook.suffix != ".ipynb":
        raise PipelineError(f"code_file must be a notebook (.ipynb), got '{code_file}'", meta_path)
    return notebook.with_suffix(".py"), notebook


def notebook_text(source: Path) -> str:
    """The .ipynb JSON for a jupytext source: no outputs, no jupytext pairing metadata, stable bytes."""
    import jupytext  # deferred on purpose: heavy optional dependency

    if not source.is_file():
        raise PipelineError("notebook source (jupytext .py) not found", source)
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata.pop("jupytext", None)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # nbformat's default ids are random; keep the file's bytes stable
        cell.metadata.pop("lines_to_next_cell", None)
    return jupytext.writes(nb, fmt="ipynb")


def build_notebook(folder: Path) -> Path:
    """Write the kernel's .ipynb from its .py source; returns the notebook path."""
    source, notebook = notebook_paths(folder)
    write_text_atomic(notebook, notebook_text(source))
    return notebook


def build_all(root: Path | None = None) -> list[Path]:
    """Write the notebook of every kernel folder under root (default kernels/)."""
    folders = kernel_dirs(root)
    if not folders:
        raise PipelineError(f"no kernel folders (with {METADATA}) found", root or KERNELS_DIR)
    return [build_notebook(f) for f in folders]
