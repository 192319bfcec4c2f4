"""Thin wrappers around the `kaggle` command line tool.

The CLI runs as a subprocess: importing the kaggle package authenticates (and exits) at import time, so
this module never imports it. Every call checks for credentials first and fails with one line that says
how to add them; a failing CLI call raises PipelineError with the CLI's last error line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from pipeline.core.errors import PipelineError

USERNAME_PLACEHOLDER = "<username>"
NO_CREDENTIALS = ("Kaggle credentials not found: put kaggle.json in ~/.kaggle/ (chmod 600) or set "
                  "KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN); get them at "
                  "https://www.kaggle.com/settings/api")
NO_CLI = "the kaggle command was not found: run `make venv` (requirements.txt pins kaggle and six) or put it on PATH"


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def config_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where the kaggle CLI looks for kaggle.json: $KAGGLE_CONFIG_DIR, else ~/.kaggle, else ~/.config/kaggle."""
    env = _env(env)
    if env.get("KAGGLE_CONFIG_DIR"):
        return [Path(env["KAGGLE_CONFIG_DIR"]).expanduser()]
    home = Path(env.get("HOME") or Path.home())
    xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    return [home / ".kaggle", xdg / "kaggle"]


def _kaggle_json(env: Mapping[str, str] | None) -> dict[str, str]:
    for folder in config_dirs(env):
        try:
            data = json.loads((folder / "kaggle.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("username") and data.get("key"):
            return data
    return {}


def has_credentials(env: Mapping[str, str] | None = None) -> bool:
    """True when any credential source the kaggle CLI accepts is present (not whether it is valid)."""
    env = _env(env)
    if env.get("KAGGLE_API_TOKEN") or (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")):
        return True
    if _kaggle_json(env):
        return True
    home = Path(env.get("HOME") or Path.home())
    token_files = ("access_token", "access_token.txt", "credentials.json")  # API token, OAuth login
    return any((home / ".kaggle" / name).is_file() for name in token_files)


def require_credentials(env: Mapping[str, str] | None = None) -> None:
    if not has_credentials(env):
        raise PipelineError(NO_CREDENTIALS)


def username(env: Mapping[str, str] | None = None) -> str:
    """The Kaggle user name that fills `<username>` in kernel and dataset metadata."""
    env = _env(env)
    name = env.get("KAGGLE_USERNAME") or _kaggle_json(env).get("username")
    if not name:
        raise PipelineError("Kaggle user name unknown: set KAGGLE_USERNAME (needed to fill "
                            f"'{USERNAME_PLACEHOLDER}' in kernel-metadata.json and dataset-metadata.json)")
    return name


def find_cli() -> str:
    """The kaggle executable: on PATH, else beside this Python (a venv that is not activated)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), str(Path(sys.executable).parent)])
    exe = shutil.which("kaggle", path=search)
    if exe is None:
        raise PipelineError(NO_CLI)
    return exe


def _tee(stream: IO[str], sink: IO[str], lines: list[str]) -> None:
    for line in stream:
        sink.write(line)
        sink.flush()
        if line.strip():
            lines.append(line.strip())


def run(args: Sequence[str]) -> None:
    """Run `kaggle ARGS...`, echoing its output; raise PipelineError with its last error line on failure."""
    require_credentials()
    cmd = [find_cli(), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace")
    out: list[str] = []
    err: list[str] = []
    threads = [threading.Thread(target=_tee, args=(proc.stdout, sys.stdout, out)),
               threading.Thread(target=_tee, args=(proc.stderr, sys.stderr, err))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if proc.wait() != 0:
        last = (err or out or [f"exit status {proc.returncode}"])[-1]
        raise PipelineError(f"`kaggle {' '.join(args[:2])}` failed: {last}")


def succeeds(args: Sequence[str]) -> bool:
    """Whether `kaggle ARGS...` exits 0 (output discarded): for existence checks."""
    require_credentials()
    return subprocess.run([find_cli(), *args], capture_output=True).returncode == 0


# ---------------------------------------------------------------- operations
def download(slug: str, dest: Path) -> Path:
    """Download a competition's files into dest and unzip them there (the zip is removed)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    run(["competitions", "download", slug, "--path", str(dest)])
    for archive in sorted(dest.glob("*.zip")):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
        archive.unlink()
    return dest


def download_dataset(slug: str, dest: Path) -> Path:
    """Download a Kaggle dataset (owner/name) into dest and unzip it there (`kaggle datasets download`).

    The CLI unzips with --unzip; any archive it leaves (older CLIs) is extracted and removed here."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    run(["datasets", "download", slug, "--path", str(dest), "--unzip"])
    for archive in sorted(dest.glob("*.zip")):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
        archive.unlink()
    return dest


def submit(file: Path, message: str, slug: str) -> None:
    """Upload a submission file to a competition."""
    require_credentials()
    if not Path(file).is_file():
        raise PipelineError("submission file not found (run `make stage2` first)", file)
    run(["competitions", "submit", slug, "--file", str(file), "--message", message])


def submit_kernel(kernel: str, message: str, slug: str, version: int | None = None,
                  output: str = "submission.csv") -> None:
    """Submit a kernel's output file to a code competition (where file uploads are refused)."""
    args = ["competitions", "submit", slug, "--kernel", kernel, "--file", output, "--message", message]
    run(args + (["--version", str(version)] if version is not None else []))


def fill_username(folder: Path, metadata: str, user: str) -> Path:
    """A temp copy of folder with `<username>` in its metadata file replaced by user."""
    staged = Path(tempfile.mkdtemp(prefix=f"kaggle-{Path(folder).name}-"))
    shutil.copytree(folder, staged, dirs_exist_ok=True)
    meta = staged / metadata
    meta.write_text(meta.read_text().replace(USERNAME_PLACEHOLDER, user))
    return staged


def _metadata(folder: Path, name: str) -> dict:
    path = Path(folder) / name
    try:
        return json.loads(path.read_text())
    except OSError:
        raise PipelineError(f"no {name} in the folder", folder) from None
    except ValueError as err:
        raise PipelineError(f"not valid JSON: {err}", path) from None


def push_kernel(folder: Path) -> str:
    """Push a kernel folder (kernel-metadata.json + code file); returns the kernel id pushed."""
    require_credentials()
    meta = _metadata(folder, "kernel-metadata.json")
    code = Path(folder) / str(meta.get("code_file", ""))
    if not code.is_file():
        raise PipelineError("the code_file of kernel-metadata.json does not exist (run `make kernels`)", code)
    staged = fill_username(Path(folder), "kernel-metadata.json", username())
    try:
        run(["kernels", "push", "--path", str(staged)])
        return json.loads((staged / "kernel-metadata.json").read_text())["id"]
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def dataset_create_or_version(folder: Path, message: str = "new version") -> str:
    """Create the dataset described by folder/dataset-metadata.json, or add a version if it exists."""
    require_credentials()
    _metadata(folder, "dataset-metadata.json")
    staged = fill_username(Path(folder), "dataset-metadata.json", username())
    try:
        dataset_id = json.loads((staged / "dataset-metadata.json").read_text())["id"]
        if succeeds(["datasets", "status", dataset_id]):
            run(["datasets", "version", "--path", str(staged), "--message", message])
        else:
            run(["datasets", "create", "--path", str(staged)])
        return dataset_id
    finally:
        shutil.rmtree(staged, ignore_errors=True)
