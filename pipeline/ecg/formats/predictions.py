"""The stage2 prediction cache: one `.npz` per test image, under a folder named by the digitizer's key.

A file holds `signal/<lead>` (each lead's window values), `path/<key>` (the traced pixel paths) and
`diagnostics` (JSON bytes). The key is a hash of every module of the digitizer package, of the paper
layout it reads and of the segmenter checkpoint it uses: change any of them and stage2 digitizes again,
so a stale prediction is never reused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from pipeline.core.io import atomic_path
from pipeline.ecg.digitizer.result import Digitized

ECG_PACKAGE = Path(__file__).resolve().parents[1]


def digitizer_sources() -> list[Path]:
    """The files whose bytes decide a prediction: the digitizer package's modules and the paper layout."""
    return [*sorted((ECG_PACKAGE / "digitizer").rglob("*.py")), ECG_PACKAGE / "layout.py"]


def digitizer_key(checkpoint: Path | None) -> str:
    """Content hash of the digitizer's code and of the segmenter checkpoint (None: classical)."""
    h = hashlib.sha256()
    for path in digitizer_sources():
        h.update(path.relative_to(ECG_PACKAGE).as_posix().encode() + path.read_bytes())
    if checkpoint is not None:
        h.update(checkpoint.read_bytes())
    return h.hexdigest()[:16]


def save_prediction(result: Digitized, cache: Path) -> None:
    """Write one page's result atomically."""
    arrays = {f"signal/{lead}": np.asarray(v, dtype=np.float64) for lead, v in result.signals.items()}
    arrays.update({f"path/{key}": np.asarray(v, dtype=np.float64) for key, v in result.paths.items()})
    arrays["diagnostics"] = np.frombuffer(json.dumps(result.diagnostics, default=str,
                                                     sort_keys=True).encode(), dtype=np.uint8)
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_prediction(cache: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """(signals by lead, pixel paths by key, diagnostics) from a cache file."""
    with np.load(cache) as z:
        signals = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("signal/")}
        paths = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("path/")}
        diagnostics = json.loads(bytes(z["diagnostics"]).decode())
    return signals, paths, diagnostics


def readable_prediction(cache: Path) -> bool:
    """Whether a cache file loads (a damaged one, e.g. from a full disk outside our atomic writes, is redone)."""
    try:
        load_prediction(cache)
    except Exception:  # zip, pickle, JSON and key errors: anything unreadable is redone
        return False
    return True
