"""The Kaggle dataset of wheels and weights that offline kernels install the project from.

One flat folder (no subfolders, so `kaggle datasets create` uploads it as is):
    dataset-metadata.json   id "<username>/ecg-pipeline-wheels" (filled in at upload)
    ecg_pipeline-*.whl      this project (shipped weights under pipeline/ecg/digitizer/weights/ are inside it)
    <dependency>-*.whl      the dependencies Kaggle's image lacks, pinned as in requirements.txt
    <model files>           a trained work/ecg/model/, listed in model-files.txt
    requirements.txt        what a kernel installs: pip install --no-index --no-deps --find-links DIR -r it
    README.md               contents, and what the Kaggle image is expected to provide
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.io import write_json_atomic, write_text_atomic
from pipeline.core.paths import PROJECT_ROOT, work_dir

DATASET_SLUG = "ecg-pipeline-wheels"
DIST_NAME = "ecg-pipeline"
# Not in Kaggle's Python image (or not at our version); all pure-Python wheels.
KAGGLE_MISSING = ("wfdb", "neurokit2", "segmentation-models-pytorch")
# Present in Kaggle's image: what the project imports besides the wheels above.
KAGGLE_PROVIDED = ("numpy", "scipy", "pandas", "pyarrow", "opencv (cv2)", "scikit-image", "matplotlib",
                   "numba", "tqdm", "torch", "torchvision", "timm", "huggingface_hub", "safetensors",
                   "PyWavelets", "scikit-learn", "requests", "soundfile", "aiohttp", "fsspec")
# Kaggle's image: CPython 3.11 on Ubuntu 22.04 (glibc 2.35), x86_64; for compiled wheels added by --extra.
KAGGLE_PYTHON = "3.11"
KAGGLE_PLATFORMS = ("manylinux_2_35_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
                    "manylinux2014_x86_64")
PROJECT_FILES = ("pyproject.toml", "README.md", "pipeline")


def default_out() -> Path:
    return work_dir("kaggle-dataset")


def pinned_version(name: str, requirements: Path = PROJECT_ROOT / "requirements.txt") -> str:
    """The version of a package: its pin in requirements.txt, else the installed one."""
    key = _normalise(name)
    if requirements.is_file():
        for line in requirements.read_text().splitlines():
            m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
            if m and _normalise(m.group(1)) == key:
                return m.group(2)
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        raise PipelineError(f"no version for '{name}': pin it in requirements.txt or install it") from None


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def build_project_wheel(out: Path) -> Path:
    """Build this project's wheel into out, from a clean copy (no build/ or egg-info in the repo)."""
    with tempfile.TemporaryDirectory(prefix="ecg-pipeline-build-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in PROJECT_FILES:
            path = PROJECT_ROOT / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(path, src / name)
        _pip(["wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(out), str(src)],
             "building the project wheel")
    wheels = sorted(out.glob("ecg_pipeline-*.whl"))
    if not wheels:
        raise PipelineError("pip wheel produced no ecg_pipeline wheel", out)
    return wheels[-1]


def download_wheels(requirements: Sequence[str], out: Path) -> None:
    """pip download binary wheels for Kaggle's Python and platform, without their dependencies."""
    platforms = [arg for p in KAGGLE_PLATFORMS for arg in ("--platform", p)]
    _pip(["download", "--only-binary=:all:", "--no-deps", "--python-version", KAGGLE_PYTHON,
          "--implementation", "cp", *platforms, "--dest", str(out), *requirements],
         "downloading dependency wheels (needs the package index; --no-deps-download skips it)")


def _pip(args: list[str], what: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args, "--quiet"], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "is ignored" not in ln]
        raise PipelineError(f"{what} failed: {lines[-1] if lines else f'pip exit status {proc.returncode}'}")


def copy_model_files(out: Path, model_dir: Path) -> list[str]:
    """Copy the files of a trained model folder into out (flat); returns their names."""
    if not model_dir.is_dir():
        return []
    names = []
    for path in sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
        shutil.copy2(path, out / path.name)
        names.append(path.name)
    return names


def build_dataset(out: Path | None = None, extra: Sequence[str] = (), download: bool = True,
                  model_dir: Path | None = None) -> Path:
    """Make the dataset folder (emptied first); returns it. `download=False` skips the package index."""
    out = Path(out) if out is not None else default_out()
    model_dir = model_dir if model_dir is not None else work_dir("ecg") / "model"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    project = build_project_wheel(out)
    version = project.name.split("-")[1]
    deps = [f"{name}=={pinned_version(name)}" for name in (*KAGGLE_MISSING, *extra)]
    if download:
        download_wheels(deps, out)
    models = copy_model_files(out, model_dir)
    installs = [f"{DIST_NAME}=={version}", *(deps if download else [])]
    write_text_atomic(out / "requirements.txt", "".join(f"{r}\n" for r in installs))
    write_text_atomic(out / "model-files.txt", "".join(f"{m}\n" for m in models))
    write_json_atomic(out / "dataset-metadata.json", {
        "title": "ECG pipeline wheels", "id": f"<username>/{DATASET_SLUG}",
        "licenses": [{"name": "other"}]})
    write_text_atomic(out / "README.md", _readme(version, deps, download, models))
    return out


def _readme(version: str, deps: Sequence[str], downloaded: bool, models: Sequence[str]) -> str:
    dep_lines = "".join(f"- {d}\n" for d in deps) if downloaded else "- (not downloaded in this build)\n"
    model_lines = ("".join(f"- {m}\n" for m in models)
                   or "- none (the digitizer's shipped weights are inside the project wheel)\n")
    return (
        f"# ECG pipeline wheels ({DIST_NAME} {version})\n\n"
        "Offline install of the project for Kaggle kernels with internet off:\n\n"
        "    pip install --no-index --no-deps --find-links /kaggle/input/ecg-pipeline-wheels "
        "-r /kaggle/input/ecg-pipeline-wheels/requirements.txt\n\n"
        f"## Wheels of packages Kaggle's image lacks\n\n{dep_lines}\n"
        "## Expected from Kaggle's image (not shipped)\n\n"
        + "".join(f"- {p}\n" for p in KAGGLE_PROVIDED)
        + f"\n## Model files (copied to work/ecg/model/ by the kernel)\n\n{model_lines}\n"
        "Licences: the project's own terms for its wheel; each third-party wheel keeps its licence "
        "(wfdb, neurokit2 and segmentation-models-pytorch are MIT).\n"
    )
