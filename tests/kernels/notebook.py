"""Run a kernel's notebook headlessly with nbclient, on a kernelspec that uses this venv's Python."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.core import kernels

KERNEL_NAME = "pipeline-test-python"


def write_kernelspec(jupyter_dir: Path) -> None:
    """A kernelspec under jupyter_dir (put it on JUPYTER_PATH) for this interpreter, not whatever
    `python3` kernel the machine may have."""
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "pipeline tests", "language": "python"}))


def run_kernel(name: str, cwd: Path, timeout: int = 300) -> None:
    """Execute kernels/<name>/ (built from its .py source, as `make kernels` does) in cwd."""
    import nbformat
    from nbclient import NotebookClient

    source, _ = kernels.notebook_paths(kernels.KERNELS_DIR / name)
    nb = nbformat.reads(kernels.notebook_text(source), as_version=4)
    NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=timeout,
                   resources={"metadata": {"path": str(cwd)}}).execute()
