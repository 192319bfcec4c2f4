"""Run manifests: what a stage read (with content hashes), its config, seed, versions, commit, timings.

A stage whose recorded inputs, config and outputs are unchanged is skipped; otherwise it runs and the
manifest is written last, atomically, so a killed stage never looks finished.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.core.io import sha256_file, sha256_tree, write_json_atomic
from pipeline.core.paths import PROJECT_ROOT, work_dir

TRACKED_PACKAGES = (
    "numpy", "scipy", "pandas", "opencv-python-headless", "numba", "wfdb", "neurokit2", "torch",
    "torchvision", "segmentation-models-pytorch", "timm", "pyarrow", "scikit-image", "imagehash", "pillow",
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def hash_path(path: Path) -> str:
    if path.is_dir():
        return sha256_tree(path)
    if path.is_file():
        return sha256_file(path)
    return "missing"


def hash_inputs(paths: Iterable[Path]) -> dict[str, str]:
    return {str(p): hash_path(Path(p)) for p in paths}


def manifest_path(task: str, stage: str) -> Path:
    return work_dir(task) / stage / "manifest.json"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_stage(
    task: str,
    stage: str,
    action: Callable[[], Mapping[str, Any] | None],
    inputs: Iterable[Path],
    outputs: Iterable[Path],
    config: Mapping[str, Any],
    force: bool = False,
    log: Callable[[str], None] = print,
) -> bool:
    """Run `action` unless a manifest shows the same inputs, config and outputs. Returns True if it ran.

    `action` may return a dict of results (metrics, counts) that goes into the manifest.
    """
    inputs, outputs = [Path(p) for p in inputs], [Path(p) for p in outputs]
    path = manifest_path(task, stage)
    config = dict(config)
    input_hashes = hash_inputs(inputs)
    old = _load(path)
    if not force and old is not None and old.get("config") == config and old.get("inputs") == input_hashes:
        if all(p.exists() for p in outputs) and old.get("outputs") == hash_inputs(outputs):
            log(f"[{task} {stage}] inputs and config unchanged, outputs present: skipped")
            return False
    log(f"[{task} {stage}] running")
    start = time.time()
    results = action() or {}
    manifest = {
        "task": task,
        "stage": stage,
        "config": config,
        "inputs": input_hashes,
        "outputs": hash_inputs(outputs),
        "results": dict(results),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "argv": sys.argv,
        "seconds": round(time.time() - start, 3),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json_atomic(path, manifest)
    log(f"[{task} {stage}] done in {manifest['seconds']:.1f} s")
    return True
