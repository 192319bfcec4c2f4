"""stage2 killed (SIGTERM, SIGKILL) at a random point and rerun: no partial file passes for a finished
one, and the rerun's results equal an uninterrupted run's."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.core.badinput import roots_env, set_env
from tests.killing import EXIT_CODES, kill_after, kill_when, rerun_here, run_to_end, visible_files

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` leaves it out

STAGE2 = ["ecg", "stage2"]
TYPES = ("0001", "0003", "0004", "0011", "0012")


def _results(run: Path) -> dict:
    """Everything stage2 leaves that must not be partial: submission, failure report, caches' arrays."""
    from pipeline.ecg.app.stages import load_prediction

    out: dict = {"files": {}}
    for rel, path in visible_files(run).items():
        if not rel.startswith(("work/ecg/predictions/", "work/ecg/stage2/", "subs/")):
            continue  # stage0's data and index are not stage2's to write
        if rel.endswith(".npz"):
            signals, paths, _ = load_prediction(path)  # diagnostics hold timings: not compared
            out["files"][rel] = {**{f"s/{k}": v for k, v in signals.items()}, **{f"p/{k}": v for k, v in paths.items()}}
        elif rel.endswith("manifest.json"):
            out["files"][rel] = "present"  # holds timings
        else:
            out["files"][rel] = path.read_bytes()
    return out


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)
    return a == b


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, float]:
    from pipeline.ecg.synth.render import make_competition

    root = tmp_path_factory.mktemp("ecg-kill")
    run = root / "run"
    make_competition(run / "data" / "ecg", n_train=0, n_test=len(TYPES), seed=11, types=TYPES, workers=1)
    with set_env(roots_env(run)):
        assert main(["ecg", "stage0", "--workers", "1"]) == 0
    shutil.copytree(run, root / "snapshot")
    seconds = run_to_end([*STAGE2, "--workers", "1"], roots_env(run))
    return root, _results(run), seconds


@pytest.mark.parametrize(("sig", "workers"), [(signal.SIGTERM, 2), (signal.SIGKILL, 1)])
def test_killed_stage2_leaves_no_partial_results_and_resumes(prepared, sig: int, workers: int) -> None:
    """SIGTERM (2 workers) at a seeded random point; SIGKILL (1 worker) just after the first image's
    cache is written. Then a run to the end."""
    from pipeline.ecg.app.stages import digitizer_hash

    root, reference, seconds = prepared
    assert "subs/ecg.csv" in reference["files"]
    run = root / "run"
    shutil.rmtree(run)
    shutil.copytree(root / "snapshot", run)
    env = roots_env(run)
    argv = [*STAGE2, "--workers", str(workers)]
    if sig == signal.SIGTERM:
        code, when = kill_after(argv, env, float(np.random.default_rng(1).uniform(0.35, 0.8)) * seconds, sig)
    else:
        first_id = (run / "data/ecg/test.csv").read_text().splitlines()[1].split(",")[0]
        with set_env(env):  # the run's own workspace: a model trained in the developer's work/ keys other caches
            first = f"work/ecg/predictions/{digitizer_hash()}/{first_id}.npz"
        assert first in reference["files"]
        code, when = kill_when(argv, env, run / first, sig), f"{first} written"
    assert code in EXIT_CODES[sig]
    left = _results(run)["files"]
    print(f"{sig.name} at {when} (run {seconds:.2f} s), code {code}: left {sorted(left)}")
    for rel, value in left.items():
        assert rel in reference["files"], f"unexpected file {rel} after the kill"
        assert _same(value, reference["files"][rel]), f"{rel} is partial or different after the kill"
    if "work/ecg/stage2/manifest.json" in left:  # finished: everything is there
        assert left.keys() == reference["files"].keys()

    rerun_here(argv, env)
    final = _results(run)["files"]
    assert final.keys() == reference["files"].keys()
    assert all(_same(final[k], reference["files"][k]) for k in final)
