"""Atomic writes and content hashes: a finished file is never replaced by a partial one."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.core.errors import PipelineError

TMP_MARK = ".tmp"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it onto `path` only if the block succeeds.

    A failed write (full disk, read-only folder, I/O error) raises PipelineError naming `path`; the
    file that was there before is left untouched and the temp file is removed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_MARK + path.suffix, dir=path.parent)
    except OSError as err:
        raise PipelineError(f"cannot write ({err.strerror or err})", path) from err
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; results should read like any other file
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as err:
        raise PipelineError(f"cannot write ({err.strerror or err}); the previous file, if any, is kept",
                            path) from err
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def is_temp(path: str | Path) -> bool:
    """Whether `path` is an atomic write's temp file (left behind only by a killed process)."""
    name = Path(path).name
    return name.startswith(".") and TMP_MARK in name


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_tree(root: str | Path, pattern: str = "**/*") -> str:
    """One hash over the relative names and contents of every file under root (sorted, deterministic)."""
    root = Path(root)
    h = hashlib.sha256()
    for p in sorted(q for q in root.glob(pattern) if q.is_file() and not q.name.startswith(".")):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()
