"""circles stage1 killed (SIGTERM, SIGKILL) at a random point and rerun: no partial model file passes for
a finished one, and the retrained model equals an uninterrupted run's."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.core.badinput import roots_env, set_env
from tests.killing import EXIT_CODES, kill_after, kill_when, rerun_here, run_to_end, visible_files

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` leaves it out

TINY = ["--n-images", "40", "--epochs", "2", "--model", "test_byobnet", "--image-size", "16",
        "--batch-size", "16", "--workers", "1"]
TIMINGS = ("seconds", "train_images_per_s")


def _results(run: Path) -> dict[str, object]:
    """stage1's outputs in a comparable form (timings left out)."""
    out: dict[str, object] = {}
    for rel, path in visible_files(run).items():
        if rel.startswith("work/circles/model/"):
            if rel.endswith("history.csv"):
                out[rel] = pd.read_csv(path).drop(columns=["seconds"]).to_csv(index=False)
            elif rel.endswith("metrics.json"):
                out[rel] = {k: v for k, v in json.loads(path.read_text()).items() if k not in TIMINGS}
            elif rel.endswith(".png"):
                out[rel] = path.read_bytes()[:8]  # a whole PNG (atomic write); plot bytes are not the point
            elif rel.endswith("checkpoint.pt"):
                out[rel] = _checkpoint(path)
            else:
                out[rel] = path.read_bytes()
        elif rel == "work/circles/stage1/manifest.json":
            out[rel] = "present"
    return out


def _checkpoint(path: Path) -> dict[str, object]:
    """The checkpoint's weights (as bytes per tensor), classes, config and data hash: its metrics hold timings."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    weights = {k: v.numpy().tobytes() for k, v in ckpt["state_dict"].items()}
    return {"weights": weights, **{k: ckpt[k] for k in ("classes", "config", "data_hash")}}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, float]:
    root = tmp_path_factory.mktemp("circles-kill")
    run = root / "run"
    with set_env(roots_env(run)):
        assert main(["circles", "stage0", *TINY]) == 0
    shutil.copytree(run, root / "snapshot")
    seconds = run_to_end(["circles", "stage1", *TINY], roots_env(run))
    return root, _results(run), seconds


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_stage1_leaves_no_partial_model_and_resumes(prepared, sig: int) -> None:
    """SIGTERM at a seeded random point; SIGKILL just after the checkpoint is written (before the other
    outputs and the manifest). Then a run to the end."""
    root, reference, seconds = prepared
    assert {"work/circles/model/checkpoint.pt", "work/circles/stage1/manifest.json"} <= reference.keys()
    run = root / "run"
    shutil.rmtree(run)
    shutil.copytree(root / "snapshot", run)
    env = roots_env(run)
    argv = ["circles", "stage1", *TINY]
    if sig == signal.SIGTERM:
        code, when = kill_after(argv, env, float(np.random.default_rng(3).uniform(0.4, 0.95)) * seconds, sig)
    else:
        code, when = kill_when(argv, env, run / "work/circles/model/checkpoint.pt", sig), "checkpoint written"
    assert code in EXIT_CODES[sig]
    left = _results(run)
    print(f"{sig.name} at {when} (run {seconds:.2f} s), code {code}: left {sorted(left)}")
    for rel, value in left.items():
        assert value == reference[rel], f"{rel} is partial or different after the kill"
    if "work/circles/stage1/manifest.json" in left:
        assert left.keys() == reference.keys()

    rerun_here(argv, env)
    assert _results(run) == reference
